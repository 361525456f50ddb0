package org.mocar.core;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Model outputs to a field answer, step by step as {@code mocar/field/predict.py:answer_one}.
 *
 * <p>Softmax, top-5, conformal sets and year intervals follow {@code conformal.py}; the OOD score
 * and verdict follow {@code ood.py}. All class arithmetic is in double like numpy's float64;
 * {@code exp}/{@code log} may differ from numpy's in the last bit, which changes an answer only
 * when a value sits exactly on a threshold.
 */
public final class Postprocessor {
    static final int TOP_K = 5;

    private Postprocessor() {
    }

    /**
     * The answer for one photo.
     *
     * @param outputs logical output name ({@code logits}, {@code year}, {@code embedding}) to
     *     float values (de-quantised for integer files, see {@link #dequantize})
     * @param meta the model's metadata
     * @param index the bundled reference index, or null (no look-alikes, no OOD check)
     * @param k number of look-alikes
     * @throws IllegalArgumentException if logits are missing or the index belongs to another model
     */
    public static Answer answer(Map<String, float[]> outputs, ModelMetadata meta, ReferenceIndex index, int k) {
        float[] logits = outputs.get("logits");
        List<String> labels = meta.labels();
        if (logits == null || logits.length != labels.size()) {
            throw new IllegalArgumentException("need 'logits' with " + labels.size() + " values (one per label), got "
                    + (logits == null ? "none" : logits.length + " values"));
        }
        if (index != null) {
            index.checkModel(meta.fingerprint());
        }
        double[] probs = softmax(logits);
        int[] order = order(probs);
        List<Scored> top = new ArrayList<>();
        for (int r = 0; r < Math.min(TOP_K, order.length); r++) {
            top.add(new Scored(labels.get(order[r]), order[r], probs[order[r]]));
        }
        Calibration calibration = meta.calibration();
        Map<String, List<String>> sets = calibration == null || calibration.classes() == null
                ? new LinkedHashMap<>() : predictionSets(probs, calibration.classes(), labels);
        Double year = null;
        Map<String, double[]> intervals = new LinkedHashMap<>();
        float[] yearOutput = outputs.get("year");
        if (yearOutput != null && meta.hasYear()) {
            year = (double) yearOutput[0] * meta.yearScale() + meta.yearMean();
            intervals = yearIntervals(year, calibration, labels.get(order[0]));
        }
        Lookup lookup = index == null ? new Lookup(new ArrayList<>(), null)
                : lookup(index, requireEmbedding(outputs), k, logits);
        Ood.Verdict verdict = lookup.verdict;
        return new Answer(top, sets, collectionSets(meta, probs), year, intervals, lookup.neighbours,
                verdict == null ? null : verdict.score, verdict == null ? null : verdict.threshold,
                verdict != null && verdict.unlike, warnings(meta, index, verdict));
    }

    /** Look-alikes and the OOD verdict (null without a usable threshold) of one photo. */
    private static final class Lookup {
        final List<Neighbour> neighbours;
        final Ood.Verdict verdict;

        Lookup(List<Neighbour> neighbours, Ood.Verdict verdict) {
            this.neighbours = neighbours;
            this.verdict = verdict;
        }
    }

    /** One search deep enough for both the k look-alikes and the knn OOD score (like predict_images). */
    private static Lookup lookup(ReferenceIndex index, float[] embedding, int k, float[] logits) {
        Map<String, Object> ood = index.oodRecord();
        int depth = Math.max(k, ood != null && ood.get("k") != null ? ((Double) ood.get("k")).intValue() : 1);
        SearchResult found = index.search(embedding, depth);
        int[] rows = found.rows();
        float[] similarities = found.similarities();
        List<Neighbour> neighbours = new ArrayList<>();
        for (int r = 0; r < Math.min(k, rows.length); r++) {
            neighbours.add(new Neighbour(rows[r], similarities[r], index.object(rows[r])));
        }
        return new Lookup(neighbours, ood == null ? null : Ood.verdict(ood, logits, similarities));
    }

    private static float[] requireEmbedding(Map<String, float[]> outputs) {
        float[] embedding = outputs.get("embedding");
        if (embedding == null) {
            throw new IllegalArgumentException("a reference search needs the model's 'embedding' output");
        }
        return embedding;
    }

