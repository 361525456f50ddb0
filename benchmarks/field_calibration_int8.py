"""Does adding field photos to the int8 calibration set improve int8 agreement on field photos? (issue 17)

For an export folder of a demo built with field photos (``make demo``): the ONNX static int8 file
(``u8s8_conv``) is rebuilt with three calibration sets, all from the export's 200 calibration objects
(``image_roles.json``): their 200 museum photos (what ``mocar export`` uses), 100 museum + the field
photos of the other 100, and all 200 + their 200 field photos. Each file — fully int8, and with the
search's shipped float groups where the folder has a shipped search file — is compared with the
float model (``model.pt``) on the report's parity objects (neither calibration nor selection), once
on their museum photos and once on their field photos. Agreement with its Wilson 95 % interval and n.

    .venv/bin/python benchmarks/field_calibration_int8.py --exports runs/demo/student_export [--data runs/demo/prepared]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mocar.bench.outputs import decode_split
from mocar.data.dataset import PreparedData
from mocar.data.image_roles import ImageRoles, calibration_frame
from mocar.quantize.onnx_search import OnnxQuantizer
from mocar.runtime.preprocessing import Preprocessing
from mocar.runtime.runners import open_runner
from mocar.runtime.statistics import agreement


def field_photos_of(data: PreparedData, museum: pd.DataFrame) -> pd.DataFrame:
    rows = data.all_rows
    ids = set(museum["id"].astype(str))
    return rows[(rows["condition"] == "field") & rows["id"].astype(str).isin(ids)].reset_index(drop=True)


def calibration_sets(data: PreparedData, roles: ImageRoles, preprocessing: Preprocessing) -> dict[str, np.ndarray]:
    museum = decode_split(calibration_frame(data, roles).reset_index(drop=True), preprocessing, False)
    field = decode_split(field_photos_of(data, calibration_frame(data, roles)), preprocessing, False)
    half = len(museum) // 2
    return {f"museum {len(museum)}": museum,
            f"museum {half} + field {len(field) - half}": np.concatenate([museum[:half], field[half:]]),
            f"museum {len(museum)} + field {len(field)}": np.concatenate([museum, field])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=Path, required=True)
    parser.add_argument("--data", type=Path, help="prepared data (default: <exports>/../prepared)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mocar_field_calibration"))
    args = parser.parse_args()
    folder = args.exports
    data = PreparedData.load(args.data or folder.parent / "prepared")
    roles = ImageRoles.load(folder)
    fp32 = folder / "model_fp32.onnx"
    preprocessing = Preprocessing.from_metadata(open_runner(fp32, 1).metadata)
    reserved = set(map(str, roles.calibration)) | set(map(str, roles.selection))
    parity = data.manifest[~data.manifest["id"].astype(str).isin(reserved)].reset_index(drop=True)
    evaluated = {"museum": decode_split(parity, preprocessing, False),
                 "field": decode_split(field_photos_of(data, parity), preprocessing, False)}
    reference = {name: open_runner(folder / "model.pt", 2).run(images)["logits"].argmax(1)
                 for name, images in evaluated.items()}
    search = folder / "int8_search" / "onnx.json"
    shipped = ((json.loads(search.read_text()).get("chosen") or {}).get("float_groups") or []) if search.is_file() else []
    print("| calibration set | float groups | museum photos: agreement % [95 % CI] | field photos | n |")
    print("|---|---|---|---|---|")
    for name, calibration in calibration_sets(data, roles, preprocessing).items():
        quantizer = OnnxQuantizer(fp32, calibration, "u8s8_conv", work_dir=args.work / folder.name / name.replace(" ", "_"))
        groups = [g for g in quantizer.groups() if g.name in shipped]
        for float_groups in ([], groups) if groups else ([],):
            path = quantizer.build(float_groups, quantizer.work_dir / f"float_{len(float_groups)}.onnx")
            cells = []
            for condition, images in evaluated.items():
                a = agreement(reference[condition], open_runner(path, 2).run(images)["logits"].argmax(1))
                cells.append(f"{100 * a.value:.2f} [{100 * a.low:.2f}, {100 * a.high:.2f}]")
            label = ", ".join(g.name for g in float_groups) or "none (full int8)"
            print(f"| {name} | {label} | {cells[0]} | {cells[1]} | {a.n} |", flush=True)


if __name__ == "__main__":
    main()
