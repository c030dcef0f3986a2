import numpy as np
import pytest

from rnnkit.data.vocab import UNK, Vocabulary
from rnnkit.errors import RnnkitError


def test_round_trip_through_json():
    v = Vocabulary.build_chars("héllo wörld\n\t{}")
    again = Vocabulary.from_json(v.to_json())
    assert again == v
    text = "wörld {héllo}"
    assert again.decode(again.encode(text)) == text


def test_unknown_characters_map_to_unk_and_are_counted():
    v = Vocabulary.build_chars("abc")
    ids, unknown = v.encode_counting("abxyc")
    assert unknown == 2
    assert v.decode(ids) == f"ab{UNK}{UNK}c"
    assert v.unknown_symbols("abxyxc") == ["x", "y"]


def test_replacement_char_in_text_is_not_counted_as_unknown():
    v = Vocabulary.build_chars("ab")
    _, unknown = v.encode_counting(f"a{UNK}b")
    assert unknown == 0


def test_max_size_keeps_most_frequent():
    v = Vocabulary.build_chars("aaaabbbc", max_size=3)
    assert set(v.tokens) == {UNK, "a", "b"}


def test_token_vocabulary_orders_specials_first():
    v = Vocabulary.build_tokens([["DET", "NOUN"], ["NOUN"]], blank="<b>", unk=None)
    assert v.tokens[:2] == ("<b>", "NOUN")
    with pytest.raises(RnnkitError, match="not in the vocabulary"):
        v.encode(["VERB"])


def test_encoding_is_vectorised_and_exact_on_large_text():
    text = "".join(chr(32 + i % 90) for i in range(200_000))
    v = Vocabulary.build_chars(text)
    ids = v.encode(text)
    assert ids.dtype == np.int64 and v.decode(ids[:1000]) == text[:1000]


@pytest.mark.parametrize("bad", [{"tokens": []}, {"tokens": ["a", "a"]}, {}, {"tokens": ["ab"], "kind": "char", "unk": None}])
def test_malformed_vocabularies_are_errors(bad):
    with pytest.raises(RnnkitError):
        Vocabulary.from_json(bad)
