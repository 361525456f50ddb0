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
 * {@code mocar.export.android_assets}) and the exact search of {@code mocar/field/search.py}.
 *
 * <p>Files: {@code layout.json} (array files, dtypes and shapes, little-endian), {@code index.json}
 * (the desktop index's own description: fingerprint, OOD threshold), {@code codes.bin}
 * ({@code int8}, {@code float16} or {@code float32} [N, d]), {@code scales.bin}/{@code offsets.bin}
 * (float32 [d]), {@code components.bin} (float32 [d, D], with PCA), {@code objects.json} and
 * {@code thumbnails.bin} (JPEGs back to back).
 *
 * <p>Search, step by step as in Python: normalise the embedding, project with the PCA components,
 * compare with the dequantised references ({@code offset + code * scale}, float32, computed once at
 * load like {@code ReferenceIndex.matrix()}), keep the k largest, ties to the lower row. Dot
 * products are summed in double: BLAS sums float32 in its own order, so the last bits differ
 * anyway (the golden tests allow 1e-5), and double keeps the phone closest to the exact value.
 */
public final class ReferenceIndex {
    public static final String LAYOUT_SCHEMA = "mocar-android-index";

    private final Map<String, Object> meta;
    private final float[] matrix; // [count, dims], dequantised
    private final float[] components; // [dims, sourceDims], or null
    private final int count;
    private final int dims;
    private final int sourceDims;
    private final List<Object> objects;
    private final ByteBuffer thumbnails;

    private ReferenceIndex(Map<String, Object> meta, float[] matrix, float[] components, int count, int dims,
                           int sourceDims, List<Object> objects, ByteBuffer thumbnails) {
        this.meta = meta;
        this.matrix = matrix;
        this.components = components;
        this.count = count;
        this.dims = dims;
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
        Array codes = Array.read(files, arrays, "codes");
        Array scales = Array.read(files, arrays, "scales");
        Array offsets = Array.read(files, arrays, "offsets");
        Array components = Array.read(files, arrays, "components");
        if (codes == null || codes.shape.length != 2) {
            throw new IllegalArgumentException("layout.json: 'codes' must be a 2-D array");
        }
        int count = codes.shape[0];
        int dims = codes.shape[1];
        int sourceDims = components == null ? dims : components.shape[1];
        if (components != null && components.shape[0] != dims) {
            throw new IllegalArgumentException("components.bin has " + components.shape[0] + " rows, codes have "
                    + dims);
        }
        Map<String, Object> meta = Json.parseObject(text(files.apply("index.json")));
        List<Object> objects = asList(Json.parse(text(files.apply(Json.string(layout, "objects")))));
        if (objects.size() != count) {
            throw new IllegalArgumentException("objects.json has " + objects.size() + " records for " + count
                    + " references");
        }
        String thumbName = Json.string(layout, "thumbnails");
        ByteBuffer thumbnails = thumbName == null ? null : files.apply(thumbName);
        float[] matrix = dequantize(codes, scales, offsets, dims);
        return new ReferenceIndex(meta, matrix, components == null ? null : components.floats(), count, dims,
                sourceDims, objects, thumbnails);
    }

    @SuppressWarnings("unchecked")
    private static List<Object> asList(Object value) {
        if (!(value instanceof List)) {
            throw new IllegalArgumentException("objects.json must hold an array, holds " + Json.typeName(value));
        }
        return (List<Object>) value;
    }

    /** {@code offset + float32(code) * scale} per dimension, float32 like search.dequantize. */
    private static float[] dequantize(Array codes, Array scales, Array offsets, int dims) {
        float[] values = codes.floats();
        float[] scale = scales == null ? null : scales.floats();
        float[] offset = offsets == null ? null : offsets.floats();
        for (int i = 0; i < values.length; i++) {
            int j = i % dims;
            if (scale != null) {
                values[i] *= scale[j];
            }
            if (offset != null) {
                values[i] += offset[j];
            }
        }
        return values;
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

    /**
     * The k references most similar to a raw model embedding (search.py steps 1-5).
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
        float[] query = project(normalize(embedding));
        float[] similarities = new float[count];
        for (int row = 0; row < count; row++) {
            similarities[row] = dot(matrix, row * dims, query, dims);
        }
        return topK(similarities, Math.min(k, count));
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

    private static float dot(float[] matrix, int start, float[] vector, int length) {
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
            int[] shape = new int[dims.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = ((Double) dims.get(i)).intValue();
                elements *= shape[i];
            }
            String file = Json.string(entry, "file");
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
