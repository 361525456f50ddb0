package org.mocar.core;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The field answer for one photo, the phone's version of {@code mocar predict}'s JSON
 * (schema mocar-field-prediction): likely classes, calibrated sets, year range, look-alikes,
 * and the "unlike any reference" verdict. Built by {@link Postprocessor#answer}.
 */
public final class Answer {
    private final List<Scored> top5;
    private final Map<String, List<String>> predictionSets;
    private final Map<String, List<String>> collectionSets;
    private final Double year;
    private final Map<String, double[]> yearIntervals;
    private final List<Neighbour> neighbours;
    private final Double oodScore;
    private final Double oodThreshold;
    private final boolean unlikeAnyReference;
    private final List<String> warnings;

    Answer(List<Scored> top5, Map<String, List<String>> predictionSets, Map<String, List<String>> collectionSets,
           Double year, Map<String, double[]> yearIntervals, List<Neighbour> neighbours, Double oodScore,
           Double oodThreshold, boolean unlikeAnyReference, List<String> warnings) {
        this.top5 = Collections.unmodifiableList(top5);
        this.predictionSets = Collections.unmodifiableMap(predictionSets);
        this.collectionSets = Collections.unmodifiableMap(collectionSets);
        this.year = year;
        this.yearIntervals = Collections.unmodifiableMap(yearIntervals);
        this.neighbours = Collections.unmodifiableList(neighbours);
        this.oodScore = oodScore;
        this.oodThreshold = oodThreshold;
        this.unlikeAnyReference = unlikeAnyReference;
        this.warnings = Collections.unmodifiableList(warnings);
    }

    /** The (up to) five most likely classes, best first; equal probabilities: lower index first. */
    public List<Scored> top5() {
        return top5;
    }

    /**
     * Coverage level ("0.8", "0.9", "0.95") to the labels of its conformal set, most likely first.
     * Empty when the model carries no calibration constants (a warning says so).
     */
    public Map<String, List<String>> predictionSets() {
        return predictionSets;
    }

    /** Epoch models: the same over collections; empty otherwise. */
    public Map<String, List<String>> collectionSets() {
        return collectionSets;
    }

    /** Estimated calendar year (negative = BCE), or null for models without a year output. */
    public Double year() {
        return year;
    }

    /** Level to {@code [low, high]} in calendar years; a null value means unbounded. Empty without calibration. */
    public Map<String, double[]> yearIntervals() {
        return yearIntervals;
    }

    /** The most similar reference objects, best first; empty without an index. */
    public List<Neighbour> neighbours() {
        return neighbours;
    }

    /** The OOD score (higher = more unusual), or null when the index carries no usable threshold. */
    public Double oodScore() {
        return oodScore;
    }

    /** The threshold the score was compared with, or null. */
    public Double oodThreshold() {
        return oodThreshold;
    }

    /** True when the photo is unlike every reference object (labels unreliable). */
    public boolean unlikeAnyReference() {
        return unlikeAnyReference;
    }

    /** Human-readable warnings, worded like {@code mocar predict}'s. */
    public List<String> warnings() {
        return warnings;
    }
}
