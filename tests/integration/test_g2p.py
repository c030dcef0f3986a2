"""The g2p recipe end to end on a made-up language the tests write (tests/g2p_data.py): it learns
the spelling rules, resumes exactly, loads as a G2P, and its command line (train, evaluate,
pronounce) works and fails in one line."""
import json
import math

import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.decoding.scoring import alternatives_error_rates
from rnnkit.errors import RnnkitError
from rnnkit.recipes.g2p import G2P, DataConfig, reference_part, resume_g2p, train_g2p
from rnnkit.training.metrics import read_metrics
from rnnkit.training.trainer import TrainConfig, TrainingInterrupted
from g2p_data import pronounce, write_dictionary
from old_runs import assert_resumes_as_before

SMALL = dict(embedding_dim=16, hidden_size=32, num_layers=1, decoder_hidden_size=48, dropout=0.0)
SMALL_FLAGS = ["--embedding-dim", "16", "--hidden-size", "32", "--num-layers", "1", "--decoder-hidden-size", "48",
               "--dropout", "0", "--batch-size", "16", "--lr", "0.01", "--precision", "fp32", "--no-progress"]


def _cfg(**kw):
    base = dict(batch_size=16, lr=1e-2, warmup_steps=10, weight_decay=0.0, clip_norm=5.0, dropout_from=0.0,
                dropout_ramp=0.0, max_steps=600, eval_interval=0, checkpoint_interval=1e9, log_interval=1,
                precision="fp32", device="cpu", progress=False, select="valid_exact", patience=None)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    path = tmp_path_factory.mktemp("g2p_data") / "made-up.dict"
    write_dictionary(path, 800)
    return str(path)


DATA = dict(dev_fraction=0.1, test_fraction=0.1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dictionary):
    out = tmp_path_factory.mktemp("g2p") / "attention"
    train_g2p(str(out), DataConfig(dictionary=dictionary, **DATA), SMALL, _cfg())
    return out


def test_learns_the_spelling_rules_of_words_it_never_saw(trained):
    """Test words (never trained on) are pronounced by the rules, c before e/i included, and a word
    in -y gets both its pronunciations as the two best, each about half the probability."""
    g2p = rnnkit.load(str(trained))
    assert isinstance(g2p, G2P)
    test = reference_part(str(trained), "test")
    assert len(test) >= 60
    found = g2p.pronunciations(sorted(test))
    right = sum(f[0].phonemes in test[w] for w, f in zip(sorted(test), found))
    assert right >= 0.9 * len(test), right
    assert g2p.pronounce("cecaca") == ["S", "EH", "K", "AE", "K", "AE"]
    assert g2p.pronounce("Thice") == ["TH", "IH", "S"]
    # Each about half of what the two share (label smoothing leaves each step at most 0.9 + 0.1 / C,
    # so the two together hold about 0.9 ** 7 of the mass, not all of it).
    two = g2p.pronunciations(["bomity"], nbest=2)[0]
    shared = sum(p.probability for p in two)
    assert {p.phonemes for p in two} == set(pronounce("bomity")) and all(0.3 < p.probability / shared < 0.7 for p in two)
    records = read_metrics(str(trained / "metrics.jsonl"))
    losses = [r["train_loss"] for r in records if "train_loss" in r]
    assert [r["valid_loss"] for r in records if "valid_loss" in r][-1] < 0.1 * losses[0]  # dev: scored unsmoothed
    # Trained on the smoothed divergence (the default 0.1): no model scores below the smoothed
    # targets' own entropy, the step floor of that divergence.
    eps, c = g2p.model.config.label_smoothing, g2p.model.config.num_outputs
    top, rest = 1 - eps + eps / c, eps / c
    assert eps == 0.1 and losses[-1] > -(top * math.log(top) + (c - 1) * rest * math.log(rest))


