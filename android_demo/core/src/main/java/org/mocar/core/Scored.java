package org.mocar.core;

/** One class of the top-5: its label, its index in the logits and its softmax probability. */
public final class Scored {
    private final String label;
    private final int index;
    private final double probability;

    Scored(String label, int index, double probability) {
        this.label = label;
        this.index = index;
        this.probability = probability;
    }

    public String label() {
        return label;
    }

    public int index() {
        return index;
    }

    public double probability() {
        return probability;
    }

    @Override
    public String toString() {
        return label + " (" + index + "): " + probability;
    }
}
