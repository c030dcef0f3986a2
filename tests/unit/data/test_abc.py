"""The ABC checker on tunes written for rnnkit: pick-ups, endings, tuplets, dotted pairs, chords,
meter changes pass; long bars, short bars inside a section and text that is not ABC fail."""
import pytest

from rnnkit.data.abc import check_tune
from rnnkit.data.documents import find_documents

HEADER = "X:1\nT:Test Tune\nM:{meter}\nL:{unit}\nK:G\n"


def tune(body: str, meter: str = "6/8", unit: str = "1/8") -> str:
    return HEADER.format(meter=meter, unit=unit) + body + "\n"


GOOD = {
    "jig with a pick-up and its completion": tune("d|:gdB GBd|g2f a2g|efg dBG|A3 A2:|"),
    "first and second endings": tune("G3 B3|[1 d3 d2c:|[2 d3 d2||"),
    "part change after a short bar": tune("GAB c2\nP:B\nd|gfe dcB|"),
    "tuplets and dotted pairs": tune('"G"B>A G2|(3ABA G2|B<A (3GAB|c4|]', meter="2/4", unit="1/8"),
    "chords, ties, grace notes, decorations, comments": tune("[GBd]2 -[GBd] {g}A ~B!trill!c|d6|]  % ok"),
    "inline and line meter changes": tune("GAB cde|[M:3/4] G2A2B2|\nM:2/4\nG4|]"),
    "default note length from the meter": HEADER.replace("L:{unit}\n", "").format(meter="2/4") + "GABc|d4|]\n",
    "common time and rests": tune("z2 G2 A2 B2|c8|]", meter="C"),
}
BAD = {
    "a bar too long": (tune("gdB GBd|g2f a2ga|efg dBG|"), "bar 2 lasts 7/8, the meter 6/8"),
    "a short bar inside a section": (tune("gdB GBd|g2f a2|efg dBG|"), "bar 2 lasts 5/8, the meter 6/8"),
    "not ABC": (tune("gdB GBd|g2f a2g|ef# dBG|"), "unexpected '#'"),
    "an unclosed chord symbol": (tune('"G gdB GBd|'), "unclosed chord symbol"),
    "music in the header": ("X:1\nM:6/8\nGAB|\nK:G\nGAB|\n", "music before the K: field"),
    "no key": ("X:1\nM:6/8\nL:1/8\n", "no K: field"),
    "a bad meter": (tune("GAB cde|", meter="six"), "bad meter (M:)"),
    # Text a generator writes: each once raised ZeroDivisionError or ValueError instead of failing the tune.
    "a note divided by zero": (tune("gdB G/0Bd|"), "unexpected '0'"),
    "a tuplet of zero notes": (tune("(0gdB GBd|"), "unexpected '0'"),
    "a chord divided by zero": (tune("[GB]/0 GBd|"), "unexpected '0'"),
    "a long bar in a meter with words after it": (tune("[M:6/8 x]gdB GBda|"), "bar 1 lasts 7/8, the meter 6/8 x"),
    # A dotted pair whose first note is in the bar just closed: once shortened that bar's finished
    # length, leaving the running bar negative (the bar position's fuzz test found A3|<).
    "a dotted pair across a bar line": (tune("gdB GBd|<e gfe dcB|"), "broken rhythm < after no note"),
    "a dotted pair across an ending": (tune("gdB GBd[1>e gfe dcB|"), "broken rhythm > after no note"),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_good_tunes_pass(name):
    result = check_tune(GOOD[name])
    assert result.valid and result.errors == [], (name, result)
    assert result.title == "Test Tune"


@pytest.mark.parametrize("name", list(BAD))
def test_broken_tunes_fail_with_the_reason(name):
    text, reason = BAD[name]
    result = check_tune(text)
    assert not result.valid and any(reason in e for e in result.errors), (name, result.errors)


def test_tunes_split_at_x_lines():
    text = "% a collection\n\n" + GOOD["jig with a pick-up and its completion"] + "\n\n" + tune("G6|]").replace("X:1", "X:2")
    tunes, _ = find_documents(text, "^X:")
    assert [t.splitlines()[0] for t in tunes] == ["X:1", "X:2"]
    assert all(check_tune(t).valid for t in tunes)
    assert check_tune("T:no header\nK:G\nG|\n").errors == ["no X: header"]
