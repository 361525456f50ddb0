package org.mocar.core;

/**
 * Photo to model input, exactly as {@code mocar.data.transforms.eval_transform} does it.
 *
 * <p>The evaluation rule is: resize the whole decoded RGB image to {@code size x size} (aspect
 * ratio not kept, no crop) with Pillow's filter, then {@code (pixel / 255 - mean) / std} per
 * channel in float32, laid out NHWC for TFLite. Every float step is one IEEE float32 operation
 * in the same order as numpy's, so the tensor is bit-identical to the benchmark's (checked by
 * the golden tests).
 */
public final class Preprocessor {
    private Preprocessor() {
    }

    /**
     * Resizes like Pillow's {@code Image.resize((width, height), filter)} (see {@link PillowResample}).
     *
     * @param interpolation {@code bilinear} or {@code bicubic}
     */
    public static RgbImage resize(RgbImage src, int width, int height, String interpolation) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("resize target " + width + "x" + height + " must be at least 1x1");
        }
        return PillowResample.resize(src, width, height, interpolation);
    }

    /**
     * The float32 NHWC input tensor ({@code [1, size, size, 3]} flattened) for a decoded photo.
     *
     * @throws IllegalArgumentException if the metadata's mean/std do not have three channels
     */
    public static float[] toTensorNhwc(RgbImage img, ModelMetadata meta) {
        int size = meta.inputSize();
        RgbImage resized = resize(img, size, size, meta.interpolation());
        return normalize(resized, meta.mean(), meta.std());
    }

    /**
     * {@code (pixel / 255 - mean) / std} per channel, in float32 and numpy's order of operations
     * (numpy divides the float32 array by the Python float 255.0 in float32, then subtracts and
     * divides by float32 mean/std).
     */
    public static float[] normalize(RgbImage img, float[] mean, float[] std) {
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean/std need 3 channels, got " + mean.length + "/" + std.length);
        }
        byte[] rgb = img.rgb();
        float[] out = new float[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            int c = i % 3;
            float scaled = (rgb[i] & 0xFF) / 255.0f;
            out[i] = (scaled - mean[c]) / std[c];
        }
        return out;
    }

    /**
     * Float input to the integer type of a full-integer model, like
     * {@code mocar.runtime.tflite_file.quantize}: {@code round_half_even(x / scale) + zeroPoint},
     * saturated to int8 (signed) or uint8. The division is float32, as numpy's.
     */
    public static byte[] quantize(float[] x, float scale, int zeroPoint, boolean signed) {
        if (!(scale > 0f)) {
            throw new IllegalArgumentException("quantisation scale must be > 0, got " + scale);
        }
        int low = signed ? -128 : 0;
        int high = signed ? 127 : 255;
        byte[] out = new byte[x.length];
        for (int i = 0; i < x.length; i++) {
            double rounded = Math.rint(x[i] / scale) + zeroPoint; // rint: half to even, like np.round
            out[i] = (byte) (int) Math.max(low, Math.min(high, rounded));
        }
        return out;
    }
}
