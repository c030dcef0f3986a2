"""Where an ABC tune stands after each character: in its header, or how full its running bar is.

A tune generator that reads this beside each character knows how much of the bar it has written
(the tune recipe's ``ModelConfig.step_classes``), the metric position that symbolic music models
give their nets (REMI's bar and position tokens, DeepBach's beat input), so it need not count
durations itself to close a bar where the meter says. The count is :mod:`rnnkit.data.abc`'s own:
the characters read so far are read the way :func:`~rnnkit.data.abc.check_tune` reads a whole
tune, so a bar that :class:`BarPosition` calls full is one the checker accepts.

Classes (:data:`NUM_CLASSES`): ``HEADER`` before ``K:`` and on a field line; ``NO_METER`` in a
body without a meter; ``EMPTY`` at a bar's start; then 16 classes of a part-filled bar (its
filled share in sixteenths), ``FULL`` and ``OVER``. With ``count_bars`` the class also says how
many bars the tune has closed so far (:data:`BAR_COUNTS`: 0 to 47, then 48 or more), as
``place + NUM_CLASSES * bars``: a net that knows how far into the tune it is can end it where
tunes end (90% of the Nottingham tunes after 14 to 34 bars) instead of writing the same bars
again. With ``count_sections`` too, it says how many bars the running section has closed
(:data:`SECTION_COUNTS`: 0 to 31, then 32 or more; a section starts at the tune's body and
after every bar line that the checker calls a boundary: ``||``, ``|]``, ``:|``, ``|:``, an
ending, a ``P:`` field), as ``place + NUM_CLASSES * (bars + BAR_COUNTS * section bars)``: a net that knows
how far into its part it is can close the part where parts close (most Nottingham parts
after 8 bars).

>>> reader = BarPosition()
>>> [reader.read(c) for c in "X:1\\nM:3/4\\nL:1/4\\nK:G\\n"][-1] == HEADER
True
>>> [reader.read(c) for c in "G2A|"] == [EMPTY + 1 + 5, EMPTY + 1 + 10, FULL, EMPTY]
True
"""
from __future__ import annotations

import copy

from ..errors import RnnkitError
from .abc import _FIELD, TuneCheck, _Bars, _Line, _set_field  # one reading of ABC for the checker and this
from .documents import END

HEADER, NO_METER, EMPTY = 0, 1, 2
PARTS = 16  # a part-filled bar's share, in sixteenths: classes EMPTY + 1 ... EMPTY + PARTS
FULL = EMPTY + PARTS + 1
OVER = FULL + 1
NUM_CLASSES = OVER + 1
BAR_COUNTS = 49  # bars closed so far: 0 ... 47, and 48 or more (Nottingham's longest tune has 72)
SECTION_COUNTS = 33  # bars closed in the running section: 0 ... 31, and 32 or more


def _class_of(bars: _Bars) -> int:
    if bars.meter is None:
        return NO_METER
    if bars.length == 0:
        return EMPTY
    if bars.length == bars.meter:
        return FULL
    if bars.length > bars.meter:
        return OVER
    return EMPTY + 1 + int(bars.length / bars.meter * PARTS)


def _count_of(bars: _Bars, sections: bool = False) -> int:
    count = min(bars.check.bars, BAR_COUNTS - 1)
    if not sections:
        return count
    return count + BAR_COUNTS * min(bars.check.bars - bars.section_start, SECTION_COUNTS - 1)


class _Reader(_Line):
    """A body line's reader that marks where it can go on from: after a bar line that the next
    character shows is complete (not ``|1,`` that ``2`` would extend), with the state it had there."""

    def __init__(self, line: str, bars: _Bars, mark: tuple | None = None):
        super().__init__(line, bars)
        self.mark = mark
        if mark is not None:
            self.i, self.pending, tuplet, self.after_note = mark[0], mark[2], mark[3], mark[4]
            self.tuplet = list(tuplet)

    def bar_line(self) -> str | None:
        error = super().bar_line()
        if error is None and self.i < len(self.line) and self.line[self.i] not in ",-":
            self.mark = (self.i, _copy(self.bars), self.pending, list(self.tuplet), self.after_note)
        return error


