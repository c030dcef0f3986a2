"""The place in the bar that the tune generator reads beside each character, on tunes written for
rnnkit: it counts a bar as the ABC checker does, character by character, and never fails on text
that is not ABC (a generator writes such text, and the sampler feeds it back)."""
from hypothesis import example, given, settings, strategies as st

from rnnkit.data.abc import check_tune
from rnnkit.data.bar_position import (BAR_COUNTS, EMPTY, FULL, HEADER, NO_METER, NUM_CLASSES, OVER, PARTS,
                                      SECTION_COUNTS, BarPosition, bar_classes)
from rnnkit.data.documents import END

HEAD = "X:1\nT:Test\nM:{meter}\nL:{unit}\nK:G\n"


def after(text: str) -> list[tuple[str, int]]:
    return list(zip(text, bar_classes(text)))


def part(share: float) -> int:
    """The class of a bar filled ``share`` of its meter."""
    return EMPTY + 1 + int(share * PARTS)


def test_the_header_is_header_and_the_body_counts_the_bar():
    head = HEAD.format(meter="3/4", unit="1/4")
    classes = bar_classes(head + "G2A|B3|")
    assert set(classes[:len(head)]) == {HEADER}
    assert classes[len(head):] == [part(1 / 3), part(2 / 3), FULL, EMPTY, part(1 / 3), FULL, EMPTY]


def test_every_bar_the_checker_accepts_closes_full():
    """A tune without pick-ups whose bars all add up: the character before every bar line is FULL,
    and no character of the body is OVER (dotted pairs, tuplets, chords, chord symbols, grace
    notes, ties and a line break inside a bar included)."""
    tune = HEAD.format(meter="6/8", unit="1/8") + '"G"gdB G>AB|(3ABA B G3|[GBd]2 {g}A -A3|B3\nc3|d6|]\n'
    assert check_tune(tune).valid
    pairs = after(tune)
    closing = [c for (ch, c), (nxt, _) in zip(pairs, pairs[1:]) if nxt == "|" and ch not in "|"]
    assert closing == [FULL] * 5
    assert OVER not in [c for _, c in pairs]


def test_a_bar_too_long_goes_over():
    tune = HEAD.format(meter="2/4", unit="1/8") + "A2 B2 c|\n"
    assert not check_tune(tune).valid
    assert bar_classes(tune)[-4:] == [FULL, OVER, EMPTY, EMPTY]  # B2, then c: over; the bar line starts the next


def test_a_note_lasts_what_the_characters_after_it_say():
    """``A`` is a default length until ``2`` makes it two, ``/`` half of one: the class follows."""
    head = HEAD.format(meter="4/4", unit="1/8")
    assert bar_classes(head + "A2")[-2:] == [part(1 / 8), part(2 / 8)]
    assert bar_classes(head + "A/")[-2:] == [part(1 / 8), part(1 / 16)]


def test_meters_change_inline_and_on_their_own_line():
    head = HEAD.format(meter="3/4", unit="1/4")
    assert bar_classes(head + "[M:2/4]AB|")[-2:] == [FULL, EMPTY]
    assert bar_classes(head + "ABC|\nM:2/4\nAB|")[-2:] == [FULL, EMPTY]
    assert bar_classes(head.replace("M:3/4\n", "") + "AB")[-1] == NO_METER


def test_a_field_line_in_the_body_and_a_comment_count_as_no_music():
    head = HEAD.format(meter="3/4", unit="1/4")
    classes = bar_classes(head + "AB\nP:B\n")
    assert classes[-5:] == [part(2 / 3), part(2 / 3), HEADER, HEADER, HEADER]  # P alone could be a decoration
    comment = bar_classes(head + "AB\nP:B\nC % a comment with A B C\n")[len(classes):]
    assert comment == [part(1 / 3)] * len(comment)  # the part ended the short bar (the checker's rule)


