package org.mocar.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The conformal constants of {@code mocar calibrate}, as embedded in the model's metadata.
 *
 * <p>Plain numbers fitted once on the validation split (see {@code mocar/field/conformal.py}):
 * per coverage level ("0.8", "0.9", "0.95") a class-set threshold and a year half-width.
 * A {@code null} threshold or half-width means "too few calibration samples for this level":
 * the set is every class, the interval unbounded. Level order is the order in the JSON.
 */
public final class Calibration {
    /** APS/RAPS constants of one kind of prediction set (over classes, or over collections). */
    public static final class SetConstants {
        private final Map<String, Double> thresholds;
        private final double lambda;
        private final int kReg;

        SetConstants(Map<String, Object> json) {
            this.thresholds = levels(Json.require(json, "thresholds", "calibration set constants"));
            Double lam = Json.number(json, "lam");
            Double k = Json.number(json, "k_reg");
            this.lambda = lam == null ? 0.0 : lam;
            this.kReg = k == null ? 0 : (int) Math.round(k);
            Object randomized = json.get("randomized");
            if (Boolean.TRUE.equals(randomized)) {
                // A randomised set depends on a random draw per photo: never reproducible on a phone.
                throw new IllegalArgumentException("randomised conformal sets are not supported on the phone");
            }
        }

        /** Threshold per coverage level; a null value means the set of all classes. */
        public Map<String, Double> thresholds() {
            return thresholds;
        }

        /** RAPS penalty per rank beyond {@link #kReg()} (0 for APS). */
        public double lambda() {
            return lambda;
        }

        public int kReg() {
            return kReg;
        }
    }

    private final Map<String, Object> raw;
    private final SetConstants classes;
    private final SetConstants collections;
    private final Map<String, Double> yearHalfWidths;
    private final Map<String, Map<String, Double>> yearHalfWidthsByGroup;

    Calibration(Map<String, Object> raw) {
        this.raw = raw;
        Map<String, Object> classJson = Json.obj(raw, "classes");
        Map<String, Object> collectionJson = Json.obj(raw, "collections");
        this.classes = classJson == null ? null : new SetConstants(classJson);
        this.collections = collectionJson == null ? null : new SetConstants(collectionJson);
        Map<String, Object> year = Json.obj(raw, "year");
        Map<String, Object> byGroup = year == null ? null : Json.obj(year, "q_by_predicted_collection");
        this.yearHalfWidths = year == null ? null : levels(Json.require(year, "q", "calibration.year"));
        Map<String, Map<String, Double>> groups = new LinkedHashMap<>();
        if (byGroup != null) {
            for (String group : byGroup.keySet()) {
                groups.put(group, levels(Json.obj(byGroup, group)));
            }
        }
        this.yearHalfWidthsByGroup = Collections.unmodifiableMap(groups);
    }

    private static Map<String, Double> levels(Map<String, Object> json) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String level : json.keySet()) {
            out.put(level, Json.number(json, level));
        }
        return Collections.unmodifiableMap(out);
    }

    /** Class-set constants, or null when the calibration has none. */
    public SetConstants classes() {
        return classes;
    }

    /** Collection-set constants of epoch models, or null. */
    public SetConstants collections() {
        return collections;
    }

    /** Global year half-widths per level (null values = unbounded), or null without a year calibration. */
    public Map<String, Double> yearHalfWidths() {
        return yearHalfWidths;
    }

    /**
     * The half-width q of one prediction, like {@code conformal.year_half_width}: the predicted
     * group's value when known and not null, else the global one; null means unbounded.
     */
    public Double yearHalfWidth(String level, String group) {
        Map<String, Double> groupLevels = group == null ? null : yearHalfWidthsByGroup.get(group);
        Double groupQ = groupLevels == null ? null : groupLevels.get(level);
        return groupQ != null ? groupQ : yearHalfWidths.get(level);
    }

    /** The labels the class constants were fitted over (for a consistency check), or null. */
    public List<String> classLabels() {
        Map<String, Object> classJson = Json.obj(raw, "classes");
        List<Object> labels = classJson == null ? null : Json.list(classJson, "labels");
        return labels == null ? null : Json.strings(labels);
    }

    public Map<String, Object> raw() {
        return raw;
    }
}