def test_plain_encoder_decoder_trains_too(tmp_path, dictionary, trained):
    """The lecture's baseline (no attention: the decoder sees only the encoder's final state)."""
    out = tmp_path / "plain"
    train_g2p(str(out), DataConfig(dictionary=dictionary, **DATA), {**SMALL, "attention": False}, _cfg())
    g2p = rnnkit.load(str(out))
    assert g2p.model.attend is None and json.loads((out / "config.json").read_text())["model"]["attention"] is False
    from rnnkit.recipes.g2p_cli import score

    test = reference_part(str(out), "test")
    plain, attention = score(g2p, test), score(rnnkit.load(str(trained)), test)
    # The same output for every word scores a PER of 0.8 at best here (a common short word's
    # pronunciation: mostly deletions): the plain one has learnt from the input, and attention
    # (every letter in view at every step) learns faster still.
    constant = min(alternatives_error_rates(list(test.values()), [p[0]] * len(test))["symbol_error_rate"]
                   for p in test.values())
    assert constant > 0.8 and plain["per"] < 0.5 and attention["per"] < plain["per"] and attention["wer"] < plain["wer"], (plain, attention)


def test_resume_continues_exactly(tmp_path, dictionary):
    d = DataConfig(dictionary=dictionary, **DATA)
    cfg = _cfg(max_steps=16, eval_interval=1e-9, patience=100)
    model = {**SMALL, "dropout": 0.3, "label_smoothing": 0.1}  # the random parts, and the objective, must resume too
    train_g2p(str(tmp_path / "a"), d, model, cfg)
    with pytest.raises(TrainingInterrupted):
        train_g2p(str(tmp_path / "b"), d, model, cfg, stop_after=7)
    resume_g2p(str(tmp_path / "b"))
    a, b = (read_metrics(str(tmp_path / r / "metrics.jsonl")) for r in "ab")
    assert [r.get("train_loss") for r in a] == [r.get("train_loss") for r in b] and len(a) == 32
    for p, q in zip(rnnkit.load(str(tmp_path / "a")).model.state_dict().values(),
                    rnnkit.load(str(tmp_path / "b")).model.state_dict().values()):
        assert torch.equal(p, q)


def test_a_run_from_before_label_smoothing_resumes_without_it(tmp_path, dictionary):
    """A run whose config.json has no ``label_smoothing`` (written before it existed, when none was
    used) resumes as an unbroken run without smoothing goes on, not with today's default."""
    d, cfg = DataConfig(dictionary=dictionary, **DATA), _cfg(max_steps=10, eval_interval=1e-9, patience=100)
    assert_resumes_as_before(tmp_path, lambda out, stop_after=None: train_g2p(
        out, d, {**SMALL, "label_smoothing": 0.0}, cfg, stop_after=stop_after), resume_g2p, [("model", "label_smoothing")])


