"""One small model per synchrony mode, built from rnnkit's own parts and trained by its Trainer.

Each test composes: examples -> SequenceBatches -> build_model (embedding or feature input,
recurrent encoder, optional backward net, head) -> a divergence from rnnkit.losses -> Trainer
(checkpointed into a run folder) -> a decoder from rnnkit.decoding, and asserts that it learned.
"""
from __future__ import annotations

import torch

from rnnkit.data.batching import SequenceBatches
from rnnkit.decoding.beam import prefix_beam_search
from rnnkit.decoding.greedy import greedy_decode
from rnnkit.decoding.scoring import edit_distance
from rnnkit.losses.aligned import aligned_xent, frame_targets
from rnnkit.losses.ctc import ctc_loss
from rnnkit.losses.many_to_one import last_step_logits, many_to_one_xent
from rnnkit.losses.timesync import time_synchronous_xent
from rnnkit.models.model import ModelConfig, build_model
from rnnkit.training.checkpoint import load_checkpoint
from rnnkit.training.runtime import resolve_runtime
from rnnkit.training.tasks import SequenceTask
from rnnkit.training.trainer import TrainConfig, Trainer


def train(run_dir, model_cfg, examples, valid, divergence, steps, metrics=None, lr=1e-2, batch_size=16):
    torch.manual_seed(0)
    model = build_model(model_cfg)
    task = SequenceTask(SequenceBatches(examples, batch_size, seed=0), SequenceBatches(valid, 64, shuffle=False),
                        divergence, metrics=metrics)
    cfg = TrainConfig(lr=lr, warmup_steps=10, max_steps=steps, eval_interval=0, log_interval=10, precision="fp32",
                      device="cpu", progress=False)
    result = Trainer(model, task, cfg, resolve_runtime("cpu", "fp32"), str(run_dir)).run()
    # The run folder is a checkpoint: the weights load into a fresh model of the same config.
    again = build_model(model_cfg)
    again.load_state_dict(load_checkpoint(str(run_dir)).model)
    return again.eval(), result


# -- 1. time-synchronous: a tagger whose tags need the future --------------------------------------
def tagging_examples(n, g):
    """Tag of position t = the symbol at t+1 (0 at the end): only a backward net can know it."""
    out = []
    for _ in range(n):
        x = torch.randint(1, 6, (int(torch.randint(4, 10, (1,), generator=g)),), generator=g)
        out.append((x, torch.cat([x[1:], torch.zeros(1, dtype=torch.long)])))
    return out


def tag_accuracy(logits, batch):
    mask = torch.arange(logits.shape[1])[None] < batch.lengths[:, None]
    return float(((logits.argmax(-1) == batch.targets) & mask).sum()), float(mask.sum())


def test_time_synchronous_tagger_needs_the_backward_net(tmp_path):
    g = torch.Generator().manual_seed(1)
    data, valid = tagging_examples(600, g), tagging_examples(200, g)
    div = lambda logits, b: time_synchronous_xent(logits, b.targets, b.lengths)  # noqa: E731
    accs = {}
    for bidirectional in (False, True):
        cfg = ModelConfig(vocab_size=6, num_outputs=6, embedding_dim=8, hidden_size=24, num_layers=1,
                          bidirectional=bidirectional)
        _, result = train(tmp_path / f"bi{bidirectional}", cfg, data, valid, div, 150, {"accuracy": tag_accuracy})
        accs[bidirectional] = result["accuracy"]
    assert accs[True] > 0.95, accs
    assert accs[False] < 0.45, accs  # guessing the next of 5 symbols


# -- 2. many-to-one: majority vote of a bit sequence -----------------------------------------------
def majority_examples(n, g):
    out = []
    for _ in range(n):
        bits = torch.randint(0, 2, (int(torch.randint(3, 16, (1,), generator=g)) | 1,), generator=g)
        out.append((bits.float()[:, None], (bits.sum() * 2 > len(bits)).long()))
    return out


def final_accuracy(logits, batch):
    return float((last_step_logits(logits, batch.lengths).argmax(-1) == batch.targets).sum()), float(len(batch.targets))


def test_many_to_one_classifier_final_step_and_all_steps(tmp_path):
    g = torch.Generator().manual_seed(2)
    data, valid = majority_examples(800, g), majority_examples(300, g)
    cfg = ModelConfig(input_size=1, num_outputs=2, embedding_dim=8, hidden_size=24, num_layers=1, cell="gru")
    for weights in ("last", "uniform"):
        div = lambda logits, b, w=weights: many_to_one_xent(logits, b.targets, b.lengths, weights=w)  # noqa: E731
        _, result = train(tmp_path / weights, cfg, data, valid, div, 250, {"accuracy": final_accuracy})
        assert result["accuracy"] > 0.9, (weights, result)