    /** Softmax in double: {@code exp(x - max - log(sum(exp(x - max))))}, like runs.softmax. */
    public static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double[] shifted = new double[logits.length];
        double[] exps = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            shifted[i] = logits[i] - max;
            exps[i] = Math.exp(shifted[i]);
        }
        double logSum = Math.log(NumpySum.pairwise(exps));
        double[] probs = new double[logits.length];
        for (int i = 0; i < probs.length; i++) {
            probs[i] = Math.exp(shifted[i] - logSum);
        }
        return probs;
    }

    /** Class indices by descending probability; equal ones keep the lower index first (stable sort). */
    static int[] order(double[] probs) {
        Integer[] boxed = new Integer[probs.length];
        for (int i = 0; i < boxed.length; i++) {
            boxed[i] = i;
        }
        Arrays.sort(boxed, (a, b) -> Double.compare(probs[b], probs[a])); // Arrays.sort on objects is stable
        int[] order = new int[boxed.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = boxed[i];
        }
        return order;
    }

    /**
     * Conformal sets per level (conformal.prediction_set with u = 1): rank r's score is the sum of
     * the r largest probabilities plus {@code lam * max(0, r - k_reg)}; the set holds every rank
     * whose score is at most the threshold, at least the top class; a null threshold means all.
     */
    /** conformal.SCORE_TOLERANCE: a score on its threshold is in the set on every machine. */
    static final double SCORE_TOLERANCE = 1e-9;

    static Map<String, List<String>> predictionSets(double[] probs, Calibration.SetConstants constants,
                                                    List<String> labels) {
        int[] order = order(probs);
        double[] scores = rankScores(probs, constants);
        Map<String, List<String>> sets = new LinkedHashMap<>();
        for (Map.Entry<String, Double> level : constants.thresholds().entrySet()) {
            int size = order.length;
            if (level.getValue() != null) {
                int within = 0;
                for (double s : scores) {
                    within += s <= level.getValue() + SCORE_TOLERANCE ? 1 : 0;
                }
                size = Math.max(1, within);
            }
            List<String> names = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                names.add(labels.get(order[r]));
            }
            sets.put(level.getKey(), names);
        }
        return sets;
    }

    /**
     * The score of each rank, best first: the sum of the r largest probabilities plus the RAPS
     * penalty. A set's size is decided by comparing these with a threshold, so a score within
     * rounding (~1e-16) of the threshold can fall either way on two machines.
     */
    static double[] rankScores(double[] probs, Calibration.SetConstants constants) {
        int[] order = order(probs);
        double[] scores = new double[order.length];
        double cumulative = 0.0;
        for (int r = 0; r < order.length; r++) {
            cumulative += probs[order[r]];
            scores[r] = cumulative + constants.lambda() * Math.max(0, r + 1 - constants.kReg());
        }
        return scores;
    }

    /** Epoch models: sets over collections from the class probabilities summed per collection. */
    private static Map<String, List<String>> collectionSets(ModelMetadata meta, double[] probs) {
        Calibration calibration = meta.calibration();
        Map<String, String> owners = meta.epochCollections();
        if (!"epoch".equals(meta.target()) || calibration == null || calibration.collections() == null
                || owners.isEmpty()) {
            return new LinkedHashMap<>();
        }
        List<String> collections = meta.collections();
        double[] summed = new double[collections.size()];
        List<String> labels = meta.labels();
        for (int i = 0; i < labels.size(); i++) {
            summed[collections.indexOf(owners.get(labels.get(i)))] += probs[i];
        }
        return predictionSets(summed, calibration.collections(), collections);
    }

    /** {@code [year - q, year + q]} per level, q of the predicted group when calibrated (predict._year). */
    private static Map<String, double[]> yearIntervals(double year, Calibration calibration, String topLabel) {
        Map<String, double[]> intervals = new LinkedHashMap<>();
        if (calibration == null || calibration.yearHalfWidths() == null) {
            return intervals;
        }
        for (String level : calibration.yearHalfWidths().keySet()) {
            Double q = calibration.yearHalfWidth(level, topLabel);
            intervals.put(level, q == null ? null : new double[] {year - q, year + q});
        }
        return intervals;
    }

    /** Integer output values back to float32: {@code (q - zeroPoint) * scale}, like tflite_file.dequantize. */
    public static float[] dequantize(byte[] values, float scale, int zeroPoint, boolean signed) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            int q = signed ? values[i] : values[i] & 0xFF;
            out[i] = (float) (q - zeroPoint) * scale;
        }
        return out;
    }

    private static List<String> warnings(ModelMetadata meta, ReferenceIndex index, Ood.Verdict verdict) {
        List<String> notes = new ArrayList<>();
        if (verdict != null && verdict.unlike) {
            notes.add("unlike any reference object (" + verdict.name + " score " + fixed(verdict.score, 3)
                    + " > threshold " + fixed(verdict.threshold, 3) + ", which " + fixed(verdict.rate * 100, 0)
                    + "% of known objects exceed): the labels below are unreliable");
        }
        if (meta.calibration() == null) {
            notes.add("no calibration constants: prediction sets and year intervals are missing "
                    + "(run `mocar calibrate`)");
        }
        if (index != null && meta.fingerprint() == null) {
            notes.add("the model file carries no fingerprint: cannot verify that the index was built with this model");
        }
        if (index == null) {
            notes.add("no reference index: no look-alike objects (build one with `mocar index build`)");
        }
        return notes;
    }

    /** Python's {@code format(x, '.Nf')}: the exact binary value rounded half to even. */
    static String fixed(double value, int decimals) {
        return new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
    }
}
