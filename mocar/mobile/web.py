"""`mocar web build`: a self-contained static web app (PWA) that answers like `mocar predict` in a browser.

:func:`build_site` writes a folder any HTTPS static host (or :mod:`mocar.mobile.web_server`) can serve:

* the app and the benchmark page (``index.html``, ``bench.html``, ES modules; sources in ``web_demo/src``),
  the web manifest and a service worker that pre-caches every file (offline after the first visit);
* ``ort/``: onnxruntime-web's CPU build (``ort.wasm.min.mjs``, ``ort-wasm-simd-threaded.{mjs,wasm}``),
  copied from ``web_demo/node_modules`` (``npm ci`` runs first when it is missing: building needs
  Node.js and npm, serving does not);
* ``models/``: the export folder's ``.onnx`` files, unchanged, each with its metadata as JSON
  (:func:`mocar.runtime.metadata.read_metadata`: labels, preprocessing, year scale, calibration) —
  the JS reads everything model-specific from there;
* ``reference_index/``: the index converted exactly as for the Android app
  (:func:`mocar.mobile.android_assets.convert_index`; thumbnails included);
* ``golden/<file stem>/``: golden vectors of each file (:func:`mocar.mobile.golden.write_golden`:
  decoded pixels, input tensors, Python onnxruntime's outputs, `mocar predict`'s answers and Pillow
  resize checks) — the benchmark page's parity reference and the JS unit tests' input. The model copy
  write_golden makes is left out, and ``reference_index`` points at the site's own copy;
* ``site.json`` (schema ``mocar-web-site``): the models, the app's model, the index folder, ``k`` and
  ``precache`` (every file; the service worker caches them on install).

Why ONNX (onnxruntime-web) and not the .tflite files: LiteRT.js cannot run full-integer files and needs
an import map for a bare module name; onnxruntime-web runs the fp32, fp16 and static int8 ONNX files
(docs/toolchain_findings.md). The runtime's ``Pad_Fusion`` must be disabled (``web_demo/src/runtime.js``).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocar.errors import InputError
from mocar.mobile.android_assets import INDEX_FOLDER, check_index_model, convert_index, run_index_dir
from mocar.mobile.golden import GOLDEN_FILE, training_data, write_golden
from mocar.mobile.web_layout import SITE_FILE, SITE_SCHEMA, SITE_VERSION
from mocar.runtime.metadata import read_metadata
from mocar.utils.io import atomic_write_bytes, atomic_write_text

WEB_DEMO_DIR = Path(__file__).resolve().parents[2] / "web_demo"
RUNTIME_PACKAGE = "onnxruntime-web"
# The CPU build only: the default bundle (ort.min.mjs) pulls a 29.5 MB WebGPU-capable wasm instead.
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MODELS_FOLDER = "models"
GOLDEN_FOLDER = "golden"
CHECKS_FOLDER = "checks"  # write_golden's Pillow resize and alpha checks
DEFAULT_GOLDEN_COUNT = 4
BUILD_ID_PLACEHOLDER = "__BUILD_ID__"
NPM_HINT = ("install Node.js and npm (Debian/Ubuntu: `sudo apt-get install nodejs npm`; macOS: `brew install node`; "
            "others: https://nodejs.org)")
MANIFEST = {"name": "mocar — identify an object", "short_name": "mocar", "start_url": "./", "scope": "./",
            "display": "standalone", "orientation": "portrait", "background_color": "#ffffff",
            "theme_color": "#27313b", "icons": [{"src": "icon.svg", "sizes": "any", "type": "image/svg+xml"}]}


class RuntimeUnavailableError(InputError):
    """onnxruntime-web is not in web_demo/node_modules and npm cannot fetch it (npm missing or `npm ci` failed)."""


@dataclass(frozen=True)
class WebSite:
    """A built site: its folder, the model the app answers with, and every file (relative paths)."""

    out: Path
    app_model: str
    files: list[str]

    @property
    def total_bytes(self) -> int:
        return sum((self.out / name).stat().st_size for name in self.files)


def runtime_dist(web_demo: Path = WEB_DEMO_DIR) -> Path:
    """onnxruntime-web's ``dist`` folder, running ``npm ci`` in ``web_demo`` first when it is missing.

    Raises:
        RuntimeUnavailableError: If ``web_demo`` has no lock file, npm is not installed (the message says
            how to get it) or ``npm ci`` fails (its output is quoted).
    """
    dist = web_demo / "node_modules" / RUNTIME_PACKAGE / "dist"
    if all((dist / name).is_file() for name in RUNTIME_FILES):
        return dist
    if not (web_demo / "package-lock.json").is_file():
        raise RuntimeUnavailableError(f"{web_demo / 'package-lock.json'} not found: the web app's sources are missing "
                         "(a source checkout of mocar has web_demo/)")
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeUnavailableError(f"{dist / RUNTIME_FILES[0]} is missing and npm is not installed, so `npm ci` cannot fetch "
                         f"{RUNTIME_PACKAGE}; {NPM_HINT}")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=web_demo, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0 or not (dist / RUNTIME_FILES[0]).is_file():
        raise RuntimeUnavailableError(f"`npm ci` in {web_demo} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return dist


def onnx_files(export_dir: Path) -> list[Path]:
    """The export folder's ONNX files, sorted; an error lists what the folder holds instead."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise InputError(f"{export_dir}: export folder not found (write one with `mocar export`)")
    files = sorted(export_dir.glob("*.onnx"))
    if not files:
        present = sorted(p.name for p in export_dir.iterdir()) or ["nothing"]
        raise InputError(f"{export_dir}: no .onnx file to put on the web (it holds {', '.join(present)}); "
                         "export with `mocar export --formats onnx`")
    return files


