package org.mocar.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.Test;

/**
 * The FlatBuffers walker on a hand-laid minimal TFLite file (Model with buffers and metadata only);
 * the golden tests read the real exported .tflite.
 */
public class TfliteMetadataReaderTest {
    /** Appends little-endian words and patches forward references by absolute position. */
    private static final class Bytes {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        int pos() {
            return out.size();
        }

        int u32(int value) {
            int at = pos();
            for (int i = 0; i < 4; i++) {
                out.write(value >>> (8 * i));
            }
            return at;
        }

        void u16(int value) {
            out.write(value);
            out.write(value >>> 8);
        }

        void raw(byte[] data) {
            out.write(data, 0, data.length);
        }

        void align4() {
            while (pos() % 4 != 0) {
                out.write(0);
            }
        }
    }

    /** A table with uint32 fields at vtable slots {@code slots} (values patched later). Returns the table position. */
    private static int table(Bytes b, int... slots) {
        int fields = 0;
        for (int s : slots) {
            fields = Math.max(fields, s + 1);
        }
        int vtable = b.pos();
        b.u16(4 + 2 * fields);
        b.u16(4 + 4 * slots.length);
        for (int f = 0; f < fields; f++) {
            int index = -1;
            for (int i = 0; i < slots.length; i++) {
                index = slots[i] == f ? i : index;
            }
            b.u16(index < 0 ? 0 : 4 + 4 * index);
        }
        b.align4();
        int table = b.u32(b.pos() - vtable); // soffset: table - vtable
        for (int i = 0; i < slots.length; i++) {
            b.u32(0);
        }
        return table;
    }

    private static byte[] model(String[] names, String[] payloads) {
        Bytes b = new Bytes();
        b.u32(0); // root offset, patched
        b.raw("TFL3".getBytes(StandardCharsets.US_ASCII));
        int model = table(b, 4, 6);
        int[] entries = new int[names.length];
        int[] buffers = new int[payloads.length + 1];
        for (int i = 0; i < names.length; i++) {
            entries[i] = table(b, 0, 1);
        }
        buffers[0] = table(b); // buffer 0 is the empty sentinel, as in TFLite files
        for (int i = 1; i < buffers.length; i++) {
            buffers[i] = table(b, 0);
        }
        int[][] fixups = new int[64][2];
        int fixCount = 0;
        int bufferVector = b.u32(buffers.length);
        for (int i = 0; i < buffers.length; i++) {
            fixups[fixCount++] = new int[] {b.u32(0), buffers[i]};
        }
        int metadataVector = b.u32(names.length);
        for (int i = 0; i < names.length; i++) {
            fixups[fixCount++] = new int[] {b.u32(0), entries[i]};
        }
        int[] nameAt = new int[names.length];
        for (int i = 0; i < names.length; i++) {
            byte[] text = names[i].getBytes(StandardCharsets.UTF_8);
            nameAt[i] = b.u32(text.length);
            b.raw(text);
            b.out.write(0);
            b.align4();
        }
        int[] dataAt = new int[buffers.length];
        for (int i = 1; i < buffers.length; i++) {
            byte[] data = payloads[i - 1].getBytes(StandardCharsets.UTF_8);
            dataAt[i] = b.u32(data.length);
            b.raw(data);
            b.align4();
        }
        ByteBuffer bytes = ByteBuffer.wrap(b.out.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putInt(0, model);
        bytes.putInt(model + 4, bufferVector - (model + 4));
        bytes.putInt(model + 8, metadataVector - (model + 8));
        for (int i = 0; i < fixCount; i++) {
            bytes.putInt(fixups[i][0], fixups[i][1] - fixups[i][0]);
        }
        for (int i = 0; i < names.length; i++) {
            bytes.putInt(entries[i] + 4, nameAt[i] - (entries[i] + 4));
            bytes.putInt(entries[i] + 8, i + 1); // entry i -> buffer i + 1
        }
        for (int i = 1; i < buffers.length; i++) {
            bytes.putInt(buffers[i] + 4, dataAt[i] - (buffers[i] + 4));
        }
        return bytes.array();
    }

    @Test
    public void findsTheNamedEntryAmongOthers() {
        byte[] file = model(new String[] {"min_runtime_version", "mocar"}, new String[] {"1.5.0", "{\"x\": 1}"});
        assertEquals("{\"x\": 1}", TfliteMetadataReader.read(ByteBuffer.wrap(file), "mocar"));
        assertEquals("1.5.0", TfliteMetadataReader.read(ByteBuffer.wrap(file), "min_runtime_version"));
    }

    @Test
    public void readsFromTheBuffersPositionNotItsStart() {
        byte[] file = model(new String[] {"mocar"}, new String[] {"{}"});
        byte[] shifted = new byte[file.length + 3];
        System.arraycopy(file, 0, shifted, 3, file.length);
        ByteBuffer buffer = ByteBuffer.wrap(shifted);
        buffer.position(3);
        assertEquals("{}", TfliteMetadataReader.read(buffer, "mocar"));
    }

    @Test
    public void missingEntryListsWhatIsThere() {
        byte[] file = model(new String[] {"min_runtime_version"}, new String[] {"1.5.0"});
        try {
            TfliteMetadataReader.read(ByteBuffer.wrap(file), "mocar");
            fail("no error for a missing entry");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage(), expected.getMessage().contains("min_runtime_version"));
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void refusesOtherFiles() {
        TfliteMetadataReader.read(ByteBuffer.wrap("PK\u0003\u0004 not a model".getBytes(StandardCharsets.ISO_8859_1)),
                "mocar");
    }
}
