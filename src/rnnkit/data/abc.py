"""ABC music notation: a strict check that every bar of a tune adds up, and the tune's notes.

A tune starts at an ``X:`` line and ends where the next one starts (a collection splits with
``rnnkit.data.documents.find_documents(text, "^X:")``). Its header holds fields
(``T:`` title, ``M:`` meter, ``L:`` default note length, ``K:`` key, which ends the header);
its body holds notes, rests, chords, tuplets and bar lines, and may change ``M:``, ``L:`` or
``K:`` on a line of its own or inline (``[M:3/4]``).

:func:`check_tune` reads a body the way the ABC 2.1 standard defines durations (a note's length
is ``L:`` times its multiplier ``2``, ``3/2``, ``/``; ``>`` and ``<`` make dotted pairs; ``(3``
puts 3 notes in the time of 2; a chord lasts as long as its first note) and checks each bar
against the meter. A bar may be short only next to a section boundary (the tune's start or end,
a repeat sign, a double bar, a first or second ending, a part): that is where ABC writes
pick-ups and their completions. A bar never may be long. Anything that is not ABC is an error.

>>> check_tune("X:1\\nM:3/4\\nL:1/4\\nK:G\\nD|G2A|B>AG|(3ABA G:|\\n").valid
True
>>> check_tune("X:1\\nM:3/4\\nL:1/4\\nK:G\\nG2A|B2AG|G3|]\\n").errors
['bar 2 lasts 4/4, the meter 3/4']
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import RnnkitError

_FIELD = re.compile(r"^([A-Za-z]):(.*)$")
_NOTE = re.compile(r"(\^{1,2}|_{1,2}|=)?([A-Ga-gzx])([',]*)(\d*)((?:/(?:[1-9]\d*)?)*)")  # /0 is not ABC
_BAR = re.compile(r":*\|+\]?:*|\[\||::+|:\]")
_ENDING = re.compile(r"\[?\d+(?:[,-]\d+)*")
_DECORATION = set(".~HLMOPSTuvJR")
TUPLET_TIME = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}  # (p: p notes in the time of q; others: 2, or 3 in compound time
BOUNDARY_BARS = ("||", "|]", "[|", ":", "::")  # a bar line containing one of these ends or starts a section


def parse_fraction(text: str, what: str) -> Fraction:
    """'6/8' -> 6/8; 'C' (common time) -> 4/4; 'C|' (cut time) -> 2/2."""
    text = text.strip().split()[0] if text.strip() else ""
    if text in ("C", "C|"):
        return Fraction(1)
    m = re.fullmatch(r"(\d+)/(\d+)", text)
    if not m or int(m.group(2)) == 0 or int(m.group(1)) == 0:
        raise RnnkitError(f"bad {what}: {text!r}")
    return Fraction(int(m.group(1)), int(m.group(2)))


@dataclass
class TuneCheck:
    """What :func:`check_tune` found: the tune's title, bars read, and every error (empty: valid)."""

    title: str = ""
    bars: int = 0
    errors: list[str] = field(default_factory=list)
    # (start, duration, MIDI pitches) of every note, chord and rest (no pitches), in whole notes;
    # repeats are played once
    events: list[tuple[Fraction, Fraction, tuple[int, ...]]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and self.bars > 0


class _Bars:
    """The running bar: its duration, the meter, and the rules for short bars.

    A short bar is excused when it opened at a section boundary or its closing bar line is one;
    otherwise it waits: a section that starts (a part, an ending, the tune's end) before the
    next note excuses it too, and that note convicts it.
    """

    def __init__(self, check: TuneCheck):
        self.check, self.meter, self.unit, self.meter_text = check, None, None, ""
        self.length, self.notes, self.opened_at_boundary = Fraction(0), 0, True
        self.suspect: str | None = None  # the error of a short bar, unless a section starts next
        self.key: dict[str, int] = {}  # the key signature: letter -> semitones (+1 sharp, -1 flat)
        self.accidentals: dict[int, int] = {}  # accidentals written in this bar: natural pitch -> semitones
        self.time = Fraction(0)
        self.tied = False  # a tie (-) after the last note: the next note of its pitch continues it
        self.section_start = 0  # the bars closed when the running section began (at the last boundary)

    def close(self, bar_line: str, end: bool = False) -> None:
        boundary = end or any(mark in bar_line for mark in BOUNDARY_BARS)
        self.accidentals = {}
        if not self.notes:  # a bar line after a bar line (or at a line's start): one boundary more or less
            self.opened_at_boundary = self.opened_at_boundary or boundary
            if boundary:
                self.suspect, self.section_start = None, self.check.bars
            return
        self.check.bars += 1
        if self.meter is not None and self.length != self.meter:
            error = f"bar {self.check.bars} lasts {self._in_meter_units(self.length)}, the meter {self.meter_text}"
            if self.length > self.meter:
                self.check.errors.append(error)
            elif not (self.opened_at_boundary or boundary):
                self.suspect = error
        self.length, self.notes, self.opened_at_boundary = Fraction(0), 0, boundary
        if boundary:
            self.section_start = self.check.bars

    def _in_meter_units(self, length: Fraction) -> str:
        """5/8 in 6/8 time as '5/8', in 3/4 time as '5/8' too (a quarter is 2/8): the meter's denominator when it can."""
        m = re.match(r"\d+/(\d+)", self.meter_text)
        den = int(m.group(1)) if m else self.meter.denominator
        n = length * den
        return f"{n.numerator}/{den}" if n.denominator == 1 else str(length)

    def start_section(self) -> None:
        """A part (P:) or an ending ([1, |2) starts: the running bar ends at a boundary."""
        self.close("||")
        self.suspect = None

    def add(self, duration: Fraction, pitches: tuple[int, ...]) -> None:
        if self.suspect is not None:
            self.check.errors.append(self.suspect)
            self.suspect = None
        self.length += duration
        self.notes += 1
        last = self.check.events[-1] if self.check.events else None
        if self.tied and last and last[2] == pitches and last[0] + last[1] == self.time:  # C2-C: one longer note
            self.check.events[-1] = (last[0], last[1] + duration, pitches)
        else:
            self.check.events.append((self.time, duration, pitches))
        self.time += duration
        self.tied = False

    def stretch_last(self, factor: Fraction) -> None:
        """A broken rhythm after the last note: it lasts ``factor`` times as long."""
        start, duration, pitches = self.check.events[-1]
        self.check.events[-1] = (start, duration * factor, pitches)
        self.length += duration * (factor - 1)
        self.time += duration * (factor - 1)

    def pitch(self, accidental: str | None, letter: str, octave: str) -> int | None:
        """The MIDI pitch of a note (middle C, written C, is 60), None for a rest; an accidental
        holds to the end of the bar, the key signature elsewhere."""
        if letter in "zx":
            return None
        natural = 60 + _SEMITONES[letter.upper()] + (12 if letter.islower() else 0) + 12 * (octave.count("'") - octave.count(","))
        if accidental:
            self.accidentals[natural] = _ACCIDENTALS[accidental]
        return natural + self.accidentals.get(natural, self.key.get(letter.upper(), 0))


def _set_field(key: str, value: str, bars: _Bars) -> None:
    if key == "M":
        bars.meter = None if value.strip().lower() in ("none", "") else parse_fraction(value, "meter (M:)")
        bars.meter_text = value.strip()
    elif key == "L":
        bars.unit = parse_fraction(value, "note length (L:)")
    elif key == "P":
        bars.start_section()
    elif key == "K":
        bars.key = key_signature(value)


_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}
_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}  # each major key's sharps (flats < 0)
_MODES = {"": 0, "maj": 0, "ion": 0, "m": -3, "min": -3, "aeo": -3, "mix": -1, "dor": -2, "phr": -4, "lyd": 1, "loc": -5}


