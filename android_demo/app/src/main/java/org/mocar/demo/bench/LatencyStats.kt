package org.mocar.demo.bench

/**
 * Summary of timed runs in milliseconds, computed like `mocar bench` does with numpy:
 * `p50` = median, `p90` = 90th percentile with linear interpolation (numpy's default), `min`, `mean`.
 */
data class LatencyStats(val p50Ms: Double, val p90Ms: Double, val minMs: Double, val meanMs: Double, val runs: Int) {
    /** Images per second at the median latency (batch 1), as `mocar bench` reports it. */
    val throughputIps: Double get() = if (p50Ms > 0.0) 1000.0 / p50Ms else 0.0

    companion object {
        /**
         * @throws IllegalArgumentException when [timesMs] is empty.
         */
        fun of(timesMs: List<Double>): LatencyStats {
            require(timesMs.isNotEmpty()) { "no timed runs: set at least one run" }
            val sorted = timesMs.sorted()
            return LatencyStats(
                p50Ms = percentile(sorted, 50.0),
                p90Ms = percentile(sorted, 90.0),
                minMs = sorted.first(),
                meanMs = sorted.sum() / sorted.size,
                runs = sorted.size,
            )
        }

        /** numpy.percentile(values, q) with the default "linear" method, for sorted values. */
        fun percentile(sorted: List<Double>, q: Double): Double {
            require(sorted.isNotEmpty()) { "percentile of no values" }
            require(q in 0.0..100.0) { "percentile q=$q: expected 0..100" }
            val position = (sorted.size - 1) * q / 100.0
            val low = kotlin.math.floor(position).toInt()
            val high = kotlin.math.ceil(position).toInt()
            return sorted[low] + (sorted[high] - sorted[low]) * (position - low)
        }
    }
}
