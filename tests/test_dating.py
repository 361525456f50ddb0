"""Tests for the free-text dating parser (mocar.data.dating)."""
from __future__ import annotations

import random

import pytest

from mocar.data.dating import dating_midpoint, format_year, parse_dating

# (text, expected (begin, end)); historical years, negative = BC, no year 0.
PARSED = [
    # single years and "about" (+-25)
    ("1871", (1871, 1871)),
    ("450 v. Chr.", (-450, -450)),
    ("450 v.Chr.", (-450, -450)),
    ("450 v Chr", (-450, -450)),
    ("450 vor Christus", (-450, -450)),
    ("450 v.u.Z.", (-450, -450)),
    ("450 BC", (-450, -450)),
    ("450 B.C.", (-450, -450)),
    ("450 BCE", (-450, -450)),
    ("450 b.c.e.", (-450, -450)),
    ("120 n. Chr.", (120, 120)),
    ("120 AD", (120, 120)),
    ("AD 120", (120, 120)),
    ("A.D. 120", (120, 120)),
    ("120 CE", (120, 120)),
    ("-450", (-450, -450)),
    ("\u2212450", (-450, -450)),
    ("10.000 v. Chr.", (-10000, -10000)),
    ("10,000 BC", (-10000, -10000)),
    ("25000 v. Chr.", (-25000, -25000)),
    ("um 450 v. Chr.", (-475, -425)),
    ("Um 450 v. Chr.", (-475, -425)),
    ("ca. 2000 BC", (-2025, -1975)),
    ("ca 2000 BC", (-2025, -1975)),
    ("c. 2000 BC", (-2025, -1975)),
    ("circa 2000 BC", (-2025, -1975)),
    ("ca.1500", (1475, 1525)),
    ("um 1500", (1475, 1525)),
    ("c. AD 120", (95, 145)),
    ("um 10 v. Chr.", (-35, 16)),  # skips the missing year 0
    ("um\u00a0450\u00a0v.\u00a0Chr.", (-475, -425)),
    # year ranges
    ("1200-1300", (1200, 1300)),
    ("1200 \u2013 1300", (1200, 1300)),
    ("1200\u20141300", (1200, 1300)),
    ("1200 bis 1300", (1200, 1300)),
    ("1200 to 1300", (1200, 1300)),
    ("zwischen 1200 und 1300", (1200, 1300)),
    ("between 1200 and 1300", (1200, 1300)),
    ("1450 - 1400 v. Chr.", (-1450, -1400)),
    ("1450\u20131400 BC", (-1450, -1400)),
    ("1450 v. Chr. - 1400", (-1450, -1400)),
    ("ca. 1450-1400 v. Chr.", (-1450, -1400)),
    ("200-50 v. Chr.", (-200, -50)),
    ("50 v. Chr. - 50 n. Chr.", (-50, 50)),
    ("450 BC - AD 50", (-450, 50)),
    ("1 v. Chr. - 1 n. Chr.", (-1, 1)),
    ("1850/1860", (1850, 1860)),
    ("1850/60", (1850, 1860)),
    ("1200-300", (1200, 1300)),
    ("120-30 n. Chr.", (120, 130)),
    ("1850er Jahre", (1850, 1859)),
    ("1850s", (1850, 1859)),
    ("450s BC", (-459, -450)),
    # whole centuries and millennia
    ("5. Jh. v. Chr.", (-500, -401)),
    ("5. Jh.v.Chr.", (-500, -401)),
    ("5. Jhd. v. Chr.", (-500, -401)),
    ("5. Jhdt. v. Chr.", (-500, -401)),
    ("5. Jahrhundert v. Chr.", (-500, -401)),
    ("5th century BC", (-500, -401)),
    ("5th c. BC", (-500, -401)),
    ("5th-century BCE", (-500, -401)),
    ("1. Jh. v. Chr.", (-100, -1)),
    ("1. Jh. n. Chr.", (1, 100)),
    ("2. Jh. n. Chr.", (101, 200)),
    ("2nd century AD", (101, 200)),
    ("2nd century CE", (101, 200)),
    ("19. Jahrhundert", (1801, 1900)),
    ("19th century", (1801, 1900)),
    ("um 5. Jh. v. Chr.", (-500, -401)),
    ("2. Jt. v. Chr.", (-2000, -1001)),
    ("2. Jtsd. v. Chr.", (-2000, -1001)),
    ("2nd millennium BC", (-2000, -1001)),
    ("1st millennium AD", (1, 1000)),
    # parts: thirds (Anfang/Mitte/Ende), halves, quarters
    ("Anfang 5. Jh. v. Chr.", (-500, -468)),
    ("frühes 5. Jh. v. Chr.", (-500, -468)),
    ("fruehes 5. Jh. v. Chr.", (-500, -468)),
    ("early 5th century BC", (-500, -468)),
    ("Mitte 5. Jh. v. Chr.", (-467, -434)),
    ("mid-5th century BC", (-467, -434)),
    ("middle of the 5th century BC", (-467, -434)),
    ("Ende 8. Jh. v. Chr.", (-733, -701)),
    ("ausgehendes 8. Jh. v. Chr.", (-733, -701)),
    ("late 8th century BC", (-733, -701)),
    ("spätes 19. Jahrhundert", (1868, 1900)),
    ("spaetes 19. Jahrhundert", (1868, 1900)),
    ("SPÄTES 19. JAHRHUNDERT", (1868, 1900)),
    ("Mitte des 19. Jahrhunderts", (1834, 1867)),
    ("1. Hälfte 2. Jh. n. Chr.", (101, 150)),
    ("1. Haelfte 2. Jh. n. Chr.", (101, 150)),
    ("erste Hälfte des 2. Jh. n. Chr.", (101, 150)),
    ("the first half of the 2nd century AD", (101, 150)),
    ("2. Hälfte 5. Jh. v. Chr.", (-450, -401)),
    ("second half of the 5th century BC", (-450, -401)),
    ("1. Viertel 3. Jh. n. Chr.", (201, 225)),
    ("letztes Viertel 5. Jh. v. Chr.", (-425, -401)),
    ("last quarter of the 5th century BC", (-425, -401)),
    ("erstes Drittel 19. Jh.", (1801, 1833)),
    ("late 2nd millennium BC", (-1333, -1001)),
    ("Mitte 2. Jt. v. Chr.", (-1667, -1334)),
    # century ranges, incl. mixed eras
    ("3.\u20132. Jh. v. Chr.", (-300, -101)),
    ("3.-2. Jh. v. Chr.", (-300, -101)),
    ("3./2. Jh. v. Chr.", (-300, -101)),
    ("3. bis 2. Jh. v. Chr.", (-300, -101)),
    ("3-2 Jh. v. Chr.", (-300, -101)),
    ("4th\u20133rd century BC", (-400, -201)),
    ("4th to 3rd centuries BC", (-400, -201)),
    ("19th/20th century", (1801, 2000)),
    ("Ende 3. - Anfang 2. Jh. v. Chr.", (-233, -168)),
    ("2. Hälfte 5. - 1. Hälfte 4. Jh. v. Chr.", (-450, -351)),
    ("1. Jh. v. Chr. - 1. Jh. n. Chr.", (-100, 100)),
    ("1st century BC - 1st century AD", (-100, 100)),
    ("1. Jh. v. Chr. - 50 n. Chr.", (-100, 50)),
    # reversed ranges are returned as written, never swapped
    ("1300-1200", (1300, 1200)),
    ("1400 - 1450 v. Chr.", (-1400, -1450)),
    ("1858-5", (1858, 5)),
]
REVERSED = {"1300-1200", "1400 - 1450 v. Chr.", "1858-5"}

