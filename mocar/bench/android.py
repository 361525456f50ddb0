"""Latency of every ``.tflite`` export on an Android phone, with adb and LiteRT's ``benchmark_model``.

:func:`bench_on_device` (``mocar bench --android [SERIAL] --benchmark-binary PATH``):

1. finds the phone (``adb devices``; a clear error when none is connected, the serial is not
   listed, or several are connected and no serial is given) and reads what it is with
   ``adb shell getprop`` (:data:`DEVICE_PROPERTIES`);
2. makes a fresh folder ``/data/local/tmp/mocar_bench_<random>``, pushes the official
   ``benchmark_model`` binary (``chmod +x``) and every ``.tflite`` file of the export folders;
3. runs ``benchmark_model --graph=... --num_threads=N --num_runs=R --warmup_runs=W`` with
   ``--use_xnnpack=true`` (and, with ``gpu``, again with ``--use_gpu=true``) per file x thread
   count, and parses its stdout with :func:`mocar.bench.latency.parse_benchmark_model_output`;
4. removes the folder (``adb shell rm -rf``) in a ``finally``, so the phone is left as found even
   when a run fails midway.

Each run becomes one bench row (:mod:`mocar.bench.rows`), validated and labelled exactly like a row
of ``mocar bench --import`` (``imported: true``, ``folder`` = the device). Identity (precision,
flavour, model) comes from each file's own embedded metadata.

Caveats: ``benchmark_model`` reports the mean, min, max and standard deviation of its timed runs,
not a median, so these rows fill ``mean_ms`` and leave ``p50_ms``/``p90_ms`` empty (a median is
used only if the tool prints one); it may run more than ``--num_runs`` times (it also runs for at
least a second), the true count is ``timed_runs``. ``load_s`` is the tool's ``Init`` time and
``peak_memory_mb`` its own approximate "overall" footprint. This module is tested against a fake
adb only; no phone or real adb was available where it was written.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocar.bench.errors import AndroidBenchError
from mocar.bench.latency import parse_benchmark_model_output
from mocar.bench.rows import model_label, validate_row
from mocar.errors import InputError
from mocar.runtime.metadata import read_metadata

REMOTE_ROOT = "/data/local/tmp"
RUNTIME = "litert benchmark_model"
DEVICE_PROPERTIES = ("ro.product.manufacturer", "ro.product.model", "ro.build.version.release",
                     "ro.build.version.sdk", "ro.product.cpu.abi", "ro.soc.model", "ro.board.platform")
DELEGATE_FLAGS = {"xnnpack": "--use_xnnpack=true", "gpu": "--use_gpu=true"}


@dataclass
class AndroidBenchConfig:
    """How to benchmark on a phone.

    Attributes:
        benchmark_binary: LiteRT's ``benchmark_model`` built for the phone's ABI (e.g. android_aarch64).
        serial: adb serial of the phone; optional when exactly one device is connected.
        adb: The adb executable (a name on PATH or a path).
        threads: CPU thread counts (``--num_threads``).
        runs: ``--num_runs``.
        warmup: ``--warmup_runs``.
        gpu: Also run every file with the GPU delegate (rows with ``delegate: gpu``).
        timeout_s: Limit per adb call.
    """

    benchmark_binary: Path
    serial: str | None = None
    adb: str = "adb"
    threads: tuple[int, ...] = (1, 4)
    runs: int = 50
    warmup: int = 5
    gpu: bool = False
    timeout_s: float = 600.0

    def delegates(self) -> list[str]:
        return ["xnnpack", "gpu"] if self.gpu else ["xnnpack"]


class Adb:
    """Runs adb commands against one device (or none, for ``adb devices``)."""

    def __init__(self, executable: str, serial: str | None = None, timeout_s: float = 600.0) -> None:
        found = shutil.which(executable)
        if found is None:
            raise InputError(f"adb not found: {executable!r} (install Android platform-tools or pass --adb PATH)")
        self.executable, self.serial, self.timeout_s = found, serial, timeout_s

    def __call__(self, *args: str) -> str:
        """Runs ``adb [-s SERIAL] ARGS...`` and returns its stdout.

        Raises:
            AndroidBenchError: On a non-zero exit or a timeout (with adb's output).
        """
        command = [self.executable, *(["-s", self.serial] if self.serial else []), *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired as err:
            raise AndroidBenchError(f"`{shlex.join(command)}` took over {self.timeout_s:.0f} s") from err
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-1500:]
            raise AndroidBenchError(f"`{shlex.join(command)}` failed with exit code {done.returncode}:\n{output}")
        return done.stdout

    def shell(self, *words: str) -> str:
        """``adb shell`` with each word quoted for the device's shell."""
        return self("shell", " ".join(shlex.quote(word) for word in words))


def list_devices(adb: Adb) -> dict[str, str]:
    """``{serial: state}`` from ``adb devices`` (state: device, unauthorized, offline, ...)."""
    devices = {}
    for line in adb("devices").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
            devices[parts[0]] = parts[1]
    return devices


def pick_device(adb: Adb, serial: str | None) -> str:
    """The serial to use.

    Raises:
        AndroidBenchError: No device, the serial is not connected, several devices and no serial,
            or the device is not ready (unauthorized/offline); the message lists what is connected.
    """
    devices = list_devices(adb)
    listing = ", ".join(f"{s} ({state})" for s, state in devices.items()) or "none"
    if not devices:
        raise AndroidBenchError("no Android device connected (`adb devices` lists none); connect a phone with "
                                "USB debugging enabled")
    if serial is None:
        if len(devices) > 1:
            raise AndroidBenchError(f"several devices connected: {listing}; choose one with --android SERIAL")
        serial = next(iter(devices))
    if serial not in devices:
        raise AndroidBenchError(f"device {serial!r} is not connected; connected: {listing}")
    if devices[serial] != "device":
        raise AndroidBenchError(f"device {serial!r} is {devices[serial]}, not ready (accept the USB debugging "
                                "prompt on the phone, or reconnect it)")
    return serial


def device_fields(adb: Adb) -> dict[str, Any]:
    """Row fields describing the phone: ``device``, ``os``, ``cpu``, ``system``."""
    props = {name: adb.shell("getprop", name).strip() or None for name in DEVICE_PROPERTIES}
    maker, model = props["ro.product.manufacturer"], props["ro.product.model"] or "unknown Android device"
    device = model if not maker or model.lower().startswith(maker.lower()) else f"{maker} {model}"
    release, sdk = props["ro.build.version.release"], props["ro.build.version.sdk"]
    soc = props["ro.soc.model"] or props["ro.board.platform"]
    abi = props["ro.product.cpu.abi"]
    return {"device": device, "os": f"Android {release or '?'}" + (f" (API {sdk})" if sdk else ""),
            "cpu": f"{soc} ({abi})" if soc and abi else (soc or abi), "system": "Android"}


def benchmark_command(binary: str, graph: str, threads: int, runs: int, warmup: int, delegate: str) -> list[str]:
    """The ``benchmark_model`` command line for one file, thread count and delegate."""
    return [binary, f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs}",
            f"--warmup_runs={warmup}", DELEGATE_FLAGS[delegate]]