class BarPosition:
    """Reads one tune a character at a time (:meth:`read`); :data:`~rnnkit.data.documents.END`
    starts the next tune. With ``count_bars`` each class is ``place + NUM_CLASSES * bars closed``
    (:data:`BAR_COUNTS`), with ``count_sections`` too ``place + NUM_CLASSES * (bars closed +
    BAR_COUNTS * bars closed in the running section)`` (:data:`SECTION_COUNTS`). A body line is
    read again at each character (a note's length can change with the next character: ``A`` then
    ``A2``), from its last complete bar line (the state there kept), or from its start with the
    bars where the line began; at the line's end that state moves on. A bar is short (about ten characters), so a tune costs about a millisecond."""

    def __init__(self, count_bars: bool = False, count_sections: bool = False) -> None:
        if count_sections and not count_bars:
            raise ValueError("count_sections needs count_bars")
        self.count_bars, self.count_sections = count_bars, count_sections
        self._start_tune()

    def _start_tune(self) -> None:
        self.bars = _Bars(TuneCheck())
        self.body = False  # past the K: field that ends the header
        self.line = ""  # the current line so far
        self.mark: tuple | None = None  # where the current line's reading can go on from (_Reader)
        self.last = HEADER

    def read(self, char: str) -> int:
        """The class of the tune after ``char`` (and everything before it)."""
        if char == END:
            self._start_tune()
        elif char == "\n":
            self._end_line()
        else:
            self.line += char
            self.last = self._partial()
        return self.last

    def _text(self) -> str:
        return self.line.split("%", 1)[0].rstrip()

    def _read(self, text: str) -> _Bars:
        """The bars after ``text``, the current line so far (an error stops the reading: the bar
        stands where it stopped)."""
        reader = _Reader(text, _copy(self.mark[1] if self.mark else self.bars), self.mark)
        reader.read()
        self.mark = reader.mark
        return reader.bars

    def _with_count(self, place: int, bars: _Bars) -> int:
        return place + NUM_CLASSES * _count_of(bars, self.count_sections) if self.count_bars else place

    def _partial(self) -> int:
        text = self._text()
        if not self.body or _FIELD.match(text):
            return self._with_count(HEADER, self.bars)
        bars = self._read(text)
        return self._with_count(_class_of(bars), bars)

    def _end_line(self) -> None:
        text = self._text()
        m = _FIELD.match(text)
        if m:
            try:
                _set_field(m.group(1), m.group(2), self.bars)
            except RnnkitError:
                pass  # a bad field changes nothing (the checker rejects the tune)
            self.body = self.body or m.group(1) == "K"
        elif self.body:
            self.bars = self._read(text)
        self.line, self.mark = "", None
        self.last = self._with_count(_class_of(self.bars) if self.body and not m else HEADER, self.bars)


def _copy(bars: _Bars) -> _Bars:
    """A copy of ``bars`` to read on into (the last note kept: ``>`` may stretch it)."""
    out = copy.copy(bars)
    out.key, out.accidentals = dict(bars.key), dict(bars.accidentals)
    out.check = TuneCheck(bars=bars.check.bars, events=list(bars.check.events[-1:]))
    return out


def bar_classes(text: str, count_bars: bool = False, count_sections: bool = False) -> list[int]:
    """:meth:`BarPosition.read`'s class after each character of ``text`` (from a tune's start).

    >>> bar_classes("X:1\\nM:2/4\\nL:1/8\\nK:D\\nA2 B2|")[-6:] == [EMPTY + 1 + 4, EMPTY + 1 + 8, EMPTY + 1 + 8,
    ...                                                          EMPTY + 1 + 12, FULL, EMPTY]
    True

    Three bars closed, the third ending a section; then one bar into the next section:

    >>> last = bar_classes("X:1\\nM:2/4\\nL:1/8\\nK:D\\nA4|B4|c4:|d4|", True, True)[-1]
    >>> last == EMPTY + NUM_CLASSES * (4 + BAR_COUNTS * 1)
    True
    """
    reader = BarPosition(count_bars, count_sections)
    return [reader.read(c) for c in text]

