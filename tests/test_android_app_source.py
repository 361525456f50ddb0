"""Static checks of the Android demo app's source (android_demo/app), runnable without an Android SDK.

The app module cannot be compiled on a machine without the Android SDK and Gradle plugin, so these
tests catch what a compiler or aapt would catch first and what is cheap to see from the text:
package names against paths, R.* references against the resource XML, manifest activities and
resources, version-catalog aliases used by the build files, the core API the app calls, and TODO
stubs. Caveat: they do not type-check Kotlin; a wrong argument type is only found by a real build.
"""
from __future__ import annotations

import json
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mocar.bench import rows as bench_rows

ROOT = Path(__file__).resolve().parents[1] / "android_demo"
APP = ROOT / "app"
MAIN = APP / "src" / "main"
RES = MAIN / "res"
CORE_JAVA = ROOT / "core" / "src" / "main" / "java" / "org" / "mocar" / "core"
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"


def kotlin_files() -> list[Path]:
    return sorted(APP.glob("src/*/java/**/*.kt"))


def kotlin_source() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in kotlin_files())


def build_files() -> list[Path]:
    return [ROOT / "settings.gradle.kts", ROOT / "build.gradle.kts", APP / "build.gradle.kts"]


def app_namespace() -> str:
    match = re.search(r'namespace\s*=\s*"([^"]+)"', (APP / "build.gradle.kts").read_text(encoding="utf-8"))
    assert match, "app/build.gradle.kts declares no namespace"
    return match.group(1)


# ---- resources -------------------------------------------------------------------------------

def defined_resources() -> dict[str, set[str]]:
    """Resource names by type, from res/ (files and <resources> entries) plus every @+id."""
    found: dict[str, set[str]] = {}
    for folder in RES.iterdir():
        kind = folder.name.split("-")[0]
        for path in folder.iterdir():
            if kind != "values":
                found.setdefault(kind, set()).add(path.stem)
            if path.suffix != ".xml":
                continue
            text = path.read_text(encoding="utf-8")
            found.setdefault("id", set()).update(re.findall(r"@\+id/(\w+)", text))
            if kind == "values":
                for element in ET.parse(path).getroot():
                    found.setdefault(element.tag, set()).add(element.get("name", "").replace(".", "_"))
    return found


def kotlin_r_references(source: str) -> set[tuple[str, str]]:
    """(type, name) of every R.type.name in Kotlin, not counting the framework's android.R."""
    return set(re.findall(r"(?<![\w.])R\.(\w+)\.(\w+)", source))


def xml_references(paths: list[Path]) -> set[tuple[str, str]]:
    """(type, name) of every @type/name in XML (not @android:, not @+id definitions)."""
    refs = set()
    for path in paths:
        for kind, name in re.findall(r"@(?!android:)(?!\+)(\w+)/([\w.]+)", path.read_text(encoding="utf-8")):
            refs.add((kind, name.replace(".", "_")))
    return refs


def missing_references(refs: set[tuple[str, str]], defined: dict[str, set[str]]) -> list[str]:
    return sorted(f"R.{kind}.{name}" for kind, name in refs if name not in defined.get(kind, set()))


def test_kotlin_packages_match_their_paths():
    files = kotlin_files()
    assert len(files) >= 10, f"expected the app's Kotlin sources, found {len(files)}"
    wrong = []
    for path in files:
        match = re.search(r"^package\s+([\w.]+)", path.read_text(encoding="utf-8"), re.MULTILINE)
        java_root = next(p for p in path.parents if p.name == "java")
        expected = ".".join(path.parent.relative_to(java_root).parts)
        if not match or match.group(1) != expected:
            wrong.append(f"{path.relative_to(ROOT)}: package {match.group(1) if match else None}, expected {expected}")
    assert not wrong, wrong


def test_every_kotlin_r_reference_exists_in_res():
    refs = kotlin_r_references(kotlin_source())
    kinds = {kind for kind, _ in refs}
    assert {"id", "layout", "string"} <= kinds, f"expected R.id, R.layout and R.string uses, found {kinds}"
    assert not missing_references(refs, defined_resources())


def test_every_xml_resource_reference_exists():
    xml_files = sorted(RES.glob("**/*.xml")) + [MAIN / "AndroidManifest.xml"]
    refs = xml_references(xml_files)
    assert ("string", "app_name") in refs
    assert not missing_references(refs, defined_resources())


def test_resource_xml_is_well_formed():
    for path in sorted(RES.glob("**/*.xml")) + [MAIN / "AndroidManifest.xml"]:
        ET.parse(path)  # raises ParseError naming the line


