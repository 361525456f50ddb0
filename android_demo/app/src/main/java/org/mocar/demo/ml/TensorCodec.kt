package org.mocar.demo.ml

import org.mocar.core.ModelMetadata
import org.mocar.core.Preprocessor
import org.mocar.core.RgbImage
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Tensor
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Bytes in and out of the LiteRT tensors, using each tensor's own type, scale and zero point.
 *
 * The numbers themselves come from `:core` (the preprocessing the golden tests check); this file
 * only moves them into the interpreter's buffers and back, by tensor *name* for the outputs:
 * onnx2tf names and orders outputs differently in float and quantised files.
 */
internal object TensorCodec {

    /** A direct buffer in native order, the layout the interpreter copies without conversion. */
    fun directBuffer(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())

    /**
     * Checks that the file's input tensor is the `[1, size, size, 3]` image its metadata describes.
     *
     * @throws IllegalArgumentException naming the file, the tensor and what was expected.
     */
    fun checkInput(modelFile: String, tensor: Tensor, metadata: ModelMetadata) {
        val size = metadata.inputSize()
        val expected = intArrayOf(1, size, size, 3)
        require(tensor.shape().contentEquals(expected)) {
            "$modelFile: input tensor '${tensor.name()}' has shape ${tensor.shape().contentToString()}, " +
                "the metadata describes ${expected.contentToString()} (NHWC)"
        }
        require(tensor.dataType() in INPUT_TYPES) {
            "$modelFile: input tensor type ${tensor.dataType()} is not supported (expected one of $INPUT_TYPES)"
        }
        val declared = metadata.inputDtype()
        require(declared == dtypeName(tensor.dataType())) {
            "$modelFile: input tensor is ${dtypeName(tensor.dataType())} but the metadata says $declared"
        }
    }

    /**
     * Writes a photo into [buffer] as the input tensor wants it: float32 from
     * [Preprocessor.toTensorNhwc], or int8/uint8 quantised with the tensor's own scale and zero point.
     */
    fun encodeInput(image: RgbImage, metadata: ModelMetadata, tensor: Tensor, buffer: ByteBuffer) {
        val floats = Preprocessor.toTensorNhwc(image, metadata)
        buffer.rewind()
        when (tensor.dataType()) {
            DataType.FLOAT32 -> buffer.asFloatBuffer().put(floats)
            DataType.INT8, DataType.UINT8 -> {
                val params = tensor.quantizationParams()
                val signed = tensor.dataType() == DataType.INT8
                buffer.put(Preprocessor.quantize(floats, params.scale, params.zeroPoint, signed))
            }
            else -> throw IllegalArgumentException("input tensor type ${tensor.dataType()} is not supported")
        }
        buffer.rewind()
    }

    /**
     * Reads one output tensor's buffer as floats, dequantising integer outputs with
     * `(q - zeroPoint) * scale`.
     */
    fun decodeOutput(tensor: Tensor, buffer: ByteBuffer): FloatArray {
        buffer.rewind()
        val count = tensor.shape().fold(1) { acc, dim -> acc * dim }
        val values = FloatArray(count)
        when (tensor.dataType()) {
            DataType.FLOAT32 -> buffer.asFloatBuffer().get(values)
            DataType.INT8, DataType.UINT8 -> {
                val params = tensor.quantizationParams()
                val unsigned = tensor.dataType() == DataType.UINT8
                for (i in 0 until count) {
                    val raw = buffer.get(i).toInt()
                    val q = if (unsigned) raw and 0xFF else raw
                    values[i] = (q - params.zeroPoint) * params.scale
                }
            }
            else -> throw IllegalArgumentException(
                "output tensor '${tensor.name()}' has type ${tensor.dataType()}; expected float32, int8 or uint8"
            )
        }
        return values
    }

    /**
     * The logical output name (`logits`, `year`, `embedding`) of a file tensor, from the metadata's
     * `output_map`.
     *
     * @throws IllegalArgumentException when the metadata does not name this tensor.
     */
    fun outputName(modelFile: String, tensor: Tensor, metadata: ModelMetadata): String {
        val map = metadata.outputMap()
        return map[tensor.name()] ?: throw IllegalArgumentException(
            "$modelFile: output tensor '${tensor.name()}' is not in the metadata's output_map ${map.keys}; " +
                "re-export the model with mocar"
        )
    }

    /** numpy's name for a LiteRT type, as the metadata writes it. */
    fun dtypeName(type: DataType): String = when (type) {
        DataType.FLOAT32 -> "float32"
        DataType.INT8 -> "int8"
        DataType.UINT8 -> "uint8"
        else -> type.toString().lowercase()
    }

    private val INPUT_TYPES = setOf(DataType.FLOAT32, DataType.INT8, DataType.UINT8)
}
