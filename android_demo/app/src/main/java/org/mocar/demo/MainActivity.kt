package org.mocar.demo

import android.app.Activity
import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.view.LayoutInflater
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.RadioGroup
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import com.google.android.material.materialswitch.MaterialSwitch
import kotlinx.coroutines.launch
import org.mocar.demo.ui.AnswerText
import java.io.File
import kotlin.math.roundToInt

/**
 * The photo screen: choose a model (and the GPU delegate), take or pick a photo, read the answer.
 *
 * All state lives in [MainViewModel]; this class only binds views to it.
 */
class MainActivity : AppCompatActivity() {
    private val viewModel: MainViewModel by viewModels()
    private lateinit var answerText: AnswerText

    private lateinit var modelSpinner: Spinner
    private lateinit var gpuSwitch: MaterialSwitch
    private lateinit var modelSummary: TextView
    private lateinit var emptyText: TextView
    private lateinit var photoView: ImageView
    private lateinit var busyIndicator: ProgressBar
    private lateinit var notesText: TextView
    private lateinit var warningText: TextView
    private lateinit var resultsGroup: View
    private lateinit var top5Title: TextView
    private lateinit var top5Container: LinearLayout
    private lateinit var levelGroup: RadioGroup
    private lateinit var predictionSetText: TextView
    private lateinit var yearText: TextView
    private lateinit var similarTitle: TextView
    private lateinit var similarContainer: LinearLayout
    private lateinit var timingText: TextView

    /** The model list the spinner shows, to rebuild its adapter only when the list changes. */
    private var spinnerModels: List<String> = emptyList()

    private val levelButtons = mapOf(R.id.level_80 to "0.8", R.id.level_90 to "0.9", R.id.level_95 to "0.95")

