package org.mocar.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Compares a Java {@link Answer} with one golden case's {@code mocar predict} answer, collecting mismatches.
 *
 * <p>Decisions taken by comparing a number with a threshold (set sizes, the OOD verdict) are
 * required to agree unless the number lies within rounding of the threshold: such "borderline"
 * cases are listed separately (floating-point ties; numpy's and Java's exp differ in the last bit,
 * float32 search sums in the 7th digit), not counted as failures.
 */
final class AnswerComparison {
    private static final double PROBABILITY_TOLERANCE = 1e-12;
    private static final double YEAR_TOLERANCE = 1e-9;
    private static final double SIMILARITY_TOLERANCE = 1e-5;
    private static final double SCORE_TIE = 1e-9;

    private AnswerComparison() {
    }

    static void compare(String where, Answer answer, Map<String, Object> goldenCase, ModelMetadata meta,
                        float[] logits, List<String> problems, List<String> borderline) {
        Map<String, Object> expected = Json.obj(goldenCase, "answer");
        top5(where, answer, expected, Json.list(goldenCase, "top5_indices"), problems);
        List<String> setProblems = new ArrayList<>();
        sets(where + "prediction_set", answer.predictionSets(), Json.obj(expected, "prediction_set"), setProblems);
        if (!setProblems.isEmpty()) {
            boolean tie = meta.calibration() != null && setsDifferOnlyAtTies(answer.predictionSets(),
                    Json.obj(expected, "prediction_set"), Postprocessor.softmax(logits), meta.calibration().classes());
            (tie ? borderline : problems).addAll(setProblems);
        }
        sets(where + "collection_set", answer.collectionSets(), Json.obj(expected, "collection_set"), problems);
        year(where, answer, Json.obj(expected, "year"), problems);
        neighbours(where, answer, expected, Json.obj(goldenCase, "search"), problems);
        ood(where, answer, Json.obj(expected, "ood"), problems, borderline);
        List<String> warnings = Json.strings(Json.list(expected, "warnings"));
        if (!warnings.equals(answer.warnings())) {
            problems.add(where + "warnings " + answer.warnings() + " != " + warnings);
        }
    }

    private static void top5(String where, Answer answer, Map<String, Object> expected, List<Object> indices,
                             List<String> problems) {
        List<Object> top = Json.list(expected, "top5");
        if (top.size() != answer.top5().size()) {
            problems.add(where + "top5 has " + answer.top5().size() + " entries, python " + top.size());
            return;
        }
        for (int r = 0; r < top.size(); r++) {
            @SuppressWarnings("unchecked")
            Map<String, Object> want = (Map<String, Object>) top.get(r);
            Scored got = answer.top5().get(r);
            boolean same = got.label().equals(want.get("label")) && got.index() == ((Double) indices.get(r)).intValue()
                    && Math.abs(got.probability() - (Double) want.get("probability")) <= PROBABILITY_TOLERANCE;
            if (!same) {
                problems.add(where + "top5[" + r + "] " + got + " != " + want + " (index " + indices.get(r) + ")");
            }
        }
    }

    private static void sets(String where, Map<String, List<String>> got, Map<String, Object> expected,
                             List<String> problems) {
        Map<String, List<String>> want = new LinkedHashMap<>();
        if (expected != null) {
            for (String level : expected.keySet()) {
                want.put(level, Json.strings(Json.list(expected, level)));
            }
        }
        if (!want.equals(got) || !new ArrayList<>(want.keySet()).equals(new ArrayList<>(got.keySet()))) {
            problems.add(where + " " + got + " != " + want);
        }
    }

    /** True when each differing level's sets split at a rank whose score equals the threshold up to rounding. */
    private static boolean setsDifferOnlyAtTies(Map<String, List<String>> got, Map<String, Object> expected,
                                                double[] probs, Calibration.SetConstants constants) {
        double[] scores = Postprocessor.rankScores(probs, constants);
        for (String level : got.keySet()) {
            List<Object> want = Json.list(expected, level);
            int boundary = Math.min(got.get(level).size(), want.size()); // first rank in one set only
            if (got.get(level).size() == want.size()) {
                continue;
            }
            Double threshold = constants.thresholds().get(level);
            if (threshold == null || Math.abs(scores[boundary] - threshold) > SCORE_TIE) {
                return false;
            }
        }
        return true;
    }

