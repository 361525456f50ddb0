"""Parse free-text museum datings ("um 450 v. Chr.", "2. Hälfte 5. Jh. v. Chr.") into year ranges.

Museum database exports (Berlin State Museums' SMB-digital and similar German/English exports)
store an object's dating as free text. :func:`parse_dating` turns the common forms into a
``(begin, end)`` pair of signed years and returns ``None`` for anything it does not recognise:
it never guesses. The whole text must be a dating; a dating embedded in other text
("Neues Reich, 18. Dynastie, um 1350 v. Chr.") is ``None``.

Year numbering is *historical*: there is no year 0. ``1 v. Chr.`` / ``1 BC`` is ``-1`` and the
next year is ``AD 1`` = ``1``. Negative means BC.

==========================================  ===============================  =======================
Written form (examples)                     Rule                             Result
==========================================  ===============================  =======================
``1871``, ``AD 120``, ``450 BC``, ``-450``  exact year                       (1871, 1871)
``um 450 v. Chr.``, ``ca. 2000 BC``         year +- 25 (``um``, ``ca.``,     (-475, -425)
                                            ``c.``, ``circa``, ``etwa``)
``1450 - 1400 v. Chr.``, ``1850/1860``      range as written; an era on one  (-1450, -1400)
                                            end only applies to both
``50 v. Chr. - 50 n. Chr.``                 mixed eras                       (-50, 50)
``1850/60``, ``1200-300``                   AD only: a shorter second year   (1850, 1860)
                                            reuses the first's leading
                                            digits if that makes it later
``1300-1200``                               reversed AD range returned as    (1300, 1200)
                                            written, NOT swapped (the caller
                                            rejects begin > end)
``1850er Jahre``, ``1850s``                 decade                           (1850, 1859)
``5. Jh. v. Chr.``, ``5th century BC``      n-th century BC = -100n..        (-500, -401)
                                            -100(n-1)-1
``2. Jh. n. Chr.``, ``19. Jahrhundert``     n-th century AD = 100(n-1)+1..   (101, 200)
                                            100n
``2. Jt. v. Chr.``, ``1st millennium AD``   millennia likewise, 1000 years   (-2000, -1001)
``Anfang``/``frühes``/``early``             first third of the century       5. Jh. v. Chr.:
                                                                             (-500, -468)
``Mitte``/``mid``/``middle``                middle third                     (-467, -434)
``Ende``/``spätes``/``late``/               last third                       (-433, -401)
``ausgehendes``
``1. Hälfte``/``first half``                halves                           2. Jh. n. Chr.:
                                                                             (101, 150)
``1. Viertel``/``first quarter``            quarters (``letztes`` = 4th)     (101, 125)
``erstes Drittel``/``first third``          thirds (same as Anfang/Mitte/    (101, 133)
                                            Ende)
``3.–2. Jh. v. Chr.``, ``4th-3rd c. BC``    bare first ordinal takes the     (-300, -101)
                                            unit (and era) of the second
``Ende 3. - Anfang 2. Jh. v. Chr.``         begin of first part .. end of    (-233, -168)
                                            second part
``1. Jh. v. Chr. - 1. Jh. n. Chr.``         begin of first .. end of second  (-100, 100)
``zwischen 1850 und 1860``                  same as ``1850-1860``            (1850, 1860)
``nach 1500``, ``vor 1500``, ``1500?``      open or uncertain: not guessed   None
``Wende 3./2. Jh.``, ``5. Jh., 1. Hälfte``  not supported                    None
``Neues Reich``, ``unbekannt``, ``modern``  not a dating                     None
==========================================  ===============================  =======================

Part-of-century arithmetic: a part is a fraction ``[lo, hi)`` of the unit (100 or 1000 years),
always counted forwards in time from the unit's earliest year, so "Ende 8. Jh. v. Chr." lies near
-700 and "Anfang 8. Jh. v. Chr." near -800. ``begin = first + round(lo * size)`` and
``end = first + round(hi * size) - 1``; the parts of a unit tile it without gaps or overlaps.

``um``/``ca.`` only widens a single year; on centuries, decades and ranges (``ca. 1450-1400
v. Chr.``) it is ignored, because those already state their uncertainty. Year arithmetic for the
+-25 skips the missing year 0 (``um 10 v. Chr.`` = (-35, 16)).

Accepted spellings: case-insensitive; ``ä``/``ae``, ``ö``/``oe``, ``ü``/``ue``; non-breaking and
other Unicode spaces; hyphen, en/em dash, minus sign, ``/``, ``bis``, ``to`` as range separators;
eras ``v. Chr.``/``v.Chr.``/``vor Christus``/``v. u. Z.``/``BC``/``BCE``/``B.C.``/``B.C.E.`` and
``n. Chr.``/``nach Christus``/``n. u. Z.``/``AD``/``A.D.``/``CE``/``C.E.`` (``AD`` also before
the year); units ``Jh.``/``Jhd.``/``Jhdt.``/``Jahrhundert(s)``/``century``/``cent.``/``c.`` and
``Jt.``/``Jtsd.``/``Jahrtausend``/``millennium``; thousands separators ``10.000``/``10,000``.

Caveats: years are limited to 5 digits and century/millennium ordinals to 2 digits (anything
larger is ``None``); plausibility of the range (e.g. 25000 BC) is the caller's check.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from fractions import Fraction

BC = -1
AD = 1
APPROX_HALF_WIDTH = 25
MAX_TEXT_LENGTH = 200

_UNIT_YEARS = {"century": 100, "millennium": 1000}
_LAST = -1  # ordinal index meaning "the last part" (letztes Viertel, last third)

# --- normalisation -----------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_TRANSLATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}
    | {dash: "-" for dash in _DASHES}
    | {char: "" for char in _INVISIBLE}
)
# "mid-5th century", "5th-century BC": the hyphen joins words, it does not separate a range.
_JOINING_HYPHENS = (
    (re.compile(r"\bmid-"), "mid "),
    (re.compile(r"(\d(?:st|nd|rd|th))-(?=cent|mill)"), r"\1 "),
)


def _normalise(text: str) -> str:
    """Lower-case ASCII-ish form: NFKC, casefold, umlauts as ae/oe/ue, one dash, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TRANSLATION)
    for pattern, replacement in _JOINING_HYPHENS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


