package org.mocar.core;

/**
 * numpy's pairwise summation of float64 values ({@code np.sum}, {@code np.mean}), reproduced so
 * that sums over classes or neighbours round exactly like the Python side.
 *
 * <p>numpy adds fewer than 8 values one by one; up to 128 values with 8 interleaved partial sums
 * combined as a tree; longer runs are split in two halves (the first a multiple of 8 long).
 */
final class NumpySum {
    private static final int BLOCK = 128;

    private NumpySum() {
    }

    static double pairwise(double[] values) {
        return pairwise(values, 0, values.length);
    }

    static double pairwise(double[] a, int start, int n) {
        if (n < 8) {
            double sum = 0.0;
            for (int i = 0; i < n; i++) {
                sum += a[start + i];
            }
            return sum;
        }
        if (n <= BLOCK) {
            double[] r = new double[8];
            System.arraycopy(a, start, r, 0, 8);
            int i = 8;
            for (; i < n - (n % 8); i += 8) {
                for (int j = 0; j < 8; j++) {
                    r[j] += a[start + i + j];
                }
            }
            double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) {
                sum += a[start + i];
            }
            return sum;
        }
        int half = n / 2;
        half -= half % 8;
        return pairwise(a, start, half) + pairwise(a, start + half, n - half);
    }
}
