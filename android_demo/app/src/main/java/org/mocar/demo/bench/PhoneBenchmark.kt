package org.mocar.demo.bench

import android.os.SystemClock
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import org.mocar.core.RgbImage
import org.mocar.demo.ml.Accelerator
import org.mocar.demo.ml.BundledAssets
import org.mocar.demo.ml.MocarClassifier
import org.mocar.demo.ml.RunOptions

/** What to measure: timed and warm-up runs per configuration, CPU thread counts, and the GPU too or not. */
data class BenchSettings(val runs: Int, val warmup: Int, val threads: List<Int>, val includeGpu: Boolean) {
    init {
        require(runs >= 1) { "runs=$runs: at least one timed run is needed" }
        require(warmup >= 0) { "warmup=$warmup: must be 0 or more" }
        require(threads.isNotEmpty() && threads.all { it >= 1 }) { "threads=$threads: need one or more counts >= 1" }
    }

    companion object {
        /** The thread counts the benchmark screen measures on the CPU. */
        val DEFAULT_THREADS = listOf(1, 2, 4)
        /** The desktop `mocar bench` defaults. */
        const val DEFAULT_RUNS = 50
        const val DEFAULT_WARMUP = 5
    }
}

/** Progress of a running benchmark, for the screen. */
data class BenchProgress(val done: Int, val total: Int, val current: String, val rows: List<BenchRow>)

/**
 * The in-app benchmark: for every bundled model and configuration, load the model (timed), run
 * warm-up, then time single-image runs, like `mocar bench`'s `time_runner`.
 *
 * Configurations are the CPU (XNNPACK) at each thread count, and, when asked, the GPU delegate
 * once per model (at 1 CPU thread, for the ops it leaves on the CPU).
 */
class PhoneBenchmark(private val assets: BundledAssets, private val settings: BenchSettings) {
    private val configurations: List<RunOptions> =
        settings.threads.map { RunOptions(it, Accelerator.CPU) } +
            if (settings.includeGpu) listOf(RunOptions(1, Accelerator.GPU)) else emptyList()

    /** Measures every model x configuration; a failing configuration is recorded, not fatal. */
    suspend fun run(onProgress: suspend (BenchProgress) -> Unit): Pair<List<BenchRow>, List<BenchFailure>> {
        val models = assets.modelFiles()
        require(models.isNotEmpty()) { "no .tflite model in the app's assets; see android_demo/README.md" }
        val rows = mutableListOf<BenchRow>()
        val failures = mutableListOf<BenchFailure>()
        val total = models.size * configurations.size
        var done = 0
        for (model in models) {
            for (options in configurations) {
                currentCoroutineContext().ensureActive()
                onProgress(BenchProgress(done, total, "$model, ${describe(options)}", rows.toList()))
                try {
                    rows += measure(model, options)
                } catch (e: CancellationException) {
                    throw e
                } catch (e: Exception) {
                    failures += BenchFailure(model, options.threads, options.accelerator.label, e.message ?: e.toString())
                }
                done++
            }
        }
        onProgress(BenchProgress(done, total, "", rows.toList()))
        return rows to failures
    }

    private suspend fun measure(model: String, options: RunOptions): BenchRow {
        val start = SystemClock.elapsedRealtimeNanos()
        val buffer = assets.load(model)
        val classifier = MocarClassifier.open(model, buffer, options, allowCpuFallback = false)
        val loadSeconds = (SystemClock.elapsedRealtimeNanos() - start) / 1e9
        classifier.use {
            it.setInput(greyImage(it.metadata.inputSize()))
            repeat(settings.warmup) { _ -> it.runOnce() }
            val times = ArrayList<Double>(settings.runs)
            repeat(settings.runs) { _ ->
                currentCoroutineContext().ensureActive()
                val tick = SystemClock.elapsedRealtimeNanos()
                it.runOnce()
                times += (SystemClock.elapsedRealtimeNanos() - tick) / 1e6
            }
            val meta = it.metadata.raw()
            return BenchRow(
                export = model,
                model = BenchRow.modelLabel(meta),
                precision = meta["precision"] as? String,
                flavour = (meta["quantization"] as? Map<*, *>)?.get("flavour") as? String,
                sizeBytes = assets.sizeBytes(model),
                threads = options.threads,
                delegate = options.accelerator.label,
                loadSeconds = loadSeconds,
                latency = LatencyStats.of(times),
            )
        }
    }

    private fun describe(options: RunOptions): String =
        if (options.accelerator == Accelerator.GPU) "GPU" else "${options.threads} thread(s)"

    /** Latency does not depend on pixel values; a flat mid-grey photo goes through the real preprocessing. */
    private fun greyImage(size: Int): RgbImage = RgbImage(size, size, ByteArray(size * size * 3) { MID_GREY })

    private companion object {
        val MID_GREY: Byte = 128.toByte()
    }
}
