"""The tagger model reads each sentence both ways, and padding reaches neither direction."""
import torch

from rnnkit.data.batching import pad_sequences
from rnnkit.models.tagger import TaggerConfig, build_tagger, misspell

CFG = TaggerConfig(num_words=20, num_chars=12, num_upos=5, num_xpos=3, word_dim=8, char_dim=4, char_hidden_size=6,
                   hidden_size=10, num_layers=2, dropout=0.2, word_dropout=0.1)


def _sentence(length: int, seed: int) -> torch.Tensor:
    """[T, 1 + L] word and character ids: words of 1..4 characters, ids >= 2 (0 pads, 1 is unknown)."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.zeros(length, 1 + 5, dtype=torch.long)
    rows[:, 0] = torch.randint(2, CFG.num_words, (length,), generator=g)
    for t in range(length):
        n = int(torch.randint(1, 5, (1,), generator=g))
        rows[t, 1:1 + n] = torch.randint(2, CFG.num_chars, (n,), generator=g)
    return rows


def _model():
    torch.manual_seed(0)
    return build_tagger(CFG).eval()


def test_padding_never_reaches_the_backward_direction():
    model = _model()
    short, long = _sentence(4, 1), _sentence(9, 2)
    alone, _ = model(short[None], torch.tensor([4]))
    inputs, lengths = pad_sequences([long, short, long])  # the short one padded by 5 steps
    batched, _ = model(inputs, lengths)
    # Float sums in another order (batch of 3 vs 1) differ in the last bits only.
    torch.testing.assert_close(batched[1, :4], alone[0], rtol=1e-5, atol=1e-6)
    # The padded tail would change the backward net's output at every real word, most at the
    # last ones: check the test can see that (padding with real-looking ids, not ignored).
    leaky = inputs.clone()
    leaky[1, 4:] = long[4:]
    without_lengths, _ = model(leaky[1:2], None)
    assert (without_lengths[0, :4] - alone[0]).abs().max() > 1e-3


def test_each_word_sees_the_words_after_it_and_before_it():
    model = _model()
    s = _sentence(6, 3)
    base, _ = model(s[None])
    later = s.clone()
    later[5, 0] = (later[5, 0] + 1 - 2) % (CFG.num_words - 2) + 2  # another last word
    changed_later, _ = model(later[None])
    assert (changed_later[0, 0] - base[0, 0]).abs().max() > 1e-6  # the backward net carries it to word 0
    earlier = s.clone()
    earlier[0, 0] = (earlier[0, 0] + 1 - 2) % (CFG.num_words - 2) + 2
    changed_earlier, _ = model(earlier[None])
    assert (changed_earlier[0, 5] - base[0, 5]).abs().max() > 1e-6  # the forward net carries it to the end


def test_character_padding_is_ignored():
    """A word's character features do not depend on how far its row is padded."""
    model = _model()
    s = _sentence(5, 4)
    wider = torch.cat([s, torch.zeros(5, 7, dtype=torch.long)], dim=1)  # 7 more padding characters
    a, _ = model(s[None])
    b, _ = model(wider[None])
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_heads_and_shapes():
    model = _model()
    logits, state = model(pad_sequences([_sentence(3, 5), _sentence(7, 6)])[0], torch.tensor([3, 7]))
    assert logits.shape == (2, 7, CFG.num_upos + CFG.num_xpos) and state == ()
    no_xpos = build_tagger(TaggerConfig(num_words=20, num_chars=12, num_upos=5, word_dim=8, char_dim=4,
                                        char_hidden_size=6, hidden_size=10, num_layers=1))
    assert no_xpos.xpos is None and no_xpos(_sentence(3, 7)[None])[0].shape == (1, 3, 5)


def test_word_dropout_only_in_training():
    model = _model()
    s = _sentence(50, 8)[None]
    a, _ = model(s)
    b, _ = model(s)
    assert torch.equal(a, b)  # eval: deterministic, no word dropout or dropout


def test_rare_words_are_read_as_unknown_by_their_count():
    """With word dropout 0.1 and alpha 2, a word seen c times is dropped with probability
    1 - 0.9 * (1 - 2 / (2 + c)): 0.55 for c = 2, 0.1 + 0.9 * 2/102 = 0.118 for c = 100. Over 20,000
    draws the share is within 4 standard deviations (<= 0.015) of that."""
    torch.manual_seed(0)
    model = build_tagger(TaggerConfig(**{**CFG.__dict__, "rare_word_dropout": 2.0})).train()
    counts = torch.full((CFG.num_words,), 100.0)
    counts[3] = 2.0
    model.set_word_counts(counts)
    seen = []
    model.words.forward = lambda ids: seen.append(ids.clone()) or torch.zeros(*ids.shape, CFG.word_dim)
    words = torch.tensor([[3, 5]]).expand(20_000, 2)
    model.tag_logits(words, torch.zeros(20_000, 2, 2 * CFG.char_hidden_size), torch.full((20_000,), 2))
    dropped = (seen[0] == 1).float().mean(0)
    assert abs(float(dropped[0]) - (1 - 0.9 * (1 - 2 / 4))) < 0.015
    assert abs(float(dropped[1]) - (1 - 0.9 * (1 - 2 / 102))) < 0.015


