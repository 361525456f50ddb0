package org.mocar.core;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The bundled reference index (folder {@code reference_index/} written by
 * {@code mocar.mobile.android_assets}) and the exact search of {@code mocar/field/search.py}.
 *
 * <p>Files: {@code layout.json} (array files, dtypes and shapes, little-endian), {@code index.json}
 * (the desktop index's own description: fingerprint, OOD threshold), {@code codes.bin}
 * ({@code int8}, {@code float16} or {@code float32} [N, d]), {@code scales.bin}/{@code offsets.bin}
 * (float32 [d]), {@code components.bin} (float32 [d, D], with PCA), optionally {@code rerank.bin}
 * ([N, D], with {@code rerank_scales.bin}/{@code rerank_offsets.bin}), {@code objects.json} and
 * {@code thumbnails.bin} (JPEGs back to back).
 *
 * <p>Search, step by step as in Python: normalise the embedding, project with the PCA components,
 * score every reference on its codes ({@code sum code * (scale * y) + sum offset * y}, never a
 * dequantised copy: memory stays at the files' size, and a memory-mapped buffer works), keep the k
 * largest, ties to the lower row; with {@code rerank.bin}, keep {@code rerank_candidates} instead
 * and score those again on their full-dimension codes. Dot products are summed in double: BLAS sums
 * float32 in its own order, so the last bits differ anyway (the golden tests allow 1e-5), and double
 * keeps the phone closest to the exact value.
 */
public final class ReferenceIndex {
    public static final String LAYOUT_SCHEMA = "mocar-android-index";

    private final Map<String, Object> meta;
    private final Codes codes; // [count, dims]
    private final Codes rerank; // [count, sourceDims], or null
    private final int rerankCandidates;
    private final float[] components; // [dims, sourceDims], or null
    private final int count;
    private final int dims;
    private final int sourceDims;
    private final List<Object> objects;
    private final ByteBuffer thumbnails;

    private ReferenceIndex(Map<String, Object> meta, Codes codes, Codes rerank, int rerankCandidates,
                           float[] components, int sourceDims, List<Object> objects, ByteBuffer thumbnails) {
        this.meta = meta;
        this.codes = codes;
        this.rerank = rerank;
        this.rerankCandidates = rerankCandidates;
        this.components = components;
        this.count = codes.count;
        this.dims = codes.dims;
        this.sourceDims = sourceDims;
        this.objects = objects;
        this.thumbnails = thumbnails;
    }

    /** Loads an index folder from disk. */
    public static ReferenceIndex load(Path dir) {
        return load(name -> {
            Path file = dir.resolve(name);
            try {
                return ByteBuffer.wrap(Files.readAllBytes(file));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read reference index file " + file, e);
            }
        });
    }

    /**
     * Loads an index through a file reader (the app passes one that opens assets).
     *
     * @param files returns the bytes of a file of the index folder by name
     * @throws IllegalArgumentException if the files disagree with {@code layout.json}
     */
    public static ReferenceIndex load(Function<String, ByteBuffer> files) {
        Map<String, Object> layout = Json.parseObject(text(files.apply("layout.json")));
        if (!LAYOUT_SCHEMA.equals(layout.get("schema"))) {
            throw new IllegalArgumentException("layout.json: schema '" + layout.get("schema") + "', expected '"
                    + LAYOUT_SCHEMA + "'; convert the index with `mocar export --android-assets`");
        }
        Map<String, Object> arrays = Json.require(layout, "arrays", "layout.json");
        Codes codes = Codes.read(files, arrays, "");
        if (codes == null) {
            throw new IllegalArgumentException("layout.json: no 'codes' array");
        }
        Array components = Array.read(files, arrays, "components");
        int count = codes.count;
        int dims = codes.dims;
        int sourceDims = components == null ? dims : components.shape[1];
        if (components != null && components.shape[0] != dims) {
            throw new IllegalArgumentException("components.bin has " + components.shape[0] + " rows, codes have "
                    + dims);
        }
        Codes rerank = Codes.read(files, arrays, "rerank_");
        int candidates = layout.get("rerank_candidates") == null ? 0 : Json.number(layout, "rerank_candidates").intValue();
        if (rerank != null && (rerank.count != count || rerank.dims != sourceDims || candidates < 1)) {
            throw new IllegalArgumentException("rerank.bin has shape [" + rerank.count + ", " + rerank.dims
                    + "] and rerank_candidates " + candidates + "; expected [" + count + ", " + sourceDims + "] and >= 1");
        }
        Map<String, Object> meta = Json.parseObject(text(files.apply("index.json")));
        String objectsName = Json.string(layout, "objects");
        if (objectsName == null) {
            throw new IllegalArgumentException("layout.json: no 'objects' file");
        }
        List<Object> objects = asList(Json.parse(text(files.apply(objectsName))));
        if (objects.size() != count) {
            throw new IllegalArgumentException(objectsName + " has " + objects.size() + " records for " + count
                    + " references");
        }
        String thumbName = Json.string(layout, "thumbnails");
        ByteBuffer thumbnails = thumbName == null ? null : files.apply(thumbName);
        checkRecords(objects, objectsName, thumbnails == null ? 0 : thumbnails.remaining());
        return new ReferenceIndex(meta, codes, rerank, candidates, components == null ? null : components.floats(),
                sourceDims, objects, thumbnails);
    }

    /** Every record an object whose thumbnail bytes lie inside thumbnails.bin: checked once, at load. */
    @SuppressWarnings("unchecked")
    private static void checkRecords(List<Object> objects, String file, long thumbnailBytes) {
        for (int row = 0; row < objects.size(); row++) {
            if (!(objects.get(row) instanceof Map)) {
                throw new IllegalArgumentException(file + " record " + row + " is " + Json.typeName(objects.get(row))
                        + "; expected an object");
            }
            Map<String, Object> record = (Map<String, Object>) objects.get(row);
            Double offset = Json.number(record, "thumb_offset");
            Double size = Json.number(record, "thumb_size");
            if (offset == null || size == null || offset < 0 || size < 0
                    || (size > 0 && offset + size > thumbnailBytes)) {
                throw new IllegalArgumentException(file + " record " + row + ": thumb_offset " + offset
                        + " / thumb_size " + size + " do not lie inside the " + thumbnailBytes + " thumbnail bytes");
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Object> asList(Object value) {
        if (!(value instanceof List)) {
            throw new IllegalArgumentException("objects.json must hold an array, holds " + Json.typeName(value));
        }
        return (List<Object>) value;
    }

    private static String text(ByteBuffer bytes) {
        ByteBuffer copy = bytes.duplicate();
        byte[] data = new byte[copy.remaining()];
        copy.get(data);
        return new String(data, StandardCharsets.UTF_8);
    }

    /** Number of references. */
    public int size() {
        return count;
    }

    /** Width D of the embeddings this index takes. */
    public int inputDims() {
        return sourceDims;
    }

    /** The desktop index's {@code index.json} (fingerprint, OOD record, ...). */
    public Map<String, Object> meta() {
        return meta;
    }

    /** Fingerprint of the model the index was built with. */
    public String fingerprint() {
        Map<String, Object> model = Json.obj(meta, "model");
        return model == null ? null : Json.string(model, "fingerprint");
    }

    /**
     * Throws unless the index was built with the model of this fingerprint (like
     * {@code ReferenceIndex.check_model}): another model's embeddings are not comparable.
     */
    public void checkModel(String modelFingerprint) {
        if (modelFingerprint != null && !modelFingerprint.equals(fingerprint())) {
            throw new IllegalArgumentException("reference index was built with model " + fingerprint()
                    + " but the model file is " + modelFingerprint + "; bundle the index of this model");
        }
    }

    /** The calibrated OOD record ({@code score, k, thresholds, default_rate}), or null. */
    public Map<String, Object> oodRecord() {
        return Json.obj(meta, "ood");
    }

    /** How many compact-search candidates the full-dimension codes re-rank (0: no re-rank). */
    public int rerankCandidates() {
        return rerank == null ? 0 : rerankCandidates;
    }

    /**
     * The k references most similar to a raw model embedding (search.py steps 1-6).
     *
     * @throws IllegalArgumentException if the embedding has the wrong width or k < 1
     */
    public SearchResult search(float[] embedding, int k) {
        if (embedding.length != sourceDims) {
            throw new IllegalArgumentException("embedding has " + embedding.length + " values; this index takes "
                    + sourceDims);
        }
        if (k < 1 || count == 0) {
            throw new IllegalArgumentException("k=" + k + ": need k >= 1 and a non-empty index");
        }
        float[] normalized = normalize(embedding);
        float[] similarities = codes.scoreAll(project(normalized));
        if (rerank == null) {
            return topK(similarities, Math.min(k, count));
        }
        int[] candidates = topK(similarities, Math.min(Math.max(k, rerankCandidates), count)).rows();
        java.util.Arrays.sort(candidates); // ascending rows: topK below then keeps ties at the lower row
        float[] rescored = rerank.score(candidates, normalized);
        SearchResult best = topK(rescored, Math.min(k, candidates.length));
        int[] bestRows = best.rows();
        int[] rows = new int[bestRows.length];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = candidates[bestRows[i]];
        }
        return new SearchResult(rows, best.similarities());
    }

    /** Step 1: {@code e / max(||e||, 1e-12)}, float32 result. */
    static float[] normalize(float[] embedding) {
        double squares = 0.0;
        for (float v : embedding) {
            squares += (double) v * v;
        }
        float norm = Math.max((float) Math.sqrt(squares), 1e-12f);
        float[] out = new float[embedding.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = embedding[i] / norm;
        }
        return out;
    }

    /** Step 2: {@code y = components @ q} (no centring, no re-normalisation). */
    private float[] project(float[] normalized) {
        if (components == null) {
            return normalized;
        }
        float[] out = new float[dims];
        for (int j = 0; j < dims; j++) {
            out[j] = dot(components, j * sourceDims, normalized, sourceDims);
        }
        return out;
    }

    static float dot(float[] matrix, int start, float[] vector, int length) {
        double sum = 0.0;
        for (int i = 0; i < length; i++) {
            sum += (double) matrix[start + i] * vector[i];
        }
        return (float) sum;
    }

    /** Step 5: the k largest, best first, equal similarities to the lower row (insertion into a k-list). */
    static SearchResult topK(float[] similarities, int k) {
        int[] rows = new int[k];
        float[] best = new float[k];
        int filled = 0;
        for (int row = 0; row < similarities.length; row++) {
            float s = similarities[row];
            if (filled == k && !(s > best[k - 1])) {
                continue; // not better than the k-th (an equal one has a higher row: stays out)
            }
            int at = filled == k ? k - 1 : filled++;
            while (at > 0 && s > best[at - 1]) { // strictly greater: earlier rows win ties
                best[at] = best[at - 1];
                rows[at] = rows[at - 1];
                at--;
            }
            best[at] = s;
            rows[at] = row;
        }
        return new SearchResult(rows, best);
    }

    /** JPEG bytes of reference {@code row}'s thumbnail, or null when the index has none. */
    public byte[] thumbnail(int row) {
        Map<String, Object> record = object(row);
        int size = ((Double) record.get("thumb_size")).intValue();
        if (thumbnails == null || size == 0) {
            return null;
        }
        ByteBuffer view = thumbnails.duplicate();
        view.position(view.position() + ((Double) record.get("thumb_offset")).intValue());
        byte[] jpeg = new byte[size];
        view.get(jpeg);
        return jpeg;
    }

    /** Metadata of reference {@code row}: id, collection, dating, year_begin, year_end, thumbnail offsets. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> object(int row) {
        return Collections.unmodifiableMap((Map<String, Object>) objects.get(row));
    }

    /**
     * Reference codes with their per-dimension scales and offsets (search.py step 3), scored without
     * dequantising (step 4): {@code s = sum code[j] * w[j] + b}, {@code w[j] = scale[j] * y[j]}
     * (float32), {@code b = sum offset[j] * y[j]}.
     */
    private static final class Codes {
        final Array codes;
        final float[] scales; // or null
        final float[] offsets; // or null
        final int count;
        final int dims;

        private Codes(Array codes, float[] scales, float[] offsets) {
            this.codes = codes;
            this.scales = scales;
            this.offsets = offsets;
            this.count = codes.shape[0];
            this.dims = codes.shape[1];
        }

        /** The arrays {@code <prefix>codes} (or {@code rerank}), {@code <prefix>scales}, {@code <prefix>offsets}. */
        static Codes read(Function<String, ByteBuffer> files, Map<String, Object> arrays, String prefix) {
            String name = prefix.isEmpty() ? "codes" : "rerank";
            Array codes = Array.read(files, arrays, name);
            if (codes == null) {
                return null;
            }
            if (codes.shape.length != 2) {
                throw new IllegalArgumentException("layout.json: '" + name + "' must be a 2-D array");
            }
            Array scales = Array.read(files, arrays, prefix + "scales");
            Array offsets = Array.read(files, arrays, prefix + "offsets");
            for (Array vector : new Array[] {scales, offsets}) {
                if (vector != null && (vector.shape.length != 1 || vector.shape[0] != codes.shape[1])) {
                    throw new IllegalArgumentException("layout.json: " + prefix + "scales/offsets must have shape ["
                            + codes.shape[1] + "] like the columns of '" + name + "'");
                }
            }
            return new Codes(codes, scales == null ? null : scales.floats(), offsets == null ? null : offsets.floats());
        }

        float[] scoreAll(float[] query) {
            return score(null, query);
        }

        /** Similarities of {@code rows} (null: every row, without a 140k-entry index array) to {@code query}. */
        float[] score(int[] rows, float[] query) {
            float[] weights = new float[dims];
            double bias = 0.0;
            for (int j = 0; j < dims; j++) {
                weights[j] = scales == null ? query[j] : scales[j] * query[j];
                bias += offsets == null ? 0.0 : (double) offsets[j] * query[j];
            }
            float[] out = new float[rows == null ? count : rows.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) codes.dotRow(rows == null ? i : rows[i], weights) + (float) bias;
            }
            return out;
        }
    }

    /** One little-endian array file listed in layout.json. */
    private static final class Array {
        final String dtype;
        final int[] shape;
        final ByteBuffer data;

        private Array(String dtype, int[] shape, ByteBuffer data) {
            this.dtype = dtype;
            this.shape = shape;
            this.data = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        }

        static Array read(Function<String, ByteBuffer> files, Map<String, Object> arrays, String key) {
            Map<String, Object> entry = Json.obj(arrays, key);
            if (entry == null) {
                return null;
            }
            List<Object> dims = Json.list(entry, "shape");
            String file = Json.string(entry, "file");
            if (dims == null || file == null || entry.get("dtype") == null) {
                throw new IllegalArgumentException("layout.json: arrays." + key + " needs 'file', 'dtype' and 'shape'");
            }
            int[] shape = new int[dims.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                if (!(dims.get(i) instanceof Double)) {
                    throw new IllegalArgumentException("layout.json: arrays." + key + ".shape holds "
                            + Json.typeName(dims.get(i)) + "; expected numbers");
                }
                shape[i] = ((Double) dims.get(i)).intValue();
                elements *= shape[i];
            }
            Array array = new Array(Json.string(entry, "dtype"), shape, files.apply(file));
            long expected = elements * array.itemSize();
            if (array.data.remaining() != expected) {
                throw new IllegalArgumentException(file + " has " + array.data.remaining() + " bytes; layout.json says "
                        + array.dtype + " " + java.util.Arrays.toString(shape) + " = " + expected + " bytes");
            }
            return array;
        }

        int itemSize() {
            switch (dtype) {
                case "int8": return 1;
                case "float16": return 2;
                case "float32": return 4;
                default:
                    throw new IllegalArgumentException("array dtype '" + dtype + "': expected int8, float16, float32");
            }
        }

        /** {@code sum_j float32(value[row, j]) * weights[j]} in double, read straight from the buffer. */
        double dotRow(int row, float[] weights) {
            int width = weights.length;
            int start = data.position() + row * width * itemSize();
            double sum = 0.0;
            switch (dtype) {
                case "int8":
                    for (int j = 0; j < width; j++) {
                        sum += (double) data.get(start + j) * weights[j];
                    }
                    break;
                case "float16":
                    for (int j = 0; j < width; j++) {
                        sum += (double) HALF_TO_FLOAT[data.getShort(start + 2 * j) & 0xFFFF] * weights[j];
                    }
                    break;
                default:
                    for (int j = 0; j < width; j++) {
                        sum += (double) data.getFloat(start + 4 * j) * weights[j];
                    }
                    break;
            }
            return sum;
        }

        /** The values as float32 (int8 and float16 convert exactly). */
        float[] floats() {
            int n = data.remaining() / itemSize();
            float[] out = new float[n];
            int start = data.position();
            for (int i = 0; i < n; i++) {
                switch (dtype) {
                    case "int8": out[i] = data.get(start + i); break;
                    case "float16": out[i] = halfToFloat(data.getShort(start + 2 * i)); break;
                    default: out[i] = data.getFloat(start + 4 * i); break;
                }
            }
            return out;
        }
    }

    /** Every half-float bit pattern as float: a table lookup in the search loop instead of bit fiddling. */
    private static final float[] HALF_TO_FLOAT = new float[1 << 16];

    static {
        for (int bits = 0; bits < HALF_TO_FLOAT.length; bits++) {
            HALF_TO_FLOAT[bits] = halfToFloat((short) bits);
        }
    }

    /** IEEE half to float (exact; Float.float16ToFloat needs Java 20). */
    static float halfToFloat(short bits) {
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            float value = mantissa * 0x1p-24f; // subnormal half: mantissa * 2^-24
            return sign != 0 ? -value : value;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
}