def export_run_dir(export_dir: Path) -> Path | None:
    """The run an export folder was made from (its manifest.json), or None when unknown."""
    manifest = Path(export_dir) / "manifest.json"
    try:
        return Path(json.loads(manifest.read_text(encoding="utf-8"))["run"]["dir"])
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return None


def _app_model(files: list[Path], metadata: dict[Path, dict[str, Any]], app_file: str | None) -> Path:
    """The file the app answers with: the one asked for, else the first fp32 file (exactly `mocar predict`'s)."""
    if app_file is not None:
        chosen = [f for f in files if f.name == app_file]
        if not chosen:
            raise InputError(f"--app-model {app_file}: not among the ONNX files {[f.name for f in files]}")
        return chosen[0]
    return next((f for f in files if metadata[f].get("precision") == "fp32"), files[0])


def _check_out_folder(out: Path) -> None:
    """Accepts a new or empty folder or an earlier build; refuses anything else (it could be anything)."""
    if out.name in ("", ".."):  # the build is renamed into place: it needs a folder of its own
        raise InputError(f"{out}: name the site's own folder (e.g. {Path(out, 'site')}), not the current or a parent one")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: a file, not a folder; choose an empty or new folder for the site")
    if out.is_dir() and not (out / SITE_FILE).is_file() and any(out.iterdir()):
        raise InputError(f"{out}: not empty and not a mocar web site (no {SITE_FILE}); choose an empty or new folder")


def _move_into_place(built: Path, out: Path, aside: Path) -> None:
    """Renames a finished build to ``out``; an earlier build (or empty folder) there moves to ``aside`` first.

    Both are renames within one folder, so ``out`` is always a whole site (the old one or the new one),
    never a mix; if the second rename fails, the earlier build goes back.
    """
    if out.exists():
        out.rename(aside)
    try:
        built.rename(out)
    except OSError:
        if aside.exists():
            aside.rename(out)
        raise


def _copy_app(web_demo: Path, dist: Path, out: Path) -> None:
    shutil.copytree(web_demo / "src", out, dirs_exist_ok=True)
    for name in RUNTIME_FILES:
        atomic_write_bytes(out / "ort" / name, (dist / name).read_bytes())
    atomic_write_text(out / "manifest.webmanifest", json.dumps(MANIFEST, indent=1, ensure_ascii=False) + "\n")


def _copy_golden(written: Path, out: Path, model_name: str, keep_checks: bool) -> None:
    """The site's copy of a golden folder: no model copy, ``reference_index`` = the site's own copy.

    The Pillow resize checks do not depend on the model: one folder keeps them (about 100 small files
    the service worker would otherwise fetch once per model).
    """
    skipped = [model_name, INDEX_FOLDER] + ([] if keep_checks else [CHECKS_FOLDER])
    shutil.copytree(written, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*skipped))
    golden = json.loads((written / GOLDEN_FILE).read_text(encoding="utf-8"))
    if golden.get("reference_index"):
        golden["reference_index"] = f"../../{INDEX_FOLDER}"
    if not keep_checks:
        golden["checks"] = None
    atomic_write_text(out / GOLDEN_FILE, json.dumps(golden, indent=1, ensure_ascii=False) + "\n")


def _write_goldens(files: list[Path], out: Path, data_dir: Path, index_dir: Path | None, count: int) -> dict[str, str]:
    """Golden folders of every file; returns file name -> its golden.json path in the site."""
    found = {}
    with tempfile.TemporaryDirectory(prefix="mocar-web-golden-") as scratch:
        for number, file in enumerate(files):
            written = write_golden(file, data_dir, Path(scratch) / file.stem, count, index_dir)
            _copy_golden(written, out / GOLDEN_FOLDER / file.stem, file.name, keep_checks=number == 0)
            found[file.name] = f"{GOLDEN_FOLDER}/{file.stem}/{GOLDEN_FILE}"
    return found


