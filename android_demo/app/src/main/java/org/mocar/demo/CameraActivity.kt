package org.mocar.demo

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Bundle
import android.widget.Button
import android.widget.Toast
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import java.io.File

/**
 * Takes one photo with CameraX and returns its file path ([EXTRA_PHOTO_PATH]).
 *
 * The JPEG keeps the camera's EXIF orientation; [org.mocar.demo.image.PhotoDecoder] turns it
 * upright, the same path as a gallery photo.
 */
class CameraActivity : AppCompatActivity() {
    private lateinit var previewView: PreviewView
    private lateinit var captureButton: Button
    private var imageCapture: ImageCapture? = null

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) {
            startCamera()
        } else {
            Toast.makeText(this, R.string.camera_permission_denied, Toast.LENGTH_LONG).show()
            finish()
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_camera)
        previewView = findViewById(R.id.preview_view)
        captureButton = findViewById(R.id.capture_button)
        captureButton.setOnClickListener { capture() }
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            requestCamera.launch(Manifest.permission.CAMERA)
        }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener(Runnable {
            try {
                val provider = providerFuture.get()
                val preview = Preview.Builder().build()
                preview.setSurfaceProvider(previewView.surfaceProvider)
                val capture = ImageCapture.Builder()
                    .setCaptureMode(ImageCapture.CAPTURE_MODE_MAXIMIZE_QUALITY)
                    .build()
                provider.unbindAll()
                provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, capture)
                imageCapture = capture
            } catch (e: Exception) {
                // No back camera, or the camera service refused: the gallery still works.
                val message = getString(R.string.camera_unavailable, e.message ?: e.javaClass.simpleName)
                Toast.makeText(this, message, Toast.LENGTH_LONG).show()
                finish()
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun capture() {
        val capture = imageCapture ?: return
        captureButton.isEnabled = false
        val folder = File(cacheDir, PHOTO_FOLDER).apply { mkdirs() }
        // One photo at a time: the previous capture is no longer needed once a new one is taken.
        folder.listFiles()?.forEach { it.delete() }
        val file = File(folder, "capture_${System.currentTimeMillis()}.jpg")
        val output = ImageCapture.OutputFileOptions.Builder(file).build()
        capture.takePicture(output, ContextCompat.getMainExecutor(this), object : ImageCapture.OnImageSavedCallback {
            override fun onImageSaved(outputFileResults: ImageCapture.OutputFileResults) {
                setResult(RESULT_OK, Intent().putExtra(EXTRA_PHOTO_PATH, file.absolutePath))
                finish()
            }

            override fun onError(exception: ImageCaptureException) {
                captureButton.isEnabled = true
                val message = getString(R.string.capture_failed, exception.message ?: exception.imageCaptureError.toString())
                Toast.makeText(this@CameraActivity, message, Toast.LENGTH_LONG).show()
            }
        })
    }

    companion object {
        /** Absolute path of the captured JPEG in the result intent. */
        const val EXTRA_PHOTO_PATH = "org.mocar.demo.PHOTO_PATH"
        private const val PHOTO_FOLDER = "photos"
    }
}
