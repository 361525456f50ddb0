package org.mocar.demo.bench

import android.os.Build

/**
 * The machine fields of the benchmark file (`device`, `os`, `system`, `cpu`, `cores`), filled with
 * what a phone can tell about itself; `mocar bench --import` labels the rows by `device`.
 */
object DeviceInfo {

    /** Manufacturer and model, e.g. "Google Pixel 8". */
    fun device(): String = "${Build.MANUFACTURER} ${Build.MODEL}"

    fun os(): String = "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})"

    /** The chip and ABI, e.g. "QTI SM8550 (arm64-v8a)"; Android 12+ names the SoC, older versions a board. */
    fun cpu(): String {
        val chip = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}"
        else Build.HARDWARE
        return "$chip (${Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown ABI"})"
    }

    fun cores(): Int = Runtime.getRuntime().availableProcessors()

    /** The machine fields, written once at the top of the file as defaults for every row. */
    fun fields(): Map<String, Any> =
        linkedMapOf("device" to device(), "os" to os(), "system" to "Android", "cpu" to cpu(), "cores" to cores())
}
