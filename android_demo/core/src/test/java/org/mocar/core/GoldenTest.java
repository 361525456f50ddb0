package org.mocar.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.Assume;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Replays the golden vectors written by Python ({@code mocar export --golden N}): the phone's
 * preprocessing, search and answer must equal the benchmark's and {@code mocar predict}'s.
 *
 * <p>Each test walks every case of every golden folder, collects all mismatches and fails once
 * listing them, so one run shows the whole picture. Counts of differing tensor values are printed.
 */
public class GoldenTest {
    private static final double SIMILARITY_TOLERANCE = 1e-5;

    private static List<GoldenFolder> folders;

    @BeforeClass
    public static void findGoldens() {
        folders = GoldenFolder.all();
    }

    private static void requireGoldens() {
        Assume.assumeTrue("no golden vectors: run with -D" + GoldenFolder.PROPERTY + "=DIR (mocar export --golden N)",
                !folders.isEmpty());
    }

    private static void failIfAny(List<String> problems) {
        if (!problems.isEmpty()) {
            fail(problems.size() + " mismatch(es):\n  " + String.join("\n  ", problems));
        }
    }

    @Test
    public void preprocessedTensorsEqualPythons() {
        requireGoldens();
        List<String> problems = new ArrayList<>();
        for (GoldenFolder golden : folders) {
            ModelMetadata meta = golden.metadata();
            float[] std = meta.std();
            int differing = 0;
            int total = 0;
            double worst = 0.0;
            for (Map<String, Object> c : golden.cases()) {
                float[] expected = golden.floats(Json.obj(c, "input"));
                float[] actual = Preprocessor.toTensorNhwc(golden.image(Json.obj(c, "pixels")), meta);
                assertEquals(golden.name() + " " + c.get("name") + " tensor length", expected.length, actual.length);
                for (int i = 0; i < expected.length; i++) {
                    double diff = Math.abs(expected[i] - actual[i]);
                    double step = 1.0 / (255.0 * std[i % 3]); // one pixel level after normalisation
                    differing += expected[i] != actual[i] ? 1 : 0;
                    worst = Math.max(worst, diff);
                    if (diff > step * (1 + 1e-6)) {
                        problems.add(golden.name() + " " + c.get("name") + " value " + i + ": java " + actual[i]
                                + " python " + expected[i] + " (more than one quantisation step)");
                        break;
                    }
                }
                total += expected.length;
            }
            System.out.println("GOLDEN " + golden.name() + ": preprocessed tensors: " + differing + " of " + total
                    + " values differ from Python (max |diff| " + worst + ")");
        }
        failIfAny(problems);
    }

    @Test
    public void quantisedInputsEqualPythons() {
        requireGoldens();
        List<String> problems = new ArrayList<>();
        int checked = 0;
        for (GoldenFolder golden : folders) {
            ModelMetadata meta = golden.metadata();
            for (Map<String, Object> c : golden.cases()) {
                Map<String, Object> quantized = Json.obj(c, "input_quantized");
                if (quantized == null) {
                    continue;
                }
                boolean signed = "int8".equals(Json.string(quantized, "dtype"));
                float[] tensor = Preprocessor.toTensorNhwc(golden.image(Json.obj(c, "pixels")), meta);
                byte[] actual = Preprocessor.quantize(tensor, meta.inputScale(), meta.inputZeroPoint(), signed);
                byte[] expected = golden.bytes(quantized);
                int differing = 0;
                for (int i = 0; i < expected.length; i++) {
                    differing += expected[i] != actual[i] ? 1 : 0;
                }
                checked++;
                if (differing > 0) {
                    problems.add(golden.name() + " " + c.get("name") + ": " + differing + " of " + expected.length
                            + " quantised input values differ");
                }
            }
        }
        System.out.println("GOLDEN quantised inputs checked: " + checked + " case(s)");
        failIfAny(problems);
    }

    @Test
    public void searchRowsEqualPythons() {
        requireGoldens();
        List<String> problems = new ArrayList<>();
        for (GoldenFolder golden : folders) {
            ReferenceIndex index = golden.index();
            if (index == null) {
                continue;
            }
            System.out.println("GOLDEN " + golden.name() + ": search of " + golden.cases().size() + " case(s), "
                    + index.size() + " references, re-rank candidates " + index.rerankCandidates());
            for (Map<String, Object> c : golden.cases()) {
                Map<String, Object> search = Json.obj(c, "search");
                List<Object> rows = Json.list(search, "rows");
                List<Object> sims = Json.list(search, "similarities");
                SearchResult found = index.search(golden.outputs(c).get("embedding"), rows.size());
                for (int r = 0; r < rows.size(); r++) {
                    int row = ((Double) rows.get(r)).intValue();
                    double diff = Math.abs(found.similarities()[r] - (Double) sims.get(r));
                    if (found.rows()[r] != row || diff > SIMILARITY_TOLERANCE) {
                        problems.add(golden.name() + " " + c.get("name") + " rank " + r + ": java row "
                                + found.rows()[r] + " sim " + found.similarities()[r] + ", python row " + row
                                + " sim " + sims.get(r));
                    }
                }
            }
        }
        failIfAny(problems);
    }

