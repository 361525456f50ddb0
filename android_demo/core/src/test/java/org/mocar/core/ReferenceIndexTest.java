package org.mocar.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.junit.Test;

/** A 4-reference index built in memory: dequantisation, projection, ties and the file checks. */
public class ReferenceIndexTest {
    private static ByteBuffer text(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static ByteBuffer floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        b.flip();
        return b;
    }

    /** 4 references in 2-D, int8 codes with scale 0.01 and offset (0.5, 0); no PCA. */
    private static Map<String, ByteBuffer> files() {
        Map<String, ByteBuffer> files = new HashMap<>();
        files.put("layout.json", text("{\"schema\": \"mocar-android-index\", \"arrays\": {"
                + "\"codes\": {\"file\": \"codes.bin\", \"dtype\": \"int8\", \"shape\": [4, 2]},"
                + "\"scales\": {\"file\": \"scales.bin\", \"dtype\": \"float32\", \"shape\": [2]},"
                + "\"offsets\": {\"file\": \"offsets.bin\", \"dtype\": \"float32\", \"shape\": [2]}},"
                + "\"objects\": \"objects.json\", \"thumbnails\": \"thumbnails.bin\"}"));
        // rows: (0.5+0.5, 0), (0.5-0.5, 1.0), (0.5+0.5, 0) again (a tie with row 0), (0.5, 0.5)
        files.put("codes.bin", ByteBuffer.wrap(new byte[] {50, 0, -50, 100, 50, 0, 0, 50}));
        files.put("scales.bin", floats(0.01f, 0.01f));
        files.put("offsets.bin", floats(0.5f, 0f));
        StringBuilder objects = new StringBuilder("[");
        for (int i = 0; i < 4; i++) {
            objects.append(i == 0 ? "" : ",").append("{\"id\": \"R").append(i).append("\", \"collection\": \"C\", ")
                    .append("\"dating\": null, \"thumb_offset\": ").append(2 * i).append(", \"thumb_size\": ")
                    .append(i == 3 ? 0 : 2).append("}");
        }
        files.put("objects.json", text(objects.append("]").toString()));
        files.put("thumbnails.bin", ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5, 6}));
        files.put("index.json", text("{\"model\": {\"fingerprint\": \"abc\"}, \"ood\": null}"));
        return files;
    }

    @Test
    public void searchRanksByCosineWithTiesToTheLowerRow() {
        ReferenceIndex index = ReferenceIndex.load(files()::get);
        assertEquals(4, index.size());
        SearchResult found = index.search(new float[] {3f, 0f}, 3); // normalised to (1, 0)
        assertArrayEquals(new int[] {0, 2, 3}, found.rows());
        assertArrayEquals(new float[] {1f, 1f, 0.5f}, found.similarities(), 1e-6f);
        SearchResult up = index.search(new float[] {0f, 2f}, 1);
        assertArrayEquals(new int[] {1}, up.rows());
        assertEquals(4, index.search(new float[] {1f, 1f}, 10).size()); // k clipped to the index size
    }

    /**
     * References (1, 0), (0.8, 0.6), (0.8, -0.6), (0, 1); the compact codes keep only x (PCA to 1-D),
     * {@code rerank.bin} holds the full vectors and re-ranks the best {@code candidates}.
     */
    private static Map<String, ByteBuffer> rerankFiles(int candidates) {
        Map<String, ByteBuffer> files = files();
        files.put("layout.json", text("{\"schema\": \"mocar-android-index\", \"arrays\": {"
                + "\"codes\": {\"file\": \"codes.bin\", \"dtype\": \"float32\", \"shape\": [4, 1]},"
                + "\"components\": {\"file\": \"components.bin\", \"dtype\": \"float32\", \"shape\": [1, 2]},"
                + "\"rerank\": {\"file\": \"rerank.bin\", \"dtype\": \"float32\", \"shape\": [4, 2]}},"
                + "\"rerank_candidates\": " + candidates + ", \"objects\": \"objects.json\", \"thumbnails\": \"thumbnails.bin\"}"));
        files.put("codes.bin", floats(1f, 0.8f, 0.8f, 0f));
        files.put("components.bin", floats(1f, 0f));
        files.put("rerank.bin", floats(1f, 0f, 0.8f, 0.6f, 0.8f, -0.6f, 0f, 1f));
        return files;
    }

    @Test
    public void rerankOrdersTheCompactCandidatesByTheFullVectors() {
        float[] query = {3f, 4f}; // (0.6, 0.8): compact scores 0.6, 0.48, 0.48, 0; full 0.6, 0.96, 0, 0.8
        ReferenceIndex two = ReferenceIndex.load(rerankFiles(2)::get);
        assertEquals(2, two.rerankCandidates());
        assertArrayEquals(new int[] {1, 0}, two.search(query, 2).rows()); // (0, 1) is no candidate: not found
        assertArrayEquals(new float[] {0.96f, 0.6f}, two.search(query, 2).similarities(), 1e-6f);
        ReferenceIndex three = ReferenceIndex.load(rerankFiles(3)::get); // the tie at 0.48 brings row 2 in
        assertArrayEquals(new int[] {1, 0, 2}, three.search(query, 3).rows());
        assertArrayEquals(new int[] {1, 3, 0, 2}, two.search(query, 4).rows()); // k above candidates: all rows
    }

    @Test(expected = IllegalArgumentException.class)
    public void rerankOfAnotherWidthIsRefused() {
        Map<String, ByteBuffer> files = rerankFiles(2);
        files.put("layout.json", text(new String(files.get("layout.json").array(), StandardCharsets.UTF_8)
                .replace("[4, 2]}}", "[4, 1]}}")));
        files.put("rerank.bin", floats(1f, 0.8f, 0.8f, 0f));
        ReferenceIndex.load(files::get);
    }

    @Test
    public void thumbnailsAndRecordsComeFromObjectsJson() {
        ReferenceIndex index = ReferenceIndex.load(files()::get);
        assertArrayEquals(new byte[] {3, 4}, index.thumbnail(1));
        assertNull(index.thumbnail(3));
        assertEquals("R2", index.object(2).get("id"));
        assertNull(index.object(2).get("dating"));
    }

    @Test
    public void checksTheModelFingerprint() {
        ReferenceIndex index = ReferenceIndex.load(files()::get);
        index.checkModel("abc");
        index.checkModel(null); // older exports carry none: nothing to check
        try {
            index.checkModel("xyz");
            fail("another model's index was accepted");
        } catch (IllegalArgumentException expected) {
            assertEquals(true, expected.getMessage().contains("abc"));
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void truncatedArrayFilesAreRefused() {
        Map<String, ByteBuffer> files = files();
        files.put("codes.bin", ByteBuffer.wrap(new byte[] {1, 2, 3}));
        ReferenceIndex.load(files::get);
    }

    @Test
    public void recordsPointingPastTheThumbnailsAreRefusedAtLoad() {
        Map<String, ByteBuffer> files = files();
        files.put("thumbnails.bin", ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5})); // record 2 needs bytes 4-5
        try {
            ReferenceIndex.load(files::get);
            fail("a record outside thumbnails.bin was accepted");
        } catch (IllegalArgumentException expected) {
            assertEquals(true, expected.getMessage().startsWith("objects.json record 2: thumb_offset 4.0"));
        }
    }

    @Test
    public void halfFloatsConvertExactly() {
        assertEquals(1.0f, ReferenceIndex.halfToFloat((short) 0x3C00), 0f);
        assertEquals(-2.0f, ReferenceIndex.halfToFloat((short) 0xC000), 0f);
        assertEquals(65504f, ReferenceIndex.halfToFloat((short) 0x7BFF), 0f);
        assertEquals((float) Math.pow(2, -24), ReferenceIndex.halfToFloat((short) 0x0001), 0f);
        assertEquals(Float.POSITIVE_INFINITY, ReferenceIndex.halfToFloat((short) 0x7C00), 0f);
    }
}
