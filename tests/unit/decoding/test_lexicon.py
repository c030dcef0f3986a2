import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ctc_reference import label_log_probs, random_log_probs
from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding.lexicon import Lexicon, lexicon_beam_search
from rnnkit.errors import RnnkitError

VOCAB = Vocabulary(tokens=("_", "a", "b", "|"), unk=None, blank="_")
WORDS = ["a", "ab", "ba", "bb"]


def best_segmentation(labels, spellings, separator, bonus, optional=False):
    """Max of bonus * number of words over the ways ``labels`` splits into words (None: no way)."""
    if not labels:
        return 0.0
    if separator is not None:
        pieces = [tuple(g) for k, g in itertools.groupby(labels, lambda u: u == separator) if not k]
        separators = sum(1 for u in labels if u == separator)
        if separators != len(pieces) - 1 or labels[0] == separator or labels[-1] == separator:
            return None
        if optional:
            splits = [best_segmentation(p, spellings, None, bonus) for p in pieces]
            return None if None in splits else sum(splits)
        return bonus * len(pieces) if all(p in spellings for p in pieces) else None
    best = [None] * (len(labels) + 1)      # best[i]: best score of a split of labels[:i]
    best[0] = 0.0
    for i in range(1, len(labels) + 1):
        for j in range(i):
            if best[j] is not None and tuple(labels[j:i]) in spellings:
                best[i] = max(best[i] if best[i] is not None else -math.inf, best[j] + bonus)
    return best[-1]


def reference(lp, words, vocab, separator, bonus, optional=False):
    spellings = {tuple(vocab.encode(w).tolist()) for w in words}
    scores = {}
    for labels, log_p in label_log_probs(lp, 0).items():
        seg = best_segmentation(labels, spellings, separator, bonus, optional)
        if seg is not None:
            scores[labels] = log_p + seg
    return scores


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("bonus", [0.0, 1.5])
@pytest.mark.parametrize("optional", [False, True])
def test_wide_beam_finds_the_best_word_sequence_with_separator(seed, bonus, optional):
    lp = random_log_probs(seed, 5, 4, scale=1.5)
    scores = reference(lp, WORDS, VOCAB, 3, bonus, optional)
    best = max(scores, key=scores.get)
    lex = Lexicon.build(WORDS, VOCAB)
    [h] = lexicon_beam_search(lp[None], lexicon=lex, blank=0, beam_size=2000, word_separator=3, word_bonus=bonus,
                              optional_separator=optional, token_threshold=None)[0]
    assert h.tokens == best and h.score == pytest.approx(scores[best], abs=1e-9)
    assert VOCAB.decode(h.tokens).replace("|", "") == "".join(h.words)
    if not optional:
        assert "|".join(h.words) == VOCAB.decode(h.tokens)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("bonus", [0.0, -1.0, 2.0])
def test_wide_beam_finds_the_best_word_sequence_without_separator(seed, bonus):
    vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
    words = ["a", "ab", "b", "bab"]
    lp = random_log_probs(seed + 10, 5, 3, scale=1.5)
    scores = reference(lp, words, vocab, None, bonus)
    best = max(scores, key=scores.get)
    [h] = lexicon_beam_search(lp[None], lexicon=Lexicon.build(words, vocab), blank=0, beam_size=2000,
                              word_bonus=bonus, token_threshold=None)[0]
    assert h.tokens == best and h.score == pytest.approx(scores[best], abs=1e-9)
    assert "".join(h.words) == vocab.decode(h.tokens)
    assert h.score == pytest.approx(h.acoustic_score + bonus * len(h.words))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000), st.integers(0, 12), st.integers(1, 8), st.booleans())
def test_only_dictionary_words_are_emitted(seed, T, beam, with_separator):
    lp = random_log_probs(seed, T, 4)
    lex = Lexicon.build(WORDS, VOCAB)
    nbest = lexicon_beam_search(lp[None], lexicon=lex, blank=0, beam_size=beam, nbest=beam,
                                word_separator=3 if with_separator else None)[0]
    assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
    for h in nbest:
        assert all(w in WORDS for w in h.words)
        joined = ("|" if with_separator else "").join(h.words)
        assert VOCAB.decode(h.tokens) == joined
        assert len(h.timesteps) == len(h.tokens) and list(h.timesteps) == sorted(set(h.timesteps))