    @Test
    public void answersEqualMocarPredict() {
        requireGoldens();
        List<String> problems = new ArrayList<>();
        List<String> borderline = new ArrayList<>();
        int answers = 0;
        for (GoldenFolder golden : folders) {
            ModelMetadata meta = golden.metadata();
            ReferenceIndex index = golden.index();
            int k = ((Double) golden.json.get("k")).intValue();
            for (Map<String, Object> c : golden.cases()) {
                Map<String, float[]> outputs = golden.outputs(c);
                Answer answer = Postprocessor.answer(outputs, meta, index, k);
                String where = golden.name() + " " + c.get("name") + ": ";
                AnswerComparison.compare(where, answer, c, meta, outputs.get("logits"), problems, borderline);
                answers++;
            }
        }
        System.out.println("GOLDEN answers compared: " + answers + ", borderline (a value within rounding of its "
                + "threshold, decided differently): " + borderline.size());
        for (String note : borderline) {
            System.out.println("  borderline " + note);
        }
        failIfAny(problems);
    }

    @Test
    public void pngDecodesToTheSamePixels() throws IOException {
        requireGoldens();
        for (GoldenFolder golden : folders) {
            Map<String, Object> png = Json.obj(golden.json, "png");
            Map<String, Object> c = golden.cases().stream()
                    .filter(x -> x.get("name").equals(png.get("case"))).findFirst().get();
            BufferedImage decoded = ImageIO.read(golden.root.resolve(Json.string(png, "file")).toFile());
            int width = decoded.getWidth();
            int height = decoded.getHeight();
            int[] argb = decoded.getRGB(0, 0, width, height, null, 0, width);
            RgbImage image = RgbImage.fromArgb(width, height, argb);
            RgbImage expected = golden.image(Json.obj(c, "pixels"));
            assertEquals(expected.width(), width);
            assertEquals(expected.height(), height);
            assertTrue(golden.name() + ": PNG pixels differ from the stored decoded pixels",
                    Arrays.equals(expected.rgb(), image.rgb()));
        }
    }

    @Test
    public void metadataReadFromTheTfliteFlatbufferEqualsPythons() {
        requireGoldens();
        for (GoldenFolder golden : folders) {
            ModelMetadata meta = ModelMetadata.fromTflite(ByteBuffer.wrap(golden.modelBytes()));
            assertEquals(golden.name(), Json.obj(golden.json, "metadata"), meta.raw());
            assertEquals(GoldenFolder.shape(Json.obj(golden.cases().get(0), "input"))[1], meta.inputSize());
            Map<String, Object> input = Json.obj(golden.json, "input");
            assertEquals(Json.string(input, "dtype"), meta.inputDtype());
            if (input.get("scale") != null) {
                assertEquals(((Double) input.get("scale")).floatValue(), meta.inputScale(), 0f);
                assertEquals(((Double) input.get("zero_point")).intValue(), meta.inputZeroPoint());
            }
        }
    }

    @Test
    public void pillowResizesOfSyntheticImagesAreReproducedExactly() {
        requireGoldens();
        List<String> problems = new ArrayList<>();
        GoldenFolder golden = folders.get(0);
        Map<String, Object> checks = Json.obj(golden.json, "checks");
        int count = 0;
        for (Object item : Json.list(checks, "resize")) {
            @SuppressWarnings("unchecked")
            Map<String, Object> check = (Map<String, Object>) item;
            RgbImage source = golden.image(Json.obj(check, "source"));
            Map<String, Object> expected = Json.obj(check, "expected");
            for (String filter : expected.keySet()) {
                RgbImage want = golden.image(Json.obj(expected, filter));
                RgbImage got = Preprocessor.resize(source, want.width(), want.height(), filter);
                count++;
                if (!Arrays.equals(want.rgb(), got.rgb())) {
                    problems.add(filter + " " + source.width() + "x" + source.height() + " -> " + want.width() + "x"
                            + want.height() + " differs from Pillow");
                }
            }
        }
        System.out.println("GOLDEN resize checks: " + count + " Pillow resizes compared");
        failIfAny(problems);
    }

    @Test
    public void alphaIsCompositedOnWhiteLikePillow() {
        requireGoldens();
        GoldenFolder golden = folders.get(0);
        Map<String, Object> alpha = Json.obj(Json.obj(golden.json, "checks"), "alpha");
        byte[] rgba = golden.bytes(Json.obj(alpha, "rgba"));
        int[] shape = GoldenFolder.shape(Json.obj(alpha, "rgba"));
        int[] argb = new int[rgba.length / 4];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = (rgba[4 * i + 3] & 0xFF) << 24 | (rgba[4 * i] & 0xFF) << 16 | (rgba[4 * i + 1] & 0xFF) << 8
                    | (rgba[4 * i + 2] & 0xFF);
        }
        RgbImage image = RgbImage.fromArgb(shape[1], shape[0], argb);
        assertTrue(Arrays.equals(golden.bytes(Json.obj(alpha, "expected")), image.rgb()));
    }
}
