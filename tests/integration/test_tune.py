"""The tune recipe on a toy collection the tests write: the kind of tune alone sets the generator
going and decides the meter it writes; the unconditioned model cannot be asked; the command line
(train, sample --condition, evaluate) works and fails in one line."""
import glob
import json
import math
from collections import Counter

import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.data.tunes import meter_of, music_of, read_tunes
from rnnkit.errors import RnnkitError
from rnnkit.data.bar_position import BAR_COUNTS, NUM_CLASSES, SECTION_COUNTS
from rnnkit.recipes.tune import DataConfig, TuneGenerator, bar_places, held_out, resume_tune, train_tune
from rnnkit.recipes.tune_eval import SELECT_SEED, FitCheck, fit_metrics
from rnnkit.training.metrics import read_metrics
from rnnkit.training.trainer import TrainConfig, TrainingInterrupted
from old_runs import assert_resumes_as_before
from tune_data import SMALL, SMALL_FLAGS, train_config, write_collection



@pytest.fixture(scope="module")
def trained(tmp_path_factory, collection):
    out = tmp_path_factory.mktemp("tune") / "run"
    train_tune(str(out), DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1, meter=False),
               {**SMALL, "condition_input": False}, train_config())
    return out


@pytest.fixture(scope="module")
def trained_every_step(tmp_path_factory, collection):
    """The kind in the initial state and at every step's input (``--condition-at every-step``, the default)."""
    out = tmp_path_factory.mktemp("tune") / "every"
    train_tune(str(out), DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1, meter=False),
               {**SMALL, "condition_input": True}, train_config())
    return out


@pytest.mark.parametrize("where", ["state", "every-step"])
def test_the_kind_alone_decides_the_meter(trained, trained_every_step, where):
    """Greedy tunes from the two kinds differ and each has its kind's header: its meter and note
    length; with the kind in the initial state only (the lecture's), and at every step's input too.
    (Bars that add up take more training than a test's seconds: the benchmark measures them.)"""
    gen = rnnkit.load(str(trained if where == "state" else trained_every_step))
    assert gen.model.config.condition_input == (where == "every-step")
    assert isinstance(gen, TuneGenerator) and gen.kinds == ["jigs", "waltzes"] and gen.conditioned
    assert gen.meters == {"jigs": ["6/8"], "waltzes": ["3/4"]}
    jig, waltz = (gen.generate(kind, temperature=0) for kind in ("jig", "waltz"))
    assert meter_of(jig) == "6/8" and "L:1/8" in jig, jig
    assert meter_of(waltz) == "3/4" and "L:1/4" in waltz, waltz
    # Sampled (temperature 1), 20 of each: mostly the kind's own meter, the other kind's far less often.
    for kind, meter, other in (("jigs", "6/8", "3/4"), ("waltzes", "3/4", "6/8")):
        got = [meter_of(t) for t in gen.sample_many(20, condition=kind, seed=3, temperature=1.0, length=60)]
        assert got.count(meter) >= 14 and got.count(other) <= 3, got


def test_the_unconditioned_model_has_one_start(tmp_path, collection):
    out = tmp_path / "plain"
    train_tune(str(out), DataConfig(data=collection, condition=False, valid_fraction=0.1, test_fraction=0.1), SMALL,
               train_config(max_steps=30))
    gen = rnnkit.load(str(out))
    assert not gen.conditioned and not hasattr(gen.model, "condition")
    with pytest.raises(RnnkitError, match="trained with --no-condition"):
        gen.generate("jig")
    assert gen.generate(temperature=0, length=40)  # one greedy tune, the same for every request


def test_the_run_keeps_the_weights_whose_worst_kind_passes_most(tmp_path, collection):
    """Model selection by the tunes a run writes: each evaluation draws 4 tunes of each kind from
    one seed; valid_fit is the worse kind's share that pass (and are no copies); the kept weights
    are the first evaluation with the highest, and drawing again from them gives the same figures."""
    out = str(tmp_path / "run")
    check = FitCheck(samples=4, temperature=1.0, min_tunes=1)
    train_tune(out, DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1), SMALL,
               train_config(max_steps=400, eval_interval=0.2), check=check)
    evals = [r for r in read_metrics(out + "/metrics.jsonl") if "valid_fit" in r]
    assert len(evals) >= 3 and all(r["valid_fit"] == min(r["fit_jigs"], r["fit_waltzes"]) for r in evals)
    best = max(evals, key=lambda r: (r["valid_fit"], -r["step"]))
    assert best["valid_fit"] > 0, evals  # some evaluation wrote tunes that pass: the choice is not a tie of zeros
    assert json.loads((tmp_path / "run" / "config.json").read_text())["select"] == {
        "samples": 4, "temperature": 1.0, "min_tunes": 1}
    gen = rnnkit.load(out)
    assert gen.step == best["step"]
    again = fit_metrics(gen, check, frozenset(music_of(t.text) for t in held_out(out, "train")))
    assert again == {k: best[k] for k in again}, (again, best)
    assert SELECT_SEED > 1100  # apart from the seeds README's tables are scored with


