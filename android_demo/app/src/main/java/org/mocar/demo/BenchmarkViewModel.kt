package org.mocar.demo

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.mocar.demo.bench.BenchFailure
import org.mocar.demo.bench.BenchReport
import org.mocar.demo.bench.BenchRow
import org.mocar.demo.bench.BenchSettings
import org.mocar.demo.bench.DeviceInfo
import org.mocar.demo.bench.PhoneBenchmark
import org.mocar.demo.ml.BundledAssets
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale

/** What the benchmark screen shows. */
data class BenchUiState(
    val running: Boolean = false,
    val done: Int = 0,
    val total: Int = 0,
    val current: String = "",
    val rows: List<BenchRow> = emptyList(),
    val failures: List<BenchFailure> = emptyList(),
    /** The JSON file of the last finished run, to share. */
    val file: File? = null,
    val error: String? = null,
    val cancelled: Boolean = false,
)

/** Runs [PhoneBenchmark] off the main thread and writes its JSON file; survives screen rotation. */
class BenchmarkViewModel(application: Application) : AndroidViewModel(application) {
    private val _state = MutableStateFlow(BenchUiState())
    val state: StateFlow<BenchUiState> = _state.asStateFlow()
    private var job: Job? = null

    fun start(settings: BenchSettings) {
        if (job?.isActive == true) return
        _state.value = BenchUiState(running = true)
        job = viewModelScope.launch {
            try {
                val benchmark = PhoneBenchmark(BundledAssets(getApplication()), settings)
                val (rows, failures) = withContext(Dispatchers.Default) {
                    benchmark.run { progress ->
                        _state.update {
                            it.copy(done = progress.done, total = progress.total, current = progress.current, rows = progress.rows)
                        }
                    }
                }
                if (rows.isEmpty()) {
                    // An import file needs at least one row; show why each configuration failed instead.
                    val reason = getApplication<Application>().getString(R.string.bench_nothing_measured)
                    _state.update { it.copy(running = false, failures = failures, error = reason) }
                    return@launch
                }
                val file = withContext(Dispatchers.IO) { write(rows) }
                _state.update { it.copy(running = false, rows = rows, failures = failures, file = file) }
            } catch (e: CancellationException) {
                _state.update { it.copy(running = false, cancelled = true) }
                throw e
            } catch (e: Exception) {
                _state.update { it.copy(running = false, error = e.message ?: e.toString()) }
            }
        }
    }

    fun cancel() {
        job?.cancel()
    }

    /**
     * Writes the rows into the app's external files dir (`benchmarks/`, reachable with `adb pull`),
     * or internal storage when there is none, in the `mocar bench --import` shape.
     */
    private fun write(rows: List<BenchRow>): File {
        val app = getApplication<Application>()
        val folder = app.getExternalFilesDir(FOLDER) ?: File(app.filesDir, FOLDER)
        folder.mkdirs()
        val stamp = SimpleDateFormat("yyyyMMdd-HHmmss", Locale.ROOT).format(Date())
        val device = DeviceInfo.device().replace(Regex("[^A-Za-z0-9]+"), "_")
        val file = File(folder, "phone_bench_${device}_$stamp.json")
        val report = BenchReport(DeviceInfo.fields(), BuildConfig.LITERT_VERSION, rows)
        file.writeText(report.toJson().toString(2) + "\n")
        return file
    }

    private companion object {
        const val FOLDER = "benchmarks"
    }
}
