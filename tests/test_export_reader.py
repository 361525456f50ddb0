import pytest

from mocar.data.export_reader import ColumnMap, read_export
from mocar.errors import InputError

ROWS = [("A-1", "a.jpg", "Münzkabinett", "um 450 v. Chr."), ("A-2", "b.jpg", "Antikensammlung", "1200-1300")]


def _write(path, delimiter=",", encoding="utf-8", header=("object_id", "image", "collection", "dating")):
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in ROWS]
    path.write_bytes("\n".join(lines).encode(encoding))
    return path


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_detected(tmp_path, delimiter):
    table = read_export(_write(tmp_path / "e.csv", delimiter), ColumnMap())
    assert table.delimiter == delimiter
    assert table.frame["collection"].tolist() == ["Münzkabinett", "Antikensammlung"]


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"), ("latin-1", "cp1252")])
def test_encodings_detected(tmp_path, encoding, expected):
    table = read_export(_write(tmp_path / "e.csv", ";", encoding), ColumnMap())
    assert table.encoding == expected
    assert table.frame["collection"][0] == "Münzkabinett"
    assert list(table.frame.columns)[1] == "object_id", "a BOM must not end up in the first header"


def test_rows_numbered_like_a_spreadsheet(tmp_path):
    table = read_export(_write(tmp_path / "e.csv"), ColumnMap())
    assert table.frame["row"].tolist() == [2, 3]


def test_missing_column_names_file_and_alternatives(tmp_path):
    path = _write(tmp_path / "e.csv", header=("Inventarnummer", "image", "collection", "dating"))
    with pytest.raises(InputError) as err:
        read_export(path, ColumnMap())
    message = str(err.value)
    assert "object_id" in message and "Inventarnummer" in message and "e.csv" in message
    table = read_export(path, ColumnMap.parse("id=Inventarnummer"))
    assert table.frame["Inventarnummer"][0] == "A-1"


def test_column_map_numeric_dating():
    cmap = ColumnMap.parse("begin=von,end=bis")
    assert cmap.uses_numeric_dating and cmap.dating is None and cmap.required()[-2:] == ["von", "bis"]
    with pytest.raises(InputError):
        ColumnMap.parse("begin=von")
    with pytest.raises(InputError):
        ColumnMap.parse("colour=x")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_export(tmp_path / "nope.csv", ColumnMap())
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_export(tmp_path / "empty.csv", ColumnMap())