def test_selection_falls_back_to_the_valid_loss(tmp_path, collection):
    """No kind with min_tunes training tunes (15 each here, 30 by default), or no tunes drawn (the
    default): the run keeps its lowest valid loss, and says so in its config."""
    for name, check in (("few", FitCheck(samples=50)), ("none", FitCheck(min_tunes=1))):
        out = tmp_path / name
        train_tune(str(out), DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1), SMALL,
                   train_config(max_steps=3, select="valid_fit", select_mode="max"), check=check)
        config = json.loads((out / "config.json").read_text())
        assert (config["train"]["select"], config["train"]["select_mode"], config["select"]["samples"]) == (
            "valid_loss", "min", 0)
        assert not any("valid_fit" in r for r in read_metrics(str(out / "metrics.jsonl")))


def test_resume_continues_exactly(tmp_path, collection):
    """Kept by the tunes it writes: the tunes drawn at each evaluation take nothing from the
    training's random stream, and the resumed run draws the same ones."""
    d = DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1)
    cfg = train_config(max_steps=12, eval_interval=1e-9)
    model, check = {**SMALL, "dropout": 0.3}, FitCheck(samples=2, temperature=1.0, min_tunes=1)
    train_tune(str(tmp_path / "a"), d, model, cfg, check=check)
    with pytest.raises(TrainingInterrupted):
        train_tune(str(tmp_path / "b"), d, model, cfg, stop_after=5, check=check)
    resume_tune(str(tmp_path / "b"))
    a, b = (read_metrics(str(tmp_path / r / "metrics.jsonl")) for r in "ab")
    assert [r.get("train_loss") for r in a] == [r.get("train_loss") for r in b] and len(a) == 24
    assert [r.get("fit_jigs") for r in a] == [r.get("fit_jigs") for r in b] and "valid_fit" in a[-1]
    for p, q in zip(rnnkit.load(str(tmp_path / "a")).model.state_dict().values(),
                    rnnkit.load(str(tmp_path / "b")).model.state_dict().values()):
        assert torch.equal(p, q)


def test_cli_select_flags(tmp_path, collection):
    """--select-samples and --select-temperature reach the run (40 tunes a kind, 30 or more of them
    trained on); by default, and with too few tunes of every kind (15), it keeps the lowest valid loss."""
    many = str(write_collection(tmp_path / "abc", per_kind=40))
    runs = {"flags": (many, ["--select-samples", "3", "--select-temperature", "0.5"]),
            "few": (collection, ["--select-samples", "3"]), "default": (many, [])}
    for name, (data, flags) in runs.items():
        run = tmp_path / name
        assert main(["train", "tune", "--data", data, "--out", str(run), "--max-steps", "2", *SMALL_FLAGS, *flags]) == 0
        config = json.loads((run / "config.json").read_text())
        got = (config["train"]["select"], config["select"]["samples"], config["select"]["temperature"])
        assert got == (("valid_fit", 3, 0.5) if name == "flags" else ("valid_loss", 0, 0.2)), (name, got)
    last = read_metrics(str(tmp_path / "flags" / "metrics.jsonl"))[-1]
    assert set(last) >= {"valid_fit", "fit_jigs", "fit_waltzes"}


@pytest.mark.parametrize("flags", [[], ["--condition-at", "state", "--no-balance", "--condition-meter",
                                         "--no-bar-position", "--condition-dropout", "0"]])