# -- 3 and 4. order-synchronous recognition of symbols rendered as noisy frames ---------------------
PROTOTYPES = torch.tensor([[0, 0, 0, 0, 0, 0], [3, 0, 0, 3, 0, 0], [0, 3, 0, 0, 3, 0], [0, 0, 3, 0, 0, 3],
                           [3, 3, 0, 0, 0, 3]], dtype=torch.float)  # row 0: silence


def render(symbols, g, gaps: bool):
    """Frames [T, 6] and the durations of each symbol; with ``gaps`` a silence frame may separate symbols
    (always between repeats, as a speaker pauses between two equal digits)."""
    frames, durations = [], []
    for i, s in enumerate(symbols):
        if gaps and i and (symbols[i - 1] == s or torch.rand(1, generator=g) < 0.5):
            frames.append(PROTOTYPES[0])
            durations[-1] += 1
        d = int(torch.randint(2, 5, (1,), generator=g))
        frames += [PROTOTYPES[s]] * d
        durations.append(d)
    x = torch.stack(frames)
    return x + 0.5 * torch.randn(x.shape, generator=g), durations


def recognition_examples(n, g, repeats: bool):
    out = []
    for _ in range(n):
        u = int(torch.randint(2, 6, (1,), generator=g))
        syms = [int(torch.randint(1, 5, (1,), generator=g))]
        while len(syms) < u:
            s = int(torch.randint(1, 5, (1,), generator=g))
            if repeats or s != syms[-1]:
                syms.append(s)
        x, durations = render(syms, g, gaps=repeats)
        out.append((x, torch.tensor(syms), durations))
    return out


def test_aligned_recogniser_with_repeated_targets(tmp_path):
    g = torch.Generator().manual_seed(3)
    raw, raw_valid = recognition_examples(500, g, repeats=False), recognition_examples(100, g, repeats=False)
    to_frames = lambda ex: [(x, frame_targets(s.tolist(), durations=d, scheme="repeat")) for x, s, d in ex]  # noqa: E731
    cfg = ModelConfig(input_size=6, num_outputs=5, embedding_dim=16, hidden_size=24, num_layers=1, bidirectional=True)
    div = lambda logits, b: aligned_xent(logits, b.targets, b.lengths)  # noqa: E731
    model, _ = train(tmp_path / "aligned", cfg, to_frames(raw), to_frames(raw_valid), div, 150)
    correct = 0
    for x, syms, _ in raw_valid:
        logits, _ = model(x[None])
        hyp = greedy_decode(logits.log_softmax(-1), collapse="repeats")[0][0]
        correct += list(hyp.tokens) == syms.tolist()
    assert correct / len(raw_valid) > 0.9


def test_ctc_recogniser_learns_repeated_symbols(tmp_path):
    g = torch.Generator().manual_seed(4)
    raw, raw_valid = recognition_examples(600, g, repeats=True), recognition_examples(100, g, repeats=True)
    assert any(any(a == b for a, b in zip(s[:-1].tolist(), s[1:].tolist())) for _, s, _ in raw_valid)
    pairs = lambda ex: [(x, s) for x, s, _ in ex]  # noqa: E731
    cfg = ModelConfig(input_size=6, num_outputs=5, embedding_dim=16, hidden_size=32, num_layers=1, bidirectional=True)
    div = lambda logits, b: ctc_loss(logits, b.targets.clamp_min(0), b.lengths, b.target_lengths, blank=0)  # noqa: E731
    model, result = train(tmp_path / "ctc", cfg, pairs(raw), pairs(raw_valid), div, 300)
    errors = {"greedy": 0, "beam": 0}
    total = 0
    for x, syms, _ in raw_valid:
        log_probs = model(x[None])[0].log_softmax(-1)
        greedy = greedy_decode(log_probs, collapse="ctc", blank=0)[0][0].tokens
        beam = prefix_beam_search(log_probs, blank=0, beam_size=8)[0][0].tokens
        errors["greedy"] += edit_distance(list(greedy), syms.tolist())
        errors["beam"] += edit_distance(list(beam), syms.tolist())
        total += len(syms)
    assert errors["greedy"] / total < 0.1 and errors["beam"] / total < 0.1, (errors, total, result)
