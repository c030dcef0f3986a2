"""The AWD-LSTM regularisers of ModelConfig: each does what its name says in training and nothing in eval."""
import pytest
import torch
from torch import nn

from rnnkit.errors import RnnkitError
from rnnkit.models.dropout import EmbeddingDropout, FastDropout, dropout_mask
from rnnkit.models.encoders import RecurrentEncoder
from rnnkit.models.model import ModelConfig, build_model

REGULARISED = dict(dropout=0.3, locked_dropout=True, embedding_dropout=0.2, weight_drop=0.4, ar=2.0, tar=1.0)


def test_locked_dropout_masks_are_shared_across_time_and_differ_across_sequences():
    torch.manual_seed(0)
    drop = FastDropout(0.5, locked=True)
    y = drop(torch.ones(8, 30, 16))
    assert torch.equal(y, y[:, :1].expand_as(y))  # one mask per (sequence, feature), every step alike
    assert not torch.equal(y[0, 0], y[1, 0])
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert torch.equal(drop.eval()(torch.ones(8, 30, 16)), torch.ones(8, 30, 16))
    unlocked = FastDropout(0.5)(torch.ones(8, 30, 16))  # the default: a fresh mask at every step
    assert not torch.equal(unlocked, unlocked[:, :1].expand_as(unlocked))


def test_the_model_locks_every_dropout_it_has_when_asked():
    cfg = ModelConfig(vocab_size=11, num_outputs=11, embedding_dim=6, hidden_size=6, num_layers=2, **REGULARISED)
    model = build_model(cfg)
    assert model.input_dropout.locked and model.output_dropout.locked and model.encoder.between.locked
    assert (model.input_dropout.p, model.encoder.between.p, model.output_dropout.p) == (0.3, 0.3, 0.3)
    own = build_model(ModelConfig(vocab_size=11, num_outputs=11, embedding_dim=6, hidden_size=6, dropout=0.3,
                                  input_dropout=0.5, between_dropout=0.1, output_dropout=0.0))
    assert (own.input_dropout.p, own.encoder.between.p, own.output_dropout.p) == (0.5, 0.1, 0.0)


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(1)
    drop = EmbeddingDropout(0.5, num_embeddings=6)
    ids = torch.tensor([[0, 1, 2, 3, 4, 5] * 5])
    y = drop(torch.ones(1, 30, 3), ids)
    rows = y[0].view(5, 6, 3)
    assert torch.equal(rows, rows[:1].expand_as(rows))  # every occurrence of a word alike
    assert torch.equal(y, y[..., :1].expand_as(y))  # the whole vector of a word at once
    assert {0.0, 2.0} == set(torch.unique(y).tolist())
    assert torch.equal(drop.eval()(torch.ones(1, 30, 3), ids), torch.ones(1, 30, 3))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_weight_drop_is_dropconnect_on_the_recurrent_matrices(cell):
    torch.manual_seed(2)
    enc = RecurrentEncoder(5, 7, num_layers=2, cell=cell, weight_drop=0.5).train()
    x = torch.randn(3, 9, 5)
    torch.manual_seed(3)
    out, _ = enc(x)
    # The same draws by hand: one mask per layer's w_hh, in layer order, applied to that matrix only.
    ref = nn.LSTM(5, 7, 2, batch_first=True) if cell == "lstm" else nn.GRU(5, 7, 2, batch_first=True)
    torch.manual_seed(3)
    masks = []
    with torch.no_grad():
        for name, p in enc.rnn.named_parameters():
            getattr(ref, name).copy_(p)
        for k in range(2):
            w = getattr(enc.rnn, f"weight_hh_l{k}")
            masks.append(dropout_mask(w.shape, 0.5, w.dtype, w.device))
            getattr(ref, f"weight_hh_l{k}").mul_(masks[-1])
    expected, _ = ref(x)
    assert torch.allclose(out, expected, atol=1e-6)
    out.sum().backward()  # the gradient reaches the kept recurrent weights only
    grad = enc.rnn.weight_hh_l0.grad
    assert torch.all(grad[masks[0] == 0] == 0) and grad[masks[0] != 0].abs().sum() > 0
    enc.eval()  # no DropConnect in eval: nn.LSTM's own numbers
    with torch.no_grad():
        for name, p in enc.rnn.named_parameters():
            getattr(ref, name).copy_(p)
    assert torch.allclose(enc(x)[0], ref(x)[0], atol=1e-6)


def test_eval_outputs_ignore_every_regulariser():
    torch.manual_seed(4)
    base = dict(vocab_size=13, num_outputs=13, embedding_dim=8, hidden_size=8, num_layers=2)
    plain, regularised = build_model(ModelConfig(**base)), build_model(ModelConfig(**base, **REGULARISED))
    regularised.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 13, (2, 10))
    assert torch.equal(plain.eval()(ids)[0], regularised.eval()(ids)[0])
    assert regularised.penalty is None
    assert not torch.equal(plain.train()(ids)[0], regularised.train()(ids)[0])


def test_activation_penalties_are_the_formulas():
    torch.manual_seed(5)
    model = build_model(ModelConfig(vocab_size=9, num_outputs=9, embedding_dim=4, hidden_size=6, ar=2.0, tar=3.0)).train()
    ids = torch.randint(0, 9, (2, 7))
    model(ids)
    h, _ = model.encoder(model.input(ids))  # dropout 0: the dropped output is h itself
    expected = 2.0 * h.pow(2).mean() + 3.0 * (h[:, 1:] - h[:, :-1]).pow(2).mean()
    assert torch.allclose(model.penalty, expected, atol=1e-7)


def test_the_trainer_adds_the_penalty_to_the_divergence():
    from rnnkit.data.batching import Batch
    from rnnkit.training.runtime import resolve_runtime
    from rnnkit.training.streams import StreamTask
    from rnnkit.training.trainer import TrainConfig, Trainer

    torch.manual_seed(6)
    model = build_model(ModelConfig(vocab_size=9, num_outputs=9, embedding_dim=4, hidden_size=6, ar=5.0, tar=5.0))
    ids = torch.randint(0, 9, (200,))
    cfg = TrainConfig(max_steps=1, clip_norm=1e9, batch_size=2, bptt=8, progress=False)
    import tempfile

    trainer = Trainer(model, StreamTask(ids, ids, 2, 8, 0), cfg, resolve_runtime("cpu", "fp32"), tempfile.mkdtemp())
    batch = Batch(ids[:16].view(2, 8), ids[1:17].view(2, 8))
    trainer.optimizer.step = lambda: None  # keep the weights: compare gradients
    trainer._train_step(batch, 1e-3)
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logits, _ = model(batch.inputs)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 9), batch.targets.reshape(-1)) + model.penalty
    loss.backward()
    assert all(torch.allclose(g, p.grad, atol=1e-6) for g, p in zip(got, model.parameters()))


@pytest.mark.parametrize("kw, message", [
    (dict(weight_drop=1.0), "weight-drop must be in [0, 1)"),
    (dict(embedding_dropout=-0.1), "embedding-dropout must be in [0, 1)"),
    (dict(ar=-1.0), "ar and tar must be >= 0"),
    (dict(cell="tdnn", weight_drop=0.2), "weight-drop acts on recurrent matrices"),
    (dict(direct=True), "direct connections are a tdnn option"),
])
def test_bad_regulariser_settings(kw, message):
    with pytest.raises(RnnkitError, match=message.replace("[", r"\[").replace(")", r"\)")):
        ModelConfig(vocab_size=5, num_outputs=5, **kw).validate()