def row_from_output(stdout: str, identity: dict[str, Any]) -> dict[str, Any]:
    """One bench row from ``benchmark_model`` stdout (see the module caveats for what is filled)."""
    parsed = parse_benchmark_model_output(stdout)
    us = 1e-3  # microseconds -> milliseconds
    mean = parsed.get("runs_avg_us", parsed.get("inference_avg_us"))
    row = {**identity, "mean_ms": mean * us if mean is not None else None,
           "p50_ms": parsed["runs_median_us"] * us if "runs_median_us" in parsed else None,
           "min_ms": parsed["runs_min_us"] * us if "runs_min_us" in parsed else None,
           "max_ms": parsed["runs_max_us"] * us if "runs_max_us" in parsed else None,
           "std_ms": parsed["runs_std_us"] * us if "runs_std_us" in parsed else None,
           "timed_runs": int(parsed["runs_count"]) if "runs_count" in parsed else None,
           "load_s": parsed["init_us"] * 1e-6 if "init_us" in parsed else None,
           "peak_memory_mb": parsed.get("peak_memory_overall_mb")}
    central = row["p50_ms"] or row["mean_ms"]
    row["throughput_ips"] = 1000.0 / central if central else None
    return row


def _parsed_row(stdout: str, identity: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        return row_from_output(stdout, identity)
    except InputError as err:  # e.g. an old adb that exits 0 although the tool failed
        raise AndroidBenchError(f"{where}: {err}") from err


def file_identity(path: Path) -> dict[str, Any]:
    """``export``, ``model``, ``format``, ``precision``, ``flavour``, ``size_mb`` from the file itself."""
    metadata = read_metadata(path)
    return {"export": path.name, "model": model_label(metadata), "format": "tflite",
            "precision": metadata.get("precision"), "flavour": (metadata.get("quantization") or {}).get("flavour"),
            "size_mb": path.stat().st_size / 1e6}


def tflite_files(export_dirs: Sequence[str | Path]) -> list[Path]:
    """Every ``.tflite`` file of the export folders, in name order.

    Raises:
        InputError: If there is none.
    """
    files = [f for d in export_dirs for f in sorted(Path(d).glob("*.tflite"))]
    if not files:
        raise InputError(f"--android: no .tflite file in {', '.join(map(str, export_dirs))} "
                         "(export with `mocar export --formats tflite`)")
    return files


def bench_on_device(config: AndroidBenchConfig, export_dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Benchmarks every ``.tflite`` file of ``export_dirs`` on the phone; see the module docstring.

    Returns:
        Bench rows (one per file x delegate x thread count), labelled as imported rows.

    Raises:
        InputError: Missing binary, adb or .tflite files, or a file without mocar metadata.
        AndroidBenchError: Device problems or a failed ``benchmark_model`` run (after cleaning up).
    """
    binary = Path(config.benchmark_binary)
    if not binary.is_file():
        raise InputError(f"--benchmark-binary {binary}: file not found (LiteRT's benchmark_model for the phone's "
                         "ABI, e.g. the android_aarch64 build)")
    files = tflite_files(export_dirs)
    identities = {f: file_identity(f) for f in files}  # fail on a file without metadata before touching the phone
    adb = Adb(config.adb, None, config.timeout_s)
    adb = Adb(config.adb, pick_device(adb, config.serial), config.timeout_s)
    machine = {**device_fields(adb), "runtime": RUNTIME}
    remote = f"{REMOTE_ROOT}/mocar_bench_{uuid.uuid4().hex[:12]}"
    rows = []
    try:
        adb.shell("mkdir", "-p", remote)
        remote_binary = f"{remote}/{binary.name}"
        adb("push", str(binary), remote_binary)
        adb.shell("chmod", "+x", remote_binary)
        for index, path in enumerate(files):
            remote_file = f"{remote}/{index}_{path.name}"  # two folders may hold files of the same name
            adb("push", str(path), remote_file)
            for delegate in config.delegates():
                for threads in config.threads:
                    command = benchmark_command(remote_binary, remote_file, threads, config.runs, config.warmup,
                                                delegate)
                    identity = {**identities[path], **machine, "threads": threads, "delegate": delegate}
                    where = f"{machine['device']}: {path.name} ({delegate}, {threads} threads)"
                    rows.append(validate_row(_parsed_row(adb.shell(*command), identity, where), where))
    except BaseException:
        _remove(adb, remote, failing=True)
        raise
    _remove(adb, remote)
    return rows


def _remove(adb: Adb, remote: str, failing: bool = False) -> None:
    """Removes the pushed folder. When the run already ``failing`` (e.g. the phone went away), a failed
    removal is only a warning: it must not replace the error that stopped the run."""
    import warnings

    try:
        adb.shell("rm", "-rf", remote)
    except AndroidBenchError as err:
        if not failing:
            raise
        warnings.warn(f"could not remove {remote} from the phone: {err}", stacklevel=2)