def key_signature(value: str) -> dict[str, int]:
    """The sharps (+1) and flats (-1) of a K: field, by letter.

    >>> key_signature("D"), key_signature("Gm"), key_signature("Ador"), key_signature("none")
    ({'F': 1, 'C': 1}, {'B': -1, 'E': -1}, {'F': 1}, {})
    """
    text = value.strip().split("%")[0].strip()
    if text.lower() in ("", "none") or text.upper() == "HP":
        return {}
    m = re.match(r"([A-G])([#b]?)\s*([A-Za-z]*)", text)
    mode = m.group(3).lower()[:3] if m else ""
    mode = "m" if m and m.group(3) in ("m", "M") else mode
    if not m or mode not in _MODES:
        raise RnnkitError(f"bad key (K:): {value.strip()!r}")
    fifths = _FIFTHS[m.group(1)] + {"#": 7, "b": -7, "": 0}[m.group(2)] + _MODES[mode]
    if abs(fifths) > 7:
        raise RnnkitError(f"bad key (K:): {value.strip()!r}")
    order = "FCGDAEB" if fifths > 0 else "BEADGCF"
    return {letter: (1 if fifths > 0 else -1) for letter in order[:abs(fifths)]}


def _default_unit(bars: _Bars) -> Fraction:
    """ABC's default L: 1/16 for meters under 3/4, else 1/8."""
    if bars.unit is None:
        bars.unit = Fraction(1, 16) if bars.meter is not None and bars.meter < Fraction(3, 4) else Fraction(1, 8)
    return bars.unit


