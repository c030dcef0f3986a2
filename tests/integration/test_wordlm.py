"""The word-LM recipe as a user runs it: train (lstm, tdnn), evaluate, sample, embeddings, bad input."""
import gzip
import json
import math

import pytest
import torch

from test_cli import assert_one_line_error, rnnkit

TINY = ["--hidden-size", "24", "--batch-size", "4", "--bptt", "12", "--precision", "fp32", "--no-progress", "--warmup-steps", "10",
        "--eval-interval", "0"]


def word_text(lines: int, seed: int) -> str:
    from conftest import make_text

    return make_text(lines, seed).replace(".", " .")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("wordlm")
    train, valid = root / "train.txt.gz", root / "valid.txt"
    with gzip.open(train, "wt") as f:
        f.write(word_text(300, 0))
    valid.write_text(word_text(40, 1))
    return root, train, valid


@pytest.fixture(scope="module")
def lstm_run(corpus):
    root, train, valid = corpus
    run = root / "lstm"
    proc = rnnkit("train", "wordlm", "--train", str(train), "--valid", str(valid), "--out", str(run),
                  "--max-steps", "150", "--lr", "1e-2", *TINY)
    assert proc.returncode == 0, proc.stderr
    return run


def test_lstm_learns_the_toy_language_and_evaluates(corpus, lstm_run):
    _, _, valid = corpus
    config = json.loads((lstm_run / "config.json").read_text())
    model = config["model"]
    assert config["task"] == "wordlm" and model["tie_weights"] and model["locked_dropout"]
    assert model["embedding_dim"] == 24  # tied: the projection takes the hidden size
    assert (model["weight_drop"], model["embedding_dropout"], model["ar"], model["tar"]) == (0.2, 0.1, 2.0, 1.0)
    vocab = json.loads((lstm_run / "vocab.json").read_text())["tokens"]
    assert vocab[:2] == ["<unk>", "<eos>"] and len(vocab) == 17  # 14 words, '.', and the two specials
    proc = rnnkit("evaluate", str(lstm_run), "--corpus", str(valid), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["perplexity"] == pytest.approx(math.exp(result["nats_per_word"]))
    # The toy grammar: 3 subjects x 3 verbs x 3 prepositions x 3 objects in 8 tokens with <eos>, the
    # rest fixed: (3^4)^(1/8) = 1.73 per token if learned; a unigram model of the same text is above 9.
    assert result["perplexity"] < 4.0, result
    text = rnnkit("evaluate", str(lstm_run), "--corpus", str(valid))
    assert text.returncode == 0 and text.stdout.startswith("perplexity ")


def test_score_is_exp_of_the_mean_nll_over_carried_streams(lstm_run):
    import rnnkit as rk
    from rnnkit.data.batching import StreamBatcher

    lm = rk.load(str(lstm_run))
    tokens = word_text(120, 7).replace("\n", " <eos> ").split()  # 960 words: 10 streams of more than 70
    result = lm.score(tokens)
    ids = torch.from_numpy(lm.vocab.encode(tokens))
    rows = StreamBatcher(ids, 10, 10_000)  # the same 10 streams, each in one pass: no segment cuts at all
    x, y = rows.segment(0)
    with torch.no_grad():
        logits, _ = lm.model(x)
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="mean")
    assert result["words"] == y.numel()
    assert result["perplexity"] == pytest.approx(math.exp(float(nll)), rel=1e-5)


