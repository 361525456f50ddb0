package org.mocar.core;

import java.util.Map;

/**
 * "Unlike anything in the reference collection": the scores and verdict of {@code mocar/field/ood.py}.
 *
 * <p>Higher scores are more unusual. {@code knn} (the shipped one) is {@code 1 - mean} of the k
 * largest similarities to the index; {@code energy} is {@code -logsumexp(logits)}; {@code msp} is
 * {@code 1 - max softmax}. A photo is flagged when its score exceeds the threshold calibrated for
 * the record's default false-alarm rate.
 */
final class Ood {
    /** One photo's verdict (like ood.ood_verdict's dict). */
    static final class Verdict {
        final String name;
        final double score;
        final double threshold;
        final double rate;
        final boolean unlike;

        Verdict(String name, double score, double threshold, double rate) {
            this.name = name;
            this.score = score;
            this.threshold = threshold;
            this.rate = rate;
            this.unlike = score > threshold;
        }
    }

    private Ood() {
    }

    /**
     * The verdict of an index's OOD record, or null when the record has no threshold at its default rate.
     *
     * @param similarities the search's similarities, best first (at least k of them for knn)
     */
    static Verdict verdict(Map<String, Object> record, float[] logits, float[] similarities) {
        String scoreName = Json.string(record, "score");
        String rate = Json.string(record, "default_rate");
        Map<String, Object> thresholds = Json.require(record, "thresholds", "index.json ood");
        Double threshold = Json.number(thresholds, rate);
        if (threshold == null) {
            return null;
        }
        double score;
        String name = scoreName;
        if ("knn".equals(scoreName)) {
            int k = Json.number(record, "k").intValue();
            score = knnScore(similarities, k);
            name = "knn" + k;
        } else if ("energy".equals(scoreName)) {
            score = energyScore(logits);
        } else if ("msp".equals(scoreName)) {
            score = mspScore(logits);
        } else {
            throw new IllegalArgumentException("OOD score '" + scoreName + "': expected knn, energy or msp");
        }
        return new Verdict(name, score, threshold, Double.parseDouble(rate));
    }

    static double knnScore(float[] similarities, int k) {
        if (similarities == null || similarities.length < k) {
            throw new IllegalArgumentException("the knn score needs the top " + k + " similarities; got "
                    + (similarities == null ? 0 : similarities.length));
        }
        double[] top = new double[k];
        for (int i = 0; i < k; i++) {
            top[i] = similarities[i];
        }
        return 1.0 - NumpySum.pairwise(top) / k;
    }

    static double energyScore(float[] logits) {
        double peak = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            peak = Math.max(peak, v);
        }
        double[] exps = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            exps[i] = Math.exp(logits[i] - peak);
        }
        return -(peak + Math.log(NumpySum.pairwise(exps)));
    }

    static double mspScore(float[] logits) {
        double peak = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            peak = Math.max(peak, v);
        }
        double[] exps = new double[logits.length];
        double best = 0.0;
        for (int i = 0; i < logits.length; i++) {
            exps[i] = Math.exp(logits[i] - peak);
            best = Math.max(best, exps[i]);
        }
        return 1.0 - best / NumpySum.pairwise(exps);
    }
}
