package org.mocar.demo

import android.app.Application
import android.graphics.BitmapFactory
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import org.mocar.core.ModelMetadata
import org.mocar.core.ReferenceIndex
import org.mocar.core.RgbImage
import org.mocar.demo.image.PhotoDecoder
import org.mocar.demo.ml.Accelerator
import org.mocar.demo.ml.BundledAssets
import org.mocar.demo.ml.MocarClassifier
import org.mocar.demo.ml.RunOptions

/**
 * State and work of the photo screen: opens the chosen model (and the reference index once),
 * decodes photos and identifies them off the main thread.
 *
 * The interpreter is not thread-safe, so every use of [classifier] happens under [lock].
 */
class MainViewModel(application: Application) : AndroidViewModel(application) {
    private val assets = BundledAssets(application)
    private val lock = Mutex()
    private var classifier: MocarClassifier? = null
    private var referenceIndex: ReferenceIndex? = null
    private var indexLoaded = false
    private var indexError: String? = null
    /** The index, when it belongs to the open model (null otherwise). */
    private var indexForModel: ReferenceIndex? = null
    private var modelNotes: List<String> = emptyList()
    private var image: RgbImage? = null
    /** Jobs in flight (changed on the main thread only): the spinner shows while any runs. */
    private var runningJobs = 0

    private val _state = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = _state.asStateFlow()

    init {
        val models = assets.modelFiles()
        val notes = if (models.isEmpty()) listOf(text(R.string.no_models)) else emptyList()
        _state.update { it.copy(models = models, selectedModel = models.firstOrNull(), notes = notes) }
        if (models.isNotEmpty()) reopenModel()
    }

    fun selectModel(name: String) {
        if (name == _state.value.selectedModel) return
        _state.update { it.copy(selectedModel = name) }
        reopenModel()
    }

    fun setUseGpu(enabled: Boolean) {
        if (enabled == _state.value.useGpu) return
        _state.update { it.copy(useGpu = enabled) }
        reopenModel()
    }

    /** Changes the shown coverage level; the answer already holds every calibrated level. */
    fun setLevel(level: String) {
        _state.update { it.copy(level = level) }
    }

    /** Decodes a photo (camera file or Photo Picker item) and identifies it with the open model. */
    fun onPhoto(uri: Uri) {
        viewModelScope.launch {
            started()
            try {
                val minShortSide = lock.withLock { decodeShortSide(classifier?.metadata) }
                val bitmap = withContext(Dispatchers.IO) {
                    PhotoDecoder.decode(getApplication<Application>().contentResolver, uri, minShortSide)
                }
                image = withContext(Dispatchers.Default) { PhotoDecoder.toRgbImage(bitmap) }
                _state.update { it.copy(photo = bitmap, result = null) }
                identify()
            } catch (e: Exception) {
                _state.update { it.copy(notes = modelNotes + text(R.string.photo_failed, message(e))) }
            } finally {
                finished()
            }
        }
    }

    private fun reopenModel() {
        val name = _state.value.selectedModel ?: return
        val options = RunOptions(PHOTO_THREADS, if (_state.value.useGpu) Accelerator.GPU else Accelerator.CPU)
        viewModelScope.launch {
            started()
            _state.update { it.copy(result = null) }
            try {
                lock.withLock { withContext(Dispatchers.IO) { open(name, options) } }
                identify()
            } finally {
                finished()
            }
        }
    }

    private fun started() {
        runningJobs++
        _state.update { it.copy(busy = true) }
    }

    private fun finished() {
        runningJobs--
        _state.update { it.copy(busy = runningJobs > 0) }
    }

    /** Opens [name] in place of the current model; records why when something is degraded. Runs under [lock]. */
    private fun open(name: String, options: RunOptions) {
        classifier?.close()
        classifier = null
        val notes = mutableListOf<String>()
        try {
            val opened = MocarClassifier.open(name, assets.load(name), options, allowCpuFallback = true)
            opened.fallbackReason?.let { notes += text(R.string.gpu_fallback, it) }
            classifier = opened
            indexForModel = indexFor(opened.metadata, notes)
            _state.update { it.copy(modelSummary = summary(opened.metadata, indexForModel)) }
        } catch (e: Exception) {
            notes += text(R.string.model_failed, name, message(e))
            _state.update { it.copy(modelSummary = null) }
        }
        modelNotes = notes
        _state.update { it.copy(notes = notes) }
    }