NOT_DATINGS = [
    "", "   ", "???", "?", "-", "/", "unbekannt", "unknown", "modern", "undatiert", "o. J.",
    "Neues Reich, 18. Dynastie", "18. Dynastie", "Spätantike", "Bronzezeit",
    "nach 1500", "vor 1500", "after 1500", "before 1500", "1500?", "um 1500 (?)", "(um 450 v. Chr.)",
    "1871.", "5.", "3rd", "Jh.", "v. Chr.", "BC", "um", "ca.", "0", "0450", "123456", "100. Jh.",
    "Ende 1850", "Mitte 1871", "4. Hälfte 2. Jh.", "5. Viertel 2. Jh.", "first half", "late",
    "AD 120 BC", "AD 5th century", "1850 -", "- 1850", "1850--1860", "1850 - 1860 - 1870",
    "1. 2. Jh.", "Wende 3./2. Jh. v. Chr.", "5. Jh. v. Chr., 1. Hälfte", "x" * 500,
]


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[text for text, _ in PARSED])
def test_parses_known_forms(text, expected):
    assert parse_dating(text) == expected


@pytest.mark.parametrize("text", NOT_DATINGS, ids=[repr(t)[:40] for t in NOT_DATINGS])
def test_rejects_non_datings(text):
    assert parse_dating(text) is None


@pytest.mark.parametrize("value", [None, float("nan"), 1871, b"1871"])
def test_non_strings_give_none(value):
    assert parse_dating(value) is None


