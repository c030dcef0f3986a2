import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from ctc_reference import random_log_probs
from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding import (METHODS, Lexicon, decode_batch, decode_file, greedy_decode, lexicon_beam_search,
                             load_log_probs, prefix_beam_search)
from rnnkit.errors import RnnkitError

LP = np.stack([random_log_probs(0, 6, 4), random_log_probs(1, 6, 4)]).astype(np.float32)   # [2, 6, 4]
LENGTHS = np.array([6, 4])


def test_every_method_matches_its_decoder():
    lex = Lexicon.build(["ab", "b"], Vocabulary(tokens=("_", "a", "b", "|"), unk=None, blank="_"))
    assert decode_batch(LP, LENGTHS, "argmax") == greedy_decode(LP, LENGTHS)
    assert decode_batch(LP, LENGTHS, "merge_repeats") == greedy_decode(LP, LENGTHS, collapse="repeats")
    assert decode_batch(LP, LENGTHS, "ctc_greedy", blank=0) == greedy_decode(LP, LENGTHS, collapse="ctc", blank=0)
    assert decode_batch(LP, LENGTHS, "ctc_beam", blank=0, nbest=2) == prefix_beam_search(LP, LENGTHS, blank=0,
                                                                                         nbest=2)
    assert decode_batch(LP, LENGTHS, "ctc_lexicon", blank=0, lexicon=lex, word_separator=3) == lexicon_beam_search(
        LP, LENGTHS, blank=0, lexicon=lex, word_separator=3)
    assert set(METHODS) == {"argmax", "merge_repeats", "ctc_greedy", "ctc_beam", "ctc_lexicon"}


def test_npy_npz_and_safetensors_decode_the_same(tmp_path):
    expected = prefix_beam_search(LP, LENGTHS, blank=0, nbest=2)
    np.save(tmp_path / "lp.npy", LP)
    np.save(tmp_path / "lengths.npy", LENGTHS)
    np.savez(tmp_path / "lp.npz", log_probs=LP, lengths=LENGTHS)
    save_file({"log_probs": LP, "lengths": LENGTHS}, str(tmp_path / "lp.safetensors"))
    assert decode_file(tmp_path / "lp.npy", "ctc_beam", lengths=[6, 4], blank=0, nbest=2) == expected
    assert decode_file(str(tmp_path / "lp.npy"), "ctc_beam", lengths=tmp_path / "lengths.npy", blank=0,
                       nbest=2) == expected
    assert decode_file(tmp_path / "lp.npz", blank=0, nbest=2) == expected
    assert decode_file(tmp_path / "lp.safetensors", blank=0, nbest=2) == expected


def test_single_utterance_and_default_lengths(tmp_path):
    np.save(tmp_path / "one.npy", LP[0])
    log_probs, lengths = load_log_probs(tmp_path / "one.npy")
    assert log_probs.shape == (1, 6, 4) and lengths.tolist() == [6]
    save_file({"log_probs": torch.from_numpy(LP).half().numpy()}, str(tmp_path / "half.safetensors"))
    log_probs, lengths = load_log_probs(tmp_path / "half.safetensors")
    assert log_probs.dtype == np.float32 and lengths.tolist() == [6, 6]


def test_file_errors(tmp_path):
    def fails(message, path, **kwargs):
        with pytest.raises(RnnkitError) as info:
            decode_file(path, **{"blank": 0, **kwargs})
        assert str(info.value) == message.format(d=tmp_path)

    fails("cannot read '{d}/none.npy': no such file", tmp_path / "none.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    fails("'{d}/x.txt': unsupported file type '.txt'; expected .npy, .npz or .safetensors", tmp_path / "x.txt")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(RnnkitError, match="^cannot read '.*/bad.npy': "):
        decode_file(tmp_path / "bad.npy", blank=0)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 12)
    with pytest.raises(RnnkitError, match="^cannot read '.*/bad.safetensors': "):
        decode_file(tmp_path / "bad.safetensors", blank=0)
    save_file({"logits": LP}, str(tmp_path / "k.safetensors"))
    fails("'{d}/k.safetensors' holds no 'log_probs' array (found: logits)", tmp_path / "k.safetensors")
    np.savez(tmp_path / "l.npz", log_probs=LP, lengths=np.array([7, 2]))
    fails("'{d}/l.npz': a length (7) exceeds the 6 frames of log_probs", tmp_path / "l.npz")
    fails("'{d}/l.npz' holds its own lengths; pass none", tmp_path / "l.npz", lengths=[1, 1])
    np.save(tmp_path / "nan.npy", np.full((1, 2, 3), np.nan, dtype=np.float32))
    fails("'{d}/nan.npy': log_probs contain NaN", tmp_path / "nan.npy")
    np.save(tmp_path / "logits.npy", np.ones((1, 2, 3), dtype=np.float32))
    fails("'{d}/logits.npy': values above 0 are not log-probabilities (apply log_softmax first)",
          tmp_path / "logits.npy")
    np.save(tmp_path / "ints.npy", np.zeros((1, 2, 3), dtype=np.int64))
    fails("'{d}/ints.npy': log_probs must be floating point, got int64", tmp_path / "ints.npy")
    np.save(tmp_path / "flat.npy", np.zeros(3, dtype=np.float32))
    fails("'{d}/flat.npy': log_probs must be [B, T, C], got shape (3,)", tmp_path / "flat.npy")
    np.save(tmp_path / "ok.npy", LP)
    fails("'{d}/ok.npy': lengths must be [B] = (2,), got (3,)", tmp_path / "ok.npy", lengths=[1, 2, 3])
    fails("blank id 9 is outside the vocabulary of 4 symbols", tmp_path / "ok.npy", blank=9)


def test_option_errors(tmp_path):
    np.save(tmp_path / "ok.npy", LP)
    cases = [
        (dict(method="beam", blank=0), "unknown decoding method 'beam'; choose one of argmax, merge_repeats, "
                                       "ctc_greedy, ctc_beam, ctc_lexicon"),
        (dict(method="ctc_beam"), "method 'ctc_beam' needs the option blank"),
        (dict(method="ctc_greedy"), "method 'ctc_greedy' needs the option blank"),
        (dict(method="ctc_lexicon", blank=0), "method 'ctc_lexicon' needs the option lexicon"),
        (dict(method="argmax", blank=0), "method 'argmax' takes no option blank; its options are none"),
        (dict(method="ctc_beam", blank=0, beam=3), "method 'ctc_beam' takes no option beam; its options are blank, "
         "beam_size, nbest, token_threshold, top_k, beam_threshold, lm, lm_weight, insertion_bonus"),
        (dict(method="ctc_beam", blank=0, beam_size=0), "beam_size and nbest must be positive, got 0 and 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(RnnkitError) as info:
            decode_file(tmp_path / "ok.npy", **kwargs)
        assert str(info.value) == message
