package org.mocar.demo.bench

import org.json.JSONArray
import org.json.JSONObject

/**
 * One on-device measurement: one model file x one thread count x one delegate.
 *
 * [toJson] writes only fields of the `mocar bench` row schema (`mocar/bench/rows.py: FIELDS`,
 * `docs/bench_rows.md`), because `mocar bench --import` rejects unknown fields. The mean latency
 * and the run counts are shown on screen but have no field in that schema yet.
 */
data class BenchRow(
    val export: String,
    /** "preset · backbone" from the model's metadata, as `mocar bench` labels its rows. */
    val model: String,
    val precision: String?,
    val flavour: String?,
    val sizeBytes: Long,
    val threads: Int,
    /** `xnnpack` (CPU) or `gpu`. */
    val delegate: String,
    val loadSeconds: Double,
    val latency: LatencyStats,
) {
    fun toJson(): JSONObject =
        JSONObject()
            .put("export", export)
            .put("model", model)
            .put("format", FORMAT)
            .put("precision", precision ?: JSONObject.NULL)
            .put("flavour", flavour ?: JSONObject.NULL)
            .put("simulated", false)
            .put("threads", threads)
            .put("delegate", delegate)
            .put("size_mb", sizeBytes / 1e6)
            .put("load_s", loadSeconds)
            .put("p50_ms", latency.p50Ms)
            .put("p90_ms", latency.p90Ms)
            .put("min_ms", latency.minMs)
            .put("throughput_ips", latency.throughputIps)

    companion object {
        const val FORMAT = "tflite"

        /**
         * "preset · backbone" (whichever the metadata has), else the model's name or architecture:
         * the rule of `mocar.bench.suite.model_label`, so phone rows group with the desktop's.
         */
        fun modelLabel(metadata: Map<String, Any?>): String {
            val model = metadata["model"] as? Map<*, *> ?: emptyMap<String, Any?>()
            val parts = listOf("preset", "backbone").mapNotNull { key -> text(model[key]) }.distinct()
            if (parts.isNotEmpty()) return parts.joinToString(" · ")
            return text(model["name"]) ?: text(model["architecture"]) ?: "unknown model"
        }

        private fun text(value: Any?): String? = (value as? String)?.takeIf { it.isNotEmpty() }
    }
}

/** A configuration that could not be measured (e.g. the GPU delegate refused the model); shown on screen. */
data class BenchFailure(val export: String, val threads: Int, val delegate: String, val error: String)

/**
 * The file the benchmark screen writes and shares, in the `mocar bench --import` shape: an object
 * whose top-level fields (device, OS, CPU, runtime) are defaults for every row in `rows`.
 */
data class BenchReport(val machine: Map<String, Any>, val runtimeVersion: String, val rows: List<BenchRow>) {
    fun toJson(): JSONObject {
        val json = JSONObject()
        machine.forEach { (key, value) -> json.put(key, value) }
        json.put("runtime", RUNTIME)
        json.put("runtime_version", runtimeVersion)
        json.put("rows", JSONArray(rows.map { it.toJson() }))
        return json
    }

    companion object {
        /** LiteRT's Java Interpreter on Android (the desktop rows use the Python `ai_edge_litert`). */
        const val RUNTIME = "litert-android"
    }
}
