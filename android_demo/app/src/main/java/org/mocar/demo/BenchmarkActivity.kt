package org.mocar.demo

import android.content.Intent
import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.ProgressBar
import android.widget.TextView
import androidx.activity.viewModels
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.FileProvider
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import com.google.android.material.materialswitch.MaterialSwitch
import kotlinx.coroutines.launch
import org.mocar.demo.bench.BenchRow
import org.mocar.demo.bench.BenchSettings
import java.util.Locale

/**
 * The on-device benchmark screen: every bundled model x (1, 2, 4 CPU threads, optionally the GPU),
 * load time and p50/p90/min/mean latency, written as `mocar bench` rows to a JSON file to share.
 */
class BenchmarkActivity : AppCompatActivity() {
    private val viewModel: BenchmarkViewModel by viewModels()
    private lateinit var runsInput: EditText
    private lateinit var warmupInput: EditText
    private lateinit var gpuSwitch: MaterialSwitch
    private lateinit var startButton: Button
    private lateinit var shareButton: Button
    private lateinit var progress: ProgressBar
    private lateinit var statusText: TextView
    private lateinit var tableText: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        runsInput = findViewById(R.id.runs_input)
        warmupInput = findViewById(R.id.warmup_input)
        gpuSwitch = findViewById(R.id.bench_gpu_switch)
        startButton = findViewById(R.id.start_bench_button)
        shareButton = findViewById(R.id.share_bench_button)
        progress = findViewById(R.id.bench_progress)
        statusText = findViewById(R.id.bench_status_text)
        tableText = findViewById(R.id.bench_table_text)
        if (savedInstanceState == null) {
            runsInput.setText(BenchSettings.DEFAULT_RUNS.toString())
            warmupInput.setText(BenchSettings.DEFAULT_WARMUP.toString())
        }
        startButton.setOnClickListener { startOrCancel() }
        shareButton.setOnClickListener { share() }
        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) {
                viewModel.state.collect { render(it) }
            }
        }
    }

    private fun startOrCancel() {
        if (viewModel.state.value.running) {
            viewModel.cancel()
            return
        }
        val runs = runsInput.text.toString().trim().toIntOrNull()
        val warmup = warmupInput.text.toString().trim().toIntOrNull()
        if (runs == null || warmup == null || runs < 1 || warmup < 0) {
            statusText.setText(R.string.bench_invalid_number)
            return
        }
        viewModel.start(BenchSettings(runs, warmup, BenchSettings.DEFAULT_THREADS, gpuSwitch.isChecked))
    }

    private fun render(state: BenchUiState) {
        startButton.setText(if (state.running) R.string.cancel_benchmark else R.string.start_benchmark)
        runsInput.isEnabled = !state.running
        warmupInput.isEnabled = !state.running
        gpuSwitch.isEnabled = !state.running
        shareButton.isEnabled = !state.running && state.file != null
        progress.max = maxOf(state.total, 1)
        progress.progress = state.done
        statusText.text = when {
            state.running -> getString(R.string.bench_running, state.current, minOf(state.done + 1, state.total), state.total)
            state.error != null -> getString(R.string.bench_failed, state.error) + failuresText(state)
            state.cancelled -> getString(R.string.bench_cancelled)
            state.file != null -> doneText(state)
            else -> ""
        }
        tableText.text = table(state.rows)
    }

    private fun doneText(state: BenchUiState): String =
        getString(R.string.bench_done, state.rows.size, state.file?.absolutePath.orEmpty()) + failuresText(state)

    /** The configurations that could not be measured (not written to the file), or "". */
    private fun failuresText(state: BenchUiState): String {
        if (state.failures.isEmpty()) return ""
        val lines = state.failures.joinToString("\n") { "${it.export} (${it.delegate}, ${it.threads}t): ${it.error}" }
        return "\n" + getString(R.string.bench_failures, state.failures.size, lines)
    }

    /** A fixed-width table of the rows measured so far (model, delegate, threads, load, latencies). */
    private fun table(rows: List<BenchRow>): String {
        if (rows.isEmpty()) return ""
        val header = String.format(Locale.ROOT, "%-36s %-8s %3s %8s %8s %8s %8s %8s", "file", "delegate", "thr", "load s", "p50 ms", "p90 ms", "min ms", "mean ms")
        val lines = rows.map { row ->
            String.format(
                Locale.ROOT, "%-36s %-8s %3d %8.3f %8.2f %8.2f %8.2f %8.2f",
                row.export, row.delegate, row.threads, row.loadSeconds,
                row.latency.p50Ms, row.latency.p90Ms, row.latency.minMs, row.latency.meanMs,
            )
        }
        return (listOf(header) + lines).joinToString("\n")
    }

    /** Sends the JSON file through the system share sheet (mail, Drive, Nearby Share...). */
    private fun share() {
        val file = viewModel.state.value.file ?: return
        val uri = FileProvider.getUriForFile(this, "$packageName.files", file)
        val send = Intent(Intent.ACTION_SEND)
            .setType("application/json")
            .putExtra(Intent.EXTRA_STREAM, uri)
            .addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
        startActivity(Intent.createChooser(send, getString(R.string.share_chooser)))
    }
}
