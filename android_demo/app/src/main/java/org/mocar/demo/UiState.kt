package org.mocar.demo

import android.graphics.Bitmap
import org.mocar.core.Answer
import org.mocar.demo.ml.TimedAnswer

/**
 * A reference object shown under "similar objects", with its decoded thumbnail (null if none).
 * Catalogue fields are null where the museum's export had none.
 */
data class SimilarObject(
    val id: String?,
    val collection: String?,
    val dating: String?,
    val similarity: Float,
    val thumbnail: Bitmap?,
)

/** The result of one photo with one model. */
data class PhotoResult(
    val modelFile: String,
    /** `collection` or `epoch`: what the labels of [TimedAnswer.answer] name. */
    val target: String,
    val timed: TimedAnswer,
    val similar: List<SimilarObject>,
    /** `xnnpack` or `gpu`: what actually ran the model. */
    val accelerator: String,
) {
    val answer: Answer get() = timed.answer
}

/** Everything the photo screen shows; one immutable value per change. */
data class UiState(
    val models: List<String> = emptyList(),
    val selectedModel: String? = null,
    val useGpu: Boolean = false,
    /** Conformal coverage level key, as the calibration writes it ("0.8", "0.9", "0.95"). */
    val level: String = DEFAULT_LEVEL,
    val busy: Boolean = false,
    val photo: Bitmap? = null,
    /** Input size, dtype, labels and calibration of the loaded model, in one line. */
    val modelSummary: String? = null,
    val result: PhotoResult? = null,
    /** Non-fatal notes (GPU fell back to the CPU, no index bundled) and errors, for the status line. */
    val notes: List<String> = emptyList(),
) {
    companion object {
        const val DEFAULT_LEVEL = "0.9"
    }
}
