package org.mocar.demo.ui

import android.content.res.Resources
import org.mocar.core.Answer
import org.mocar.demo.R
import kotlin.math.roundToLong

/**
 * The sentences of the photo screen, built from the core's [Answer] at one coverage level.
 *
 * Level keys are the calibration's own ("0.8", "0.9", "0.95": `mocar.field.conformal.level_key`).
 */
class AnswerText(private val resources: Resources) {

    /** "Prediction set (90 %): A, B", or why there is none at this level. */
    fun predictionSet(answer: Answer, level: String): String {
        val sets = answer.predictionSets()
        if (sets.isEmpty()) return resources.getString(R.string.no_calibration)
        val labels = sets[level] ?: return resources.getString(R.string.level_not_calibrated)
        return resources.getString(R.string.prediction_set, percent(level), labels.joinToString(", "))
    }

    /** Estimated year and its calibrated range at this level, or null for models without a year output. */
    fun year(answer: Answer, level: String): String? {
        val year = answer.year() ?: return null
        val estimate = resources.getString(R.string.year_estimate, calendarYear(year))
        val intervals = answer.yearIntervals()
        val range = when {
            !intervals.containsKey(level) -> resources.getString(R.string.year_no_interval)
            intervals[level] == null -> resources.getString(R.string.year_unbounded, percent(level))
            else -> {
                val (low, high) = intervals.getValue(level).let { it[0] to it[1] }
                resources.getString(R.string.year_interval, percent(level), calendarYear(low), calendarYear(high))
            }
        }
        return estimate + "\n" + range
    }

    /** The "unlike any reference" warning, or null when the photo resembles the references. */
    fun unlikeAnyReference(answer: Answer): String? {
        if (!answer.unlikeAnyReference()) return null
        return resources.getString(
            R.string.unlike_any_reference, answer.oodScore() ?: Double.NaN, answer.oodThreshold() ?: Double.NaN
        )
    }

    /** A calendar year in words: negative years are BCE (the dating convention of mocar). */
    fun calendarYear(year: Double): String {
        val rounded = year.roundToLong()
        return if (rounded < 0) resources.getString(R.string.year_bce, -rounded)
        else resources.getString(R.string.year_ce, rounded)
    }

    /** "0.9" -> "90 %". */
    fun percent(level: String): String {
        val value = level.toDoubleOrNull() ?: return level
        val hundred = value * 100.0
        val text = if (hundred == Math.rint(hundred)) hundred.roundToLong().toString() else hundred.toString()
        return resources.getString(R.string.level_percent, text)
    }
}