# --- the pieces of one dating term -------------------------------------------------------------

_CHRISTUS = r"\.?\s*chr(?:\.|istus|isti)?(?:\s*geb(?:\.|urt))?"  # ". Chr.", "Christus", "Chr. Geb."
_ERA_PATTERNS = {
    BC: (rf"v(?:or)?{_CHRISTUS}", r"v\.?\s*u\.?\s*z\.?", r"b\.?\s*c\.?(?:\s*e\.?)?"),
    AD: (rf"n(?:ach)?{_CHRISTUS}", r"n\.?\s*u\.?\s*z\.?", r"a\.?\s*d\.?", r"c\.?\s*e\.?"),
}
_ERA_SUFFIX = {  # BC is tried first so that "bce" is not read as "b" + "ce"
    era: re.compile(rf"(?P<rest>.*?)\s*(?:{'|'.join(patterns)})") for era, patterns in _ERA_PATTERNS.items()
}
_AD_PREFIX = re.compile(r"(?:ad|a\.\s*d\.)\s*(?P<rest>\d.*)")
_APPROX_PREFIX = re.compile(r"(?:circa|ca\.?|c\.|um|etwa|approx\.?)\s*(?P<rest>.+)")

_ORDINAL_WORDS = (
    (1, r"1\.?|1st|first|erste[snmr]?"),
    (2, r"2\.?|2nd|second|zweite[snmr]?"),
    (3, r"3\.?|3rd|third|dritte[snmr]?"),
    (4, r"4\.?|4th|fourth|vierte[snmr]?"),
    (_LAST, r"letzte[snmr]?|last|final"),
)
_DIVISION_WORDS = ((2, r"haelfte|half"), (3, r"drittel|third"), (4, r"viertel|quarter"))
_THIRD_WORDS = (  # single words naming a third of the unit
    (1, r"anfang|beginn(?:ing)?|start|fruehe?[snmr]?|early"),
    (2, r"mitte|mid(?:dle)?|mittlere?[snmr]?"),
    (3, r"ende?|spaete?[snmr]?|late|ausgehende?[snmr]?"),
)
_OF = r"(?:\s+(?:des|der|of\s+the|of))?\s+(?P<rest>.+)"
_THIRD_PREFIXES = tuple(
    (index, re.compile(rf"(?:{words}){_OF}")) for index, words in _THIRD_WORDS
)
_FRACTION_PREFIX = re.compile(rf"(?:(?:die|the)\s+)?(?P<ordinal>\S+)\s+(?P<division>[a-z]+){_OF}")

_CENTURY_UNIT = r"jh(?:dt|d|t|s)?\.?|jahrhunderts?|centur(?:y|ies)|cent\.?|c\.?"
_MILLENNIUM_UNIT = r"jt(?:sd|d)?\.?|jahrtausends?|millenn?i(?:um|a)|mill\.?"
_ORDINAL_NUMBER = r"(?P<number>[1-9]\d?)"
_ORDINAL_SUFFIX = r"(?:\.|st|nd|rd|th)"
_CORE_FORMS = (  # (unit, pattern); "ordinal" = a bare "3." whose unit comes from the range's other end
    ("century", re.compile(rf"{_ORDINAL_NUMBER}{_ORDINAL_SUFFIX}?\s*(?:{_CENTURY_UNIT})")),
    ("millennium", re.compile(rf"{_ORDINAL_NUMBER}{_ORDINAL_SUFFIX}?\s*(?:{_MILLENNIUM_UNIT})")),
    ("ordinal", re.compile(rf"{_ORDINAL_NUMBER}{_ORDINAL_SUFFIX}")),
    ("decade", re.compile(r"(?P<number>[1-9]\d{1,3}0)(?:er(?:\s*jahre)?|'?s)")),
    ("year", re.compile(r"(?P<number>[1-9]\d{0,4}|[1-9]\d?[.,]\d{3})")),
)
_NEGATIVE_YEAR = re.compile(r"-(?P<number>[1-9]\d{0,4})")


