"""The Android app's plain-JVM core (android_demo/core) replays golden vectors written in this run.

Compiles the core and its JUnit 4 tests with javac and runs them (android_demo/core/run_tests.sh) against
the golden folders of a freshly trained and exported tiny model (float32 and int8 full-integer TFLite):
the phone's preprocessing, search and answers must equal the benchmark's and `mocar predict`'s.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "android_demo" / "core" / "run_tests.sh"
JARS = (Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar"))


def _missing_tools() -> list[str]:
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    return missing + [str(jar) for jar in JARS if not jar.is_file()]


def test_jvm_core_replays_the_golden_vectors(tiny_golden, tmp_path):
    missing = _missing_tools()
    if missing:
        pytest.skip(f"the JVM core tests need a JDK 17+ and JUnit 4; missing: {', '.join(missing)} "
                    "(Debian: apt-get install openjdk-17-jdk-headless junit4)")
    result = subprocess.run(["bash", str(SCRIPT), str(tiny_golden), str(tmp_path / "build")], capture_output=True,
                            text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"JUnit failed (exit {result.returncode}):\n{output}"
    ran = re.search(r"OK \((\d+) tests?\)", output)
    assert ran and int(ran.group(1)) >= 30, output
    # Both golden folders were replayed, and the phone's tensors were bit-identical to Python's.
    tensors = re.findall(r"GOLDEN (\S+): preprocessed tensors: (\d+) of (\d+) values differ", output)
    assert sorted(name for name, _, _ in tensors) == ["model_fp32", "model_int8_full_integer_quant"], output
    assert all(int(total) == 6 * 32 * 32 * 3 and int(differ) == 0 for _, differ, total in tensors), output
    assert "GOLDEN quantised inputs checked: 6 case(s)" in output
    # Both folders' reference searches ran, through the float16 re-rank of 8 candidates (tests/conftest.py).
    searched = re.findall(r"GOLDEN (\S+): search of 6 case\(s\), \d+ references, re-rank candidates 8", output)
    assert sorted(searched) == ["model_fp32", "model_int8_full_integer_quant"], output
