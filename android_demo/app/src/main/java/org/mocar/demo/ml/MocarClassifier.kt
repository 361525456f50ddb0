package org.mocar.demo.ml

import android.os.SystemClock
import org.mocar.core.Answer
import org.mocar.core.ModelMetadata
import org.mocar.core.Postprocessor
import org.mocar.core.ReferenceIndex
import org.mocar.core.RgbImage
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.Closeable
import java.nio.ByteBuffer

/** Where the interpreter runs the model. */
enum class Accelerator(val label: String) {
    /** LiteRT's CPU path with the XNNPACK delegate (the default, like the desktop benchmark). */
    CPU("xnnpack"),

    /** LiteRT's GPU delegate (OpenCL/OpenGL); unsupported ops make it fail at load time. */
    GPU("gpu"),
}

/** How to open a model: CPU thread count and accelerator. */
data class RunOptions(val threads: Int, val accelerator: Accelerator)

/** One answer and what it cost (milliseconds). */
data class TimedAnswer(val answer: Answer, val preprocessMs: Double, val inferenceMs: Double, val postprocessMs: Double)

/**
 * Owns one LiteRT interpreter and everything the model's metadata says about it.
 *
 * Input size, normalisation, labels, output names, year scale and the conformal constants all come
 * from the `mocar` metadata embedded in the file ([ModelMetadata.fromTflite]); nothing is hard-coded.
 * Not thread-safe (neither is the interpreter): callers serialise access.
 */
class MocarClassifier private constructor(
    val modelFile: String,
    val metadata: ModelMetadata,
    private val interpreter: Interpreter,
    private val gpuDelegate: GpuDelegate?,
    /** What actually runs the model (GPU requests may have fallen back to the CPU). */
    val accelerator: Accelerator,
    /** Why a GPU request fell back to the CPU, or null. */
    val fallbackReason: String?,
) : Closeable {
    private val inputTensor: Tensor = interpreter.getInputTensor(0)
    private val inputBuffer: ByteBuffer = TensorCodec.directBuffer(inputTensor.numBytes())
    private val outputTensors: List<Tensor> = (0 until interpreter.outputTensorCount).map(interpreter::getOutputTensor)
    private val outputBuffers: Map<Int, Any> =
        outputTensors.indices.associateWith { TensorCodec.directBuffer(outputTensors[it].numBytes()) }
    private val outputNames: List<String> = outputTensors.map { TensorCodec.outputName(modelFile, it, metadata) }

    init {
        TensorCodec.checkInput(modelFile, inputTensor, metadata)
    }

    /** Preprocesses [image] into the interpreter's input buffer (float or quantised). */
    fun setInput(image: RgbImage) {
        TensorCodec.encodeInput(image, metadata, inputTensor, inputBuffer)
    }

    /** Runs the model once on the current input buffer; the timed call of the benchmark. */
    fun runOnce() {
        inputBuffer.rewind()
        outputBuffers.values.forEach { (it as ByteBuffer).rewind() }
        interpreter.runForMultipleInputsOutputs(arrayOf<Any>(inputBuffer), outputBuffers)
    }

    /** The last run's outputs by logical name (`logits`, `year`, `embedding`), dequantised to float. */
    fun outputs(): Map<String, FloatArray> =
        outputTensors.indices.associate { i ->
            outputNames[i] to TensorCodec.decodeOutput(outputTensors[i], outputBuffers.getValue(i) as ByteBuffer)
        }

    /**
     * Photo to answer: preprocess, run, then the core's post-processing (softmax, top-5, conformal
     * sets and year intervals, nearest references and the "unlike any reference" check).
     *
     * @param index The bundled reference index, or null to skip the similar-object search.
     * @param neighbours How many similar reference objects to return.
     */
    fun answer(image: RgbImage, index: ReferenceIndex?, neighbours: Int): TimedAnswer {
        val start = SystemClock.elapsedRealtimeNanos()
        setInput(image)
        val preprocessed = SystemClock.elapsedRealtimeNanos()
        runOnce()
        val inferred = SystemClock.elapsedRealtimeNanos()
        val answer = Postprocessor.answer(outputs(), metadata, index, neighbours)
        val done = SystemClock.elapsedRealtimeNanos()
        return TimedAnswer(answer, millis(start, preprocessed), millis(preprocessed, inferred), millis(inferred, done))
    }

    override fun close() {
        interpreter.close()
        gpuDelegate?.close()
    }

    companion object {
        /**
         * Opens [model] (the bytes of [modelFile], memory-mapped or direct) with [options].
         *
         * @param allowCpuFallback When the GPU delegate cannot be created or applied, run on the CPU
         *   and say why in [fallbackReason] (the photo screen) instead of throwing (the benchmark).
         * @throws IllegalArgumentException when the file has no mocar metadata, its tensors do not
         *   match it, or (without fallback) the GPU delegate fails.
         */
        fun open(modelFile: String, model: ByteBuffer, options: RunOptions, allowCpuFallback: Boolean): MocarClassifier {
            val metadata = ModelMetadata.fromTflite(model)
            var fallbackReason: String? = null
            if (options.accelerator == Accelerator.GPU) {
                val gpu: Pair<Interpreter, GpuDelegate>? = try {
                    openOnGpu(model, options.threads)
                } catch (e: Exception) {
                    if (!allowCpuFallback) throw IllegalArgumentException("$modelFile: GPU delegate failed: ${e.message}", e)
                    fallbackReason = e.message ?: e.toString()
                    null
                } catch (e: LinkageError) {
                    // The GPU delegate's native library or classes are missing on this device or build.
                    if (!allowCpuFallback) throw IllegalArgumentException("$modelFile: GPU delegate unavailable: $e", e)
                    fallbackReason = e.toString()
                    null
                }
                if (gpu != null) return wrap(modelFile, metadata, gpu.first, gpu.second, Accelerator.GPU, null)
            }
            val interpreter = Interpreter(model, baseOptions(options.threads))
            return wrap(modelFile, metadata, interpreter, null, Accelerator.CPU, fallbackReason)
        }

        /** An interpreter with the GPU delegate applied; the delegate is closed again if that fails. */
        private fun openOnGpu(model: ByteBuffer, threads: Int): Pair<Interpreter, GpuDelegate> {
            val delegate = GpuDelegate()
            try {
                return Interpreter(model, baseOptions(threads).addDelegate(delegate)) to delegate
            } catch (e: Exception) {
                delegate.close()
                throw e
            }
        }

        /** The classifier, or closes the interpreter and delegate when its tensors contradict the metadata. */
        private fun wrap(
            modelFile: String,
            metadata: ModelMetadata,
            interpreter: Interpreter,
            delegate: GpuDelegate?,
            accelerator: Accelerator,
            fallbackReason: String?,
        ): MocarClassifier =
            try {
                MocarClassifier(modelFile, metadata, interpreter, delegate, accelerator, fallbackReason)
            } catch (e: IllegalArgumentException) {
                interpreter.close()
                delegate?.close()
                throw e
            }

        private fun baseOptions(threads: Int): Interpreter.Options =
            Interpreter.Options().setNumThreads(threads).setUseXNNPACK(true)

        private fun millis(fromNanos: Long, toNanos: Long): Double = (toNanos - fromNanos) / 1e6
    }
}