def test_character_groups_by_length_change_nothing():
    """Words run in groups of similar length, each group only as wide as its longest word: the
    features are those of one group as wide as the widest word."""
    model = _model()
    g = torch.Generator().manual_seed(9)
    chars = torch.zeros(40, 12, dtype=torch.long)
    for i in range(40):
        n = int(torch.randint(1, 13, (1,), generator=g))
        chars[i, :n] = torch.randint(1, CFG.num_chars, (n,), generator=g)
    grouped = model.chars(chars)
    one = model.chars(chars, groups=1)
    torch.testing.assert_close(grouped, one, rtol=1e-5, atol=1e-6)
    by_hand = torch.stack([model.chars(row[row != 0][None], groups=1)[0] for row in chars])  # each word alone, unpadded
    torch.testing.assert_close(grouped, by_hand, rtol=1e-5, atol=1e-6)


def test_unidirectional_ablation_reads_forward_only():
    torch.manual_seed(0)
    model = build_tagger(TaggerConfig(**{**CFG.__dict__, "bidirectional": False})).eval()
    assert model.encoder.output_size == CFG.hidden_size
    s = _sentence(6, 3)
    later = s.clone()
    later[5, 0] = (later[5, 0] + 1 - 2) % (CFG.num_words - 2) + 2  # another last word
    a, b = model(s[None])[0], model(later[None])[0]
    torch.testing.assert_close(a[0, :5], b[0, :5], rtol=0, atol=0)  # nothing flows back from the end
    assert (a[0, 5] - b[0, 5]).abs().max() > 1e-6


def test_the_auxiliary_character_head_comes_last_and_reads_the_spelling_alone():
    """With char_loss, U more columns after UPOS and XPOS: a function of each word's characters only."""
    torch.manual_seed(0)
    model = build_tagger(TaggerConfig(**{**CFG.__dict__, "char_loss": 0.5})).eval()
    s = _sentence(6, 4)
    other_words = s.clone()
    other_words[:, 0] = (other_words[:, 0] + 1 - 2) % (CFG.num_words - 2) + 2
    a, b = model(s[None])[0], model(other_words[None])[0]
    U, X = CFG.num_upos, CFG.num_xpos
    assert a.shape[-1] == U + X + U
    torch.testing.assert_close(a[..., U + X:], b[..., U + X:], rtol=0, atol=0)  # the words do not reach it
    assert (a[..., :U] - b[..., :U]).abs().max() > 1e-6  # they do reach the main heads
    feats = model._char_features(s[None, :, 1:], torch.ones(1, 6, dtype=torch.bool))
    torch.testing.assert_close(a[..., U + X:], model.char_upos(feats), rtol=1e-5, atol=1e-6)


def test_the_divergence_adds_the_auxiliary_head_with_its_weight():
    from rnnkit.data.batching import Batch
    from rnnkit.recipes.tagger import tag_divergence

    torch.manual_seed(0)
    U, X = 4, 3
    logits = torch.randn(2, 5, U + X + U)
    targets = torch.stack([torch.randint(0, U, (2, 5)), torch.randint(0, X, (2, 5))], dim=-1)
    batch = Batch(torch.zeros(2, 5), targets)
    ce = lambda lg, t: torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1), reduction="sum")
    plain = tag_divergence(logits[..., :U + X], batch, U, X)
    both = tag_divergence(logits, batch, U, X, char_loss=0.5)
    torch.testing.assert_close(plain.total, ce(logits[..., :U], targets[..., 0]) + ce(logits[..., U:U + X], targets[..., 1]))
    torch.testing.assert_close(both.total, plain.total + 0.5 * ce(logits[..., U + X:], targets[..., 0]))
    assert both.count == plain.count == 10