def test_cli_evaluate_and_pronounce(trained, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(trained), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["words"] == len(reference_part(str(trained), "test"))
    assert result["wer"] <= 0.1 and result["per"] <= 0.03 and result["words_per_s"] > 0
    assert main(["evaluate", str(trained), "--split", "dev", "--decoder", "greedy"]) == 0
    assert "dev words, greedy search: WER" in capsys.readouterr().out
    assert main(["pronounce", str(trained), "cecaca", "bomity", "--nbest", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cecaca\tS EH K AE K AE\t") and len(lines) == 4
    assert {line.split("\t")[1] for line in lines[2:]} == {" ".join(p) for p in pronounce("bomity")}
    assert main(["pronounce", str(trained), "Thice", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["word"] == "Thice" and entry["pronunciations"][0]["phonemes"] == ["TH", "IH", "S"]


def test_train_and_resume_from_the_command_line(tmp_path, dictionary):
    run = tmp_path / "run"
    assert main(["train", "g2p", "--dictionary", dictionary, "--out", str(run), "--max-steps", "2", *SMALL_FLAGS,
                 "--label-smoothing", "0.05"]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["label_smoothing"] == 0.05
    assert main(["train", "g2p", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 0
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 4
    corpus = json.loads((run / "config.json").read_text())["corpus"]
    assert corpus["train_words"] + corpus["dev_words"] + corpus["test_words"] == 800 and corpus["skipped_entries"] == 1
    assert corpus["letters"] == 14 + 1 + 5 + 1 and corpus["phonemes"] == 18 + 3  # + h, y; + TH, IY, AY


def _bad_inputs(t, run, dictionary):
    other = t / "tagger_run"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"task": "tagger"}))
    (t / "broken.dict").write_text("word  W ER1 D\nnophonemes\n")
    changed = t / "changed.dict"
    changed.write_text(open(dictionary, encoding="utf-8").read().replace("  B AE", "  P AE"))
    return [
        (["pronounce", str(run), ""], "expected a word"),
        (["pronounce", str(run), "123"], "'123' has no letters to pronounce"),
        (["pronounce", str(run), "quiz"], "the model never saw 'q' 'z'"),
        (["pronounce", str(run), "bad", "--decoder", "greedy", "--nbest", "2"], "--nbest above 1 needs the beam"),
        (["pronounce", str(other), "bad"], "is a tagger run; this command needs a g2p run"),
        (["train", "g2p", "--dictionary", str(t / "broken.dict"), "--out", str(t / "o1")], "broken.dict, line 2"),
        (["train", "g2p", "--dictionary", str(t / "missing.dict"), "--out", str(t / "o2")], "not found"),
        (["train", "g2p", "--dictionary", dictionary, "--out", str(t / "o3"), "--dev-fraction", "0.6",
          "--test-fraction", "0.5"], "leave some training words"),
        (["train", "g2p", "--dictionary", dictionary, "--out", str(run)], "already holds a run"),
        (["train", "g2p", "--resume", str(run), "--hidden-size", "64"], "cannot change the model shape"),
        (["train", "g2p", "--resume", str(run), "--dictionary", dictionary], "drop --dictionary"),
        (["evaluate", str(run), "--split", "train"], "invalid choice: 'train'"),
        (["train", "g2p", "--dictionary", dictionary, "--out", str(t / "o4"), "--label-smoothing", "1"],
         "a number in [0, 1)"),
    ]


def test_bad_inputs_give_one_line_errors_and_touch_nothing(trained, dictionary, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    for args, pattern in _bad_inputs(tmp_path, trained, dictionary):
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("rnnkit: error")]
        assert len(lines) == 1 and pattern in lines[0], (args, err)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))
    assert {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()} == before


def test_resume_refuses_a_changed_dictionary(tmp_path, dictionary):
    copy = tmp_path / "d.dict"
    copy.write_text(open(dictionary, encoding="utf-8").read())
    run = tmp_path / "run"
    train_g2p(str(run), DataConfig(dictionary=str(copy), **DATA), SMALL, _cfg(max_steps=2))
    copy.write_text(copy.read_text().replace("  B AE", "  P AE"))
    with pytest.raises(RnnkitError, match="changed since this run started"):
        resume_g2p(str(run), train_overrides={"max_steps": 4})


def test_predictor_input_checks(trained):
    g2p = rnnkit.load(str(trained))
    assert g2p.pronunciations([]) == []
    for bad, message in (("", "expected a word"), ("  ", "expected a word"), ("--", "no letters"),
                         ("naïve", "never saw 'ï'"), (None, "expected a word")):
        with pytest.raises(RnnkitError, match=message):
            g2p.pronounce(bad)


def test_inspect_pronounce_view_gives_the_n_best(trained):
    from rnnkit.inspect.server import open_run

    inspected = open_run(str(trained))
    assert list(inspected.views) == ["training", "pronounce"]
    [listed] = inspected.views["pronounce"].answer(inspected, {"words": "cito baly", "nbest": "2"})
    want = rnnkit.load(str(trained)).pronunciations(["cito", "baly"], nbest=2)
    assert listed["rows"] == [[w, k + 1, " ".join(p.phonemes), f"{p.probability:.3f}"]
                              for w, prons in zip(["cito", "baly"], want) for k, p in enumerate(prons)]
    with pytest.raises(RnnkitError, match="nbest must be between 1 and 20"):
        inspected.views["pronounce"].answer(inspected, {"words": "cito", "nbest": "50"})