    private val pickPhoto = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri: Uri? ->
        uri?.let(viewModel::onPhoto)
    }

    private val takePhoto = registerForActivityResult(ActivityResultContracts.StartActivityForResult()) { result ->
        val path = result.data?.getStringExtra(CameraActivity.EXTRA_PHOTO_PATH)
        if (result.resultCode == Activity.RESULT_OK && path != null) viewModel.onPhoto(Uri.fromFile(File(path)))
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        answerText = AnswerText(resources)
        bindViews()

        findViewById<Button>(R.id.take_photo_button).setOnClickListener {
            takePhoto.launch(Intent(this, CameraActivity::class.java))
        }
        findViewById<Button>(R.id.pick_photo_button).setOnClickListener {
            pickPhoto.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        findViewById<Button>(R.id.benchmark_button).setOnClickListener {
            startActivity(Intent(this, BenchmarkActivity::class.java))
        }
        gpuSwitch.setOnCheckedChangeListener { _, checked -> viewModel.setUseGpu(checked) }
        levelGroup.setOnCheckedChangeListener { _, checkedId -> levelButtons[checkedId]?.let(viewModel::setLevel) }
        modelSpinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>, view: View?, position: Int, id: Long) {
                spinnerModels.getOrNull(position)?.let(viewModel::selectModel)
            }

            override fun onNothingSelected(parent: AdapterView<*>) = Unit
        }

        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) {
                viewModel.state.collect { render(it) }
            }
        }
    }

    private fun bindViews() {
        modelSpinner = findViewById(R.id.model_spinner)
        gpuSwitch = findViewById(R.id.gpu_switch)
        modelSummary = findViewById(R.id.model_summary_text)
        emptyText = findViewById(R.id.empty_text)
        photoView = findViewById(R.id.photo_view)
        busyIndicator = findViewById(R.id.busy_indicator)
        notesText = findViewById(R.id.notes_text)
        warningText = findViewById(R.id.warning_text)
        resultsGroup = findViewById(R.id.results_group)
        top5Title = findViewById(R.id.top5_title)
        top5Container = findViewById(R.id.top5_container)
        levelGroup = findViewById(R.id.level_group)
        predictionSetText = findViewById(R.id.prediction_set_text)
        yearText = findViewById(R.id.year_text)
        similarTitle = findViewById(R.id.similar_title)
        similarContainer = findViewById(R.id.similar_container)
        timingText = findViewById(R.id.timing_text)
    }

    private fun render(state: UiState) {
        renderControls(state)
        busyIndicator.visibility = if (state.busy) View.VISIBLE else View.GONE
        modelSummary.text = state.modelSummary.orEmpty()
        notesText.text = state.notes.joinToString("\n")
        notesText.visibility = if (state.notes.isEmpty()) View.GONE else View.VISIBLE
        emptyText.visibility = if (state.photo == null) View.VISIBLE else View.GONE
        photoView.visibility = if (state.photo == null) View.GONE else View.VISIBLE
        photoView.setImageBitmap(state.photo)

        val result = state.result
        resultsGroup.visibility = if (result == null) View.GONE else View.VISIBLE
        val warning = result?.let { answerText.unlikeAnyReference(it.answer) }
        warningText.text = warning.orEmpty()
        warningText.visibility = if (warning == null) View.GONE else View.VISIBLE
        if (result != null) renderResult(result, state.level)
    }

    /** Spinner, switch and level buttons follow the state without re-triggering their listeners' effects. */
    private fun renderControls(state: UiState) {
        if (state.models != spinnerModels) {
            spinnerModels = state.models
            modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_item, state.models).also {
                it.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item)
            }
        }
        val selected = state.models.indexOf(state.selectedModel)
        if (selected >= 0 && modelSpinner.selectedItemPosition != selected) modelSpinner.setSelection(selected)
        if (gpuSwitch.isChecked != state.useGpu) gpuSwitch.isChecked = state.useGpu
        val levelId = levelButtons.entries.firstOrNull { it.value == state.level }?.key
        if (levelId != null && levelGroup.checkedRadioButtonId != levelId) levelGroup.check(levelId)
    }

    private fun renderResult(result: PhotoResult, level: String) {
        val answer = result.answer
        top5Title.setText(if (result.target == "epoch") R.string.top5_epochs else R.string.top5_collections)
        top5Container.removeAllViews()
        val inflater = LayoutInflater.from(this)
        for (scored in answer.top5()) {
            val row = inflater.inflate(R.layout.item_score, top5Container, false)
            row.findViewById<TextView>(R.id.score_label).text = scored.label()
            row.findViewById<TextView>(R.id.score_value).text = getString(R.string.probability, 100.0 * scored.probability())
            row.findViewById<ProgressBar>(R.id.score_bar).progress = (1000.0 * scored.probability()).roundToInt()
            top5Container.addView(row)
        }
        predictionSetText.text = answerText.predictionSet(answer, level)
        val year = answerText.year(answer, level)
        yearText.text = year.orEmpty()
        yearText.visibility = if (year == null) View.GONE else View.VISIBLE

        similarContainer.removeAllViews()
        similarTitle.visibility = if (result.similar.isEmpty()) View.GONE else View.VISIBLE
        for (similar in result.similar) {
            val row = inflater.inflate(R.layout.item_similar, similarContainer, false)
            row.findViewById<ImageView>(R.id.similar_thumb).setImageBitmap(similar.thumbnail)
            row.findViewById<TextView>(R.id.similar_heading).text =
                getString(R.string.similar_heading, similar.id ?: MISSING, similar.collection ?: MISSING)
            row.findViewById<TextView>(R.id.similar_detail).text =
                getString(R.string.similar_detail, similar.dating ?: MISSING, similar.similarity)
            similarContainer.addView(row)
        }
        val timed = result.timed
        timingText.text = getString(
            R.string.timing, result.modelFile, result.accelerator, timed.preprocessMs, timed.inferenceMs, timed.postprocessMs,
        )
    }

    private companion object {
        const val MISSING = "–"
    }
}
