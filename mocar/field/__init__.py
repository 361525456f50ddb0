"""Floor 4 (beside export and quantize): field use — link a photographed object to reference objects,
with calibrated, honest answers. Builds on model/data/train and the runtime floor (exported files are
answered through its runners); imports neither export nor quantize.

The paper's purpose is an investigator with a phone and no expert at hand. A bare top-1 label is
not enough, so this stage adds:

* a compact **reference index** of every known object (:mod:`mocar.field.index`, built by
  :func:`build_index`; exact numpy search the phone repeats: :mod:`mocar.field.search`);
* **retrieval quality** metrics (:mod:`mocar.field.retrieval`);
* **calibrated answers**: conformal class sets and year intervals (:mod:`mocar.field.conformal`,
  fitted per run by :func:`calibrate_run` into ``calibration.json``);
* an **"unlike anything in the reference collection"** check (:mod:`mocar.field.ood`);
* :func:`predict_images`, the per-photo answer (JSON schema in :mod:`mocar.field.predict`).
"""
from mocar.field.build import build_index
from mocar.field.calibrate import calibrate_run, format_calibration, load_calibration
from mocar.field.conformal import fit_class_conformal, fit_year_conformal, prediction_set
from mocar.field.errors import CalibrationError, FieldError, ModelMismatchError, ReferenceIndexError
from mocar.field.formatting import format_prediction, schema_errors
from mocar.field.index import ReferenceIndex
from mocar.field.predict import PREDICTION_SCHEMA, predict_images
from mocar.field.retrieval import evaluate_retrieval, format_retrieval, retrieval_metrics
from mocar.model.fingerprint import model_fingerprint

__all__ = [
    "PREDICTION_SCHEMA", "CalibrationError", "FieldError", "ModelMismatchError", "ReferenceIndex",
    "ReferenceIndexError",
    "build_index", "calibrate_run", "evaluate_retrieval", "fit_class_conformal", "fit_year_conformal",
    "format_calibration", "format_prediction", "format_retrieval", "load_calibration", "model_fingerprint",
    "predict_images", "prediction_set", "retrieval_metrics", "schema_errors",
]
