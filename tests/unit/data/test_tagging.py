"""Tagging vocabularies: building, saving, encoding; unknown words and tags."""
import json

import pytest

from rnnkit.data.conllu import read_conllu
from rnnkit.data.tagging import MISSING, PAD_ID, UNK_ID, UNSEEN, TagVocab
from rnnkit.errors import RnnkitError


@pytest.fixture
def tiny():
    return read_conllu("tests/resources/tiny.conllu")


def test_build_and_json_round_trip(tiny):
    v = TagVocab.build(tiny, min_word_count=1, max_word_chars=6)
    assert v.upos.tokens == ("ADP", "ADV", "AUX", "CCONJ", "DET", "NOUN", "PART", "PROPN", "PUNCT", "VERB")
    assert v.xpos is not None and "NNP" in v.xpos
    again = TagVocab.from_json(json.loads(json.dumps(v.to_json())))
    assert again == v
    assert "Zoë" in v.train_forms and "n't" in v.train_forms


def test_encoding_rows_and_targets(tiny):
    v = TagVocab.build(tiny, min_word_count=1, max_word_chars=6)
    rows = v.encode_tokens(["the", "The", "zebra", "internationalisation"])
    assert rows.shape == (4, 7)
    assert rows[0, 0] == rows[1, 0] != UNK_ID  # words are looked up lowercased
    assert rows[2, 0] == UNK_ID and rows[2, 6] == PAD_ID  # unseen word; 5 characters, one pad
    assert rows[3, 1:].tolist() == v.chars.encode(list("intion")).tolist()  # first and last 3 characters
    assert TagVocab.build(tiny, min_word_count=2).encode_tokens(["cat", "."])[:, 0].tolist()[0] == UNK_ID  # seen once
    targets = v.encode_tags(["NOUN", "INTJ", "_"], ["NN", "XX", "_"])
    assert targets.tolist() == [[v.upos.index("NOUN"), v.xpos.index("NN")], [UNSEEN, UNSEEN], [MISSING, MISSING]]


def test_training_data_without_upos_is_an_error(tmp_path):
    path = tmp_path / "untagged.conllu"
    path.write_text("1\tHi\t_\t_\t_\t_\t_\t_\t_\t_\n\n")
    with pytest.raises(RnnkitError, match="no UPOS tags"):
        TagVocab.build(read_conllu(path))


def test_no_xpos_column_means_no_xpos_vocabulary(tmp_path):
    path = tmp_path / "upos_only.conllu"
    path.write_text("1\tHi\t_\tINTJ\t_\t_\t_\t_\t_\t_\n\n")
    v = TagVocab.build(read_conllu(path))
    assert v.xpos is None and v.encode_tags(["INTJ"], ["_"]).tolist() == [[0, MISSING]]
