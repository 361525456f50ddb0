package org.mocar.demo.image

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Matrix
import android.net.Uri
import androidx.exifinterface.media.ExifInterface
import org.mocar.core.RgbImage
import java.io.FileNotFoundException
import java.io.IOException
import java.io.InputStream

/**
 * A photo (camera file or Photo Picker item) to an upright ARGB bitmap and to the core's [RgbImage].
 *
 * Caveats, compared with the desktop's `mocar.data.images.load_rgb`:
 * - the EXIF orientation is applied (phone cameras store portrait photos sideways and set the tag;
 *   museum scans rarely carry one, and the desktop does not read it);
 * - very large photos are decoded at a power-of-two reduction that keeps the short side at least
 *   [minShortSide] pixels (4x the model's input side), to bound memory; the model then sees a
 *   resize from that, not from the full 12-50 MP frame. The golden tests feed the same pixels to
 *   both sides, so this decoding step is the one part not covered by them.
 */
object PhotoDecoder {

    /** Decodes [uri] upright, in ARGB_8888, reduced by a power of two while the short side stays >= [minShortSide]. */
    fun decode(resolver: ContentResolver, uri: Uri, minShortSide: Int): Bitmap {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        open(resolver, uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw IOException("$uri is not an image Android can decode (type ${bounds.outMimeType})")
        }
        val options = BitmapFactory.Options().apply {
            inSampleSize = sampleSize(bounds.outWidth, bounds.outHeight, minShortSide)
            inPreferredConfig = Bitmap.Config.ARGB_8888
        }
        val bitmap = open(resolver, uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IOException("could not decode $uri")
        return upright(bitmap, orientation(resolver, uri))
    }

    /** The bitmap's pixels as the core's RGB image (alpha composited on white by the core, like Pillow). */
    fun toRgbImage(bitmap: Bitmap): RgbImage {
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        return RgbImage.fromArgb(bitmap.width, bitmap.height, argb)
    }

    /** The largest power of two that keeps min(width, height) / size >= [minShortSide] (at least 1). */
    fun sampleSize(width: Int, height: Int, minShortSide: Int): Int {
        val shortSide = minOf(width, height)
        var size = 1
        while (shortSide / (size * 2) >= minShortSide) size *= 2
        return size
    }

    private fun open(resolver: ContentResolver, uri: Uri): InputStream =
        resolver.openInputStream(uri) ?: throw FileNotFoundException("cannot open $uri")

    private fun orientation(resolver: ContentResolver, uri: Uri): Int =
        try {
            open(resolver, uri).use {
                ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
            }
        } catch (noExif: IOException) {
            ExifInterface.ORIENTATION_NORMAL // formats without EXIF support (e.g. BMP, GIF) are upright
        }

    /** Applies an EXIF orientation with exact pixel moves (no filtering: only 90-degree turns and mirrors). */
    fun upright(bitmap: Bitmap, orientation: Int): Bitmap {
        val matrix = Matrix()
        when (orientation) {
            ExifInterface.ORIENTATION_ROTATE_90 -> matrix.setRotate(90f)
            ExifInterface.ORIENTATION_ROTATE_180 -> matrix.setRotate(180f)
            ExifInterface.ORIENTATION_ROTATE_270 -> matrix.setRotate(270f)
            ExifInterface.ORIENTATION_FLIP_HORIZONTAL -> matrix.setScale(-1f, 1f)
            ExifInterface.ORIENTATION_FLIP_VERTICAL -> matrix.setScale(1f, -1f)
            // Mirror across the main diagonal: turn 90 degrees clockwise, then mirror left-right.
            ExifInterface.ORIENTATION_TRANSPOSE -> matrix.apply { setRotate(90f); postScale(-1f, 1f) }
            // Mirror across the other diagonal: turn 90 degrees anticlockwise, then mirror left-right.
            ExifInterface.ORIENTATION_TRANSVERSE -> matrix.apply { setRotate(270f); postScale(-1f, 1f) }
            else -> return bitmap
        }
        val turned = Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, false)
        if (turned !== bitmap) bitmap.recycle()
        return turned
    }
}