def test_sample_continues_a_prime_in_words(lstm_run):
    proc = rnnkit("sample", str(lstm_run), "--prime", "the cat", "--length", "40", "--seed", "3", "--temperature", "0.5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("the cat ") and len(lines) >= 3  # <eos> became line breaks
    known = set(json.loads((lstm_run / "vocab.json").read_text())["tokens"])
    assert all(w in known for line in lines for w in line.split())
    again = rnnkit("sample", str(lstm_run), "--prime", "the cat", "--length", "40", "--seed", "3", "--temperature", "0.5")
    assert again.stdout == proc.stdout


def test_unknown_prime_words_are_named(lstm_run):
    proc = rnnkit("sample", str(lstm_run), "--prime", "the zebra sat quietly")
    assert_one_line_error(proc, "the prime has 2 word(s) outside the model's vocabulary: zebra quietly")


def test_embeddings_export_neighbours_and_plot(lstm_run, tmp_path):
    from rnnkit.embeddings import read_word2vec

    vectors, png = tmp_path / "v.txt", tmp_path / "w.png"
    proc = rnnkit("embeddings", str(lstm_run), "--export", str(vectors), "--neighbours", "cat", "mat", "--count", "3",
                  "--plot", str(png), "--words", "cat,dog,bird,mat,log,tree")
    assert proc.returncode == 0, proc.stderr
    words, matrix = read_word2vec(str(vectors))
    import rnnkit as rk

    lm = rk.load(str(lstm_run))
    assert words == list(lm.vocab.tokens) and torch.equal(matrix, lm.embeddings)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("cat:", "mat:"))]
    assert len(lines) == 2 and all(len(line.split(",")) == 3 for line in lines)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_tdnn_trains_with_direct_connections(corpus, tmp_path):
    _, train, valid = corpus
    run = tmp_path / "tdnn"
    proc = rnnkit("train", "wordlm", "--model", "tdnn", "--direct", "--window", "3", "--train", str(train),
                  "--valid", str(valid), "--out", str(run), "--max-steps", "120", "--lr", "1e-2", *TINY)
    assert proc.returncode == 0, proc.stderr
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["cell"], model["window"], model["direct"], model["tie_weights"]) == ("tdnn", 3, True, False)
    result = json.loads(rnnkit("evaluate", str(run), "--corpus", str(valid), "--json").stdout)
    assert result["perplexity"] < 6.0, result  # a 4-gram window sees most of this grammar
    out = rnnkit("sample", str(run), "--prime", "a dog", "--length", "12", "--seed", "1")
    assert out.returncode == 0 and out.stdout.startswith("a dog "), out.stderr


def test_tdnn_defaults_tie_the_projection_to_the_softmax(corpus, tmp_path):
    """By default the TDNN's projection P is its softmax matrix too, as wide as the tanh layer;
    direct connections (the head reads the window's projections as well) untie it."""
    _, train, valid = corpus
    run = tmp_path / "tdnn"
    proc = rnnkit("train", "wordlm", "--model", "tdnn", "--train", str(train), "--valid", str(valid), "--out", str(run),
                  "--max-steps", "120", "--lr", "1e-2", *TINY)
    assert proc.returncode == 0, proc.stderr
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["cell"], model["tie_weights"], model["embedding_dim"], model["hidden_size"]) == ("tdnn", True, 24, 24)
    import rnnkit as rk

    lm = rk.load(str(run))
    assert lm.model.head.weight is lm.model.input.weight
    assert json.loads(rnnkit("evaluate", str(run), "--corpus", str(valid), "--json").stdout)["perplexity"] < 6.0
    assert_one_line_error(rnnkit("train", "wordlm", "--model", "tdnn", "--direct", "--tie-weights", "--train", str(train),
                                 "--out", str(tmp_path / "r2"), *TINY, "--max-steps", "2"), "tie_weights needs embedding_dim")
    assert not (tmp_path / "r2").exists()


