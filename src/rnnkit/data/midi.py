"""Standard MIDI files (format 0) from timed notes, and an ABC tune written as one.

    rnnkit sample runs/tunes --prime 'X:' --stop --midi tune.mid

A tune's notes come from :func:`rnnkit.data.abc.check_tune` (start and duration in whole notes,
MIDI pitches; repeats played once); the tempo is the tune's ``Q:`` in quarter notes per minute
when it gives one as a plain number or ``1/4=N``, else 120.
"""
from __future__ import annotations

import re
import struct
from fractions import Fraction

from ..errors import RnnkitError
from .abc import check_tune

TICKS = 480  # per quarter note


def _varlen(n: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits a byte, high bit set on all but the last.

    >>> _varlen(0), _varlen(127), _varlen(128), _varlen(0x0FFFFFFF).hex()
    (b'\\x00', b'\\x7f', b'\\x81\\x00', 'ffffff7f')
    """
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_bytes(events: list[tuple[Fraction, Fraction, tuple[int, ...]]], qpm: float = 120.0,
               velocity: int = 80) -> bytes:
    """A format-0 MIDI file of ``events`` (start, duration in whole notes, pitches), piano, ``qpm`` quarters a minute."""
    timed = []  # (tick, 0 = off before 1 = on at the same tick, status, pitch, velocity)
    for start, duration, pitches in events:
        on, off = round(start * 4 * TICKS), round((start + duration) * 4 * TICKS)
        for pitch in pitches:
            if not 0 <= pitch <= 127:
                raise RnnkitError(f"pitch {pitch} is outside MIDI's 0..127")
            timed += [(on, 1, 0x90, pitch, velocity), (off, 0, 0x80, pitch, 0)]
    track = bytearray(b"\x00\xff\x51\x03" + struct.pack(">I", round(60_000_000 / qpm))[1:])  # tempo
    track += b"\x00\xc0\x00"  # program 0: piano
    now = 0
    for tick, _, status, pitch, vel in sorted(timed):
        track += _varlen(tick - now) + bytes([status, pitch, vel])
        now = tick
    track += b"\x00\xff\x2f\x00"  # end of track
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def tempo_of(tune: str) -> float:
    """The tune's Q: field as quarter notes per minute (120 without one)."""
    m = re.search(r"^Q:\s*(?:(\d+)/(\d+)\s*=\s*)?(\d+)\s*$", tune, re.MULTILINE)
    if not m:
        return 120.0
    beat = Fraction(int(m.group(1)), int(m.group(2))) if m.group(1) else Fraction(1, 4)
    return float(int(m.group(3)) * beat * 4)


def write_tune_midi(tune: str, path: str) -> None:
    """Write ``tune`` (ABC, from ``X:``) as a MIDI file; a tune rnnkit cannot read is an error naming why."""
    check = check_tune(tune)
    if not check.events:
        raise RnnkitError(f"no notes to write: {'; '.join(check.errors) or 'the tune is empty'}")
    parse_errors = [e for e in check.errors if not e.startswith("bar ")]
    if parse_errors:
        raise RnnkitError(f"not ABC that rnnkit can read: {parse_errors[0]}")
    data = midi_bytes(check.events, tempo_of(tune))
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise RnnkitError(f"cannot write {path}: {exc.strerror or exc}") from None