@dataclass(frozen=True)
class _Term:
    """One side of a dating before it is turned into years.

    Attributes:
        unit: "year", "decade", "century", "millennium" or "ordinal" (unit not yet known).
        number: The year, decade start or ordinal as written (always positive).
        era: BC, AD or None when the text names none.
        part: Fraction ``(lo, hi)`` of a century/millennium, or None for all of it.
        approx: Whether "um"/"ca." preceded it.
    """

    unit: str
    number: int
    era: int | None = None
    part: tuple[Fraction, Fraction] | None = None
    approx: bool = False


def _split_era(text: str) -> tuple[str, int | None]:
    """Remove a trailing era ("v. Chr.", "AD"); return the rest and BC/AD/None."""
    for era, pattern in _ERA_SUFFIX.items():
        if match := pattern.fullmatch(text):
            return match["rest"], era
    return text, None


def _split_prefix(pattern: re.Pattern[str], text: str) -> tuple[str, bool]:
    """Remove a prefix matched by ``pattern``; return the rest and whether it was there."""
    match = pattern.fullmatch(text)
    return (match["rest"], True) if match else (text, False)


def _ordinal_index(word: str) -> int | None:
    for index, pattern in _ORDINAL_WORDS:
        if re.fullmatch(pattern, word):
            return index
    return None


def _fraction(index: int, divisions: int) -> tuple[Fraction, Fraction] | None:
    """The ``index``-th of ``divisions`` equal parts (``_LAST`` = the last one)."""
    if index == _LAST:
        index = divisions
    if not 1 <= index <= divisions:
        return None  # "4. Hälfte"
    return Fraction(index - 1, divisions), Fraction(index, divisions)


def _split_part(text: str) -> tuple[str, tuple[Fraction, Fraction] | None] | None:
    """Remove a part-of-unit prefix ("Ende", "2. Hälfte des").

    Returns:
        ``(rest, part)``; ``part`` is None when there is no such prefix. None when the text starts
        like a part ("4. Hälfte ...") but names an impossible one.
    """
    for index, pattern in _THIRD_PREFIXES:
        if match := pattern.fullmatch(text):
            return match["rest"], _fraction(index, 3)
    match = _FRACTION_PREFIX.fullmatch(text)
    if match is None:
        return text, None
    for divisions, words in _DIVISION_WORDS:
        if re.fullmatch(words, match["division"]):
            index = _ordinal_index(match["ordinal"])
            part = None if index is None else _fraction(index, divisions)
            return (match["rest"], part) if part else None
    return text, None  # e.g. "1. jh. v. chr." - second word is not a division


def _parse_core(text: str) -> tuple[str, int] | None:
    """Match the number-and-unit core of a term; return ``(unit, number)``."""
    for unit, pattern in _CORE_FORMS:
        if match := pattern.fullmatch(text):
            return unit, int(re.sub(r"[.,]", "", match["number"]))
    return None


def _parse_term(text: str) -> _Term | None:
    """Parse one side of a range (or a whole single dating) into a :class:`_Term`."""
    rest, era = _split_era(text)
    rest, approx = _split_prefix(_APPROX_PREFIX, rest)
    rest, ad_prefix = _split_prefix(_AD_PREFIX, rest)
    split = _split_part(rest)
    if split is None:
        return None
    rest, part = split
    core = _parse_core(rest)
    if core is None:
        return None
    unit, number = core
    if ad_prefix and (era is not None or unit != "year"):
        return None  # "AD 120 BC", "AD 5th century"
    if part is not None and unit not in ("century", "millennium", "ordinal"):
        return None  # "Ende 1850"
    return _Term(unit, number, AD if ad_prefix else era, part, approx)


# --- from terms to years -----------------------------------------------------------------------


def _add_years(year: int, delta: int) -> int:
    """``year + delta`` on the historical calendar, which has no year 0."""
    astronomical = year + 1 if year < 0 else year
    astronomical += delta
    return astronomical - 1 if astronomical <= 0 else astronomical


