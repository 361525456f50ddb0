package org.mocar.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotSame;

import org.junit.Test;

/** Preprocessing on hand-made images whose results can be worked out on paper. */
public class PreprocessorTest {
    private static RgbImage grey(int width, int height, int... values) {
        byte[] rgb = new byte[width * height * 3];
        for (int i = 0; i < values.length; i++) {
            for (int c = 0; c < 3; c++) {
                rgb[3 * i + c] = (byte) values[i];
            }
        }
        return new RgbImage(width, height, rgb);
    }

    @Test
    public void halvingAveragesNeighboursWithTheWidenedFilter() {
        // 2 -> 1 pixel: scale 2, the triangle filter widens to 2 px, both pixels weigh 1/2.
        RgbImage out = Preprocessor.resize(grey(2, 1, 10, 21), 1, 1, "bilinear");
        assertEquals(16, out.get(0, 0, 0)); // (10 + 21) / 2 = 15.5 rounds up
        // 4 -> 2 pixels: output 0 covers inputs 0..2 with weights 3/8, 3/8, 1/8 (x = 0.25, 0.75 from centre 1).
        RgbImage four = Preprocessor.resize(grey(4, 1, 0, 80, 160, 240), 2, 1, "bilinear");
        assertEquals(Math.round((0 * 0.375 + 80 * 0.375 + 160 * 0.125) / 0.875), four.get(0, 0, 1));
    }

    @Test
    public void constantImagesStayConstantAtAnySize() {
        RgbImage flat = grey(3, 2, 77, 77, 77, 77, 77, 77);
        for (String filter : new String[] {"bilinear", "bicubic"}) {
            RgbImage out = Preprocessor.resize(flat, 7, 5, filter);
            for (int y = 0; y < 5; y++) {
                for (int x = 0; x < 7; x++) {
                    assertEquals(filter, 77, out.get(x, y, 2));
                }
            }
            RgbImage small = Preprocessor.resize(flat, 1, 1, filter);
            assertEquals(77, small.get(0, 0, 0));
        }
    }

    @Test
    public void sameSizeReturnsACopy() {
        RgbImage image = grey(2, 2, 1, 2, 3, 4);
        RgbImage out = Preprocessor.resize(image, 2, 2, "bilinear");
        assertNotSame(image.rgb(), out.rgb());
        assertArrayEquals(image.rgb(), out.rgb());
    }

    @Test(expected = IllegalArgumentException.class)
    public void nearestIsRefusedWithTheValidNames() {
        Preprocessor.resize(grey(2, 2, 1, 2, 3, 4), 1, 1, "nearest");
    }

    @Test
    public void normalisesLikeNumpyInFloat32() {
        RgbImage image = new RgbImage(1, 1, new byte[] {0, (byte) 255, (byte) 128});
        float[] out = Preprocessor.normalize(image, new float[] {0.5f, 0.5f, 0.485f}, new float[] {0.5f, 0.5f, 0.229f});
        assertEquals(-1.0f, out[0], 0f);
        assertEquals(1.0f, out[1], 0f);
        float expected = ((float) 128 / 255f - 0.485f) / 0.229f;
        assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(out[2]));
    }

    @Test
    public void quantisesWithHalfToEvenAndSaturates() {
        float scale = 0.5f;
        byte[] out = Preprocessor.quantize(new float[] {1.25f, 1.75f, -0.25f, 100f, -100f}, scale, -1, true);
        // 2.5 -> 2 (even), 3.5 -> 4, -0.5 -> -0 ; then + zero point -1; saturate to [-128, 127]
        assertArrayEquals(new byte[] {1, 3, -1, 127, -128}, out);
        byte[] unsigned = Preprocessor.quantize(new float[] {-3f, 200f}, 1f, 128, false);
        assertEquals(125, unsigned[0] & 0xFF);
        assertEquals(255, unsigned[1] & 0xFF);
    }

    @Test
    public void argbPixelsBecomeRgbAndTransparencyTurnsWhite() {
        RgbImage image = RgbImage.fromArgb(3, 1, new int[] {0xFF102030, 0x00102030, 0x80000000});
        assertEquals(0x10, image.get(0, 0, 0));
        assertEquals(0x30, image.get(0, 0, 2));
        assertEquals(255, image.get(1, 0, 1)); // fully transparent: white
        int half = image.get(2, 0, 0); // half-transparent black over white: mid grey
        assertEquals(127, half, 1);
    }
}
