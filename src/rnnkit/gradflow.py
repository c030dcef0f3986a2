"""How far back a recurrent net's gradient reaches: the norm of d(loss at the last step)/d(h_t).

The lecture's "story so far": back-propagated through time, the derivative of a divergence at
step T with respect to the hidden state at step t is a product of T - t Jacobians, and for an
Elman net it shrinks (or blows up) geometrically; the LSTM's gated memory lets it reach further.
:func:`gradient_norms` measures that product for any of rnnkit's recurrent models::

    rnnkit diagnose gradient-flow --cell rnn_tanh,gru,lstm --length 200 --plot flow.png
    rnnkit diagnose gradient-flow --run runs/shakespeare --length 200 --json

Fresh models read random symbols (32 of them, projected to 32 dimensions, 64 hidden units, one
layer, PyTorch's default initialisation, seeded); a trained run reads random symbols of its own
vocabulary (or N(0, 1) frames for a feature model). The loss is the cross-entropy of the last
step's output against a random target; the norm is over the units of every layer, averaged
over a batch of sequences (entry k of a curve: k steps back from the last step).
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from .errors import RnnkitError
from .models.encoders import RecurrentEncoder
from .models.model import ModelConfig, SequenceModel, build_model

CELLS = ("rnn_tanh", "rnn_relu", "gru", "lstm")
SHOWN = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # steps back from the last, printed


def gradient_norms(model: SequenceModel, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[T] norms of d(cross-entropy of the last step's output vs ``targets``)/d(h_t), t = 0..T-1,
    for ``inputs`` [B, T] ids (or [B, T, F] features); mean over the batch of each sequence's norm.

    h_t is the state step t hands to step t + 1 (every layer's); the last step's reaches the loss
    through the head alone, so entry T - 1 is the top layer's output (all of h for one layer).

    >>> model = fresh_model("lstm", hidden_size=8, vocab=5)
    >>> norms = gradient_norms(model, torch.randint(0, 5, (2, 6)), torch.tensor([0, 1]))
    >>> norms.shape, bool((norms > 0).all())
    (torch.Size([6]), True)
    """
    if not isinstance(model.encoder, RecurrentEncoder):
        raise RnnkitError(f"gradient flow needs a recurrent encoder (rnn_tanh, rnn_relu, gru, lstm), not "
                          f"{model.config.cell}")
    model.eval()  # no dropout: the Jacobians themselves
    hs, state = [], None
    with torch.enable_grad():
        x = model.input(inputs).detach()
        for t in range(inputs.shape[1]):
            out, state = model.encoder(x[:, t:t + 1], None, state)
            state[0].retain_grad()  # h_t of every layer, [L, B, H], as step t + 1 reads it
            hs.append(state[0])
        last = out[:, -1]
        last.retain_grad()
        F.cross_entropy(model.head(last).float(), targets, reduction="sum").backward()
    norms = [h.grad.float().pow(2).sum(dim=(0, 2)).sqrt().mean() for h in hs[:-1]]
    return torch.stack(norms + [last.grad.float().norm(dim=1).mean()]).detach()


def fresh_model(cell: str, hidden_size: int = 64, vocab: int = 32, seed: int = 0) -> SequenceModel:
    """A newly initialised one-layer model of ``cell`` over ``vocab`` symbols (seeded)."""
    if cell not in CELLS:
        raise RnnkitError(f"unknown cell {cell!r}; choose from {', '.join(CELLS)}")
    torch.manual_seed(seed)
    return build_model(ModelConfig(cell=cell, vocab_size=vocab, num_outputs=vocab, embedding_dim=vocab,
                                   hidden_size=hidden_size, num_layers=1, dropout=0.0))


def probe(model: SequenceModel, length: int, batch: int = 16, seed: int = 0) -> torch.Tensor:
    """:func:`gradient_norms` on ``batch`` random sequences of ``length`` steps suited to ``model``'s input."""
    cfg, g = model.config, torch.Generator().manual_seed(seed)
    if cfg.vocab_size is not None:
        inputs = torch.randint(0, cfg.vocab_size, (batch, length), generator=g)
    else:
        inputs = torch.randn(batch, length, cfg.input_size, generator=g)
    targets = torch.randint(0, cfg.num_outputs, (batch,), generator=g)
    return gradient_norms(model, inputs, targets)


def steps_back(norms: torch.Tensor) -> list[float]:
    """The norms from the last step backwards: entry k is d loss / d h_{T-1-k}."""
    return norms.flip(0).tolist()


def plot(curves: dict[str, list[float]], path: str) -> None:
    """Norm (log scale) against steps back from the last step, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        ax.semilogy(range(len(values)), [v if v > 0 else float("nan") for v in values], label=name)  # 0: underflow
    ax.set_xlabel("steps back from the last step (T - 1 - t)")
    ax.set_ylabel("|| d loss_T / d h_t ||")
    ax.set_title("Gradient flow through time (a line ends where float32 underflows to 0)")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as exc:
        raise RnnkitError(f"cannot write the plot {path}: {exc}") from None
    finally:
        plt.close(fig)


# -- rnnkit diagnose gradient-flow --------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    from .recipes.options import positive_int

    p.add_argument("--cell", default="rnn_tanh,gru,lstm", help="fresh models of these cells, comma-separated "
                   "(default rnn_tanh,gru,lstm; 'none' for only --run)")
    p.add_argument("--length", type=positive_int, default=200, help="steps of the random sequences (default 200)")
    p.add_argument("--hidden-size", type=positive_int, default=64, help="units of the fresh models (default 64)")
    p.add_argument("--run", default=None, help="also a trained run folder's model")
    p.add_argument("--batch", type=positive_int, default=16, help="random sequences averaged over (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, metavar="PNG", help="write the curves to this image")
    p.add_argument("--json", action="store_true", help="one JSON object with every norm")


def run_from_args(args: argparse.Namespace) -> None:
    cells = [] if args.cell == "none" else [c.strip() for c in args.cell.split(",")]
    curves = {cell: steps_back(probe(fresh_model(cell, args.hidden_size, seed=args.seed), args.length, args.batch,
                                     args.seed)) for cell in cells}
    if args.run:
        from .api import load

        model = getattr(load(args.run), "model", None)
        if not isinstance(model, SequenceModel):
            raise RnnkitError(f"{args.run}: gradient flow reads runs whose model is a SequenceModel (charlm, wordlm, "
                              "digits, connected, addition)")
        curves[f"{args.run} ({model.config.cell})"] = steps_back(probe(model, args.length, args.batch, args.seed))
    if not curves:
        raise RnnkitError("nothing to measure: give --cell or --run")
    if args.plot:
        plot(curves, args.plot)
    if args.json:
        print(json.dumps({"length": args.length, "steps_back": curves}))
        return
    shown = [k for k in SHOWN if k < args.length]
    print(f"{'steps back':<32}" + "".join(f"{k:>10}" for k in shown))
    for name, values in curves.items():
        print(f"{name:<32}" + "".join(f"{values[k]:>10.2e}" for k in shown))