def test_views_are_looked_up_in_the_layouts_their_file_inflates():
    """An R.id from another screen's layout compiles but returns null at run time."""
    wrong = []
    for path in kotlin_files():
        source = path.read_text(encoding="utf-8")
        layouts = set(re.findall(r"(?<![\w.])R\.layout\.(\w+)", source))
        ids = set(re.findall(r"(?<![\w.])R\.id\.(\w+)", source))
        if not ids:
            continue
        available = set().union(*(re.findall(r"@\+id/(\w+)", (RES / "layout" / f"{name}.xml").read_text(encoding="utf-8"))
                                   for name in layouts if (RES / "layout" / f"{name}.xml").is_file()))
        wrong += [f"{path.name}: R.id.{i} is in none of {sorted(layouts)}" for i in sorted(ids - available)]
    assert not wrong, wrong


def test_missing_reference_is_reported():
    """The checker itself must flag an unknown name (guards against a regex that matches nothing)."""
    defined = defined_resources()
    refs = kotlin_r_references("val v = findViewById(R.id.no_such_view); val s = android.R.layout.simple_list_item_1")
    assert refs == {("id", "no_such_view")}
    assert missing_references(refs, defined) == ["R.id.no_such_view"]


def test_format_strings_are_positional():
    """aapt rejects several non-positional substitutions in one string (e.g. "%s of %d")."""
    bad = []
    for element in ET.parse(RES / "values" / "strings.xml").getroot():
        text = element.text or ""
        plain = re.findall(r"%(?!\d+\$)(?!%)[-#+ 0,(]*\d*(?:\.\d+)?[a-zA-Z]", text.replace("%%", ""))
        if plain and element.get("formatted") != "false":
            bad.append(f"{element.get('name')}: {text}")
    assert not bad, bad


def test_apostrophes_in_strings_are_escaped():
    """aapt2 rejects an unescaped ' in a string resource ("Apostrophe not preceded by \\")."""
    text = (RES / "values" / "strings.xml").read_text(encoding="utf-8")
    bad = [line.strip() for line in text.splitlines() if re.search(r"(?<!\\)'", line) and "<string" in line]
    assert not bad, bad


# ---- manifest --------------------------------------------------------------------------------

def manifest_components() -> list[str]:
    root = ET.parse(MAIN / "AndroidManifest.xml").getroot()
    return [element.get(f"{ANDROID_NS}name") for element in root.iter("activity")]


def test_manifest_activities_exist_as_kotlin_classes():
    namespace = app_namespace()
    activities = manifest_components()
    assert len(activities) >= 3, activities
    source_root = MAIN / "java"
    missing = []
    for name in activities:
        qualified = namespace + name if name.startswith(".") else name
        path = source_root.joinpath(*qualified.split(".")).with_suffix(".kt")
        simple = qualified.rsplit(".", 1)[-1]
        if not path.is_file() or not re.search(rf"\bclass\s+{simple}\b.*AppCompatActivity", path.read_text(encoding="utf-8")):
            missing.append(qualified)
    assert not missing, f"manifest activities without a matching Kotlin activity class: {missing}"


def test_manifest_has_a_launcher_and_no_internet_permission():
    text = (MAIN / "AndroidManifest.xml").read_text(encoding="utf-8")
    assert "android.intent.category.LAUNCHER" in text
    assert "android.permission.INTERNET" not in text, "the demo must run offline"


def test_file_provider_authority_matches_code():
    manifest = (MAIN / "AndroidManifest.xml").read_text(encoding="utf-8")
    authority = re.search(r'android:authorities="\$\{applicationId\}(\.[\w.]+)"', manifest)
    assert authority, "FileProvider authority should be ${applicationId}.<suffix>"
    assert f'"$packageName{authority.group(1)}"' in kotlin_source()


# ---- Gradle ----------------------------------------------------------------------------------

def catalog() -> dict:
    return tomllib.loads((ROOT / "gradle" / "libs.versions.toml").read_text(encoding="utf-8"))


def accessor(alias: str) -> str:
    """Gradle's accessor path for a catalog alias: '-', '_' and '.' all become '.'."""
    return re.sub(r"[-_.]", ".", alias)


def without_comments(text: str) -> str:
    """Kotlin script text without // and /* */ comments (the build files hold no "//" in strings)."""
    return re.sub(r"(?m)//.*$", "", re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL))


def used_catalog_aliases(text: str) -> set[str]:
    """Dotted aliases after `libs.` in a build script's code, without Gradle's trailing .get()."""
    code = without_comments(text)
    return {re.sub(r"\.get$", "", m) for m in re.findall(r"\blibs\.([A-Za-z][\w.]*[A-Za-z0-9])", code)}


