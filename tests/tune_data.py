"""Tiny ABC collections written for the tune tests (nothing copied from a real collection): jigs
in 6/8 with eighth-note bars of 6, waltzes in 3/4 with quarter-note bars of 3, and reels in 4/4;
and a kind whose tunes come in two of those meters (as the Nottingham Ashover tunes come in four)."""
import random

from rnnkit.training.trainer import TrainConfig

NOTES = "DEFGABcdef"
# A net small enough to train in a test's seconds, in Python and as command-line flags.
SMALL = dict(embedding_dim=16, hidden_size=64, num_layers=1, dropout=0.0)
SMALL_FLAGS = ["--embedding-dim", "16", "--hidden-size", "64", "--num-layers", "1", "--dropout", "0",
               "--batch-size", "8", "--lr", "0.01", "--precision", "fp32", "--no-progress"]
KINDS = {"jigs": ("6/8", "1/8", 6), "waltzes": ("3/4", "1/4", 3), "reels": ("4/4", "1/8", 8)}


def tune(n, kind, rng, bars=8):
    meter, unit, per_bar = KINDS[kind]
    body = "|".join("".join(rng.choice(NOTES) for _ in range(per_bar)) for _ in range(bars))
    return f"X:{n}\nT:{kind.capitalize()} number {n}\nM:{meter}\nL:{unit}\nK:G\n|:{body}:|\n"


def write_mixed(folder, per_shape=12, seed=0, shapes=("jigs", "waltzes"), name="ashover"):
    """One kind (file ``name``.abc) whose tunes come in several meters: ``per_shape`` tunes shaped as
    each of ``shapes`` (a jig's 6/8, a waltz's 3/4), in turn; returns the folder."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tunes = [tune(i * len(shapes) + k + 1, shape, rng) for i in range(per_shape) for k, shape in enumerate(shapes)]
    (folder / f"{name}.abc").write_text("\n\n".join(tunes), encoding="utf-8")
    return folder


def write_collection(folder, per_kind=12, seed=0, kinds=("jigs", "waltzes")):
    """One file per kind, ``per_kind`` tunes each; returns the folder."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for kind in kinds:
        tunes = []
        for _ in range(per_kind):
            n += 1
            tunes.append(tune(n, kind, rng))
        (folder / f"{kind}.abc").write_text("\n\n".join(tunes), encoding="utf-8")
    return folder


def train_config(**kw):
    """The tune tests' training settings: small batches, fp32 on the CPU, quiet, the lowest valid loss kept."""
    base = dict(batch_size=8, lr=1e-2, warmup_steps=10, weight_decay=0.0, clip_norm=1.0, dropout_from=0.0,
                dropout_ramp=0.0, max_steps=500, eval_interval=0, checkpoint_interval=1e9, log_interval=1,
                precision="fp32", device="cpu", progress=False, select="valid_loss", select_mode="min")
    return TrainConfig(**{**base, **kw})
