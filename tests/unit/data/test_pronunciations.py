"""Reading and splitting pronouncing dictionaries."""
import gzip

import pytest

from rnnkit.data.pronunciations import PARTS, parse_dictionary, read_dictionary, split_dictionary
from rnnkit.errors import RnnkitError
from g2p_data import write_dictionary


def test_alternatives_stress_comments_and_skipped_spellings(tmp_path):
    path = tmp_path / "d.dict"
    path.write_text(";;; header\nREAD  R IY1 D\nread(2)  R EH1 D\nread(3) R IY0 D # same once stress goes\n"
                    "don't  D OW1 N T\na.m.  EY2 EH1 M\nable-bodied  EY1 B AH0 L\n\n", encoding="utf-8")
    d = read_dictionary(str(path))
    assert d.entries == {"read": (("R", "IY", "D"), ("R", "EH", "D")), "don't": (("D", "OW", "N", "T"),)}
    assert d.skipped == 2


def test_gzip_and_the_written_fixture(tmp_path):
    entries = write_dictionary(tmp_path / "d.dict", 50)
    gz = tmp_path / "d.dict.gz"
    gz.write_bytes(gzip.compress((tmp_path / "d.dict").read_bytes()))
    d = read_dictionary(str(gz))
    assert {w: list(p) for w, p in d.entries.items()} == entries and d.skipped == 1


@pytest.mark.parametrize("text, message", [
    ("word\n", "line 1: expected 'WORD PHONEME ...'"),
    ("ok  OW1 K EY1\nword  hello there\n", "line 2: expected 'WORD PHONEME ...'"),
    ("a.b.  EY1\n", "no pronunciations of words spelled with letters"),
    ("", "no pronunciations"),
])
def test_bad_dictionaries_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.dict"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RnnkitError, match=message):
        read_dictionary(str(path))


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(RnnkitError, match="not found"):
        read_dictionary(str(tmp_path / "none.dict"))
    (tmp_path / "bin.dict").write_bytes(b"\xff\xfe\x00word")
    with pytest.raises(RnnkitError, match="cannot read it as a text dictionary"):
        read_dictionary(str(tmp_path / "bin.dict"))


def test_split_by_word_is_complete_disjoint_seeded_and_stable(tmp_path):
    write_dictionary(tmp_path / "d.dict", 2000)
    d = read_dictionary(str(tmp_path / "d.dict"))
    parts = split_dictionary(d, seed=3, dev=0.1, test=0.1)
    words = [set(parts[p]) for p in PARTS]
    assert sum(map(len, words)) == len(d.entries) and set.union(*words) == set(d.entries)  # every word once
    assert all(parts[p][w] == d.entries[w] for p in PARTS for w in parts[p])  # all its pronunciations with it
    assert 140 < len(words[1]) < 260 and 140 < len(words[2]) < 260  # 10% each of 2,000
    assert split_dictionary(d, seed=3, dev=0.1, test=0.1) == parts
    assert split_dictionary(d, seed=4, dev=0.1, test=0.1)["test"].keys() != parts["test"].keys()
    # A word keeps its part when other words come and go.
    fewer = parse_dictionary([f"{w}  {' '.join(d.entries[w][0])}" for w in sorted(d.entries)[::2]], "half")
    for p, part in split_dictionary(fewer, seed=3, dev=0.1, test=0.1).items():
        assert set(part) <= words[PARTS.index(p)]


def test_fractions_that_leave_no_training_words_are_refused(tmp_path):
    d = parse_dictionary(["ab  AE B"], "x")
    with pytest.raises(RnnkitError, match="leave some training words"):
        split_dictionary(d, dev=0.5, test=0.5)
