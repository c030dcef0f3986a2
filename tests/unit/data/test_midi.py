"""ABC notes to MIDI: pitches from key signatures, accidentals, octaves and ties; timing from
note lengths and broken rhythm; the file read back by a reader written here."""
from fractions import Fraction

import pytest

from rnnkit.data.abc import check_tune
from rnnkit.data.midi import TICKS, midi_bytes, tempo_of, write_tune_midi
from rnnkit.errors import RnnkitError

TUNE = "X:1\nT:Pitches\nM:2/4\nL:1/8\nQ:1/4=100\nK:D\nFA ^F=F|[DF]2 z2|c>B c'C,|d2-d2|]\n"


def read_notes(data: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """(microseconds per quarter, [(on tick, off tick, pitch)]) of a format-0 file (running status not used)."""
    assert data[:4] == b"MThd" and int.from_bytes(data[8:10], "big") == 0 and data[14:18] == b"MTrk"
    i, end, now, tempo, on, notes = 22, 22 + int.from_bytes(data[18:22], "big"), 0, None, {}, []
    while i < end:
        delta = 0
        while True:
            byte = data[i]
            i += 1
            delta = (delta << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        now += delta
        status = data[i]
        if status == 0xFF:
            if data[i + 1] == 0x51:
                tempo = int.from_bytes(data[i + 3:i + 6], "big")
            i += 3 + data[i + 2]
        elif status & 0xF0 == 0xC0:
            i += 2
        elif status & 0xF0 == 0x90:
            on[data[i + 1]] = now
            i += 3
        else:
            assert status & 0xF0 == 0x80
            notes.append((on.pop(data[i + 1]), now, data[i + 1]))
            i += 3
    return tempo, sorted(notes)


def test_pitches_and_times_of_a_tune():
    check = check_tune(TUNE)
    assert check.valid, check.errors
    e = TICKS // 2  # an eighth note
    want = [(0, e, 66), (e, 2 * e, 69), (2 * e, 3 * e, 66), (3 * e, 4 * e, 65),  # key of D: F sharp; ^F; =F
            (4 * e, 6 * e, 62), (4 * e, 6 * e, 66),  # a chord; the bar line cancelled =F
            (8 * e, 8 * e + 3 * e // 2, 73), (8 * e + 3 * e // 2, 10 * e, 71),  # c>B: dotted pair
            (10 * e, 11 * e, 85), (11 * e, 12 * e, 49),  # c' and C, (C sharp in D)
            (12 * e, 16 * e, 74)]  # d2-d2: one tied note
    tempo, notes = read_notes(midi_bytes(check.events, tempo_of(TUNE)))
    assert notes == want and tempo == 600_000  # 100 quarters a minute


def test_tempo_and_errors(tmp_path):
    assert tempo_of("X:1\nQ:3/8=60\n") == 90.0 and tempo_of("X:1\nK:C\n") == 120.0 and tempo_of("Q:140\n") == 140.0
    write_tune_midi(TUNE, str(tmp_path / "t.mid"))
    assert (tmp_path / "t.mid").read_bytes()[:4] == b"MThd"
    with pytest.raises(RnnkitError, match="no notes to write"):
        write_tune_midi("X:1\nK:C\n", str(tmp_path / "empty.mid"))
    with pytest.raises(RnnkitError, match="not ABC that rnnkit can read: line 3: unexpected '#'"):
        write_tune_midi("X:1\nK:C\nCD#E|\n", str(tmp_path / "bad.mid"))
    with pytest.raises(RnnkitError, match="cannot write"):
        write_tune_midi(TUNE, str(tmp_path / "no" / "such" / "dir.mid"))
    with pytest.raises(RnnkitError, match="outside MIDI"):
        midi_bytes([(Fraction(0), Fraction(1), (130,))])
    assert not (tmp_path / "empty.mid").exists() and not (tmp_path / "bad.mid").exists()
