"""Training under torchrun: two gloo processes on the CPU against one, and checkpoints that move between them.

Each process computes its rows of the same global batch; DistributedDataParallel averages their
gradients, scaled so that the average is the gradient of the whole batch's mean. So a 2-process
run follows a 1-process run step for step, up to the order of fp32 sums: the batch's divergence
is summed in two parts and then across processes, which moves the loss by an ulp or two (2.4e-7
at a loss of 3); 20 Adam steps do not grow that past a few ulps. TOLERANCE (1e-5, about 40
ulps) leaves room for other CPUs' kernels and still fails when the processes weigh their rows
wrongly: an odd global batch (5 rows: 3 and 2) makes a per-process mean differ from the batch's
(checked by making each process back-propagate its own rows' mean: the char-LM losses then part by
1e-4 within 12 steps, the tagger's by 2.5e-3).
"""
import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from tagger_data import write_toy_conllu

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
if os.path.exists("/sys/class/net/lo"):  # one machine: gloo on the loopback, whatever the host name resolves to
    ENV["GLOO_SOCKET_IFNAME"] = "lo"
TOLERANCE = 1e-5
CHARLM = ["--hidden-size", "32", "--embedding-dim", "16", "--batch-size", "5", "--bptt", "16", "--precision", "fp32",
          "--no-progress", "--dropout", "0", "--log-interval", "1", "--seed", "3", "--eval-interval", "0"]
TAGGER = ["--word-dim", "16", "--char-dim", "8", "--char-hidden-size", "8", "--hidden-size", "24", "--dropout", "0",
          "--word-dropout", "0", "--rare-word-dropout", "0", "--misspell", "0", "--batch-size", "6", "--lr", "0.01",
          "--precision", "fp32", "--no-progress", "--log-interval", "1", "--eval-interval", "0"]


def rnnkit(*args, procs=1, entry=("-m", "rnnkit")):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 \
        else [sys.executable]
    proc = subprocess.run([*launcher, *entry, *args], capture_output=True, text=True, env=ENV, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def losses(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return {r["step"]: r["train_loss"] for r in map(json.loads, f) if "train_loss" in r}


def weights(run):
    with open(os.path.join(run, "checkpoint.json")) as f:
        return load_file(os.path.join(run, json.load(f)["files"]["model"]))


def assert_same(run, reference, steps):
    got, want = losses(run), losses(reference)
    assert set(steps) <= set(got), sorted(got)
    worst = max(abs(got[s] - want[s]) for s in steps)
    assert worst < TOLERANCE, f"losses differ by {worst:.3g} (steps {steps[0]}..{steps[-1]})"
    a, b = weights(run), weights(reference)
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < TOLERANCE, f"final weights differ by {worst:.3g}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import make_text

    path = tmp_path_factory.mktemp("ddp") / "tiny.txt"
    path.write_text(make_text())
    return str(path)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """One process, 12 steps."""
    run = str(tmp_path_factory.mktemp("ddp") / "one")
    rnnkit("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", "12", *CHARLM)
    return run


def test_two_processes_follow_one(corpus, reference, tmp_path):
    run = str(tmp_path / "two")
    proc = rnnkit("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", "12", *CHARLM, procs=2)
    assert proc.stdout.strip() == run  # rank 0 alone reports
    assert sorted(os.listdir(run)) == sorted(os.listdir(reference))  # and writes: one log, one checkpoint
    assert_same(run, reference, list(range(1, 13)))


@pytest.fixture(scope="module")
def resumed(corpus, tmp_path_factory):
    """One process, 6 steps, then resumed to 12 (the schedule stretched at step 6 to the new stop)."""
    run = str(tmp_path_factory.mktemp("ddp") / "one-resumed")
    rnnkit("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", "6", *CHARLM)
    rnnkit("train", "charlm", "--resume", run, "--max-steps", "12")
    return run


@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_checkpoint_of_n_processes_resumes_on_m(corpus, resumed, tmp_path, first, then):
    """Stop at step 6 with ``first`` processes, go on to 12 with ``then``: the carried state of
    every row (3 rows on one process, 2 on the other) travels through the checkpoint."""
    run = str(tmp_path / "run")
    rnnkit("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", "6", *CHARLM, procs=first)
    rnnkit("train", "charlm", "--resume", run, "--max-steps", "12", procs=then)
    assert_same(run, resumed, list(range(7, 13)))


def test_sequence_batches_split_with_a_rank_left_without_rows(tmp_path):
    """Padded sentences of different lengths (the ranks' counts differ), and 61 sentences in
    batches of 6: step 11 is one sentence, so one process has no row and counts for nothing."""
    train = write_toy_conllu(tmp_path / "train.conllu", num=61)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    rnnkit("train", "tagger", "--train", train, "--out", one, "--max-steps", "14", *TAGGER)
    rnnkit("train", "tagger", "--train", train, "--out", two, "--max-steps", "14", *TAGGER, procs=2)
    assert_same(two, one, list(range(1, 15)))


def test_a_model_called_its_tasks_own_way(tmp_path):
    """The encoder-decoder reads the reference phonemes too (its task's forward, teacher forcing):
    DistributedDataParallel wraps that call, and 2 processes follow 1."""
    from g2p_data import write_dictionary

    dictionary = str(tmp_path / "words.dict")
    write_dictionary(tmp_path / "words.dict", count=200)
    flags = ["--embedding-dim", "16", "--hidden-size", "32", "--num-layers", "1", "--decoder-hidden-size", "48",
             "--dropout", "0", "--batch-size", "7", "--lr", "0.01", "--precision", "fp32", "--no-progress",
             "--log-interval", "1", "--eval-interval", "0"]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    rnnkit("train", "g2p", "--dictionary", dictionary, "--out", one, "--max-steps", "8", *flags)
    rnnkit("train", "g2p", "--dictionary", dictionary, "--out", two, "--max-steps", "8", *flags, procs=2)
    assert_same(two, one, list(range(1, 9)))


# The rnnkit command, with each process telling how many DistributedDataParallel wrappers are alive
# when it destroys its process group.
COUNTING = """
import gc, sys
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
destroy = dist.destroy_process_group
def counted(*args, **kwargs):
    alive = sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects())
    print(f"wrappers alive at destroy: {alive}", file=sys.stderr)
    return destroy(*args, **kwargs)
dist.destroy_process_group = counted
from rnnkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_wrapper_goes_before_the_process_group(corpus, tmp_path):
    """A DistributedDataParallel that outlives its gloo group makes a process abort now and then at
    exit, after training, with no Python frame ("terminate called without an active exception"):
    13 of 30 two-process runs of a toy DDP script pinned to one core did, 0 of 30 with the wrapper
    freed before destroy_process_group (torch 2.13). The abort is too rare to wait for in a test
    (this suite's tagger case failed once in CI); the order that prevents it is checked instead."""
    script = tmp_path / "counting.py"
    script.write_text(COUNTING)
    proc = rnnkit("train", "charlm", "--corpus", corpus, "--out", str(tmp_path / "run"), "--max-steps", "2", *CHARLM,
                  procs=2, entry=(str(script),))
    assert proc.stderr.count("wrappers alive at destroy: 0") == 2, proc.stderr[-2000:]
