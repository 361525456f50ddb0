package org.mocar.core;

/**
 * An 8-bit RGB image, row-major, three bytes per pixel (the layout of numpy's HWC uint8 arrays).
 *
 * <p>Pixels are stored as Java bytes; read them with {@link #get(int, int, int)} (0..255).
 */
public final class RgbImage {
    private final int width;
    private final int height;
    private final byte[] rgb;

    /**
     * Wraps (does not copy) row-major RGB bytes.
     *
     * @throws IllegalArgumentException if {@code rgb} does not hold exactly width*height*3 bytes
     */
    public RgbImage(int width, int height, byte[] rgb) {
        if (width < 1 || height < 1 || rgb.length != (long) width * height * 3) {
            throw new IllegalArgumentException("RgbImage " + width + "x" + height + " needs "
                    + (long) width * height * 3 + " bytes, got " + rgb.length);
        }
        this.width = width;
        this.height = height;
        this.rgb = rgb;
    }

    /**
     * From Android's {@code Bitmap.getPixels} layout (one ARGB int per pixel, row-major).
     *
     * <p>Transparent pixels are composited on white with Pillow's integer rule (what
     * {@code mocar.data.images.to_rgb} does with an RGBA file), so a PNG with alpha gives the
     * same RGB on both sides; opaque pixels pass through unchanged.
     */
    public static RgbImage fromArgb(int width, int height, int[] argb) {
        if (argb.length != (long) width * height) {
            throw new IllegalArgumentException("fromArgb " + width + "x" + height + " needs " + (long) width * height
                    + " pixels, got " + argb.length);
        }
        byte[] rgb = new byte[argb.length * 3];
        for (int i = 0; i < argb.length; i++) {
            int pixel = argb[i];
            int alpha = pixel >>> 24;
            for (int c = 0; c < 3; c++) {
                int value = (pixel >> (16 - 8 * c)) & 0xFF;
                rgb[3 * i + c] = (byte) (alpha == 255 ? value : overWhite(value, alpha));
            }
        }
        return new RgbImage(width, height, rgb);
    }

    /**
     * One channel of Pillow's {@code alpha_composite(white, pixel)} (AlphaComposite.c): 7-bit
     * fixed-point blend weights and a rounded division by 255.
     */
    static int overWhite(int value, int alpha) {
        if (alpha == 0) {
            return 255;
        }
        final int precisionBits = 7;
        int outAlpha255 = alpha * 255 + 255 * (255 - alpha);
        int coef1 = alpha * 255 * 255 * (1 << precisionBits) / outAlpha255;
        int coef2 = 255 * (1 << precisionBits) - coef1;
        int blended = value * coef1 + 255 * coef2 + (0x80 << precisionBits);
        return (((blended >> 8) + blended) >> 8) >> precisionBits;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** Channel {@code c} (0 = R) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xFF;
    }

    /** The backing bytes (not a copy). */
    public byte[] rgb() {
        return rgb;
    }
}