def defined_catalog_aliases(toml: dict) -> set[str]:
    aliases = {accessor(name) for name in toml.get("libraries", {})}
    aliases |= {"plugins." + accessor(name) for name in toml.get("plugins", {})}
    aliases |= {"versions." + accessor(name) for name in toml.get("versions", {})}
    return aliases


def test_every_libs_alias_is_in_the_catalog():
    defined = defined_catalog_aliases(catalog())
    used = set().union(*(used_catalog_aliases(p.read_text(encoding="utf-8")) for p in build_files()))
    assert {"litert", "plugins.android.application", "versions.litert"} <= used
    assert sorted(used - defined) == []


def test_unknown_alias_is_detected():
    used = used_catalog_aliases('implementation(libs.androidx.core.ktx)\nimplementation(libs.not.there)\nx = libs.versions.litert.get()')
    assert used == {"androidx.core.ktx", "not.there", "versions.litert"}
    assert used - defined_catalog_aliases(catalog()) == {"not.there"}


def test_catalog_version_refs_exist():
    toml = catalog()
    versions = set(toml["versions"])
    refs = [entry["version"]["ref"] for table in ("libraries", "plugins") for entry in toml[table].values()
            if isinstance(entry, dict) and isinstance(entry.get("version"), dict)]
    assert refs and set(refs) <= versions, set(refs) - versions


def test_litert_runtime_is_the_google_ai_edge_artifact():
    lib = catalog()["libraries"]["litert"]
    assert (lib["group"], lib["name"]) == ("com.google.ai.edge.litert", "litert")


def test_settings_include_app_and_core():
    settings = (ROOT / "settings.gradle.kts").read_text(encoding="utf-8")
    included = set(re.findall(r'include\(\s*"(:[\w-]+)"', settings))
    assert {":app", ":core"} <= included, included
    assert re.search(r'project\(\s*":core"\s*\)', (APP / "build.gradle.kts").read_text(encoding="utf-8"))


