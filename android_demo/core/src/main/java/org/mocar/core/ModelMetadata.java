package org.mocar.core;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The preprocessing and answer contract a mocar model file carries (schema mocar-export-metadata).
 *
 * <p>Everything the phone needs is read from here, never hard-coded: input size and dtype,
 * mean/std, resize rule, labels, year normalisation, output names and the conformal constants
 * ({@code mocar/runtime/metadata.py} writes it; {@code mocar/field/inference.py:from_file} reads it
 * the same way on the desktop).
 */
public final class ModelMetadata {
    public static final String SCHEMA = "mocar-export-metadata";
    public static final String ENTRY_NAME = "mocar";

    private final Map<String, Object> raw;
    private final Map<String, Object> input;
    private final Map<String, Object> labelsJson;
    private final Map<String, Object> year;
    private final Calibration calibration;

    private ModelMetadata(Map<String, Object> raw) {
        this.raw = Collections.unmodifiableMap(raw);
        if (!SCHEMA.equals(raw.get("schema"))) {
            throw new IllegalArgumentException("metadata schema '" + raw.get("schema") + "', expected '"
                    + SCHEMA + "'");
        }
        this.input = Json.require(raw, "input", "model metadata");
        this.labelsJson = Json.require(raw, "labels", "model metadata (export with labels)");
        this.year = Json.obj(raw, "year");
        Map<String, Object> calibrationJson = Json.obj(raw, "calibration");
        this.calibration = calibrationJson == null ? null : new Calibration(calibrationJson);
        if (labels().isEmpty()) {
            throw new IllegalArgumentException("model metadata has no labels.names");
        }
    }

    /** Parses the metadata JSON text. */
    public static ModelMetadata fromJson(String json) {
        return new ModelMetadata(Json.parseObject(json));
    }

    /** Reads the metadata entry "mocar" embedded in a .tflite model (e.g. a memory-mapped asset). */
    public static ModelMetadata fromTflite(ByteBuffer model) {
        return fromJson(TfliteMetadataReader.read(model, ENTRY_NAME));
    }

    /** Side of the square input image (from the input shape and layout, like Python's from_file). */
    public int inputSize() {
        List<Object> shape = Json.list(input, "shape");
        String layout = Json.string(input, "layout");
        int axis = layout == null || "NCHW".equals(layout) ? 2 : 1;
        return (int) Math.round((Double) shape.get(axis));
    }

    public float[] mean() {
        return floats(Json.list(input, "mean"));
    }

    public float[] std() {
        return floats(Json.list(input, "std"));
    }

    /** Resize filter name ({@code bilinear} unless the metadata says otherwise). */
    public String interpolation() {
        Map<String, Object> resize = Json.obj(input, "resize");
        String name = resize == null ? null : Json.string(resize, "interpolation");
        return name == null ? "bilinear" : name;
    }

    /** {@code float32}, or {@code int8}/{@code uint8} for full-integer files. */
    public String inputDtype() {
        String dtype = Json.string(input, "dtype");
        return dtype == null ? "float32" : dtype;
    }

    /** Input quantisation scale (integer inputs only; 0 for float inputs). */
    public float inputScale() {
        Map<String, Object> q = inputQuantization();
        return q == null ? 0f : Json.number(q, "scale").floatValue();
    }

    /** Input quantisation zero point (integer inputs only). */
    public int inputZeroPoint() {
        Map<String, Object> q = inputQuantization();
        return q == null ? 0 : (int) Math.round(Json.number(q, "zero_point"));
    }

    private Map<String, Object> inputQuantization() {
        Map<String, Object> quantization = Json.obj(raw, "quantization");
        Map<String, Object> q = quantization == null ? null : Json.obj(quantization, "input");
        if (q == null) {
            Map<String, Object> tensors = Json.obj(raw, "tflite_tensors");
            q = tensors == null ? null : Json.obj(tensors, "input");
        }
        return q == null || Json.number(q, "scale") == null ? null : q;
    }

    /** Class labels in logits order. */
    public List<String> labels() {
        List<Object> names = Json.list(labelsJson, "names");
        return names == null ? Collections.<String>emptyList() : Json.strings(names);
    }

    /** {@code collection} (MOCaR) or {@code epoch} (MaxAvg-Cat / baseline). */
    public String target() {
        String target = Json.string(labelsJson, "target");
        return target == null ? "collection" : target;
    }

    /** All collections (for epoch models: the owners of the epoch classes). */
    public List<String> collections() {
        List<Object> names = Json.list(labelsJson, "collections");
        return names == null ? Collections.<String>emptyList() : Json.strings(names);
    }

    /** Epoch label to collection name, for epoch models (empty otherwise). */
    public Map<String, String> epochCollections() {
        Map<String, String> owners = new LinkedHashMap<>();
        List<Object> epochs = Json.list(labelsJson, "epochs");
        if (epochs != null) {
            for (Object item : epochs) {
                @SuppressWarnings("unchecked")
                Map<String, Object> epoch = (Map<String, Object>) item;
                owners.put(Json.string(epoch, "label"), Json.string(epoch, "collection"));
            }
        }
        return owners;
    }

    public boolean hasYear() {
        return year != null;
    }

    /** Calendar year = normalised year output * yearScale + yearMean. */
    public double yearMean() {
        return requireYear("mean");
    }

    public double yearScale() {
        return requireYear("scale");
    }

    private double requireYear(String key) {
        if (year == null) {
            throw new IllegalStateException("this model has no year output");
        }
        return Json.number(year, key);
    }

    /** Logical output names in the fixed order (logits, year, embedding). */
    public List<String> outputNames() {
        List<String> names = new ArrayList<>();
        List<Object> outputs = Json.list(raw, "outputs");
        if (outputs != null) {
            for (Object item : outputs) {
                @SuppressWarnings("unchecked")
                Map<String, Object> output = (Map<String, Object>) item;
                names.add(Json.string(output, "name"));
            }
        }
        return names;
    }

    /**
     * File tensor name to logical output name ({@code Identity_1} -> {@code year}). Tensor names and
     * order differ between float and quantised TFLite files: map by name, never by position.
     */
    public Map<String, String> outputMap() {
        Map<String, String> map = new LinkedHashMap<>();
        Map<String, Object> json = Json.obj(raw, "output_map");
        if (json != null) {
            for (String tensor : json.keySet()) {
                map.put(tensor, Json.string(json, tensor));
            }
        }
        return map;
    }

    /** The model fingerprint a reference index is checked against, or null (older exports). */
    public String fingerprint() {
        Map<String, Object> model = Json.obj(raw, "model");
        return model == null ? null : Json.string(model, "fingerprint");
    }

    public Map<String, Object> raw() {
        return raw;
    }

    /** The conformal constants, or null when the model was exported without {@code mocar calibrate}. */
    public Calibration calibration() {
        return calibration;
    }

    private static float[] floats(List<Object> values) {
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Double) values.get(i)).floatValue(); // numpy's np.asarray(mean, np.float32)
        }
        return out;
    }
}