def test_cli_train_records_where_the_kind_enters(tmp_path, collection, flags):
    """By default the kind alone enters every step, the rare kinds' tunes are read more often, a
    tenth of the tunes as of "no kind" (a third condition after the 2 kinds), and each character
    with its place in the bar and the bars closed so far; the flags change all five (with the
    meter 3 more classes: 3/4, 6/8 and the one for any other; no "no kind")."""
    run = tmp_path / "run"
    assert main(["train", "tune", "--data", collection, "--out", str(run), "--max-steps", "2", *SMALL_FLAGS, *flags]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["condition_input"] == (not flags) and config["data"]["balance"] == (not flags)
    assert config["data"]["meter"] == bool(flags) and config["data"]["condition_dropout"] == (0.0 if flags else 0.1)
    assert config["model"]["hidden_size"] == 64 and config["model"]["num_conditions"] == (5 if flags else 3)
    assert config["model"]["step_classes"] == (0 if flags else NUM_CLASSES)
    assert config["model"]["step_counts"] == (0 if flags else BAR_COUNTS)
    assert config["model"]["step_sections"] == (0 if flags else SECTION_COUNTS)


@pytest.mark.parametrize("flag,counts,sections", [("--no-bar-count", 0, 0), ("--no-section-count", BAR_COUNTS, 0)])
def test_cli_train_without_the_bar_count(tmp_path, collection, flag, counts, sections):
    run = tmp_path / "run"
    assert main(["train", "tune", "--data", collection, "--out", str(run), "--max-steps", "2", *SMALL_FLAGS, flag]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["model"]["step_classes"], config["model"]["step_counts"]) == (NUM_CLASSES, counts)
    assert config["model"]["step_sections"] == sections


def test_cli_sample_and_evaluate(trained, collection, capsys):
    capsys.readouterr()
    assert main(["sample", str(trained), "--condition", "waltz", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("X:") and meter_of(out) == "3/4" and "\x04" not in out
    assert main(["sample", str(trained), "--condition", "jigs", "--num-samples", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 3
    # A tune run samples at 0.2 unless told (where its kinds were measured); other runs at 1.0.
    gen = rnnkit.load(str(trained))
    for tune in gen.sample_many(3, condition="jigs", seed=1, temperature=0.2):
        assert tune in out
    assert any(t not in out for t in gen.sample_many(3, condition="jigs", seed=1, temperature=1.0))
    assert main(["evaluate", str(trained), "--samples", "8", "--min-tunes", "5", "--temperature", "0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # Below what the characters' own frequencies give (no model of the sequence at all).
    text = "".join(open(f, encoding="utf-8").read() for f in sorted(glob.glob(f"{collection}/*.abc")))
    unigram = -sum(n / len(text) * math.log(n / len(text)) for n in Counter(text).values())
    assert result["tunes"] == 3 and result["nats_per_char"] < unigram - 0.5 and result["conditioned"], unigram
    assert set(result["generated"]) == {"jigs", "waltzes"}
    assert all(r["samples"] == 8 and r["meter_fits"] == 1.0 for r in result["generated"].values())
    assert main(["evaluate", str(trained), "--split", "valid", "--samples", "0"]) == 0
    assert capsys.readouterr().out.startswith("valid: 3 tunes, ")


def test_generated_tunes_are_checked_for_meter_and_bars():
    from rnnkit.recipes.tune_eval import check_generated

    good = "X:1\nM:3/4\nL:1/4\nK:G\n|:GAB|cde:|\n"
    long_bar = "X:2\nM:3/4\nL:1/4\nK:G\n|:GABc|cde:|\n"
    jig = "X:3\nM:6/8\nL:1/8\nK:G\n|:GABcde:|\n"
    retitled = good.replace("X:1", "X:9\nT:Another name")
    fresh = "X:4\nM:3/4\nL:1/4\nK:G\n|:BAG|edc:|\n"
    r = check_generated([good, long_bar, jig, "not a tune", retitled, fresh], ["3/4"], known=frozenset(["|:GAB|cde:|"]))
    assert r == pytest.approx({"samples": 6, "meter_fits": 4 / 6, "bars_add_up": 4 / 6, "ended": 1.0, "both": 3 / 6,
                               "distinct": 5 / 6, "copied": 2 / 6, "new_and_both": 1 / 6})
    # A tune the sampler cut off passes nothing, however good its bars: it is not a whole tune.
    cut = check_generated([good, fresh], ["3/4"], known=frozenset(["|:GAB|cde:|"]), ended=[True, False])
    assert (cut["bars_add_up"], cut["ended"], cut["both"], cut["new_and_both"]) == (1.0, 0.5, 0.5, 0.0)


def test_a_tune_the_sampler_cut_off_did_not_end(trained_every_step):
    """draw_tunes: a tune of the length limit never wrote its end mark; shorter ones did."""
    from rnnkit.recipes.tune_eval import draw_tunes

    gen = rnnkit.load(str(trained_every_step))
    gen.default_length = 30  # too short for any tune of the collection
    tunes, ended = draw_tunes(gen, 3, "jigs", 0.5, 1)
    assert [len(t) for t in tunes] == [30] * 3 and ended == [False] * 3
    gen.default_length = 3000
    tunes, ended = draw_tunes(gen, 3, "jigs", 0.5, 1)
    assert all(len(t) < 3000 for t in tunes) and ended == [True] * 3


def test_evaluate_counts_copies_of_training_tunes(tmp_path, capsys):
    """Every training jig has the same music under its own title: the model learns it by heart, and
    ``evaluate`` finds its greedy tunes to be copies (the training tunes read from the run's split)."""
    body = "|:GAB cde|dBG FGA:|"
    folder = tmp_path / "abc"
    folder.mkdir()
    (folder / "jigs.abc").write_text("\n\n".join(f"X:{n}\nT:Copy {n}\nM:6/8\nL:1/8\nK:G\n{body}\n" for n in range(1, 21)))
    run = tmp_path / "run"
    train_tune(str(run), DataConfig(data=str(folder), valid_fraction=0.1, test_fraction=0.1), SMALL, train_config(max_steps=150))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--samples", "4", "--min-tunes", "1", "--temperature", "0", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["generated"]["jigs"]
    assert r["copied"] == 1.0 and r["distinct"] == 0.25 and r["both"] == 1.0, r


@pytest.fixture(scope="module")
def lopsided(tmp_path_factory):
    """30 jigs and 4 waltzes: the waltzes about 7 times rarer, so read 2 or 3 times a pass."""
    folder = tmp_path_factory.mktemp("lopsided") / "abc"
    write_collection(folder, per_kind=30, kinds=("jigs",))
    return str(write_collection(folder, per_kind=4, seed=1, kinds=("waltzes",)))


@pytest.mark.parametrize("balance", [True, False])
def test_rare_kinds_are_read_more_often(tmp_path, lopsided, balance):
    """The batches handed out cover the balanced collection: after one batch of 8, the passes made
    are 8 over (jigs + k x waltzes) training tunes, k the square root of how much rarer waltzes
    are, rounded; without --balance each tune is read once a pass."""
    from rnnkit.recipes.tune import split_tunes

    d = DataConfig(data=lopsided, valid_fraction=0.1, test_fraction=0.1, balance=balance)
    train_tune(str(tmp_path / "run"), d, SMALL, train_config(max_steps=1, select=None))
    train = split_tunes(read_tunes(lopsided), d)["train"]
    jigs, waltzes = sum(t.kind == "jigs" for t in train), sum(t.kind == "waltzes" for t in train)
    times = round(math.sqrt(jigs / waltzes)) if balance else 1
    assert not balance or times >= 2, (jigs, waltzes)
    record = next(r for r in read_metrics(str(tmp_path / "run" / "metrics.jsonl")) if "passes" in r)
    assert record["passes"] == pytest.approx(8 / (jigs + times * waltzes), abs=5e-5)  # metrics keep 4 decimals
    repeats = json.loads((tmp_path / "run" / "config.json").read_text())["corpus"]["repeats_by_kind"]
    assert repeats == {"jigs": 1, "waltzes": times}


def test_a_run_from_before_balancing_resumes_unbalanced(tmp_path, lopsided):
    """A run whose config.json has no ``balance`` and no ``condition_dropout`` (written before they
    existed, and before they were on by default) resumes on the collection as it is, without "no
    kind", exactly as an unbroken unbalanced run goes on; it loads with no guidance."""
    d = DataConfig(data=lopsided, valid_fraction=0.1, test_fraction=0.1, balance=False, condition_dropout=0.0)
    assert_resumes_as_before(tmp_path, lambda out, stop_after=None: train_tune(
        out, d, SMALL, train_config(max_steps=10, eval_interval=1e-9), stop_after=stop_after), resume_tune,
        [("data", "balance"), ("data", "condition_dropout"), ("corpus", "repeats_by_kind")])
    for run in tmp_path.iterdir():
        if (run / "config.json").exists():
            assert rnnkit.load(str(run)).no_kind is None and rnnkit.load(str(run)).guidance_scale() == 1.0


def test_a_run_from_before_the_section_count_resumes_without_it(tmp_path, collection):
    """A run whose model configuration has no ``step_sections`` (written before the bars of the
    running part were counted) resumes exactly as an unbroken run without them goes on, and samples."""
    d = DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1)
    assert_resumes_as_before(tmp_path, lambda out, stop_after=None: train_tune(
        out, d, {**SMALL, "step_sections": 0}, train_config(max_steps=10, eval_interval=1e-9), stop_after=stop_after),
        resume_tune, [("model", "step_sections")])
    gen = rnnkit.load(str(tmp_path / "b"))
    assert gen.model.config.step_sections == 0 and gen.model.input.sections is None
    assert gen.generate("jigs", seed=1, length=50)


def _bad_inputs(t, run, collection):
    (t / "empty").mkdir()
    (t / "notunes.abc").write_text("just text\n")
    charlm = t / "charlm_run"
    charlm.mkdir()
    (charlm / "config.json").write_text(json.dumps({"task": "addition"}))
    return [
        (["sample", str(run), "--condition", "polka"], "not trained on 'polka' tunes; its kinds: jigs, waltzes"),
        (["sample", str(run)], "give the kind of tune to generate (--condition): one of jigs, waltzes"),
        (["sample", str(charlm), "--condition", "jig"], "is an addition run; this command needs a charlm"),
        (["train", "tune", "--out", str(t / "o1")], "give --data"),
        (["train", "tune", "--data", str(t / "empty"), "--out", str(t / "o2")], "no .abc files"),
        (["train", "tune", "--data", str(t / "notunes.abc"), "--out", str(t / "o3")], "no tune in it"),
        (["train", "tune", "--data", str(t / "missing"), "--out", str(t / "o4")], "not found"),
        (["train", "tune", "--data", collection, "--out", str(run)], "already holds a run"),
        (["train", "tune", "--resume", str(run), "--hidden-size", "32"], "cannot change the model shape"),
        (["train", "tune", "--resume", str(run), "--no-condition"], "drop --no-condition"),
        (["train", "tune", "--resume", str(run), "--condition-at", "state"], "--condition-meter, --condition-at"),
        (["train", "tune", "--resume", str(run), "--balance"], "--balance, --no-balance, --no-bar-position"),
        (["train", "tune", "--resume", str(run), "--no-balance"], "--balance, --no-balance, --no-bar-position"),
        (["train", "tune", "--data", collection, "--out", str(t / "o9"), "--balance", "--no-balance"],
         "--balance and --no-balance contradict each other"),
        (["train", "tune", "--resume", str(run), "--no-bar-position"], "--no-bar-position, --no-bar-count"),
        (["train", "tune", "--resume", str(run), "--no-bar-count"], "--no-bar-count, --no-section-count"),
        (["train", "tune", "--resume", str(run), "--no-section-count"], "--no-section-count, --select-samples"),
        (["train", "tune", "--resume", str(run), "--select-samples", "5"], "--select-samples, --select-temperature"),
        (["train", "tune", "--data", collection, "--out", str(t / "o7"), "--no-condition", "--select-samples", "5"],
         "drop it with --no-condition"),
        (["train", "tune", "--data", collection, "--out", str(t / "o8"), "--select-temperature", "0.5"],
         "give --select-samples N"),
        (["train", "tune", "--resume", str(run), "--condition-meter"], "drop --no-condition, --condition-meter"),
        (["train", "tune", "--data", collection, "--out", str(t / "o6"), "--no-condition", "--condition-meter"],
         "drop it with --no-condition"),
        (["sample", str(run), "--condition", "jig", "--meter", "6/8"], "trained without the meter as a condition"),
        (["train", "tune", "--data", collection, "--out", str(t / "o5"), "--no-condition", "--condition-at",
          "state"], "drop it with --no-condition"),
    ]


def test_bad_inputs_give_one_line_errors_and_touch_nothing(trained, collection, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    for args, pattern in _bad_inputs(tmp_path, trained, collection):
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("rnnkit: error")]
        assert len(lines) == 1 and pattern in lines[0], (args, err)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 10))
    assert {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()} == before


def test_condition_is_refused_by_other_language_models(tmp_path, capsys):
    from rnnkit.recipes.charlm import DataConfig as CharData, train_charlm

    (tmp_path / "c.txt").write_text("abcabcabd " * 200)
    run = tmp_path / "lm"
    train_charlm(str(run), CharData(corpus=str(tmp_path / "c.txt")), dict(hidden_size=16, embedding_dim=8, num_layers=1),
                 TrainConfig(max_steps=2, batch_size=4, bptt=16, progress=False, precision="fp32", device="cpu"))
    for flags, message in ((["--condition", "jig"], "--condition picks the kind of tune: it needs a tune run"),
                           (["--guidance", "2"], "--guidance strengthens a tune's kind: it needs a tune run"),
                           (["--guide-body"], "--guide-body says where a tune's guidance applies: it needs a tune run")):
        capsys.readouterr()
        assert main(["sample", str(run), *flags]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("where", ["state", "every-step"])
def test_a_streamed_tune_is_the_sampled_tune(trained, trained_every_step, where):
    gen = rnnkit.load(str(trained if where == "state" else trained_every_step))
    for options in (dict(condition="jigs", temperature=0.7, seed=4), dict(condition="waltz", temperature=1.0, seed=9)):
        assert "".join(gen.stream(**options)) == gen.generate(**options)


def test_inspect_samples_a_tune_of_the_chosen_kind(trained):
    from rnnkit.errors import RnnkitError
    from rnnkit.inspect.server import open_run

    inspected = open_run(str(trained))
    assert list(inspected.views) == ["training", "sample"]
    view = inspected.views["sample"]
    kinds = next(f for f in view.fields(inspected) if f.name == "condition").options
    assert list(kinds) == rnnkit.load(str(trained)).kinds
    form = {"prime": "", "condition": "jigs", "temperature": "0.7", "length": "400", "seed": "4"}
    assert "".join(view.answer(inspected, form)) == rnnkit.load(str(trained)).generate("jigs", temperature=0.7, seed=4,
                                                                                       length=400)
    with pytest.raises(RnnkitError, match="its kinds"):
        "".join(view.answer(inspected, {**form, "condition": "polka"}))


def test_a_model_reading_its_kind_at_every_step_is_trained_on_it(trained_every_step, collection):
    """read_conditions, the training and scoring forward, gives such a model its tunes' kinds at
    every step: its logits are not those of the initial state alone."""
    from rnnkit.data.batching import SequenceBatches
    from rnnkit.recipes.tune import examples, held_out, read_conditions

    gen = rnnkit.load(str(trained_every_step))
    tunes = held_out(str(trained_every_step), "valid")
    batch = next(iter(SequenceBatches(examples(tunes, gen.vocab, gen.kinds, None, bar_places(gen.model.config)), 4,
                                      shuffle=False)))
    with torch.no_grad():
        got, _ = read_conditions(gen.model, batch, None)
        start_only, _ = gen.model(batch.inputs, batch.lengths, gen.model.initial_state(batch.conditions))
    assert (got - start_only).abs().max() > 1e-3


def test_generation_reads_each_character_in_the_place_training_gave_it(trained_every_step):
    """The sampler's feed (BarFeed: the prime, then one drawn character at a time, one reader per
    stream) pairs each character with the class the training examples pair it with."""
    from rnnkit.data.documents import END
    from rnnkit.recipes.tune import examples
    from rnnkit.recipes.tune_generator import BarFeed

    gen = rnnkit.load(str(trained_every_step))
    cfg = gen.model.config
    assert (cfg.step_classes, cfg.step_counts, cfg.step_sections) == (NUM_CLASSES, BAR_COUNTS, SECTION_COUNTS)
    tunes = held_out(str(trained_every_step), "valid")[:2]
    want = [e[0] for e in examples(tunes, gen.vocab, gen.kinds, None, bar_places(gen.model.config))]
    assert all(len(set((w // len(gen.vocab) % NUM_CLASSES).tolist())) > 5 for w in want)  # header, empty, part, full
    assert all(len(set((w // len(gen.vocab) // NUM_CLASSES % BAR_COUNTS).tolist())) > 3 for w in want)  # 0, 1, 2, ...
    assert all(len(set((w // len(gen.vocab) // NUM_CLASSES // BAR_COUNTS).tolist())) > 2 for w in want)  # in the part
    texts = [END + t.text for t in tunes]
    n = min(len(t) for t in texts)
    ids = torch.stack([torch.from_numpy(gen.vocab.encode(t[:n])) for t in texts])  # 2 streams
    feed = gen._start(gen.kinds[0], 2)["feed"]  # the feed the generator samples with
    assert isinstance(feed, BarFeed)
    got = torch.cat([feed(ids[:, :3])] + [feed(ids[:, t:t + 1]) for t in range(3, n)], 1)
    assert torch.equal(got, torch.stack([w[:n] for w in want]))
