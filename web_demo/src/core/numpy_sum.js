// numpy's pairwise summation of float64 values (np.sum, np.mean), so that sums over classes or
// neighbours round exactly like the Python side (mirrors android_demo/core NumpySum.java): fewer than
// 8 values one by one; up to 128 with 8 interleaved partial sums combined as a tree; longer runs split
// in two halves, the first a multiple of 8 long.

const BLOCK = 128;

export function pairwiseSum(values, start = 0, n = values.length) {
  if (n < 8) {
    let sum = 0.0;
    for (let i = 0; i < n; i++) sum += values[start + i];
    return sum;
  }
  if (n <= BLOCK) {
    const r = Array.from({ length: 8 }, (_, j) => values[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += values[start + i + j];
    }
    let sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) sum += values[start + i];
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return pairwiseSum(values, start, half) + pairwiseSum(values, start + half, n - half);
}
