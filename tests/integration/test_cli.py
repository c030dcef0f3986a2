"""The rnnkit command as a user runs it: subprocesses, exit codes, one-line errors."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import torch

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SMALL = ["--hidden-size", "32", "--embedding-dim", "16", "--batch-size", "8", "--bptt", "16", "--precision", "fp32",
         "--no-progress"]


def rnnkit(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "rnnkit.cli", *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def assert_one_line_error(proc, pattern):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("rnnkit: error")]
    assert len(lines) == 1 and pattern in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def bigram_entropy(text: str) -> float:
    """H(next char | this char) of ``text``, in nats: what a bigram model of the text itself scores."""
    pairs, firsts = Counter(zip(text, text[1:])), Counter(text[:-1])
    return -sum(n / (len(text) - 1) * math.log(n / firsts[a]) for (a, _), n in pairs.items())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import make_text

    root = tmp_path_factory.mktemp("cli")
    corpus = root / "tiny.txt"
    corpus.write_text(make_text())
    run = root / "run"
    proc = rnnkit("train", "charlm", "--corpus", str(corpus), "--out", str(run), "--max-steps", "300", *SMALL)
    assert proc.returncode == 0, proc.stderr
    return run, corpus


def test_train_then_sample_and_evaluate(trained):
    run, corpus = trained
    for name in ("config.json", "vocab.json", "checkpoint.json", "metrics.jsonl", "loss.png"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    # The recipe's defaults: dropout 0.2, in force only after 3 passes (ramping over 2 more).
    assert config["model"]["dropout"] == 0.2
    assert (config["train"]["dropout_from"], config["train"]["dropout_ramp"]) == (3.0, 2.0)
    # ... weight decay 0.3 and the weight average: the recipe's DEFAULT_TRAIN, not TrainConfig's own defaults
    assert (config["train"]["weight_decay"], config["train"]["average"]) == (0.3, 0.999)
    out = rnnkit("sample", str(run), "--prime", "the ", "--length", "80", "--temperature", "0.8", "--top-k", "5", "--seed", "1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("the ") and len(out.stdout) >= 84
    again = rnnkit("sample", str(run), "--prime", "the ", "--length", "80", "--temperature", "0.8", "--top-k", "5", "--seed", "1")
    assert again.stdout == out.stdout
    ev = rnnkit("evaluate", str(run), "--corpus", str(corpus), "--json")
    assert ev.returncode == 0, ev.stderr
    result = json.loads(ev.stdout)
    assert set(result) >= {"nats_per_char", "bits_per_char", "chars"}
    # Learnt more than which character follows which: below the text's own bigram entropy (1.12
    # nats/char; uniform over its 23 symbols is 3.14, unigram frequencies 2.72). 300 steps reach about 0.4.
    assert 0 < result["nats_per_char"] < bigram_entropy(corpus.read_text())


def test_ctrl_c_saves_and_resume_finishes(tmp_path, tiny_corpus):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "rnnkit.cli", "train", "charlm", "--corpus", tiny_corpus, "--out", str(run),
           "--max-steps", "100000", "--log-interval", "1", *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.time() + 60
    while time.time() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 5:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    step = json.loads((run / "checkpoint.json").read_text())["step"]
    assert step >= 5
    resumed = rnnkit("train", "charlm", "--resume", str(run), "--max-steps", str(step + 10), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "checkpoint.json").read_text())["step"] == step + 10


def test_bad_inputs_give_one_line_errors(tmp_path, trained, code_dir):
    run, corpus = trained
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    (tmp_path / "empty").mkdir()
    cases = [
        (("train", "charlm", "--corpus", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o1")), "corpus not found"),
        (("train", "charlm", "--corpus", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")), "no text files"),
        (("train", "charlm", "--corpus", code_dir, "--include", "*.rs", "--out", str(tmp_path / "o3")), "no matching *.rs files"),
        (("train", "charlm", "--corpus", str(corpus), "--out", str(tmp_path / "o4"), "--hidden-size", "0"), "positive integer"),
        (("train", "charlm", "--corpus", str(corpus), "--out", str(tmp_path / "o5"), "--time-budget", "-3"), "positive number"),
        (("train", "charlm", "--corpus", str(corpus), "--out", str(tmp_path / "o6"), "--cell", "foo", "--max-steps", "1"), "unknown cell"),
        (("train", "charlm", "--resume", str(run), "--hidden-size", "64"), "cannot change the model shape"),
        (("train", "charlm", "--resume", str(tmp_path / "nothing")), "run folder not found"),
        (("sample", str(run), "--prime", "\u00e9\u00e9"), "outside the model's vocabulary"),
        (("sample", str(tmp_path / "nothing")), "run folder not found"),
        (("sample", str(tmp_path)), "configuration missing"),
        (("sample", str(run), "--temperature", "-1"), "temperature"),
        (("evaluate", str(run), "--corpus", str(tmp_path / "missing.txt")), "corpus not found"),
        (("train", "charlm", "--corpus", str(corpus), "--out", str(run), "--max-steps", "1"), "already holds a run"),
        (("train", "nosuchtask"), "invalid choice"),
        (("train", "charlm", "--corpus", str(corpus), "--out", str(tmp_path / "o7"), "--dropout-from", "-1"), "a number >= 0"),
        (("sample", str(run), "--precision", "fp8"), "invalid choice"),
    ]
    if not torch.cuda.is_available():  # the GPU path asked for where there is none
        cases.append((("train", "charlm", "--corpus", str(corpus), "--out", str(tmp_path / "o8"), "--device", "cuda",
                       "--max-steps", "1"), "no CUDA GPU is available"))
    for args, pattern in cases:
        assert_one_line_error(rnnkit(*args), pattern)
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before  # nothing already written was touched


def test_binary_files_in_a_directory_are_skipped_and_reported(tmp_path, code_dir):
    proc = rnnkit("train", "charlm", "--corpus", code_dir, "--include", "*.c,*.h", "--out", str(tmp_path / "r"),
                  "--max-steps", "2", "--batch-size", "2", *SMALL[:4], "--precision", "fp32", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 binary file" in proc.stderr
    assert "1 invalid UTF-8 sequence(s)" in proc.stderr
    info = json.loads((tmp_path / "r" / "config.json").read_text())["corpus"]
    assert info["skipped_binary"] == 1 and info["replaced_invalid_utf8"] == 1


def test_corrupted_run_folder_is_a_clear_error(tmp_path, trained):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained[0], run)
    weights = next(run.glob("model-*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    assert_one_line_error(rnnkit("sample", str(run)), "corrupted")
    weights.unlink()
    assert_one_line_error(rnnkit("sample", str(run)), "incomplete")


def test_decode_saved_log_probs(tmp_path):
    import numpy as np

    from rnnkit.data.vocab import Vocabulary
    from rnnkit.training.checkpoint import atomic_write_json

    vocab = Vocabulary(tokens=("_", "a", "b"), unk=None, blank="_", kind="char")
    atomic_write_json(str(tmp_path / "vocab.json"), vocab.to_json())
    # Frames: a a _ a b -> CTC "aab"... read: a, a (merged), blank, a, b => "aab"
    frames = [1, 1, 0, 1, 2]
    lp = np.full((1, 5, 3), np.log(0.05), dtype=np.float32)
    lp[0, np.arange(5), frames] = np.log(0.9)
    np.save(tmp_path / "lp.npy", lp)
    (tmp_path / "words.txt").write_text("aab\nab\n")
    for method, extra in [("ctc_greedy", []), ("ctc_beam", ["--beam-size", "8", "--nbest", "2"]),
                          ("ctc_lexicon", ["--lexicon", str(tmp_path / "words.txt")])]:
        out = rnnkit("decode", str(tmp_path / "lp.npy"), "--method", method, "--vocab", str(tmp_path), "--json", *extra)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.splitlines()[0])
        assert result["hypotheses"][0]["text"] == "aab", (method, result)
    assert_one_line_error(rnnkit("decode", str(tmp_path / "missing.npy"), "--blank", "0"), "missing.npy")
    assert_one_line_error(rnnkit("decode", str(tmp_path / "lp.npy"), "--method", "ctc_beam"), "needs --blank")
    assert_one_line_error(rnnkit("decode", str(tmp_path / "lp.npy"), "--method", "nope", "--blank", "0"), "unknown decoding method")


def test_decode_lexicon_with_a_word_lm(tmp_path):
    import numpy as np

    from rnnkit.data.vocab import Vocabulary
    from rnnkit.decoding.ngram import NgramLM
    from rnnkit.training.checkpoint import atomic_write_json

    vocab = Vocabulary(tokens=("_", "a", "b", "|"), unk=None, blank="_", kind="char")
    atomic_write_json(str(tmp_path / "vocab.json"), vocab.to_json())
    lp = np.log(np.array([[[.04, .9, .03, .03], [.6, .34, .03, .03], [.34, .6, .03, .03], [.04, .03, .9, .03]]],
                         dtype=np.float32))                     # "ab" more probable than "aab" acoustically
    np.save(tmp_path / "lp.npy", lp)
    (tmp_path / "words.txt").write_text("aab\nab\nba\n")
    words = Vocabulary(tokens=("<unk>", "aab", "ab"), unk="<unk>", kind="token")
    NgramLM.fit([["aab", "aab"], ["aab"], ["aab", "ab"]], words, order=2).save(tmp_path / "words.json")
    base = ["decode", str(tmp_path / "lp.npy"), "--method", "ctc_lexicon", "--vocab", str(tmp_path), "--json",
            "--lexicon", str(tmp_path / "words.txt"), "--word-separator", "|"]
    texts = {}
    for weight in ("0", "3"):
        out = rnnkit(*base, "--lm", str(tmp_path / "words.json"), "--lm-weight", weight)
        assert out.returncode == 0, out.stderr
        [h] = json.loads(out.stdout)["hypotheses"]
        texts[weight] = h["text"]
        assert h["lm_score"] < 0
    assert texts == {"0": "ab", "3": "aab"}        # the LM outweighs the acoustics ("ba" maps to <unk>)
    assert_one_line_error(rnnkit(*base, "--lm", str(tmp_path)), "word n-gram LM (.json), not a run folder")


def test_sample_streams_and_a_closed_pipe_or_ctrl_c_ends_it(trained):
    """``rnnkit sample`` writes each symbol as it is drawn: a hundred million symbols asked for, the
    first 200 bytes arrive at once; the reader closing the pipe ends the process quietly (status 0,
    nothing on stderr), and Ctrl-C ends it with status 130 and one line."""
    import select

    run, _ = trained
    cmd = [sys.executable, "-m", "rnnkit.cli", "sample", str(run), "--length", "100000000", "--seed", "1"]
    env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}  # as a user's shell runs it

    def first_bytes(proc, n):
        """n bytes of output within 30 s (a sampler that printed only at the end would give none)."""
        got = b""
        deadline = time.monotonic() + 30
        while len(got) < n and select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(proc.stdout.fileno(), n - len(got))
            if not chunk:
                break
            got += chunk
        if len(got) < n:
            proc.kill()
        return got

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert len(first_bytes(proc, 200)) == 200
    proc.stdout.close()  # what `| head -c 200` does
    status, err = proc.wait(timeout=30), proc.stderr.read().decode()
    assert (status, err) == (0, ""), (status, err)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert len(first_bytes(proc, 50)) == 50  # generating
    proc.send_signal(signal.SIGINT)
    status, err = proc.wait(timeout=30), proc.stderr.read().decode()
    assert (status, err.strip()) == (130, "rnnkit: interrupted"), (status, err)


def test_streamed_text_is_the_sampled_text(trained):
    """One sample printed as it is drawn equals the one the batch path returns, with a stop string too."""
    import rnnkit as rk

    run, _ = trained
    lm = rk.load(str(run))
    for options in (dict(temperature=0.8, seed=2), dict(temperature=1.0, top_k=5, seed=7, stop="e ")):
        assert "".join(lm.stream("the ", 300, **options)) == lm.sample("the ", 300, **options)
    assert lm.sample("the ", 300, temperature=1.0, top_k=5, seed=7, stop="e ").endswith("e ")