def test_phoneme_lexicon_and_file(tmp_path):
    vocab = Vocabulary(tokens=("<b>", "K", "AE", "T", "B"), unk=None, blank="<b>", kind="token")
    (tmp_path / "lex.txt").write_text("cat K AE T\nbat B AE T\n\n")
    lex = Lexicon.from_file(tmp_path / "lex.txt", vocab)
    assert lex.words == ("cat", "bat") and len(lex) == 2
    lp = np.full((1, 5, 5), np.log(0.02))
    for t, unit in enumerate([4, 4, 2, 0, 3]):   # B B AE <b> T
        lp[0, t, unit] = np.log(0.92)
    [h] = lexicon_beam_search(lp, lexicon=lex, blank=0, beam_size=4)[0]
    assert h.words == ("bat",) and h.tokens == (4, 2, 3) and h.timesteps == (0, 2, 4)


def test_homophones_decode_as_the_first_word():
    lex = Lexicon.build(["ab", ("AB", ["a", "b"])], VOCAB)
    lp = np.log(np.array([[[0.1, 0.8, 0.05, 0.05], [0.1, 0.05, 0.8, 0.05]]]))
    assert lexicon_beam_search(lp, lexicon=lex, blank=0)[0][0].words == ("ab",)


def test_complete_hypotheses_are_kept_beside_the_beam():
    """With beam 1 the best prefix is inside "abab", which 3 frames cannot finish."""
    lex = Lexicon.build(["abab"], VOCAB)
    lp = np.log(np.array([[[0.01, 0.97, 0.01, 0.01]] * 3]))
    [h] = lexicon_beam_search(lp, lexicon=lex, blank=0, beam_size=1)[0]
    assert h.tokens == () and h.words == () and h.score == pytest.approx(3 * np.log(0.01))


def test_errors(tmp_path):
    with pytest.raises(RnnkitError, match="^the lexicon is empty$"):
        Lexicon.build([], VOCAB)
    with pytest.raises(RnnkitError, match="^word 'abc' has unit 'c', which is not in the vocabulary$"):
        Lexicon.build(["abc"], VOCAB)
    with pytest.raises(RnnkitError, match="^word 'a_' is spelled with the blank '_'$"):
        Lexicon.build(["a_"], VOCAB)
    with pytest.raises(RnnkitError, match="^word 'x' has an empty spelling$"):
        Lexicon.build([("x", [])], VOCAB)
    with pytest.raises(RnnkitError, match="^cannot read lexicon"):
        Lexicon.from_file(tmp_path / "missing.txt", VOCAB)
    lex = Lexicon.build(["a|b"], VOCAB)
    lp = np.zeros((1, 2, 4))
    with pytest.raises(RnnkitError, match="^the lexicon spells words with the word separator id 3$"):
        lexicon_beam_search(lp, lexicon=lex, blank=0, word_separator=3)
    with pytest.raises(RnnkitError, match="^the lexicon spells words with unit id 3, outside the 3 output symbols$"):
        lexicon_beam_search(lp[..., :3], lexicon=lex, blank=0)
    with pytest.raises(RnnkitError, match="^the lexicon spells words with the blank id 1$"):
        lexicon_beam_search(lp, lexicon=lex, blank=1)
    with pytest.raises(ValueError, match=r"^word separator 0 must be a non-blank id in \[0, 4\)$"):
        lexicon_beam_search(lp, lexicon=Lexicon.build(WORDS, VOCAB), blank=0, word_separator=0)
    with pytest.raises(ValueError, match="^an optional separator needs word_separator$"):
        lexicon_beam_search(lp, lexicon=lex, blank=0, optional_separator=True)
    with pytest.raises(ValueError, match="^blank id 7 is outside the vocabulary of 4 symbols$"):
        lexicon_beam_search(lp, lexicon=lex, blank=7)