def test_the_end_mark_starts_the_next_tune():
    reader = BarPosition()
    first = [reader.read(c) for c in HEAD.format(meter="3/4", unit="1/4") + "AB"]
    assert first[-1] == part(2 / 3)
    assert reader.read(END) == HEADER
    assert [reader.read(c) for c in "X:2\nK:D\nA"] == [HEADER] * 8 + [NO_METER]  # the last tune's meter is gone


def test_what_the_checker_rejects_stops_the_count_where_it_stops():
    """A dotted pair across a line break is an error to the checker (``>`` after no note on its
    line): the bar stands where the reading stopped, as it does for any text that is not ABC."""
    head = HEAD.format(meter="2/4", unit="1/8")
    assert bar_classes(head + "A2 B\n>c|")[-3:] == [part(3 / 4)] * 3
    assert bar_classes(head + "A2 #B|")[-3:] == [part(2 / 4)] * 3


def slow_classes(text: str, count_bars: bool = False, count_sections: bool = False) -> list[int]:
    """The class after each character the slow way: the tune read again from its start each time,
    every line whole (the checker's reading), the last one as far as it goes; with ``count_bars``
    the bars the checker has closed by then too, with ``count_sections`` those since its last boundary as well."""
    from rnnkit.data.abc import _FIELD, TuneCheck, _Bars, _Line, _set_field
    from rnnkit.data.bar_position import _class_of
    from rnnkit.errors import RnnkitError

    def after(prefix: str) -> int:
        place, bars = place_after(prefix)
        section = min(bars.check.bars - bars.section_start, SECTION_COUNTS - 1) if count_sections else 0
        count = min(bars.check.bars, BAR_COUNTS - 1) + BAR_COUNTS * section
        return place + NUM_CLASSES * count if count_bars else place

    def place_after(prefix: str) -> tuple[int, _Bars]:
        *lines, last = prefix.split(END)[-1].split("\n")
        bars, body, field = _Bars(TuneCheck()), False, True
        for raw in lines:
            line = raw.split("%", 1)[0].rstrip()
            m = _FIELD.match(line)
            field = bool(m)
            if m:
                try:
                    _set_field(m.group(1), m.group(2), bars)
                except RnnkitError:
                    pass
                body = body or m.group(1) == "K"
            elif body:
                _Line(line, bars).read()
        if prefix.endswith(("\n", END)) or not prefix:
            return (_class_of(bars) if body and not field and not prefix.endswith(END) else HEADER), bars
        line = last.split("%", 1)[0].rstrip()
        if not body or _FIELD.match(line):
            return HEADER, bars
        _Line(line, bars).read()
        return _class_of(bars), bars

    return [after(text[:k + 1]) for k in range(len(text))]


ABC_ALPHABET = "ABCDEFGabcdefgz|:[]()<>/0123456789 ,'^_=-\"{}!+~.%\nMLKPX\\\x04"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ABC_ALPHABET, max_size=80))
@example("A3|<").via("found by this test: a dotted pair reaching back over a bar line")
@example("A3[1<").via("the same over an ending")
def test_any_text_has_a_class_at_every_character(body):
    """What a generator may write, header and nonsense included: a class in range for each
    character, never an exception (the sampler feeds every character back through it)."""
    for head in ("", HEAD.format(meter="6/8", unit="1/8"), "X:1\nM:none\nK:G\n"):
        classes = bar_classes(head + body)
        assert len(classes) == len(head + body) and all(0 <= c < NUM_CLASSES for c in classes)
        assert classes == slow_classes(head + body)
        counted = bar_classes(head + body, count_bars=True)
        assert all(0 <= c < NUM_CLASSES * BAR_COUNTS for c in counted)
        assert counted == slow_classes(head + body, count_bars=True)
        sections = bar_classes(head + body, count_bars=True, count_sections=True)
        assert all(0 <= c < NUM_CLASSES * BAR_COUNTS * SECTION_COUNTS for c in sections)
        assert sections == slow_classes(head + body, count_bars=True, count_sections=True)