def _multiplier(digits: str, slashes: str) -> Fraction:
    """'3' '/2' -> 3/2; '' '/' -> 1/2; '' '//' -> 1/4."""
    value = Fraction(int(digits)) if digits else Fraction(1)
    for part in slashes.split("/")[1:]:
        value /= int(part) if part else 2
    return value


def check_tune(tune: str) -> TuneCheck:
    """Check every bar of one tune (its text from ``X:`` on) against its meter; see the module doc."""
    check = TuneCheck()
    bars = _Bars(check)
    lines = tune.splitlines()
    if not lines or not lines[0].startswith("X:"):
        check.errors.append("no X: header")
        return check
    in_header, body = True, False
    for number, raw in enumerate(lines, 1):
        line = raw.split("%", 1)[0].rstrip()
        m = _FIELD.match(line)
        if m:
            key, value = m.group(1), m.group(2)
            try:
                _set_field(key, value, bars)
            except RnnkitError as exc:
                check.errors.append(f"line {number}: {exc}")
                return check
            check.title = check.title or (value.strip() if key == "T" else "")
            if key == "K":
                in_header, body = False, True
            continue
        if in_header:
            if line.strip():
                check.errors.append(f"line {number}: music before the K: field ends the header")
                return check
            continue
        error = _read_body_line(line, bars)
        if error:
            check.errors.append(f"line {number}: {error}")
            return check
    if not body:
        check.errors.append("no K: field (it ends the header)")
    bars.close("", end=True)
    return check


_CLOSERS = {'"': ('"', "unclosed chord symbol"), "!": ("!", "unclosed decoration !"), "+": ("+", "unclosed decoration +"),
            "{": ("}", "unclosed grace notes")}  # skipped: they take no time


