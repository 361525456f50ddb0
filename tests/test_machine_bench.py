"""The one machine description (mocar.bench.machine): row fields, the result-file header, load sampling."""
from __future__ import annotations

import os
import platform

import pytest
import torch

from mocar.bench import machine


def test_row_fields_keep_their_names_and_types():
    fields = machine.machine_fields()
    assert list(fields) == ["cpu", "cores", "python", "system"]
    assert fields["cores"] == os.cpu_count() and fields["python"] == platform.python_version()
    assert fields["system"] == platform.system() and isinstance(fields["cpu"], str)
    load = machine.load_1m()
    assert load is None or (isinstance(load, float) and load == round(load, 2) and load >= 0)


def test_description_adds_requested_versions_and_marks_missing_ones():
    described = machine.describe_machine(("numpy", "pyyaml", "no-such-distribution-mocar"))
    assert list(described)[:3] == ["cpu", "isa", "logical_cpus"] and described["torch"] == torch.__version__
    assert described["pyyaml"] != "absent" and described["no-such-distribution-mocar"] == "absent"
    assert list(described).count("numpy") == 1  # already described: not repeated from package metadata
    assert all(isinstance(value, str) for value in described.values())


def test_isa_flags_keep_what_matters_and_note_missing_amx():
    assert machine.isa_flags(["fpu", "avx2", "avx512f", "avx512_vnni", "avx512bw"]) == "avx512_vnni avx512f (no AMX)"
    assert machine.isa_flags(["amx_tile", "avx_vnni"]) == "amx_tile avx_vnni"


def test_load_monitor_counts_other_processes_not_itself(monkeypatch):
    ticks = os.sysconf("SC_CLK_TCK")
    # 1000 jiffies elapse on all cores, 400 of them idle; this process used 2 s of CPU (2 * ticks).
    jiffies = iter([(10_000, 5_000), (11_000, 5_400)])
    own = iter([1.0, 3.0])
    monkeypatch.setattr(machine, "_cpu_jiffies", lambda: next(jiffies))
    monkeypatch.setattr(machine, "_own_cpu_seconds", lambda: next(own))
    with machine.LoadMonitor() as load:
        pass
    assert load.record.others_share == pytest.approx(round((600 - 2 * ticks) / 1000, 3))
    assert "load average" in load.record.describe()


def test_without_proc_stat_the_share_is_unknown_and_waiting_stops(monkeypatch):
    monkeypatch.setattr(machine, "_cpu_jiffies", lambda: None)
    with machine.OthersCpu() as others:
        pass
    assert others.share is None
    assert machine.wait_until_quiet(60.0, probe_s=0.0) is None
    assert "other processes used unknown" in machine.LoadRecord().describe()