def test_every_result_is_a_pair_of_ints_in_order():
    assert len(PARSED) >= 80
    for text, _ in PARSED:
        begin, end = parse_dating(text)
        assert type(begin) is int and type(end) is int, text
        assert (begin > end) == (text in REVERSED), text


def _span(text: str) -> tuple[int, int]:
    result = parse_dating(text)
    assert result is not None, text
    return result


UNIT_SPELLINGS = {"century": ["{n}. Jh.", "{n}. Jahrhundert", "{n}th century"],
                  "millennium": ["{n}. Jt.", "{n}. Jahrtausend", "{n}th millennium"]}
ERAS = {"bc": ["v. Chr.", "BC"], "ad": ["n. Chr.", "AD"]}
PARTS = {  # qualifier spellings -> (index, divisions)
    (0, 3): ["Anfang", "early"], (1, 3): ["Mitte", "mid"], (2, 3): ["Ende", "late"],
    (0, 2): ["1. Hälfte", "first half of the"], (1, 2): ["2. Hälfte", "second half of the"],
    (0, 4): ["1. Viertel"], (1, 4): ["2. Viertel"], (2, 4): ["3. Viertel"], (3, 4): ["letztes Viertel"],
}


@pytest.mark.parametrize("unit", ["century", "millennium"])
@pytest.mark.parametrize("era", ["bc", "ad"])
def test_parts_tile_the_unit_forwards_in_time(unit, era):
    """Every part lies inside its unit, parts are contiguous, and 'Anfang' is the earliest."""
    size = 100 if unit == "century" else 1000
    for n in range(1, 21):
        for spelling in UNIT_SPELLINGS[unit]:
            for era_word in ERAS[era]:
                whole = f"{spelling.format(n=n)} {era_word}"
                first, last = _span(whole)
                assert last - first + 1 == size, whole
                assert (last < 0) if era == "bc" else (first > 0), whole
                for divisions in (2, 3, 4):
                    spans = [_span(f"{PARTS[(i, divisions)][0]} {whole}") for i in range(divisions)]
                    assert spans[0][0] == first and spans[-1][1] == last, whole
                    for earlier, later in zip(spans, spans[1:]):
                        assert earlier[1] + 1 == later[0], (whole, spans)


@pytest.mark.parametrize("part", sorted(PARTS), ids=str)
def test_part_spellings_agree(part):
    spans = {_span(f"{spelling} 5th century BC") for spelling in PARTS[part]}
    spans |= {_span(f"{spelling} 5. Jh. v. Chr.") for spelling in PARTS[part]}
    assert len(spans) == 1, spans


def test_bc_end_of_century_is_close_to_its_last_year():
    begin, end = _span("Ende 8. Jh. v. Chr.")
    assert end == -701 and -740 < begin < -720
    assert _span("Anfang 8. Jh. v. Chr.")[0] == -800


def test_format_year_round_trips_through_parser():
    rng = random.Random(7)
    for year in [-99999, -1, 1, 99999] + [rng.choice([-1, 1]) * rng.randint(1, 99999) for _ in range(300)]:
        assert parse_dating(format_year(year)) == (year, year)


@pytest.mark.parametrize(("year", "text"), [(-450, "450 BC"), (120, "AD 120"), (-0.4, "1 BC/AD 1"),
                                            (1871.6, "AD 1872"), (-450.4, "450 BC")])
def test_format_year(year, text):
    assert format_year(year) == text


def test_dating_midpoint():
    assert dating_midpoint(-500, -401) == -450.5
    assert dating_midpoint(1850, 1860) == 1855.0
    assert dating_midpoint(-50, 50) == 0.0


TOKENS = ["um", "ca.", "Ende", "1.", "Hälfte", "5.", "Jh.", "v. Chr.", "n. Chr.", "BC", "AD", "-", "/",
          "bis", "1450", "1400", "2nd", "century", "millennium", "late", "\u2013", "\u00a0", "?", "(", ")",
          "zwischen", "und", "10.000", "er", "s", ",", ".", "the", "of", "0", "99", "123456"]


def _random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:  # random code points, including surrogates, combining marks, controls
        return "".join(chr(rng.randint(0, 0x10FFFF if rng.random() < 0.2 else 0x3000))
                       for _ in range(rng.randint(0, 30)))
    return rng.choice(["", " "]).join(rng.choice(TOKENS) for _ in range(rng.randint(1, 8)))


def test_never_raises_on_random_text():
    rng = random.Random(20261126)
    parsed = 0
    for _ in range(5000):
        result = parse_dating(_random_text(rng))
        if result is not None:
            parsed += 1
            begin, end = result
            assert type(begin) is int and type(end) is int
            assert abs(begin) <= 100_100 and abs(end) <= 100_100
    assert parsed > 0  # the token mix does produce datings, so the checks above ran
