package org.mocar.demo.image

import org.junit.Assert.assertEquals
import org.junit.Test

/** Large photos are decoded smaller, but never below the short side the model needs. */
class PhotoDecoderTest {

    @Test
    fun keepsTheShortSideAboveTheMinimum() {
        assertEquals(4, PhotoDecoder.sampleSize(4000, 3000, 512)) // 750 px short side
        assertEquals(2, PhotoDecoder.sampleSize(4000, 3000, 896)) // 1500 px; 4 would give 750 < 896
        assertEquals(1, PhotoDecoder.sampleSize(300, 200, 512)) // already small: decoded as is
    }
}
