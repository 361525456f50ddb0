"""Free-text datings for the demo museum, written the way German and English exports write them.

:func:`dating_for_year` turns an object's true year into a text such as ``um 450 v. Chr.``,
``1. Hälfte 2. Jh. n. Chr.``, ``1450 - 1400 v. Chr.`` or ``2nd century AD`` together with the
interval that text denotes. Most texts are precise (25-100 years) so the year target stays
informative; a minority are century-level. The intervals follow the conventions of
:func:`mocar.data.dating.parse_dating` (historical years without a year 0, n-th century AD =
100(n-1)+1 .. 100n, parts of a century counted forwards in time, ``um``/``ca.`` = +- 25); the true
year always lies inside. Forms that would straddle the missing year 0 are avoided.

Also here: the deliberately bad datings used for broken rows (unparsable, reversed, implausible).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mocar.errors import InputError

APPROX_HALF_WIDTH = 25
PRECISE_SHARE = 0.75

UNPARSABLE_DATINGS = ("Neues Reich, 18. Dynastie", "unbekannt", "undatiert", "o. J.", "Bronzezeit", "?")
IMPLAUSIBLE_DATINGS = ("25000 v. Chr.", "um 40000 v. Chr.", "2500 n. Chr.", "ca. 15000 BC")
_DASHES = ("-", " - ", "–", " – ")
_THIRD_WORDS = {1: ("Anfang", "frühes"), 2: ("Mitte", "Mitte"), 3: ("Ende", "spätes")}


@dataclass(frozen=True)
class DatingText:
    """A dating as written in the export and the interval ``[begin, end]`` it denotes."""

    text: str
    begin: int
    end: int


def century_of(year: int) -> tuple[int, int, int]:
    """(ordinal, first year, last year) of the century holding ``year`` (BC negative, no year 0)."""
    n = math.ceil(abs(year) / 100)
    if year < 0:
        return n, -100 * n, -100 * (n - 1) - 1
    return n, 100 * (n - 1) + 1, 100 * n


def part_of_century(year: int, parts: int) -> tuple[int, int, int]:
    """(index 1..parts, begin, end) of the ``parts``-th division of the century holding ``year``."""
    _, first, _ = century_of(year)
    for index in range(1, parts + 1):
        begin = first + round((index - 1) * 100 / parts)
        end = first + round(index * 100 / parts) - 1
        if begin <= year <= end:
            return index, begin, end
    raise AssertionError(f"year {year} outside its own century")  # pragma: no cover


def _era(year: int, short_ad: bool = True) -> str:
    """German era suffix; AD is only spelled out for early years, as exports tend to do."""
    if year < 0:
        return " v. Chr."
    return " n. Chr." if (year < 1000 or not short_ad) else ""


def _century_era(n: int, year: int) -> str:
    """Era suffix after a century: BC always, AD only for the first millennium."""
    if year < 0:
        return " v. Chr."
    return " n. Chr." if n <= 10 else ""


def _century_name(n: int, year: int, rng: np.random.Generator) -> str:
    unit = "Jahrhundert" if rng.random() < 0.2 else "Jh."
    return f"{n}. {unit}{_century_era(n, year)}"


def _english_ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# --- the forms; each returns None when it does not suit the year ---------------------------------

def _approx(year: int, rng: np.random.Generator) -> DatingText | None:
    step = 10 if abs(year) < 1000 else 25 if abs(year) < 3000 else 50
    centre = int(round(abs(year) / step)) * step
    if centre <= APPROX_HALF_WIDTH:
        return None
    signed = centre if year > 0 else -centre
    if rng.random() < 0.25:
        text = f"ca. {centre} {'BC' if year < 0 else 'AD'}"
    else:
        text = f"{'um' if rng.random() < 0.8 else 'ca.'} {centre}{_era(signed)}"
    return DatingText(text, signed - APPROX_HALF_WIDTH, signed + APPROX_HALF_WIDTH)


def _range(year: int, rng: np.random.Generator) -> DatingText | None:
    widths = (50, 100, 200) if abs(year) > 2500 else (25, 50, 50, 100)
    width = int(widths[int(rng.integers(len(widths)))])
    align = min(25, width)
    begin = (year - int(rng.integers(0, width - align + 1))) // align * align
    end = begin + width
    if begin <= 0 <= end or not begin <= year <= end:
        return None
    dash = _DASHES[int(rng.integers(len(_DASHES)))]
    if year < 0:
        return DatingText(f"{-begin}{dash}{-end} v. Chr.", begin, end)
    return DatingText(f"{begin}{dash}{end}{_era(end)}", begin, end)


def _slash(year: int, rng: np.random.Generator) -> DatingText | None:
    if year < 1000:
        return None
    begin = year // 10 * 10
    return DatingText(f"{begin}/{begin + 10}", begin, begin + 10)


def _plain(year: int, rng: np.random.Generator) -> DatingText | None:
    return DatingText(str(year), year, year) if year >= 1000 else None


def _third(year: int, rng: np.random.Generator) -> DatingText | None:
    n, _, _ = century_of(year)
    index, begin, end = part_of_century(year, 3)
    word = _THIRD_WORDS[index][int(rng.random() < 0.3)]
    return DatingText(f"{word} {_century_name(n, year, rng)}", begin, end)


def _half(year: int, rng: np.random.Generator) -> DatingText | None:
    n, _, _ = century_of(year)
    index, begin, end = part_of_century(year, 2)
    return DatingText(f"{index}. Hälfte {_century_name(n, year, rng)}", begin, end)


def _century(year: int, rng: np.random.Generator) -> DatingText | None:
    n, first, last = century_of(year)
    if rng.random() < 0.35:
        return DatingText(f"{_english_ordinal(n)} century {'BC' if year < 0 else 'AD'}", first, last)
    return DatingText(_century_name(n, year, rng), first, last)


def _two_centuries(year: int, rng: np.random.Generator) -> DatingText | None:
    n, first, last = century_of(year)
    later = rng.random() < 0.5  # is the neighbour the later century?
    other_year = last + 1 if later else first - 1
    if other_year == 0 or (other_year < 0) != (year < 0):
        return None
    m, other_first, other_last = century_of(other_year)
    begin, end = min(first, other_first), max(last, other_last)
    hi, lo = max(n, m), min(n, m)
    text = f"{hi}.–{lo}. Jh. v. Chr." if year < 0 else f"{lo}.–{hi}. Jh.{_century_era(hi, year)}"
    return DatingText(text, begin, end)


def _millennium(year: int, rng: np.random.Generator) -> DatingText | None:
    """Prehistory is dated by millennia (``5. Jt. v. Chr.``); only used for |year| > 3000."""
    n = math.ceil(abs(year) / 1000)
    first, last = (-1000 * n, -1000 * (n - 1) - 1) if year < 0 else (1000 * (n - 1) + 1, 1000 * n)
    if rng.random() < 0.3:
        return DatingText(f"{_english_ordinal(n)} millennium {'BC' if year < 0 else 'AD'}", first, last)
    return DatingText(f"{n}. Jt.{_era(year, short_ad=False)}", first, last)


Form = Callable[[int, np.random.Generator], "DatingText | None"]
_PRECISE: tuple[tuple[Form, float], ...] = (
    (_approx, 0.25), (_range, 0.3), (_third, 0.13), (_half, 0.14), (_plain, 0.1), (_slash, 0.08),
)
_COARSE: tuple[tuple[Form, float], ...] = ((_century, 0.7), (_two_centuries, 0.3))
# Deep prehistory: nobody writes "Anfang 43. Jh. v. Chr."; exports use years or millennia.
_PREHISTORIC_YEARS = 3000
_PRECISE_PREHISTORIC: tuple[tuple[Form, float], ...] = ((_approx, 0.5), (_range, 0.5))
_COARSE_PREHISTORIC: tuple[tuple[Form, float], ...] = ((_millennium, 0.7), (_century, 0.3))


def dating_for_year(year: int, rng: np.random.Generator, precise_share: float = PRECISE_SHARE) -> DatingText:
    """A free-text dating consistent with ``year`` (BC negative, never 0)."""
    if year == 0:
        raise InputError("year 0 does not exist in historical dating; use 1 (AD) or -1 (BC)")
    prehistoric = abs(year) > _PREHISTORIC_YEARS
    if rng.random() < precise_share:
        forms = _PRECISE_PREHISTORIC if prehistoric else _PRECISE
    else:
        forms = _COARSE_PREHISTORIC if prehistoric else _COARSE
    weights = np.array([w for _, w in forms])
    for _ in range(8):
        form = forms[int(rng.choice(len(forms), p=weights / weights.sum()))][0]
        dating = form(year, rng)
        if dating is not None:
            return dating
    return _century(year, rng)  # always applicable


def reversed_dating(year: int, rng: np.random.Generator) -> str:
    """A range around ``year`` written end-first (``1300-1200``), which parsers must reject."""
    dating = next((d for d in (_range(year, rng) for _ in range(20)) if d is not None), None)
    if dating is None:  # a year so close to 0 that no one-era range fits
        return "1300-1200"
    if year < 0:  # BC ranges are written earliest (largest number) first; swap that
        return f"{-dating.end} - {-dating.begin} v. Chr."
    return f"{dating.end}-{dating.begin}"