    private static void year(String where, Answer answer, Map<String, Object> expected, List<String> problems) {
        if (expected == null) {
            if (answer.year() != null) {
                problems.add(where + "year " + answer.year() + " but python has none");
            }
            return;
        }
        double estimate = Json.number(expected, "estimate");
        if (answer.year() == null || Math.abs(answer.year() - estimate) > YEAR_TOLERANCE) {
            problems.add(where + "year " + answer.year() + " != " + estimate);
        }
        Map<String, Object> intervals = Json.obj(expected, "interval");
        int levels = intervals == null ? 0 : intervals.size();
        if (levels != answer.yearIntervals().size()) {
            problems.add(where + "year intervals at " + answer.yearIntervals().keySet() + ", python " + intervals);
            return;
        }
        for (int i = 0; i < levels; i++) {
            String level = new ArrayList<>(intervals.keySet()).get(i);
            List<Object> want = Json.list(intervals, level);
            double[] got = answer.yearIntervals().get(level);
            boolean same = want == null ? got == null : got != null
                    && Math.abs(got[0] - (Double) want.get(0)) <= YEAR_TOLERANCE
                    && Math.abs(got[1] - (Double) want.get(1)) <= YEAR_TOLERANCE;
            if (!same) {
                problems.add(where + "year interval " + level + " " + java.util.Arrays.toString(got) + " != " + want);
            }
        }
    }

    private static void neighbours(String where, Answer answer, Map<String, Object> expected,
                                   Map<String, Object> search, List<String> problems) {
        List<Object> nearest = Json.list(expected, "nearest");
        if (nearest.size() != answer.neighbours().size()) {
            problems.add(where + answer.neighbours().size() + " neighbours, python " + nearest.size());
            return;
        }
        for (int r = 0; r < nearest.size(); r++) {
            @SuppressWarnings("unchecked")
            Map<String, Object> want = (Map<String, Object>) nearest.get(r);
            Neighbour got = answer.neighbours().get(r);
            int row = ((Double) Json.list(search, "rows").get(r)).intValue();
            boolean same = got.row() == row && got.id().equals(want.get("id"))
                    && java.util.Objects.equals(got.collection(), want.get("collection"))
                    && java.util.Objects.equals(got.dating(), want.get("dating"))
                    && Math.abs(got.similarity() - (Double) want.get("similarity")) <= SIMILARITY_TOLERANCE;
            if (!same) {
                problems.add(where + "neighbour " + r + ": java row " + got.row() + " " + got.id() + " sim "
                        + got.similarity() + ", python row " + row + " " + want.get("id") + " sim "
                        + want.get("similarity"));
            }
        }
    }

    private static void ood(String where, Answer answer, Map<String, Object> expected, List<String> problems,
                            List<String> borderline) {
        if (expected == null) {
            if (answer.oodScore() != null) {
                problems.add(where + "OOD score " + answer.oodScore() + " but python has no verdict");
            }
            return;
        }
        double score = Json.number(expected, "score");
        boolean unlike = (Boolean) expected.get("unlike_references");
        boolean nearThreshold = Math.abs(score - Json.number(expected, "threshold")) <= SIMILARITY_TOLERANCE;
        boolean sameScore = answer.oodScore() != null && Math.abs(answer.oodScore() - score) <= SIMILARITY_TOLERANCE;
        if (!sameScore || answer.unlikeAnyReference() != unlike) {
            // Only the verdict of an equal score sitting on the threshold may differ by rounding.
            (sameScore && nearThreshold ? borderline : problems).add(where + "OOD score "
                    + answer.oodScore() + " unlike=" + answer.unlikeAnyReference()
                    + ", python " + score + " unlike=" + unlike);
        }
    }
}