def test_reading_on_from_the_last_bar_line_is_reading_the_line_again():
    """BarPosition reads a line on from its last complete bar line; on whole tunes (pick-ups,
    endings ``|1`` and ``:|2``, a ``|1,2`` that the next character extends, chords, tuplets, dotted
    pairs over a bar line) that is the slow reading of everything again."""
    tunes = [HEAD.format(meter="6/8", unit="1/8") + 'd|:"G"gdB G>AB|(3ABA G3|[1 F3 d3:|[2 F3 G3||\n|1,2 A6|]\n',
             HEAD.format(meter="3/4", unit="1/4") + "A>B|>c d e|] z3 | [CEG]3 |\n" + END + "X:2\nM:2/4\nK:D\nAB|c",
             HEAD.format(meter="C", unit="1/8") + "A2B2 c2d2|:e4 f4:|::g8|]"]
    for tune in tunes:
        assert bar_classes(tune) == slow_classes(tune)
        assert bar_classes(tune, count_bars=True) == slow_classes(tune, count_bars=True)
        assert bar_classes(tune, True, True) == slow_classes(tune, True, True)


def test_the_count_is_of_bars_closed_and_stops_at_48_or_more():
    """Each bar line that closes a bar with notes in it counts one (not a second bar line, nor one
    at a line's start); a field line keeps the count, the end mark starts it again, and from 48 bars
    on the count stays at its last class."""
    head = HEAD.format(meter="2/4", unit="1/4")
    counts = [c // NUM_CLASSES for c in bar_classes(head + "AB|AB||\n|AB|\nP:B\nA", count_bars=True)]
    assert counts[:len(head)] == [0] * len(head)
    assert counts[len(head):] == [0, 0, 1, 1, 1, 2, 2, 2] + [2, 2, 2, 3, 3] + [3, 3, 3, 3] + [3]
    long = bar_classes(head + "AB|" * 60 + END + "X:2", count_bars=True)
    assert [c // NUM_CLASSES for c in long[len(head) + 3 * 48 - 2:len(head) + 3 * 48 + 1]] == [47, 48, 48]
    assert long[-3 * 10 - 5] // NUM_CLASSES == BAR_COUNTS - 1 and long[-4:] == [HEADER] * 4
    assert [c % NUM_CLASSES for c in long] == bar_classes(head + "AB|" * 60 + END + "X:2")


def section_count(body: str, meter: str = "2/4") -> int:
    """The bars closed in the running part after ``body``, as the class of its last character says."""
    return bar_classes(HEAD.format(meter=meter, unit="1/4") + body, True, True)[-1] // NUM_CLASSES // BAR_COUNTS


def test_the_section_count_is_of_bars_closed_since_the_last_boundary():
    """A part starts at the body, after a bar line with ``||``, ``|]``, ``:`` or ``[|``, at an
    ending and at a ``P:`` field; its count is of the bars closed since, and from 32 on it stays
    at its last class, while the tune's own count goes on."""
    assert [section_count(b) for b in ("AB|", "AB|AB|", "AB|AB:|", "AB|AB:|AB|", "AB|AB||AB|AB|")] == [1, 2, 0, 1, 2]
    assert section_count("|:AB|AB|") == 2 and section_count("A|:AB|AB|") == 2  # a pick-up ends at |:
    assert section_count("AB|AB|[1AB:|[2AB|") == 1 and section_count("AB|AB|\nP:B\nAB|") == 1
    assert section_count("AB|AB|]") == 0 and section_count("AB|[|AB|") == 1
    assert section_count("AB|" * 40) == SECTION_COUNTS - 1 == 32
    last = bar_classes(HEAD.format(meter="2/4", unit="1/4") + "AB|" * 40, True, True)[-1]
    assert last % NUM_CLASSES == EMPTY and last // NUM_CLASSES % BAR_COUNTS == 40
    assert BarPosition(True, True).read("A") == HEADER