def test_misspell_gives_one_typo_to_the_share_of_words_asked():
    """Each misspelt word is one edit from the original (a character replaced, dropped or doubled,
    at a place within the word) and nothing else changes; a word of one character is never
    dropped to nothing; padding rows stay padding. With p = 0.3 over 20,000 words the share of
    words hit is within 4 standard deviations (0.013) of 0.3 (a replacement by the same
    character, 1 in 8 replacements here, looks untouched: 0.3 * (1 - 1/3 * 1/8) = 0.2875)."""
    torch.manual_seed(0)
    word = torch.tensor([4, 5, 6, 0, 0])
    chars = torch.cat([word.repeat(20_000, 1), torch.zeros(100, 5, dtype=torch.long),
                       torch.tensor([[7, 0, 0, 0, 0]]).repeat(100, 1)])
    out = misspell(chars, 0.3, 10)
    assert torch.equal(out[20_000:20_100], chars[20_000:20_100])  # padding
    assert (out[20_100:, 0] != 0).all()  # one letter: replaced or doubled, never dropped
    rows = {tuple(r) for r in out[:20_000].tolist()}
    spelt = [4, 5, 6]
    edits = {tuple(spelt)} | {tuple(spelt[:i] + spelt[i + 1:] + [0, 0, 0]) for i in range(3)} \
        | {tuple(spelt[:i + 1] + spelt[i:] + [0]) for i in range(3)} \
        | {tuple(spelt[:i] + [c] + spelt[i + 1:] + [0, 0]) for i in range(3) for c in range(2, 10)}
    assert rows <= edits and len(rows) > 20
    changed = float((out[:20_000] != chars[:20_000]).any(1).float().mean())
    assert abs(changed - 0.3 * (1 - 1 / 24)) < 0.013


def _ensemble(members: int = 3, **kw):
    torch.manual_seed(0)
    return build_tagger(TaggerConfig(**{**CFG.__dict__, "dropout": 0.0, "word_dropout": 0.0, "members": members, **kw}))


def test_an_ensemble_trains_each_member_and_tags_by_their_mean_probabilities():
    """Training: every member's logits side by side. Evaluation: per head, the log of the members'
    mean softmax (UPOS and XPOS separately, so each head's probabilities sum to 1)."""
    model = _ensemble(3)
    inputs, lengths = pad_sequences([_sentence(4, 1), _sentence(7, 2)])
    U, X = CFG.num_upos, CFG.num_xpos
    parts = [m(inputs, lengths)[0] for m in model.members]
    assert not torch.equal(parts[0], parts[1])  # each member starts from its own weights
    torch.testing.assert_close(model.train()(inputs, lengths)[0], torch.cat(parts, dim=-1), rtol=0, atol=0)
    out = model.eval()(inputs, lengths)[0]
    assert out.shape == (2, 7, U + X)
    for a, b in ((0, U), (U, U + X)):
        mean = torch.stack([p[..., a:b].softmax(-1) for p in parts]).mean(0)
        torch.testing.assert_close(out[..., a:b].exp(), mean, rtol=1e-5, atol=1e-6)


def test_an_ensembles_cached_character_features_give_its_forward_pass():
    """The predictor's path (each member's character features side by side, then tag_logits) is
    the ensemble's forward pass."""
    model = _ensemble(2, char_loss=0.5).eval()
    inputs, lengths = pad_sequences([_sentence(5, 3), _sentence(3, 4)])
    real = torch.arange(5)[None, :] < lengths[:, None]
    feats = torch.zeros(2, 5, 2 * 2 * CFG.char_hidden_size)
    feats[real] = model.chars(inputs[..., 1:][real])
    torch.testing.assert_close(model.tag_logits(inputs[..., 0], feats, lengths), model(inputs, lengths)[0],
                               rtol=1e-5, atol=1e-6)


def test_the_divergence_of_an_ensemble_is_its_members_mean():
    from rnnkit.data.batching import Batch
    from rnnkit.recipes.tagger import tag_divergence

    torch.manual_seed(0)
    U, X = 4, 3
    logits = torch.randn(2, 5, 3 * (U + X + U))
    targets = torch.stack([torch.randint(0, U, (2, 5)), torch.randint(0, X, (2, 5))], dim=-1)
    batch = Batch(torch.zeros(2, 5), targets)
    each = [tag_divergence(part, batch, U, X, char_loss=0.5) for part in logits.split(U + X + U, dim=-1)]
    mean = tag_divergence(logits, batch, U, X, char_loss=0.5)
    torch.testing.assert_close(mean.total, sum(r.total for r in each) / 3)
    assert mean.count == 10


def test_training_misspells_words_and_evaluation_reads_them_as_given():
    torch.manual_seed(0)
    model = build_tagger(TaggerConfig(**{**CFG.__dict__, "misspell": 0.5})).train()
    seen = []
    model._char_features = lambda chars, real: seen.append(chars.clone()) or torch.zeros(
        *chars.shape[:2], 2 * CFG.char_hidden_size)
    s = _sentence(400, 10)[None]
    model(s)
    changed = float((seen[0] != s[..., 1:]).any(-1).float().mean())
    # 0.5 * (1 - 1/3 * 1/10): a replacement by the same character (1 in 10 here) changes nothing;
    # within 4 standard deviations of 400 draws (0.1)
    assert abs(changed - 0.5 * (1 - 1 / 30)) < 0.1
    model.eval()
    model(s)
    assert torch.equal(seen[1], s[..., 1:])
