"""Read a museum database export (CSV/TSV) into a table of raw strings.

Museum exports come from many systems: the delimiter (comma, semicolon, tab, pipe) and the encoding
(UTF-8, UTF-8 with BOM, Latin-1/cp1252) are detected, never assumed. Every value is kept as a string
so that nothing is silently coerced; validation happens later, row by row, with reasons.

Row numbers follow the spreadsheet convention users see: the header is row 1, the first record row 2.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mocar.errors import InputError

#: Logical fields mocar needs, mapped to the demo export's column names by default.
DEFAULT_COLUMNS: dict[str, str] = {
    "id": "object_id",
    "image": "image",
    "collection": "collection",
    "dating": "dating",
}
LOGICAL_FIELDS = ("id", "image", "collection", "dating", "begin", "end", "condition")
#: Read as the photo's condition (museum/field) when the export has it and --columns maps none.
DEFAULT_CONDITION_COLUMN = "condition"
_DELIMITERS = ",;\t|"
_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


@dataclass
class ColumnMap:
    """Which export column holds each logical field. Dating is free text OR numeric begin/end.

    ``condition`` (optional) says whether a row is a museum photo or a field photo of the object; without
    a mapping, a column named ``condition`` is used when the export has one.
    """

    id: str = "object_id"
    image: str = "image"
    collection: str = "collection"
    dating: str | None = "dating"
    begin: str | None = None
    end: str | None = None
    condition: str | None = None
    extra: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, spec: str | None) -> "ColumnMap":
        """Parse ``id=COL,image=COL,collection=COL,dating=COL`` (or ``begin=COL,end=COL``)."""
        given: dict[str, str] = {}
        if spec:
            for item in spec.split(","):
                key, sep, value = item.partition("=")
                key, value = key.strip(), value.strip()
                if not sep or key not in LOGICAL_FIELDS or not value:
                    raise InputError(
                        f"--columns: cannot read {item!r}; expected FIELD=COLUMN with FIELD in "
                        f"{', '.join(LOGICAL_FIELDS)}"
                    )
                given[key] = value
        if ("begin" in given) != ("end" in given):
            raise InputError("--columns: give both begin=COL and end=COL, or neither")
        mapping = {**DEFAULT_COLUMNS, **given}
        if "begin" in given and "dating" not in given:
            del mapping["dating"]  # numeric begin/end replace the default free-text column
        return cls(
            id=mapping["id"], image=mapping["image"], collection=mapping["collection"],
            dating=mapping.get("dating"), begin=mapping.get("begin"), end=mapping.get("end"),
            condition=mapping.get("condition"),
        )

    @property
    def uses_numeric_dating(self) -> bool:
        return self.begin is not None

    def required(self) -> list[str]:
        cols = [self.id, self.image, self.collection]
        cols += [self.begin, self.end] if self.uses_numeric_dating else [self.dating]
        return [c for c in cols + [self.condition] if c]

    def condition_column(self, available: list[str]) -> str | None:
        """The column of the photo's condition: the mapped one, else ``condition`` if present, else None."""
        if self.condition:
            return self.condition
        return DEFAULT_CONDITION_COLUMN if DEFAULT_CONDITION_COLUMN in available else None


@dataclass
class ExportTable:
    """The raw export: string columns, a ``row`` column with spreadsheet row numbers."""

    frame: pd.DataFrame
    path: Path
    encoding: str
    delimiter: str


def detect_encoding(raw: bytes, path: Path) -> tuple[str, str]:
    """Return (encoding, text). UTF-8 (with or without BOM) first, then cp1252, then Latin-1."""
    for encoding in _ENCODINGS:
        try:
            return encoding, raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: cannot decode as UTF-8, cp1252 or Latin-1")  # pragma: no cover


def detect_delimiter(text: str, path: Path) -> str:
    """Sniff the delimiter from the header and first records."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        header = text.splitlines()[0] if text else ""
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        if counts[best] == 0:
            raise InputError(
                f"{path}: cannot detect the delimiter of the header {header[:80]!r}; "
                "expected one of comma, semicolon, tab or pipe"
            ) from None
        return best


def read_export(path: Path, columns: ColumnMap) -> ExportTable:
    """Read the export file; raise InputError naming missing columns and the ones available."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"export file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the export file is empty")
    encoding, text = detect_encoding(raw, path)
    delimiter = detect_delimiter(text, path)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
            skipinitialspace=True, engine="python",
        )
    except (pd.errors.ParserError, csv.Error) as err:
        raise InputError(f"{path}: not a readable {delimiter!r}-separated file: {err}") from err
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns.required() if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing}; the file has {list(frame.columns)}. "
            "Map them with --columns id=COL,image=COL,collection=COL,dating=COL "
            "(or begin=COL,end=COL)"
        )
    frame.insert(0, "row", range(2, len(frame) + 2))
    return ExportTable(frame=frame, path=path, encoding=encoding, delimiter=delimiter)
