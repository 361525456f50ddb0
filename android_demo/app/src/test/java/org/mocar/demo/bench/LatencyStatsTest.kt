package org.mocar.demo.bench

import org.junit.Assert.assertEquals
import org.junit.Test

/** The phone's latency summary must equal numpy's, or phone and desktop rows are not comparable. */
class LatencyStatsTest {

    @Test
    fun matchesNumpyOnAnEvenCount() {
        // numpy: median([4, 1, 3, 2]) = 2.5, percentile(.., 90) = 3.7, mean = 2.5
        val stats = LatencyStats.of(listOf(4.0, 1.0, 3.0, 2.0))
        assertEquals(2.5, stats.p50Ms, 1e-12)
        assertEquals(3.7, stats.p90Ms, 1e-12)
        assertEquals(1.0, stats.minMs, 0.0)
        assertEquals(2.5, stats.meanMs, 1e-12)
        assertEquals(400.0, stats.throughputIps, 1e-9)
    }

    @Test
    fun matchesNumpyOnAnOddCount() {
        // numpy: percentile([10, 20, 30, 40, 100], 90) = 76.0, median = 30
        val stats = LatencyStats.of(listOf(100.0, 20.0, 10.0, 40.0, 30.0))
        assertEquals(30.0, stats.p50Ms, 1e-12)
        assertEquals(76.0, stats.p90Ms, 1e-12)
        assertEquals(5, stats.runs)
    }

    @Test(expected = IllegalArgumentException::class)
    fun refusesNoRuns() {
        LatencyStats.of(emptyList())
    }
}
