package org.mocar.core;

/** The k most similar references of one query: rows (best first) and their cosine similarities. */
public final class SearchResult {
    private final int[] rows;
    private final float[] similarities;

    SearchResult(int[] rows, float[] similarities) {
        this.rows = rows;
        this.similarities = similarities;
    }

    /** Reference rows, most similar first; equal similarities list the lower row first. */
    public int[] rows() {
        return rows.clone();
    }

    /** Similarities in the same order (estimates of the full cosine when the index uses PCA). */
    public float[] similarities() {
        return similarities.clone();
    }

    public int size() {
        return rows.length;
    }
}
