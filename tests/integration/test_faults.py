"""Faults with real processes: SIGKILL at random moments (one of them while a checkpoint is being
written), a disk that refuses a write, a read-only run folder. The goal: nothing lost.

Every run here saves after each step (``--checkpoint-interval 0.001``) and is big enough (2 x 256
LSTM: 9 MB of weights and Adam moments a checkpoint) that most of its time goes to writing
checkpoints, so kills land in writes often. CPU, one thread, fp32, same seed: a resumed run's
final weights must equal an uninterrupted run's exactly.
"""
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.training.checkpoint import load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
STEPS = 40
FLAGS = ["--hidden-size", "256", "--embedding-dim", "16", "--batch-size", "4", "--bptt", "8", "--precision", "fp32",
         "--dropout", "0.2", "--dropout-from", "0", "--no-progress", "--checkpoint-interval", "0.001", "--seed", "5"]


def command(*args):
    return [sys.executable, "-m", "rnnkit", *args]


def final_weights(run):
    with open(os.path.join(run, "checkpoint.json")) as f:
        return load_file(os.path.join(run, json.load(f)["files"]["model"]))


def partial_files(run):
    return [name for name in os.listdir(run) if name.startswith(".tmp-")]


def assert_equal_weights(run, reference):
    a, b = final_weights(run), final_weights(reference)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import make_text

    path = tmp_path_factory.mktemp("faults") / "tiny.txt"
    path.write_text(make_text())
    return str(path)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("faults") / "reference")
    subprocess.run(command("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", str(STEPS), *FLAGS),
                   check=True, capture_output=True, env=ENV, timeout=300)
    return run


def _kill_when(proc, run, rng, mid_write):
    """SIGKILL ``proc`` once it has a checkpoint: the moment a half-written file appears
    (``mid_write``) or after a random pause. Returns whether the kill left a half-written file,
    or None when the process finished first."""
    while not os.path.exists(os.path.join(run, "checkpoint.json")):
        if proc.poll() is not None:
            return None
        time.sleep(0.001)
    deadline = time.monotonic() + rng.uniform(0.0, 0.4)
    while proc.poll() is None:
        if (partial_files(run) if mid_write else time.monotonic() >= deadline):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            return bool(partial_files(run))
    return None


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(corpus, reference, tmp_path):
    run = str(tmp_path / "killed")
    rng = random.Random(0)
    kills, mid_write = 0, 0
    args = ("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", str(STEPS), *FLAGS)
    for attempt in range(40):
        proc = subprocess.Popen(command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        landed = _kill_when(proc, run, rng, mid_write=attempt % 2 == 1)
        if landed is None:  # it finished before the kill: start over from the beginning of the test
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            if kills >= 3 and mid_write >= 1:
                break
            continue
        kills += 1
        mid_write += landed
        step = load_checkpoint(run).step  # what the kill left is a whole checkpoint, files and checksums
        assert 0 < step <= STEPS
        args = ("train", "charlm", "--resume", run, "--max-steps", str(STEPS))
        if kills >= 3 and mid_write >= 1:
            proc = subprocess.run(command(*args), capture_output=True, text=True, env=ENV, timeout=300)
            assert proc.returncode == 0, proc.stderr
            break
    assert kills >= 3 and mid_write >= 1, (kills, mid_write)
    assert partial_files(run) == []  # the resumed run cleared what the kills left
    assert load_checkpoint(run).step == STEPS
    assert_equal_weights(run, reference)


@pytest.fixture(scope="module")
def reference_resumed(corpus, tmp_path_factory):
    """10 steps, then resumed to STEPS (a resume with a new stop stretches the schedule from there)."""
    run = str(tmp_path_factory.mktemp("faults") / "reference-resumed")
    for args in (("--corpus", corpus, "--out", run, "--max-steps", "10", *FLAGS), ("--resume", run, "--max-steps", str(STEPS))):
        subprocess.run(command("train", "charlm", *args), check=True, capture_output=True, env=ENV, timeout=300)
    return run


def _limit_file_size(limit):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_write_the_disk_refuses_loses_nothing(corpus, reference_resumed, tmp_path):
    """A file size limit (RLIMIT_FSIZE) makes the kernel refuse the optimizer-state file of the
    next checkpoint (EFBIG, as a full disk refuses with ENOSPC): the run stops with one line, the
    previous checkpoint is whole, no partial file is left, and resuming finishes the run exactly."""
    run = str(tmp_path / "run")
    subprocess.run(command("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", "10", *FLAGS),
                   check=True, capture_output=True, env=ENV, timeout=300)
    before = set(os.listdir(run))
    model_bytes = os.path.getsize(os.path.join(run, "model-00000010.safetensors"))
    proc = subprocess.run(command("train", "charlm", "--resume", run, "--max-steps", str(STEPS)), capture_output=True,
                          text=True, env=ENV, timeout=300, preexec_fn=_limit_file_size(model_bytes + 65536))
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rnnkit: error")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "File too large" in errors[0] and "the checkpoint of step 10" in errors[0] and "is intact" in errors[0]
    assert load_checkpoint(run).step == 10
    assert set(os.listdir(run)) == before  # nothing half-written, no orphan weights of step 11
    done = subprocess.run(command("train", "charlm", "--resume", run, "--max-steps", str(STEPS)), capture_output=True,
                          text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_equal_weights(run, reference_resumed)


@contextlib.contextmanager
def read_only(folder):
    """``folder`` read-only for this process: chmod for a user; for root, whom permissions do
    not stop, the immutable attribute (chattr +i, ext4 and most Linux filesystems)."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        undo = lambda: os.chmod(folder, 0o755)  # noqa: E731
    else:
        made = subprocess.run(["chattr", "+i", folder], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make a folder read-only as root here (chattr: {made.stderr.decode().strip()})")
        undo = lambda: subprocess.run(["chattr", "-i", folder], check=True)  # noqa: E731
    try:
        yield
    finally:
        undo()


def test_a_read_only_run_folder_fails_before_training(corpus, tmp_path):
    run = str(tmp_path / "run")
    subprocess.run(command("train", "charlm", "--corpus", corpus, "--out", run, "--max-steps", "3", *FLAGS),
                   check=True, capture_output=True, env=ENV, timeout=300)
    before = {name: os.path.getmtime(os.path.join(run, name)) for name in os.listdir(run)}
    with read_only(run):
        proc = subprocess.run(command("train", "charlm", "--resume", run, "--max-steps", "6"), capture_output=True,
                              text=True, env=ENV, timeout=300)
        new = subprocess.run(command("train", "charlm", "--corpus", corpus, "--out", os.path.join(run, "inner"),
                                     "--max-steps", "3", *FLAGS), capture_output=True, text=True, env=ENV, timeout=300)
    for p in (proc, new):
        assert p.returncode == 2, p.stderr
        errors = [line for line in p.stderr.splitlines() if line.startswith("rnnkit: error")]
        assert len(errors) == 1 and "Traceback" not in p.stderr, p.stderr
        assert "cannot write in" in errors[0], errors[0]  # the check before training (runs.check_writable)
    assert {name: os.path.getmtime(os.path.join(run, name)) for name in os.listdir(run)} == before
    assert load_checkpoint(run).step == 3