def _model_entry(file: Path, metadata: dict[str, Any], golden: str | None) -> dict[str, Any]:
    return {"name": file.name, "file": f"{MODELS_FOLDER}/{file.name}", "metadata": f"{MODELS_FOLDER}/{file.stem}.json",
            "format": metadata.get("format", "onnx"), "precision": metadata.get("precision"),
            "flavour": (metadata.get("quantization") or {}).get("flavour"), "size_bytes": file.stat().st_size,
            "golden": golden}


def _site_files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def _finish(out: Path, site: dict[str, Any]) -> list[str]:
    """Writes site.json (with the precache list) and stamps the service worker with a content hash."""
    files = [name for name in _site_files(out) if name not in (SITE_FILE, "sw.js")]
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + (out / name).read_bytes())
    site["build_id"] = digest.hexdigest()[:16]
    site["precache"] = files
    atomic_write_text(out / SITE_FILE, json.dumps(site, indent=1, ensure_ascii=False) + "\n")
    worker = (out / "sw.js").read_text(encoding="utf-8").replace(BUILD_ID_PLACEHOLDER, site["build_id"])
    atomic_write_text(out / "sw.js", worker)
    return _site_files(out)


def build_site(export_dir: Path, out_dir: Path, index_dir: Path | None = None, data_dir: Path | None = None,
               golden_count: int = DEFAULT_GOLDEN_COUNT, app_file: str | None = None, k: int = 5,
               web_demo: Path = WEB_DEMO_DIR) -> WebSite:
    """Writes the static site of an export folder (see the module docstring).

    Args:
        export_dir: A ``mocar export`` folder with ``.onnx`` files.
        out_dir: The site folder to write (replaced if it holds an earlier build). The site is built in a
            temporary sibling folder and renamed into place when complete: a failed build leaves ``out_dir``
            as it was.
        index_dir: The reference index (default: the export's run's ``index/``, if any).
        data_dir: Prepared data for the golden vectors (default: the run's training data).
        golden_count: Golden test images per file (0: none; the benchmark page then reports no parity).
        app_file: The ONNX file the app answers with (default: the first fp32 one).
        k: Look-alikes per answer.
        web_demo: The web app's sources (``src/``, ``package-lock.json``).

    Returns:
        The built site.

    Raises:
        InputError: If the export has no ONNX file, ``app_file`` is not one of them, ``out_dir`` is a non-empty
            folder that is no earlier build, npm is needed and missing, or the data is not found (all checked
            before anything is written).
        ModelMismatchError: If the index belongs to another model.
    """
    if golden_count < 0:
        raise InputError(f"--golden {golden_count}: must be 0 (no golden vectors) or more")
    export_dir, out = Path(export_dir), Path(out_dir)
    files = onnx_files(export_dir)
    _check_out_folder(out)
    metadata = {f: read_metadata(f) for f in files}
    app = _app_model(files, metadata, app_file)
    run_dir = export_run_dir(export_dir)
    index_dir = index_dir or (run_index_dir(run_dir) if run_dir is not None else None)
    if index_dir is not None:
        check_index_model(Path(index_dir), metadata)
    if golden_count > 0 and data_dir is None:
        if run_dir is None:
            raise InputError(f"{export_dir / 'manifest.json'}: cannot tell the run (and its data) for the golden "
                             "vectors; pass --data, or --golden 0 for a site without them")
        data_dir = Path(training_data(run_dir))
    dist = runtime_dist(Path(web_demo))
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    try:
        built = stage / "site"
        _copy_app(Path(web_demo), dist, built)
        for file in files:
            atomic_write_bytes(built / MODELS_FOLDER / file.name, file.read_bytes())
            atomic_write_text(built / MODELS_FOLDER / f"{file.stem}.json",
                              json.dumps(metadata[file], ensure_ascii=False))
        if index_dir is not None:
            convert_index(Path(index_dir), built / INDEX_FOLDER)
        goldens = _write_goldens(files, built, Path(data_dir), index_dir, golden_count) if golden_count > 0 else {}
        site = {"schema": SITE_SCHEMA, "schema_version": SITE_VERSION, "app_model": f"{MODELS_FOLDER}/{app.name}",
                "models": [_model_entry(f, metadata[f], goldens.get(f.name)) for f in files],
                "reference_index": INDEX_FOLDER if index_dir is not None else None, "k": k,
                "runtime": {"name": RUNTIME_PACKAGE, "files": [f"ort/{name}" for name in RUNTIME_FILES]}}
        site_files = _finish(built, site)
        _move_into_place(built, out, stage / "earlier")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return WebSite(out, app.name, site_files)
