"""Presenting field answers: a short terminal block per photo, and a check against the JSON schema.

:func:`schema_errors` implements the small JSON Schema subset that
:data:`mocar.field.predict.PREDICTION_SCHEMA` uses (``type`` incl. lists of types, ``required``,
``properties``, ``items``, ``additionalProperties``), so answers can be checked without the
``jsonschema`` package; with ``jsonschema`` installed the same schema validates too.
"""
from __future__ import annotations

from typing import Any

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[expected])


def schema_errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Every place where ``value`` breaks ``schema`` (empty list: valid)."""
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else types
        if not any(_type_ok(value, t) for t in allowed):
            return [f"{where}: {type(value).__name__} is not {'/'.join(allowed)}"]
    errors = []
    if isinstance(value, dict):
        errors += [f"{where}: missing key {key!r}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            sub = properties.get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                errors += schema_errors(item, sub, f"{where}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    return errors


def _year_text(year_value: float) -> str:
    year_value = round(year_value)
    return f"{-year_value} BCE" if year_value < 0 else f"{year_value} CE"


def format_prediction(answer: dict[str, Any]) -> str:
    """A short readable block for one photo's answer (the terminal output of `mocar predict`)."""
    lines = [f"{answer['file']}"]
    lines += [f"  {p['probability']:6.1%}  {p['label']}" for p in answer["top5"]]
    for name, key in (("likely", "prediction_set"), ("collections", "collection_set")):
        sets = answer.get(key)
        if sets:
            level = "0.9" if "0.9" in sets else sorted(sets)[-1]
            lines.append(f"  {name} ({float(level):.0%} set): " + "; ".join(sets[level]))
    year = answer.get("year")
    if year:
        text = f"  year: about {_year_text(year['estimate'])}"
        interval = (year.get("interval") or {}).get("0.9")
        if interval:
            text += f" ({_year_text(interval[0])} to {_year_text(interval[1])}, 90 %)"
        lines.append(text)
    for near in answer["nearest"]:
        lines.append(f"  look-alike {near['rank']}: {near['id']} — {near['collection']}, {near['dating']} "
                     f"(similarity {near['similarity']:.2f})")
    lines += [f"  ! {warning}" for warning in answer["warnings"]]
    return "\n".join(lines)