    /** The bundled index (loaded once) if it was built with this model's weights, else null and a note. */
    private fun indexFor(metadata: ModelMetadata, notes: MutableList<String>): ReferenceIndex? {
        if (!indexLoaded) {
            indexLoaded = true
            try {
                referenceIndex = assets.referenceIndex()
            } catch (e: Exception) {
                indexError = message(e)
            }
        }
        indexError?.let {
            notes += text(R.string.index_failed, it)
            return null
        }
        val index = referenceIndex
        if (index == null) {
            notes += text(R.string.no_index)
            return null
        }
        return try {
            index.checkModel(metadata.fingerprint())
            index
        } catch (e: IllegalArgumentException) {
            notes += text(R.string.index_mismatch, message(e))
            null
        }
    }

    /** Runs the open model on the current photo, if both exist. */
    private suspend fun identify() {
        val photo = image ?: return
        try {
            val result = lock.withLock {
                val model = classifier ?: return
                withContext(Dispatchers.Default) { answer(model, photo) }
            }
            _state.update { it.copy(result = result, notes = modelNotes + otherWarnings(result)) }
        } catch (e: Exception) {
            _state.update { it.copy(result = null, notes = modelNotes + text(R.string.classify_failed, message(e))) }
        }
    }

    /** The core's warnings, less the "unlike any reference" one, which the screen shows in its own box. */
    private fun otherWarnings(result: PhotoResult): List<String> =
        result.answer.warnings().filterNot { result.answer.unlikeAnyReference() && it.startsWith(UNLIKE_WARNING_PREFIX) }

    private fun answer(model: MocarClassifier, photo: RgbImage): PhotoResult {
        val index = indexForModel
        val timed = model.answer(photo, index, SIMILAR_OBJECTS)
        val similar = timed.answer.neighbours().map { n ->
            val jpeg = index?.thumbnail(n.row())
            SimilarObject(
                id = n.id(),
                collection = n.collection(),
                dating = n.dating(),
                similarity = n.similarity(),
                thumbnail = jpeg?.let { BitmapFactory.decodeByteArray(it, 0, it.size) },
            )
        }
        return PhotoResult(model.modelFile, model.metadata.target(), timed, similar, model.accelerator.label)
    }

    private fun summary(metadata: ModelMetadata, index: ReferenceIndex?): String {
        val calibration = text(if (metadata.calibration() != null) R.string.calibrated else R.string.not_calibrated)
        val base = text(
            R.string.model_summary, metadata.inputSize(), metadata.inputDtype(), metadata.labels().size,
            metadata.target(), calibration,
        )
        return if (index == null) base else base + " · " + text(R.string.index_summary, index.size())
    }

    override fun onCleared() {
        classifier?.close()
        classifier = null
    }

    private fun text(id: Int, vararg args: Any): String = getApplication<Application>().getString(id, *args)

    private fun message(e: Exception): String = e.message ?: e.javaClass.simpleName

    private companion object {
        /** Threads for the photo screen (the benchmark measures 1, 2 and 4). */
        val PHOTO_THREADS = minOf(4, Runtime.getRuntime().availableProcessors())
        const val SIMILAR_OBJECTS = 5
        /** How `Postprocessor` (like `mocar predict`) words the out-of-distribution warning. */
        const val UNLIKE_WARNING_PREFIX = "unlike any reference"
        /** Photos are decoded with a short side of at least 4x the model input (and 512 px for display). */
        const val DECODE_FACTOR = 4
        const val MIN_DECODE_SIDE = 512
        /** Used before any model is open (no metadata yet). */
        const val FALLBACK_INPUT_SIDE = 256

        fun decodeShortSide(metadata: ModelMetadata?): Int =
            maxOf(DECODE_FACTOR * (metadata?.inputSize() ?: FALLBACK_INPUT_SIDE), MIN_DECODE_SIDE)
    }
}
