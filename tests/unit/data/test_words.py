"""Word corpora and the word vocabulary: <eos> at line ends, empty lines, caps, unknown words, bad files."""
import gzip

import pytest

from rnnkit.data.words import EOS, UNK_WORD, build_word_vocab, read_words
from rnnkit.errors import RnnkitError


def test_lines_end_with_eos_and_empty_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b  c\n\n   \nb c\n")
    corpus = read_words(str(path))
    assert corpus.tokens == ["a", "b", "c", EOS, "b", "c", EOS]
    assert (corpus.lines, corpus.empty_lines, corpus.words) == (2, 2, 5)


def test_gzip_files_read_the_same(tmp_path):
    plain, packed = tmp_path / "t.txt", tmp_path / "t.txt.gz"
    plain.write_text("x y\nz\n")
    with gzip.open(packed, "wt") as f:
        f.write("x y\nz\n")
    assert read_words(str(packed)).tokens == read_words(str(plain)).tokens == ["x", "y", EOS, "z", EOS]


def test_vocabulary_order_cap_and_min_count():
    tokens = "b a b c b a <eos> d".split()
    v = build_word_vocab([tokens])
    assert v.tokens == (UNK_WORD, EOS, "b", "a", "c", "d")  # specials, then by count, ties alphabetical
    assert build_word_vocab([tokens], max_size=4).tokens == (UNK_WORD, EOS, "b", "a")
    assert build_word_vocab([tokens], min_count=2).tokens == (UNK_WORD, EOS, "b", "a")
    ids, unknown = build_word_vocab([tokens], max_size=4).encode_counting(["c", "a", "zzz"])
    assert ids.tolist() == [0, 3, 0] and unknown == 2
    assert build_word_vocab([["<unk>", "x"]]).tokens == (UNK_WORD, EOS, "x")  # PTB's own <unk> is the unknown word


@pytest.mark.parametrize("content, message", [("", "has no words"), ("\n \n\n", "has no words")])
def test_files_without_words_are_errors(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(RnnkitError, match=message):
        read_words(str(path))


def test_missing_and_unreadable_files_are_errors(tmp_path):
    with pytest.raises(RnnkitError, match="file not found"):
        read_words(str(tmp_path / "nope.txt"))
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(b"this is not gzip data")
    with pytest.raises(RnnkitError, match="cannot read"):
        read_words(str(bad))


def test_a_vocabulary_too_small_for_a_word_is_an_error():
    with pytest.raises(RnnkitError, match="max size 2 is too small"):
        build_word_vocab([["a"]], max_size=2)