def test_min_sdk_and_wrapper():
    build = (APP / "build.gradle.kts").read_text(encoding="utf-8")
    assert int(re.search(r"minSdk\s*=\s*(\d+)", build).group(1)) == 26
    wrapper = (ROOT / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text(encoding="utf-8")
    assert re.search(r"distributionUrl=https\\://services\.gradle\.org/distributions/gradle-[\d.]+-bin\.zip", wrapper)


def test_assets_are_ignored_not_committed():
    ignore = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "app/src/main/assets/" in ignore


# ---- the app's source ------------------------------------------------------------------------

@pytest.mark.parametrize("marker", ["TODO", "FIXME", "NotImplementedError"])
def test_no_stubs_in_app_source(marker):
    offenders = [str(p.relative_to(ROOT)) for p in sorted(APP.rglob("*"))
                 if p.is_file() and p.suffix in {".kt", ".kts", ".xml", ".pro"} and marker in p.read_text(encoding="utf-8")]
    assert not offenders, f"{marker} in {offenders}"


def test_app_imports_resolve_to_app_or_core_classes():
    """Every org.mocar.* import names a Kotlin declaration of the app or a Java class of :core."""
    declared = set()
    for path in kotlin_files():
        package = re.search(r"^package\s+([\w.]+)", path.read_text(encoding="utf-8"), re.MULTILINE).group(1)
        for name in re.findall(r"^(?:[a-z ]*)(?:class|object|interface|fun)\s+(\w+)",
                               path.read_text(encoding="utf-8"), re.MULTILINE):
            declared.add(f"{package}.{name}")
    declared |= {f"{app_namespace()}.R", f"{app_namespace()}.BuildConfig"}  # generated by the build
    assert CORE_JAVA.is_dir(), "android_demo/core (the :core module) is missing"
    declared |= {f"org.mocar.core.{p.stem}" for p in CORE_JAVA.glob("*.java")}
    imports = set(re.findall(r"^import\s+(org\.mocar\.[\w.]+)", kotlin_source(), re.MULTILINE))
    assert any(i.startswith("org.mocar.core.") for i in imports)
    assert sorted(imports - declared) == []


# The parts of the :core API the app relies on; each must be called in the app and public in core.
CORE_API = {
    "ModelMetadata": ["fromTflite", "inputSize", "inputDtype", "labels", "target", "calibration", "fingerprint",
                      "outputMap", "raw"],
    "Preprocessor": ["toTensorNhwc", "quantize"],
    "RgbImage": ["fromArgb"],
    "ReferenceIndex": ["load", "checkModel", "thumbnail", "size"],
    "Postprocessor": ["answer"],
    "Answer": ["top5", "predictionSets", "year", "yearIntervals", "neighbours", "oodScore", "oodThreshold",
               "unlikeAnyReference", "warnings"],
    "Neighbour": ["row", "similarity", "id", "collection", "dating"],
    "Scored": ["label", "probability"],
}


@pytest.mark.parametrize("cls", sorted(CORE_API))
def test_core_api_used_by_the_app_exists(cls):
    source = kotlin_source()
    java = (CORE_JAVA / f"{cls}.java").read_text(encoding="utf-8")
    missing_in_core = [m for m in CORE_API[cls] if not re.search(rf"\bpublic\b[^;{{=]*\b{m}\s*\(", java)]
    unused = [m for m in CORE_API[cls] if not re.search(rf"\.{m}\s*[({{]", source)]
    assert not missing_in_core, f"{cls}.java has no public {missing_in_core}"
    assert not unused, f"the app no longer calls {cls}.{unused}; update CORE_API"


def test_static_core_calls_exist_in_core():
    """Every `CoreClass.method(` the app calls is a public static method of that :core class."""
    classes = "|".join(sorted(p.stem for p in CORE_JAVA.glob("*.java")))
    calls = set(re.findall(rf"(?<![\w.])({classes})\.([a-z]\w*)\s*[({{]", kotlin_source()))
    assert ("Postprocessor", "answer") in calls
    missing = sorted(f"{cls}.{method}" for cls, method in calls
                     if not re.search(rf"\bpublic\s+static\b[^;{{=]*\b{method}\s*\(",
                                      (CORE_JAVA / f"{cls}.java").read_text(encoding="utf-8")))
    assert not missing, f"not public static in :core: {missing}"


def test_output_tensors_are_mapped_by_name_not_position():
    codec = (MAIN / "java" / "org" / "mocar" / "demo" / "ml" / "TensorCodec.kt").read_text(encoding="utf-8")
    assert "outputMap()" in codec and "tensor.name()" in codec


def test_nothing_model_specific_is_hard_coded():
    """Input size and normalisation come from the metadata (STYLE.md: never hard-code 224 or 127.5)."""
    source = kotlin_source()
    for constant in ("224", "127.5", "0.485", "255"):
        assert not re.search(rf"(?<![\w.]){re.escape(constant)}(?:\.0)?[fF]?(?![\w.])", source), constant


# ---- the benchmark file ----------------------------------------------------------------------

def phone_bench_fields() -> tuple[set[str], set[str]]:
    """(row fields, top-level fields) the app writes, read from its Kotlin writer code."""
    bench = MAIN / "java" / "org" / "mocar" / "demo" / "bench"
    row_code = (bench / "BenchRow.kt").read_text(encoding="utf-8")
    row_body = row_code[row_code.index("fun toJson"):row_code.index("companion object")]
    report_body = row_code[row_code.index("class BenchReport"):]
    device = (bench / "DeviceInfo.kt").read_text(encoding="utf-8")
    row_fields = set(re.findall(r'\.put\("(\w+)"', row_body))
    top_fields = set(re.findall(r'\.put\("(\w+)"', report_body)) - {"rows"}
    top_fields |= set(re.findall(r'"(\w+)" to ', device[device.index("fun fields"):]))
    return row_fields, top_fields


def test_phone_bench_file_is_accepted_by_mocar_bench_import(tmp_path):
    """A file with exactly the fields the app writes passes `mocar bench --import` validation."""
    row_fields, top_fields = phone_bench_fields()
    assert {"export", "precision", "threads", "p50_ms"} <= row_fields
    assert {"device", "runtime", "os"} <= top_fields
    samples = {"text": "x", "integer": 2, "number": 1.5, "boolean": False}
    values = {name: samples[bench_rows.FIELDS[name][0]] for name in row_fields | top_fields if name in bench_rows.FIELDS}
    values.update(precision="fp32", format="tflite", threads=1, p50_ms=3.2)
    document = {**{k: values.get(k, "?") for k in top_fields},
                "rows": [{k: values.get(k, "?") for k in row_fields}]}
    path = tmp_path / "phone.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    loaded = bench_rows.load_imported_rows(path)
    assert loaded[0]["imported"] is True and loaded[0]["device"] == "x" and loaded[0]["p50_ms"] == 3.2


def test_unlike_warning_prefix_matches_the_core_wording():
    """The photo screen hides the core's OOD warning from its notes by prefix; the core must still use it."""
    view_model = (MAIN / "java" / "org" / "mocar" / "demo" / "MainViewModel.kt").read_text(encoding="utf-8")
    prefix = re.search(r'UNLIKE_WARNING_PREFIX = "([^"]+)"', view_model).group(1)
    assert f'"{prefix}' in (CORE_JAVA / "Postprocessor.java").read_text(encoding="utf-8")