def _splits(labels, spellings_to_words):
    """Every way ``labels`` (no separator) splits into lexicon words, as word-index tuples."""
    if not labels:
        return [()]
    out = []
    for i in range(1, len(labels) + 1):
        for w in spellings_to_words.get(tuple(labels[:i]), []):
            out += [(w,) + rest for rest in _splits(labels[i:], spellings_to_words)]
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_word_lm_fusion_finds_the_best_scored_word_sequence(seed, weight):
    """Brute force over every label sequence and every split of it into words: acoustic log P
    + weight * bigram log P(words) + bonus * words; the search with a wide beam finds the best."""
    from rnnkit.decoding.ngram import NgramLM

    vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_")
    words = ["a", "ab", "b", "ba"]
    word_vocab = Vocabulary(tokens=("<w>",) + tuple(words), unk=None, blank="<w>", kind="token")
    lm = NgramLM.fit([["a", "b", "a"], ["ab", "ba"], ["b", "b", "ab"]], word_vocab, order=2)
    ids = [word_vocab.index(w) for w in words]
    by_spelling = {}
    for i, w in enumerate(words):
        by_spelling.setdefault(tuple(vocab.encode(w).tolist()), []).append(i)
    lp = random_log_probs(seed + 20, 5, 3, scale=1.5)
    best, best_score = None, -math.inf
    for labels, log_p in label_log_probs(lp, 0).items():
        for split in _splits(list(labels), by_spelling):
            lm_score = sum(lm.log_prob([ids[w] for w in split[:k]], ids[split[k]]) for k in range(len(split)))
            score = log_p + weight * lm_score + 0.5 * len(split)
            if score > best_score:
                best, best_score = (labels, tuple(words[w] for w in split), lm_score), score
    [h] = lexicon_beam_search(lp[None], lexicon=Lexicon.build(words, vocab), blank=0, beam_size=2000, word_bonus=0.5,
                              token_threshold=None, lm=lm, lm_weight=weight, lm_ids=ids)[0]
    assert (h.tokens, h.words) == best[:2] and h.score == pytest.approx(best_score, abs=1e-9)
    assert h.lm_score == pytest.approx(best[2], abs=1e-9)
    assert h.score == pytest.approx(h.acoustic_score + weight * h.lm_score + 0.5 * len(h.words), abs=1e-9)
    with pytest.raises(ValueError, match="lm_weight must be >= 0"):
        lexicon_beam_search(lp[None], lexicon=Lexicon.build(words, vocab), blank=0, lm=lm, lm_weight=-1.0, lm_ids=ids)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 100_000), st.booleans())
def test_a_batch_decodes_as_each_utterance_alone(seed, with_separator):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 9, size=4)
    lp = np.stack([np.pad(random_log_probs(seed + i, 8, 4), ((0, 0), (0, 0))) for i in range(4)])
    lp[1, lengths[1]:] = 7.0                       # garbage past a length must not matter
    lex = Lexicon.build(WORDS, VOCAB)
    kw = dict(lexicon=lex, blank=0, beam_size=3, nbest=2, word_separator=3 if with_separator else None)
    together = lexicon_beam_search(lp, lengths, **kw)
    for b in range(4):
        alone = lexicon_beam_search(lp[b:b + 1, :lengths[b]], **kw)[0]
        assert [(h.tokens, h.words, h.timesteps) for h in together[b]] == [(h.tokens, h.words, h.timesteps) for h in alone]
        assert [h.score for h in together[b]] == pytest.approx([h.score for h in alone], abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000), st.booleans(), st.sampled_from([0.0, 1.0]))
def test_the_bound_before_the_trie_lookup_changes_nothing(seed, with_separator, bonus):
    """Extensions below the bound are dropped before they are built; with no bound at all the
    search must keep exactly the same hypotheses (a narrow beam, so pruning happens)."""
    import rnnkit.decoding.lexicon_search as engine

    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(["a", "b"], size=rng.integers(1, 4))) for _ in range(8)})
    lp = np.stack([random_log_probs(seed + i, 14, 4, scale=1.0) for i in range(4)])
    kw = dict(lexicon=Lexicon.build(words, VOCAB), blank=0, beam_size=3, nbest=1, word_bonus=bonus,
              word_separator=3 if with_separator else None)
    bounded = lexicon_beam_search(lp, **kw)
    original = engine._bound
    engine._bound = lambda *args: np.full(args[6], -math.inf)
    try:
        unbounded = lexicon_beam_search(lp, **kw)
    finally:
        engine._bound = original
    assert [[(h.tokens, h.words, h.score) for h in n] for n in bounded] == \
        [[(h.tokens, h.words, h.score) for h in n] for n in unbounded]


def test_the_sparse_transition_lookup_equals_the_dense_table():
    """Lexicons too big for a dense [nodes, units] table look edges up by binary search instead."""
    from rnnkit.decoding.lexicon_search import TrieArrays

    rng = np.random.default_rng(3)
    words = sorted({"".join(rng.choice(["a", "b"], size=rng.integers(1, 6))) for _ in range(30)})
    lex = Lexicon.build(words, VOCAB)
    dense, sparse = TrieArrays(lex, 4, 3, True), TrieArrays(lex, 4, 3, True, dense_limit=0)
    assert dense.table is not None and sparse.table is None
    nodes, units = np.meshgrid(np.arange(dense.after_sep + 1), np.arange(4), indexing="ij")
    assert (dense.lookup(nodes, units) == sparse.lookup(nodes, units)).all()
    assert (dense.lookup(nodes, units) >= 0).sum() == len(lex.children) - 1       # every trie edge, once
