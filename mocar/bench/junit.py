"""JUnit XML writer for parity checks, so CI shows one test case per export x check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mocar.runtime.policy import CheckResult


def write_junit(results: list[CheckResult], path: str | Path) -> Path:
    """Write ``results`` as a JUnit testsuite; failures carry measured value and threshold."""
    failures = [r for r in results if not r.passed]
    suite = ET.Element("testsuite", name="mocar.runtime.parity",
                       tests=str(len(results)), failures=str(len(failures)))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=result.export,
                             name=f"{result.metric}_{result.bound}")
        if not result.passed:
            ET.SubElement(case, "failure", message=result.describe())
    path = Path(path)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    return path
