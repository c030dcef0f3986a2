"""The connected-digit builder: exact spans, pauses, repeats, seeds, noise level, frame spans."""
import numpy as np
import pytest

from rnnkit.data.connected_digits import Span, build_utterances
from rnnkit.errors import RnnkitError


def _recordings():
    """Ten recordings whose samples name them: recording i is (i + 1) / 100 throughout, digit i % 10."""
    rng = np.random.default_rng(0)
    return [(np.full(int(rng.integers(300, 900)), (i + 1) / 100, np.float32), i % 10) for i in range(20)]


def test_spans_hold_the_recordings_and_pauses_are_silent():
    recs = _recordings()
    utts = build_utterances(recs, 300, seed=4)
    counts = {len(u.spans) for u in utts}
    assert counts == set(range(1, 8))
    assert any(a == b for u in utts for a, b in zip(u.digits, u.digits[1:]))  # repeated digits occur ("3 3 7")
    for u in utts:
        speech = np.zeros(len(u.samples), bool)
        for s in u.spans:
            piece = u.samples[s.start:s.end]
            i = int(round(float(piece[0]) * 100)) - 1  # which recording this is
            assert np.array_equal(piece, recs[i][0]) and s.digit == recs[i][1]
            speech[s.start:s.end] = True
        assert not u.samples[~speech].any()  # pauses before, between and after are silence
        gaps = np.diff([0] + [p for s in u.spans for p in (s.start, s.end)] + [len(u.samples)])[::2]
        assert (gaps >= 0.05 * 8000 - 1).all() and (gaps <= 0.25 * 8000).all()


def test_seeded_and_only_from_the_given_recordings():
    recs = _recordings()
    a, b = build_utterances(recs, 20, seed=1), build_utterances(recs, 20, seed=1)
    assert all(np.array_equal(x.samples, y.samples) and x.spans == y.spans for x, y in zip(a, b))
    assert [u.digits for u in build_utterances(recs, 20, seed=2)] != [u.digits for u in a]
    test_only = recs[:3]  # e.g. the test split's recordings
    for u in build_utterances(test_only, 50, seed=3):
        assert {round(float(u.samples[s.start]) * 100) for s in u.spans} <= {1, 2, 3}
    with pytest.raises(RnnkitError, match="no recordings"):
        build_utterances([], 1, seed=0)
    with pytest.raises(RnnkitError, match="digits per utterance"):
        build_utterances(recs, 1, seed=0, digits=(3, 2))


def test_noise_at_the_requested_snr():
    recs = [(np.sin(np.arange(4000) / 3).astype(np.float32), 1)]
    clean = build_utterances(recs, 1, seed=5, digits=(4, 4))[0]
    noisy = build_utterances(recs, 1, seed=5, digits=(4, 4), snr_db=10.0)[0]
    assert clean.spans == noisy.spans
    speech = np.concatenate([clean.samples[s.start:s.end] for s in clean.spans])
    noise = noisy.samples.astype(np.float64) - clean.samples
    snr = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10.0) < 0.2  # ~20k noise samples: the power estimate is good to about 0.05 dB


def test_frame_spans_are_the_frames_centred_in_the_digit():
    hop, frame = 80, 200
    for start, end in [(0, 80), (1000, 1801), (333, 339), (4000, 4500)]:
        first, last = Span(1, start, end).frames(hop, frame)
        centred = [t for t in range(200) if start <= t * hop + frame / 2 < end]
        assert list(range(first, last)) == (centred or [first])


def test_phoneme_units_of_the_digit_words():
    from rnnkit.data.digit_units import digit_pronunciations, phoneme_units, phonemes_of

    prons = digit_pronunciations()
    assert prons[6] == ("S", "IH", "K", "S") and prons[8] == ("EY", "T")  # stress marks dropped
    units = phoneme_units(prons)
    assert all(p.isalpha() and p.isupper() for p in units)
    assert set(phonemes_of(range(10), prons)) == set(units)
    with pytest.raises(RnnkitError, match="not in the CMU"):
        digit_pronunciations(("zero", "qwxzv"))