def _term_span(term: _Term, era: int) -> tuple[int, int]:
    """First and last year covered by ``term`` in ``era``."""
    if term.unit == "year":
        year = era * term.number
        if term.approx:
            return _add_years(year, -APPROX_HALF_WIDTH), _add_years(year, APPROX_HALF_WIDTH)
        return year, year
    if term.unit == "decade":
        first, last = term.number, term.number + 9
        return (first, last) if era == AD else (-last, -first)
    size = _UNIT_YEARS[term.unit]
    first = (term.number - 1) * size + 1 if era == AD else -term.number * size
    lo, hi = term.part or (Fraction(0), Fraction(1))
    return first + round(lo * size), first + round(hi * size) - 1


def _with_unit_of(left: _Term, right: _Term) -> _Term:
    """Let "3." in "3.-2. Jh." (or a bare "3" in "3-2 Jh.") take the unit of the right end."""
    takes_unit = left.unit == "ordinal" or (
        left.unit == "year" and left.era is None and not left.approx and left.number <= 99
    )
    if right.unit in _UNIT_YEARS and takes_unit:
        return replace(left, unit=right.unit)
    return left


def _expand_abbreviated(left: _Term, right: _Term) -> _Term:
    """AD "1850/60" -> 1860: a shorter, smaller second year reuses the first's leading digits."""
    left_digits, right_digits = len(str(left.number)), len(str(right.number))
    if left.unit != "year" or right.unit != "year" or right_digits >= left_digits:
        return right
    if right.number >= left.number:
        return right
    scale = 10**right_digits
    expanded = left.number - left.number % scale + right.number
    return replace(right, number=expanded) if expanded > left.number else right


def _range_span(left: _Term, right: _Term) -> tuple[int, int] | None:
    """Begin of ``left`` to end of ``right``; an era given on one end only applies to both."""
    left = _with_unit_of(left, right)
    if "ordinal" in (left.unit, right.unit):
        return None
    left_era = left.era or right.era or AD
    right_era = right.era or left.era or AD
    if left_era == right_era == AD:
        right = _expand_abbreviated(left, right)
    # "ca. 1450-1400 v. Chr.": the range already states the uncertainty.
    begin, _ = _term_span(replace(left, approx=False), left_era)
    _, end = _term_span(replace(right, approx=False), right_era)
    return begin, end


_BETWEEN = re.compile(r"(?:zwischen|between)\s+(?P<left>.+?)\s+(?:und|and)\s+(?P<right>.+)")
_RANGE_SEPARATOR = re.compile(r"\s*(?:-|/|\bbis\b|\bto\b)\s*")


def _split_range(text: str) -> list[str] | None:
    """Split into one term or two range ends; None for more than one separator or an empty end."""
    if match := _BETWEEN.fullmatch(text):
        return [match["left"], match["right"]]
    pieces = _RANGE_SEPARATOR.split(text)
    if len(pieces) > 2 or not all(pieces):
        return None
    return pieces


# --- public API ----------------------------------------------------------------------------------


def parse_dating(text: str) -> tuple[int, int] | None:
    """Parse a free-text dating into ``(begin, end)`` signed years (negative = BC, no year 0).

    See the module docstring for the accepted forms and conventions. A reversed range is returned
    as written (``"1300-1200"`` -> ``(1300, 1200)``) so that the caller can report it.

    Args:
        text: The dating as exported, e.g. ``"um 450 v. Chr."``. Non-strings (a pandas NaN) and
            texts longer than ``MAX_TEXT_LENGTH`` characters give None.

    Returns:
        ``(begin, end)`` as ints, or None when the text is not a dating this parser recognises.
    """
    if not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH:
        return None
    text = _normalise(text)
    if match := _NEGATIVE_YEAR.fullmatch(text):  # "-450" as some exports write BC years
        year = -int(match["number"])
        return year, year
    pieces = _split_range(text)
    if pieces is None:
        return None
    terms = [_parse_term(piece) for piece in pieces]
    if any(term is None for term in terms):
        return None
    if len(terms) == 2:
        return _range_span(*terms)
    (term,) = terms
    if term.unit == "ordinal":
        return None  # "5." alone names no unit
    return _term_span(term, term.era or AD)


def dating_midpoint(begin: int, end: int) -> float:
    """Midpoint of a dating, the year regression target.

    Plain arithmetic on signed years: across the era boundary it is off by at most half a year
    because year 0 does not exist, which is far below any dating's precision.
    """
    return (begin + end) / 2


def format_year(year: float) -> str:
    """Display a signed year as ``"450 BC"`` / ``"AD 120"`` (rounded to a whole year).

    A value that rounds to 0 (between 1 BC and AD 1, e.g. a predicted year) shows as
    ``"1 BC/AD 1"``.
    """
    whole = round(year)
    if whole < 0:
        return f"{-whole} BC"
    if whole == 0:
        return "1 BC/AD 1"
    return f"AD {whole}"
