package org.mocar.demo.ml

import android.content.Context
import android.content.res.AssetManager
import org.mocar.core.ReferenceIndex
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.channels.FileChannel

/**
 * The files `mocar export --android-assets` put into the APK's assets: `*.tflite` models at the top
 * level and the reference index under `reference_index/`.
 *
 * Files stored uncompressed (`.tflite`, `.bin`: see `androidResources.noCompress` in
 * build.gradle.kts) are memory-mapped, so a model or the index's embeddings never have to fit on
 * the Java heap; other files (the small JSON ones) are read into a direct buffer.
 */
class BundledAssets(context: Context) {
    private val assets: AssetManager = context.applicationContext.assets

    /** The bundled model files, sorted by name (e.g. `model_fp32.tflite`, `model_int8_dynamic_range.tflite`). */
    fun modelFiles(): List<String> =
        assets.list("").orEmpty().filter { it.endsWith(MODEL_SUFFIX) }.sorted()

    /** Size of an asset in bytes (the model file size reported by the benchmark). */
    fun sizeBytes(name: String): Long =
        try {
            assets.openFd(name).use { it.length }
        } catch (compressed: FileNotFoundException) {
            assets.open(name).use { stream -> stream.skip(Long.MAX_VALUE) }
        }

    /**
     * The whole asset as a read-only buffer positioned at 0: a memory map when the asset is stored
     * uncompressed, else a direct buffer in native order (what the LiteRT Interpreter accepts).
     *
     * @throws FileNotFoundException if there is no such asset.
     */
    fun load(name: String): ByteBuffer =
        try {
            assets.openFd(name).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        } catch (compressed: FileNotFoundException) {
            // openFd refuses compressed assets; a missing asset throws again here with its name.
            val bytes = assets.open(name).use { it.readBytes() }
            ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).put(bytes).also { it.rewind() }
        }

    /** True when the export bundled a reference index (`reference_index/index.json`). */
    fun hasReferenceIndex(): Boolean =
        assets.list(INDEX_DIR).orEmpty().contains(INDEX_META)

    /**
     * Loads the bundled reference index, or returns null when none was exported.
     *
     * The core asks for its files by name relative to `reference_index/`.
     */
    fun referenceIndex(): ReferenceIndex? {
        if (!hasReferenceIndex()) return null
        return ReferenceIndex.load { name -> load("$INDEX_DIR/$name") }
    }

    companion object {
        const val MODEL_SUFFIX = ".tflite"
        const val INDEX_DIR = "reference_index"
        const val INDEX_META = "index.json"
    }
}
