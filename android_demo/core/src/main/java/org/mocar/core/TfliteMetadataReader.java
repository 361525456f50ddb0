package org.mocar.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads one named metadata entry of a .tflite file with a minimal FlatBuffers table walker.
 *
 * <p>Why not the flatbuffers library: the core must stay dependency-free, and only three tables
 * of TFLite's {@code schema.fbs} are needed: {@code Model} (field 4 {@code buffers:[Buffer]},
 * field 6 {@code metadata:[Metadata]}), {@code Metadata} (0 {@code name:string}, 1
 * {@code buffer:uint}) and {@code Buffer} (0 {@code data:[ubyte]}, 1 {@code offset:ulong}, 2
 * {@code size:ulong}; offset/size locate data outside the flatbuffer in models over 2 GB).
 *
 * <p>FlatBuffers layout, little-endian: the file starts with a uint32 offset to the root table;
 * a table starts with an int32 {@code soffset} and its vtable lives at {@code table - soffset};
 * the vtable holds uint16 {@code [vtable size, table size, field offsets...]} (0 = absent);
 * a reference field holds a uint32 offset relative to its own position; a vector or string is a
 * uint32 length followed by its elements (vectors of tables hold uint32 relative offsets).
 */
final class TfliteMetadataReader {
    private static final String FILE_IDENTIFIER = "TFL3";
    private static final int MODEL_BUFFERS = 4;
    private static final int MODEL_METADATA = 6;

    private final ByteBuffer data;

    private TfliteMetadataReader(ByteBuffer model) {
        this.data = model.slice().order(ByteOrder.LITTLE_ENDIAN); // offsets count from the model's first byte
    }

    /**
     * The UTF-8 text stored in the metadata entry {@code name}.
     *
     * @throws IllegalArgumentException if the bytes are not a TFLite model or lack that entry
     *     (the message lists the entries found)
     */
    static String read(ByteBuffer model, String name) {
        TfliteMetadataReader reader = new TfliteMetadataReader(model);
        reader.checkIdentifier();
        int root = reader.data.getInt(0);
        List<String> found = new ArrayList<>();
        int metadata = reader.vector(root, MODEL_METADATA);
        int count = metadata < 0 ? 0 : reader.data.getInt(metadata);
        for (int i = 0; i < count; i++) {
            int entry = reader.tableAt(metadata + 4 + 4 * i);
            String entryName = reader.string(entry, 0);
            found.add(entryName);
            if (name.equals(entryName)) {
                int bufferField = reader.field(entry, 1);
                int bufferIndex = bufferField < 0 ? 0 : reader.data.getInt(bufferField);
                return new String(reader.bufferBytes(root, bufferIndex), StandardCharsets.UTF_8);
            }
        }
        throw new IllegalArgumentException("TFLite model has no metadata entry '" + name + "' (entries: "
                + (found.isEmpty() ? "none" : found) + "); export it with mocar");
    }

    private void checkIdentifier() {
        byte[] id = new byte[4];
        if (data.limit() < 8) {
            throw new IllegalArgumentException("not a TFLite model: only " + data.limit() + " bytes");
        }
        for (int i = 0; i < 4; i++) {
            id[i] = data.get(4 + i);
        }
        String found = new String(id, StandardCharsets.ISO_8859_1);
        if (!FILE_IDENTIFIER.equals(found)) {
            throw new IllegalArgumentException("not a TFLite model: file identifier '" + found + "', expected 'TFL3'");
        }
    }

    /** Absolute position of field {@code index} of the table at {@code table}, or -1 when absent. */
    private int field(int table, int index) {
        int vtable = table - data.getInt(table);
        int vtableSize = data.getShort(vtable) & 0xFFFF;
        int slot = 4 + 2 * index;
        if (slot >= vtableSize) {
            return -1;
        }
        int offset = data.getShort(vtable + slot) & 0xFFFF;
        return offset == 0 ? -1 : table + offset;
    }

    /** Follows the uint32 relative offset stored at {@code position}. */
    private int tableAt(int position) {
        return position + data.getInt(position);
    }

    /** Position of a vector field's length word, or -1 when the field is absent. */
    private int vector(int table, int index) {
        int position = field(table, index);
        return position < 0 ? -1 : tableAt(position);
    }

    private String string(int table, int index) {
        int start = vector(table, index);
        if (start < 0) {
            return "";
        }
        byte[] bytes = new byte[data.getInt(start)];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = data.get(start + 4 + i);
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private byte[] bufferBytes(int root, int bufferIndex) {
        int buffers = vector(root, MODEL_BUFFERS);
        if (buffers < 0 || bufferIndex >= data.getInt(buffers)) {
            throw new IllegalArgumentException("metadata points at buffer " + bufferIndex + ", which does not exist");
        }
        int buffer = tableAt(buffers + 4 + 4 * bufferIndex);
        int bytesVector = vector(buffer, 0);
        int start;
        long size;
        if (bytesVector >= 0) {
            start = bytesVector + 4;
            size = data.getInt(bytesVector) & 0xFFFFFFFFL;
        } else { // data stored after the flatbuffer (models over 2 GB): offset/size from the file start
            int offsetField = field(buffer, 1);
            int sizeField = field(buffer, 2);
            start = offsetField < 0 ? 0 : (int) data.getLong(offsetField);
            size = sizeField < 0 ? 0 : data.getLong(sizeField);
        }
        byte[] bytes = new byte[(int) size];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = data.get(start + i);
        }
        return bytes;
    }
}