def test_bad_input_is_one_line_and_touches_nothing(corpus, lstm_run, tmp_path):
    _, train, valid = corpus
    empty, blank, notgz = tmp_path / "empty.txt", tmp_path / "blank.txt", tmp_path / "bad.txt.gz"
    empty.write_text("")
    blank.write_text("\n\n  \n")
    notgz.write_bytes(b"plain text, not gzip")
    run = tmp_path / "r"
    cases = [
        (["train", "wordlm", "--train", str(empty), "--out", str(run), *TINY, "--max-steps", "2"], "has no words"),
        (["train", "wordlm", "--train", str(blank), "--out", str(run), *TINY, "--max-steps", "2"], "has no words"),
        (["train", "wordlm", "--train", str(tmp_path / "nope.txt"), "--out", str(run), *TINY, "--max-steps", "2"],
         "file not found"),
        (["train", "wordlm", "--train", str(notgz), "--out", str(run), *TINY, "--max-steps", "2"], "cannot read"),
        (["train", "wordlm", "--train", str(train), "--max-vocab", "0", "--out", str(run)], "expected a positive integer"),
        (["train", "wordlm", "--train", str(train), "--model", "tdnn", "--weight-drop", "0.5", "--out", str(run),
          *TINY, "--max-steps", "2"], "weight-drop acts on recurrent matrices"),
        (["train", "wordlm", "--out", str(run)], "give --train FILE"),
        (["evaluate", str(lstm_run), "--corpus", str(empty)], "has no words"),
        (["embeddings", str(lstm_run)], "give --export FILE"),
        (["embeddings", str(lstm_run), "--plot", str(tmp_path / "p.png")], "--plot needs --words"),
    ]
    for args, message in cases:
        assert_one_line_error(rnnkit(*args), message)
    assert not run.exists()
    # A failing embeddings command leaves an earlier export as it was.
    vectors = tmp_path / "v.txt"
    vectors.write_text("keep me\n")
    proc = rnnkit("embeddings", str(lstm_run), "--export", str(vectors), "--neighbours", "cat", "zebra")
    assert_one_line_error(proc, "'zebra' is not in the model's vocabulary")
    assert vectors.read_text() == "keep me\n"
    # An existing run is never overwritten.
    before = (lstm_run / "checkpoint.json").read_bytes()
    proc = rnnkit("train", "wordlm", "--train", str(train), "--out", str(lstm_run), *TINY, "--max-steps", "2")
    assert_one_line_error(proc, "already holds a run")
    assert (lstm_run / "checkpoint.json").read_bytes() == before


def test_resume_continues_the_run(corpus, tmp_path):
    _, train, valid = corpus
    run = tmp_path / "r"
    first = rnnkit("train", "wordlm", "--train", str(train), "--valid", str(valid), "--out", str(run), "--max-steps", "10",
                   *TINY)
    assert first.returncode == 0, first.stderr
    proc = rnnkit("train", "wordlm", "--resume", str(run), "--max-steps", "20", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 20
    assert_one_line_error(rnnkit("train", "wordlm", "--resume", str(run), "--model", "tdnn"), "--resume reads the run's own")


def test_streamed_words_are_the_sampled_text(lstm_run):
    import rnnkit as rk

    lm = rk.load(str(lstm_run))
    for options in (dict(temperature=0.5, seed=3), dict(temperature=1.0, seed=11, stop="mat")):
        assert "".join(lm.stream("the cat", 60, **options)) == lm.sample("the cat", 60, **options)
    # The command writes the prime, then the words as they come: the text of the batch path.
    streamed = rnnkit("sample", str(lstm_run), "--prime", "the cat", "--length", "40", "--seed", "3")
    assert streamed.returncode == 0, streamed.stderr
    text = lm.sample("the cat", 40, seed=3)
    assert streamed.stdout == ("the cat" + ("" if text.startswith("\n") else " ") + text).rstrip("\n") + "\n"


def test_inspect_surprisal_and_cells_read_words(lstm_run):
    """The page's views on a word LM: each word (and each line's <eos>) a symbol, its bits the
    model's own cross-entropy of the same words read in one stream."""
    import rnnkit as rk
    from rnnkit.inspect.server import open_run

    inspected = open_run(str(lstm_run))
    assert list(inspected.views) == ["training", "sample", "surprisal", "cells"]
    text = "the cat sat on the mat\na dog ran under the log\n"
    blocks = inspected.views["surprisal"].answer(inspected, {"text": text})
    stats = {b["label"]: b["value"] for b in blocks if b["type"] == "stat"}
    tokens = next(b for b in blocks if b["type"] == "tokens")["tokens"]
    assert [t["text"] for t in tokens][:7] == ["the ", "cat ", "sat ", "on ", "the ", "mat ", "\n"]
    words = text.replace("\n", " <eos> ").split()
    lm = rk.load(str(lstm_run))
    with torch.no_grad():
        logits, _ = lm.model(torch.from_numpy(lm.vocab.encode(words))[None])
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], torch.from_numpy(lm.vocab.encode(words))[1:])
    assert float(stats["bits/word"]) == pytest.approx(float(nll) / math.log(2), abs=1e-4)
    cells = inspected.views["cells"].answer(inspected, {"text": text, "pattern": "regex", "regex": "the"})
    assert len(next(b for b in cells if b["type"] == "tokens")["tokens"]) == len(words)
