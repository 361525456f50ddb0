package org.mocar.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Post-processing on small hand-made outputs (the golden tests cover real model outputs). */
public class PostprocessorTest {
    private static final String META = "{\"schema\": \"mocar-export-metadata\", "
            + "\"input\": {\"shape\": [1, 4, 4, 3], \"layout\": \"NHWC\", \"mean\": [0.5, 0.5, 0.5], "
            + "\"std\": [0.5, 0.5, 0.5]}, "
            + "\"labels\": {\"target\": \"collection\", \"names\": [\"a\", \"b\", \"c\", \"d\"]}, "
            + "\"year\": {\"mean\": -500.0, \"scale\": 800.0}, "
            + "\"calibration\": {\"classes\": {\"method\": \"aps\", \"randomized\": false, \"lam\": 0.0, \"k_reg\": 0, "
            + "\"thresholds\": {\"0.8\": 0.7, \"0.9\": null}}, "
            + "\"year\": {\"q\": {\"0.8\": 100.0, \"0.9\": null}, "
            + "\"q_by_predicted_collection\": {\"b\": {\"0.8\": 50.0, \"0.9\": 300.0}}}}}";

    @Test
    public void softmaxSumsToOneAndOrdersTiesByIndex() {
        double[] probs = Postprocessor.softmax(new float[] {1f, 3f, 3f, -1f});
        assertEquals(1.0, probs[0] + probs[1] + probs[2] + probs[3], 1e-15);
        assertArrayEquals(new int[] {1, 2, 0, 3}, Postprocessor.order(probs));
        assertEquals(Math.exp(1 - 3) / (2 + Math.exp(-2) + Math.exp(-4)), probs[0], 1e-15);
    }

    @Test
    public void answerHasTopClassesSetsAndYearInterval() {
        ModelMetadata meta = ModelMetadata.fromJson(META);
        Map<String, float[]> outputs = new LinkedHashMap<>();
        outputs.put("logits", new float[] {0f, 2f, 1f, -3f});
        outputs.put("year", new float[] {0.5f});
        Answer answer = Postprocessor.answer(outputs, meta, null, 5);
        assertEquals(Arrays.asList("b", "c", "a", "d"), labels(answer.top5()));
        assertEquals(1, answer.top5().get(0).index());
        // probabilities ~0.66, 0.24, 0.09: 0.66 <= 0.7 < 0.90, so the 0.8 set is {b}; null threshold = all.
        assertEquals(Collections.singletonList("b"), answer.predictionSets().get("0.8"));
        assertEquals(4, answer.predictionSets().get("0.9").size());
        assertEquals(-100.0, answer.year(), 0.0); // 0.5 * 800 - 500
        assertArrayEquals(new double[] {-150.0, -50.0}, answer.yearIntervals().get("0.8"), 0.0); // group b
        assertArrayEquals(new double[] {-400.0, 200.0}, answer.yearIntervals().get("0.9"), 0.0);
        assertTrue(answer.neighbours().isEmpty());
        assertNull(answer.oodScore());
        assertEquals(Collections.singletonList(
                "no reference index: no look-alike objects (build one with `mocar index build`)"), answer.warnings());
    }

    @Test
    public void alwaysKeepsTheTopClassEvenBelowTheThreshold() {
        Calibration.SetConstants tight = new Calibration(Json.parseObject(
                "{\"classes\": {\"lam\": 0.0, \"k_reg\": 0, \"thresholds\": {\"0.8\": 0.1}}}")).classes();
        Map<String, List<String>> sets = Postprocessor.predictionSets(new double[] {0.3, 0.7}, tight,
                Arrays.asList("x", "y"));
        assertEquals(Collections.singletonList("y"), sets.get("0.8"));
    }

    @Test
    public void rapsPenaltyShortensSets() {
        Calibration.SetConstants raps = new Calibration(Json.parseObject(
                "{\"classes\": {\"lam\": 0.2, \"k_reg\": 1, \"thresholds\": {\"0.9\": 0.95}}}")).classes();
        // cumulative 0.5, 0.8, 1.0; penalties 0, 0.2, 0.4 -> scores 0.5, 1.0, 1.4: only rank 1 fits.
        Map<String, List<String>> sets = Postprocessor.predictionSets(new double[] {0.2, 0.5, 0.3}, raps,
                Arrays.asList("x", "y", "z"));
        assertEquals(Collections.singletonList("y"), sets.get("0.9"));
    }

    @Test
    public void dequantisesLikeTheBenchmark() {
        float[] out = Postprocessor.dequantize(new byte[] {-128, 0, 127}, 0.5f, -1, true);
        assertArrayEquals(new float[] {-63.5f, 0.5f, 64f}, out, 0f);
        float[] unsigned = Postprocessor.dequantize(new byte[] {(byte) 255}, 2f, 128, false);
        assertEquals(254f, unsigned[0], 0f);
    }

    @Test
    public void formatsNumbersLikePython() {
        assertEquals("0.125", Postprocessor.fixed(0.125, 3));
        assertEquals("0.12", Postprocessor.fixed(0.125, 2)); // exact binary 0.125: half to even
        assertEquals("5", Postprocessor.fixed(0.05 * 100, 0));
    }

    private static List<String> labels(List<Scored> scored) {
        String[] out = new String[scored.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = scored.get(i).label();
        }
        return Arrays.asList(out);
    }
}
