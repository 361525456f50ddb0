"""Helpers every benchmark script uses to say how a result file was made: command, date, machine lines.

The machine description and the load sampling themselves are the library's
(:mod:`mocar.bench.machine`: ``describe_machine``, ``LoadMonitor``/``LoadRecord``), shared with
``mocar bench``'s rows.
"""
from __future__ import annotations

import contextlib
import datetime
import shlex
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


def command_line(script: str | Path, argv: list[str] | None = None) -> str:
    """The command that reproduces a run of ``script`` (repository root, .venv) with ``argv``.

    Args:
        script: The benchmark script's path (``__file__``).
        argv: Its arguments; defaults to the real command line's.
    """
    args = sys.argv[1:] if argv is None else argv
    with contextlib.suppress(ValueError):
        script = Path(script).resolve().relative_to(_ROOT)
    return shlex.join([".venv/bin/python", str(script), *args])


def now() -> str:
    """Local date and time, ISO format, to the second."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def machine_lines(machine: dict[str, str]) -> list[str]:
    """Markdown bullet lines describing the machine."""
    return [f"- {key}: {value}" for key, value in machine.items()]