class _Line:
    """One body line read left to right into the bars (:func:`_read_body_line`)."""

    def __init__(self, line: str, bars: _Bars):
        self.line, self.bars, self.i = line, bars, 0
        self.pending: Fraction | None = None  # the factor a broken rhythm left for the next note
        self.tuplet = [0, Fraction(1)]  # notes left in a tuplet, their time factor
        self.after_note = False  # a note or chord has been read (a broken rhythm needs one before it)

    def read(self) -> str | None:
        line = self.line
        while self.i < len(line):
            c, rest = line[self.i], line[self.i:]
            if c in " \t\\)" or c in _DECORATION:
                self.i += 1
            elif c == "-":
                self.bars.tied = True
                self.i += 1
            elif c in _CLOSERS:
                end, error = _CLOSERS[c]
                j = line.find(end, self.i + 1)
                if j < 0:
                    return error
                self.i = j + 1
            elif c == "(":
                self.tuplet_or_slur()
            elif c in "<>":
                error = self.broken_rhythm(c)
                if error:
                    return error
            elif re.match(r"\[[A-Za-z]:", rest):
                j = line.find("]", self.i)
                if j < 0:
                    return "unclosed inline field"
                try:
                    _set_field(line[self.i + 1], line[self.i + 3:j], self.bars)
                except RnnkitError as exc:
                    return str(exc)
                self.i = j + 1
            elif re.match(r"\[\d", rest):
                self.bars.start_section()  # a first or second ending
                self.i = _ENDING.match(line, self.i).end()
            elif c in "|:" or rest.startswith("[|"):
                error = self.bar_line()
                if error:
                    return error
            elif c == "[":
                error = self.chord()
                if error:
                    return error
            else:
                m = _NOTE.match(line, self.i)
                if not m:
                    return f"unexpected {c!r} (not ABC)"
                pitch = self.bars.pitch(m.group(1), m.group(2), m.group(3))
                self.add(_multiplier(m.group(4), m.group(5)), () if pitch is None else (pitch,))
                self.i = m.end()
        return None

    def tuplet_or_slur(self) -> None:
        m = re.match(r"\(([1-9])(?::(\d*))?(?::(\d*))?", self.line[self.i:])
        if not m:
            self.i += 1  # a slur
            return
        p, meter = int(m.group(1)), self.bars.meter
        compound = meter is not None and meter.numerator % 3 == 0 and meter.numerator > 3
        q = int(m.group(2)) if m.group(2) else TUPLET_TIME.get(p, 3 if compound else 2)
        self.tuplet = [int(m.group(3)) if m.group(3) else p, Fraction(q, p)]
        self.i += m.end()

    def broken_rhythm(self, c: str) -> str | None:
        j = self.i
        while j < len(self.line) and self.line[j] == c:
            j += 1
        if not self.after_note or not self.bars.notes:  # none read, or none in the running bar
            return f"broken rhythm {self.line[self.i:j]} after no note"
        longer, shorter = 2 - Fraction(1, 2 ** (j - self.i)), Fraction(1, 2 ** (j - self.i))
        first, self.pending = (longer, shorter) if c == ">" else (shorter, longer)
        self.bars.stretch_last(first)
        self.i = j
        return None

    def bar_line(self) -> str | None:
        m = _BAR.match(self.line, self.i)
        if not m:
            return f"unexpected {self.line[self.i]!r}"
        self.bars.close(m.group(0))
        self.i = m.end()
        m = re.match(r"\d+(?:[,-]\d+)*", self.line[self.i:])  # |1 or :|2: an ending
        if m:
            self.bars.start_section()
            self.i += m.end()
        return None

    def chord(self) -> str | None:
        line, j = self.line, self.line.find("]", self.i)
        if j < 0:
            return "unclosed chord"
        notes = list(_NOTE.finditer(line, self.i + 1, j))
        if not notes or "".join(x.group(0) for x in notes) != re.sub(r"[\s-]", "", line[self.i + 1:j]):
            return f"bad chord {line[self.i:j + 1]!r}"
        m = re.match(r"(\d*)((?:/(?:[1-9]\d*)?)*)", line[j + 1:])
        self.i = j + 1 + m.end()
        pitches = tuple(p for x in notes if (p := self.bars.pitch(x.group(1), x.group(2), x.group(3))) is not None)
        self.add(_multiplier(notes[0].group(4), notes[0].group(5)) * _multiplier(m.group(1), m.group(2)), pitches)
        return None

    def add(self, multiplier: Fraction, pitches: tuple[int, ...]) -> None:
        """A note, chord or rest of ``multiplier`` default lengths, in the tuplet and broken rhythm in force."""
        duration = multiplier * _default_unit(self.bars)
        if self.tuplet[0] > 0:
            duration *= self.tuplet[1]
            self.tuplet[0] -= 1
        if self.pending is not None:
            duration, self.pending = duration * self.pending, None
        self.bars.add(duration, pitches)
        self.after_note = True


def _read_body_line(line: str, bars: _Bars) -> str | None:
    """Add one body line's notes to the bars; an error message, or None."""
    return _Line(line, bars).read()
