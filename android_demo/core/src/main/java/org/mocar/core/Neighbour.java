package org.mocar.core;

import java.util.Map;

/** One look-alike reference object: its index row, similarity and catalogue record. */
public final class Neighbour {
    private final int row;
    private final float similarity;
    private final Map<String, Object> record;

    Neighbour(int row, float similarity, Map<String, Object> record) {
        this.row = row;
        this.similarity = similarity;
        this.record = record;
    }

    public int row() {
        return row;
    }

    /** Cosine similarity (an estimate of it when the index uses PCA). */
    public float similarity() {
        return similarity;
    }

    public String id() {
        return (String) record.get("id");
    }

    /** Collection name, or null when the catalogue has none. */
    public String collection() {
        return (String) record.get("collection");
    }

    /** The catalogue's dating text (e.g. "50 v. Chr. - 50 n. Chr."), or null. */
    public String dating() {
        return (String) record.get("dating");
    }

    /** Byte offset of the thumbnail in thumbnails.bin. */
    public int thumbOffset() {
        return ((Double) record.get("thumb_offset")).intValue();
    }

    /** Thumbnail size in bytes (0 = none). */
    public int thumbSize() {
        return ((Double) record.get("thumb_size")).intValue();
    }

    /** The whole record (also year_begin, year_end, epoch_label when present). */
    public Map<String, Object> record() {
        return record;
    }
}
