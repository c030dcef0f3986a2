import gzip
import io
import os
import re

import pytest

from rnnkit.data.conllu import (format_conllu, parse_conllu, read_conllu, sentences_from_text,
                                sentences_from_tokens, with_tags, write_conllu)
from rnnkit.errors import RnnkitError

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "resources", "tiny.conllu")


def row(ident, form="x", upos="_", xpos="_"):
    """One CoNLL-U line with 10 columns."""
    return "\t".join([str(ident), form, "_", upos, xpos, "_", "_", "_", "_", "_"])


def conllu(*sentences):
    """CoNLL-U text from sentences given as lists of lines."""
    return "".join("".join(line + "\n" for line in s) + "\n" for s in sentences)


GOOD = [row(1, "A"), row(2, "b")]  # a valid 2-word sentence of 2 lines


@pytest.fixture
def fixture_bytes():
    with open(FIXTURE, "rb") as f:
        return f.read()


def write(tmp_path, text, name="bad.conllu"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def raises_at(path, line):
    """pytest.raises for an RnnkitError whose message starts with '<path>:<line>: '."""
    return pytest.raises(RnnkitError, match="^" + re.escape(f"{path}:{line}: "))


# -- reading the fixture -------------------------------------------------------------------------

def test_fixture_structure():
    sentences = read_conllu(FIXTURE)
    assert len(sentences) == 5
    first, dont, gapping, _, zoe = sentences
    assert first.comments == ("# newdoc id = tiny", "# sent_id = tiny-1", "# text = The cat sat.")
    assert first.sent_id == "tiny-1" and first.line_number == 1 and first.source == FIXTURE
    assert first.upos == ["DET", "NOUN", "VERB", "PUNCT"] and first.xpos == ["DT", "NN", "VBD", "."]
    # The range line "1-2 Don't" is kept but is not a word; its words are.
    assert dont.tokens == ["Do", "n't", "run", "."] and dont.line_number == 9
    assert dont.lines[2].startswith("1-2\tDon't\t")
    assert [w.id for w in dont.words] == [1, 2, 3, 4] and [w.line for w in dont.words] == [3, 4, 5, 6]
    # The empty node 5.1 is kept as a line but is not a word.
    assert gapping.tokens == ["Ann", "likes", "tea", "and", "Bob", "coffee", "."]
    assert any(line.startswith("5.1\tlikes\t") for line in gapping.lines)
    assert gapping.words[5].form == "coffee" and gapping.lines[gapping.words[5].line].startswith("6\t")
    assert zoe.tokens[:3] == ["Zoë", "'s", "café"] and zoe.xpos[1] == "POS"


def test_words_point_at_their_lines():
    for s in read_conllu(FIXTURE):
        for w in s.words:
            cols = s.lines[w.line].split("\t")
            assert (cols[0], cols[1], cols[3], cols[4]) == (str(w.id), w.form, w.upos, w.xpos)


# -- round trips ---------------------------------------------------------------------------------

def test_round_trip_plain_is_byte_identical(tmp_path, fixture_bytes):
    out = tmp_path / "out.conllu"
    write_conllu(read_conllu(FIXTURE), out)
    assert out.read_bytes() == fixture_bytes


def test_round_trip_gzip(tmp_path, fixture_bytes):
    out = tmp_path / "out.conllu.gz"
    write_conllu(read_conllu(FIXTURE), str(out))
    assert gzip.decompress(out.read_bytes()) == fixture_bytes
    again = read_conllu(out)
    assert format_conllu(again).encode("utf-8") == fixture_bytes
    assert [s.lines for s in again] == [s.lines for s in read_conllu(FIXTURE)]


def test_gzip_input_and_file_object_output(tmp_path, fixture_bytes):
    path = write(tmp_path, gzip.compress(fixture_bytes), "in.conllu.gz")
    buffer = io.StringIO()
    write_conllu(read_conllu(path), buffer)
    assert buffer.getvalue().encode("utf-8") == fixture_bytes


@pytest.mark.parametrize("cut", ["\n", "\n\n"])
def test_missing_final_blank_line_or_newline_is_read_and_restored(tmp_path, fixture_bytes, cut):
    text = fixture_bytes.decode("utf-8")
    path = write(tmp_path, text[: -len(cut)], "short.conllu")
    sentences = read_conllu(path)
    assert len(sentences) == 5 and sentences[-1].tokens[-1] == "."
    assert format_conllu(sentences) == text


def test_crlf_bom_and_extra_blank_lines_are_normalised(tmp_path):
    text = "\ufeff" + conllu(["# sent_id = a", *GOOD]).replace("\n", "\r\n") + "\n\n" + conllu(GOOD)
    sentences = read_conllu(write(tmp_path, text, "dos.conllu"))
    assert [s.tokens for s in sentences] == [["A", "b"], ["A", "b"]]
    assert sentences[1].line_number == 7  # the two extra blank lines still count
    assert format_conllu(sentences) == conllu(["# sent_id = a", *GOOD], GOOD)


# -- with_tags -----------------------------------------------------------------------------------

def test_with_tags_changes_only_upos_and_xpos_of_word_lines():
    for s in read_conllu(FIXTURE):
        n = len(s.words)
        tagged = with_tags(s, [f"U{i}" for i in range(n)], [f"X{i}" for i in range(n)])
        assert tagged.upos == [f"U{i}" for i in range(n)] and tagged.xpos == [f"X{i}" for i in range(n)]
        assert tagged.comments == s.comments and tagged.tokens == s.tokens
        word_lines = {w.line: i for i, w in enumerate(s.words)}
        assert len(tagged.lines) == len(s.lines)
        for k, (old, new) in enumerate(zip(s.lines, tagged.lines)):
            if k not in word_lines:
                assert new == old  # comments, ranges, empty nodes
                continue
            i, old_cols, new_cols = word_lines[k], old.split("\t"), new.split("\t")
            assert new_cols[3:5] == [f"U{i}", f"X{i}"]
            assert new_cols[:3] + new_cols[5:] == old_cols[:3] + old_cols[5:]
        assert s.upos != tagged.upos  # the original sentence is unchanged


def test_with_tags_without_xpos_keeps_xpos_and_round_trips(tmp_path):
    sentences = read_conllu(FIXTURE)
    tagged = [with_tags(s, ["NOUN"] * len(s.words)) for s in sentences]
    assert [t.xpos for t in tagged] == [s.xpos for s in sentences]
    out = tmp_path / "tagged.conllu"
    write_conllu(tagged, out)
    again = read_conllu(out)
    assert all(a.upos == ["NOUN"] * len(a.words) for a in again)
    assert [a.lines for a in again] == [t.lines for t in tagged]
    # Re-applying the gold tags gives back the original file.
    restored = [with_tags(t, s.upos, s.xpos) for t, s in zip(again, sentences)]
    assert format_conllu(restored) == format_conllu(sentences)


@pytest.mark.parametrize("upos, xpos, message", [
    (["A"], None, "1 UPOS tags for a sentence of 2 words"),
    (["A", "B"], ["X", "Y", "Z"], "3 XPOS tags for a sentence of 2 words"),
    (["A", ""], None, "bad UPOS tag ''"),
    (["A", "B"], ["X", "Y\tZ"], "bad XPOS tag 'Y\\tZ'"),
])
def test_with_tags_rejects_bad_tags(upos, xpos, message):
    [s] = parse_conllu(conllu(GOOD))
    with pytest.raises(RnnkitError, match=re.escape(message)):
        with_tags(s, upos, xpos)


# -- malformed files ------------------------------------------------------------------------------

BAD = [
    # (sentence lines, 1-based line of the error inside that sentence, words in the message)
    (["1\tA\t_\tX"], 1, "found 4 tab-separated columns, expected 10"),
    ([row(1), row(2) + "\t_"], 2, "found 11 tab-separated columns, expected 10"),
    ([row("one")], 1, "bad id 'one'"),
    ([row(1), row("2a")], 2, "bad id '2a'"),
    ([row("1-2-3")], 1, "bad id '1-2-3'"),
    ([row(2)], 1, "word id 2, expected 1"),
    ([row(1), row(3)], 2, "word id 3, expected 2"),
    ([row(1), row(1)], 2, "word id 1, expected 2"),
    ([row("1-1"), row(1)], 1, "range 1-1 must have N < M"),
    ([row("3-2"), row(1)], 1, "range 3-2 must have N < M"),
    ([row(1), row("3-4"), row(2)], 2, "range 3-4 does not match the next word id 2"),
    ([row(1), row("2-3"), row(2)], 2, "range 2-3 covers words up to 3, but the sentence ends at word 2"),
    ([row(1), row("2-3")], 2, "range 2-3 covers words up to 3"),
    ([row("1-2"), row(1), row("2-3"), row(2), row(3)], 3, "range 2-3 overlaps range 1-2"),
    ([row("1-2"), row(2)], 2, "word id 2, expected 1"),
    ([row(1), row("2.1"), row(2)], 2, "empty node 2.1 must be 1.K"),
    ([row(1), row(2), row("1.1")], 3, "empty node 1.1 must be 2.K"),
    ([row(1), row("1.0")], 2, "empty node 1.0 must be 1.K with K >= 1"),
    ([row("0.1")], 1, "sentence has no words"),
    (["# sent_id = 1", "# text = nothing"], 1, "sentence has no words"),
    ([row(1), "   "], 2, "line holds only whitespace"),
]


@pytest.mark.parametrize("lines, line, message", BAD)
def test_malformed_sentence_names_file_and_line(tmp_path, lines, line, message):
    # A valid sentence first, so the line number must count across sentences: GOOD + blank = 3 lines.
    path = write(tmp_path, conllu(GOOD, lines, GOOD))
    with raises_at(path, line + 3) as info:
        read_conllu(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_node_before_first_word_is_valid():
    [s] = parse_conllu(conllu([row("0.1"), row(1, "a"), row("1.1"), row("1.2"), row(2, "b")]))
    assert s.tokens == ["a", "b"] and len(s.lines) == 5


@pytest.mark.parametrize("text", ["", "\n\n\n"])
def test_empty_file_has_no_sentences(tmp_path, text):
    path = write(tmp_path, text, "empty.conllu")
    with pytest.raises(RnnkitError, match="^" + re.escape(f"{path}: no sentences") + "$"):
        read_conllu(path)


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.conllu")
    with pytest.raises(RnnkitError, match="^" + re.escape(f"{path}: file not found") + "$"):
        read_conllu(path)


def test_gz_name_that_is_not_gzip(tmp_path):
    path = write(tmp_path, conllu(GOOD), "plain.conllu.gz")
    with pytest.raises(RnnkitError, match="^" + re.escape(f"{path}: not a valid gzip file")):
        read_conllu(path)


def test_gzip_without_gz_name_hints(tmp_path):
    path = write(tmp_path, gzip.compress(conllu(GOOD).encode()), "hidden.conllu")
    with pytest.raises(RnnkitError, match=re.escape("name it *.gz")):
        read_conllu(path)


def test_invalid_utf8_names_file_and_line(tmp_path):
    data = conllu(GOOD).encode() + row(1, "caf\udce9", "X").encode("utf-8", "surrogateescape") + b"\n"
    path = write(tmp_path, data)
    with raises_at(path, 4) as info:
        read_conllu(path)
    assert "invalid UTF-8 (byte 0xe9)" in str(info.value)


# -- raw text ------------------------------------------------------------------------------------

def test_raw_text_tabs_blank_lines_and_no_final_newline(tmp_path):
    path = write(tmp_path, "The cat  sat .\n\n   \n\tDo\tn't run\t\r\nZoë's café", "raw.txt")
    assert sentences_from_text(path) == [(1, ["The", "cat", "sat", "."]), (4, ["Do", "n't", "run"]),
                                         (5, ["Zoë's", "café"])]


def test_raw_text_gzip(tmp_path):
    path = write(tmp_path, gzip.compress(b"a b\nc\n"), "raw.txt.gz")
    assert sentences_from_text(path) == [(1, ["a", "b"]), (2, ["c"])]


@pytest.mark.parametrize("bad, column", [("\x00", 3), ("\x0b", 3), ("\x1b", 3), ("\r", 3), ("\x7f", 3),
                                         ("\x85", 3)])
def test_raw_text_control_character_names_file_and_line(tmp_path, bad, column):
    path = write(tmp_path, f"fine line\nab{bad}c d\n", "raw.txt")
    with raises_at(path, 2) as info:
        sentences_from_text(path)
    assert f"control character {bad!r} at column {column}" in str(info.value)


@pytest.mark.parametrize("text", ["", "\n \t\n"])
def test_raw_text_without_sentences(tmp_path, text):
    path = write(tmp_path, text, "raw.txt")
    with pytest.raises(RnnkitError, match="^" + re.escape(f"{path}: no sentences") + "$"):
        sentences_from_text(path)


def test_raw_text_missing_and_invalid_utf8(tmp_path):
    with pytest.raises(RnnkitError, match="file not found"):
        sentences_from_text(tmp_path / "none.txt")
    path = write(tmp_path, b"ok\nok\n\xff\n", "raw.txt")
    with raises_at(path, 3):
        sentences_from_text(path)


def test_tagged_raw_text_is_written_as_conllu(tmp_path):
    raw = sentences_from_text(write(tmp_path, "Birds sing .\n\nDo n't\n", "raw.txt"))
    sentences = sentences_from_tokens([tokens for _, tokens in raw])
    assert [s.sent_id for s in sentences] == ["1", "2"]
    assert sentences[0].comments == ("# sent_id = 1", "# text = Birds sing .")
    assert sentences[1].lines[2] == "1\tDo\t_\t_\t_\t_\t_\t_\t_\t_"
    tagged = [with_tags(s, ["NOUN", "VERB", "PUNCT"][: len(s.words)], ["NNS", "VBP", "."][: len(s.words)])
              for s in sentences]
    out = tmp_path / "tagged.conllu"
    write_conllu(tagged, out)
    again = read_conllu(out)
    assert [(a.tokens, a.upos, a.xpos) for a in again] == [
        (["Birds", "sing", "."], ["NOUN", "VERB", "PUNCT"], ["NNS", "VBP", "."]),
        (["Do", "n't"], ["NOUN", "VERB"], ["NNS", "VBP"])]
    assert out.read_text().endswith("2\tn't\t_\tVERB\tVBP\t_\t_\t_\t_\t_\n\n")


@pytest.mark.parametrize("tokens, message", [([], "sentence 2 has no tokens"), (["a b"], "bad token 'a b'"),
                                             (["a", ""], "bad token ''"), (["a\tb"], "bad token 'a\\tb'")])
def test_sentences_from_tokens_rejects_bad_tokens(tokens, message):
    with pytest.raises(RnnkitError, match=re.escape(message)):
        sentences_from_tokens([["ok"], tokens])
