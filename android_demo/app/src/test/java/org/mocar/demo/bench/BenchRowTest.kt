package org.mocar.demo.bench

import org.junit.Assert.assertEquals
import org.junit.Test

/** Phone rows must carry the same `model` label as the desktop's, or the report cannot group them. */
class BenchRowTest {

    @Test
    fun labelsLikeTheDesktopBench() {
        val metadata = mapOf("model" to mapOf("preset" to "mocar_tiny", "backbone" to "bit_tiny", "name" to "run"))
        assertEquals("mocar_tiny · bit_tiny", BenchRow.modelLabel(metadata))
    }

    @Test
    fun dropsARepeatedPartAndFallsBackToTheName() {
        assertEquals("bit_tiny", BenchRow.modelLabel(mapOf("model" to mapOf("preset" to "bit_tiny", "backbone" to "bit_tiny"))))
        assertEquals("run", BenchRow.modelLabel(mapOf("model" to mapOf("preset" to "", "name" to "run"))))
        assertEquals("unknown model", BenchRow.modelLabel(emptyMap()))
    }
}
