"""The tune recipe with classifier-free guidance: ``--condition-dropout`` trains "no kind" beside
the kinds, ``sample``/``evaluate --guidance`` draw each tune against it; runs without it refuse a
guidance scale, and old runs load as before."""
import json

import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.data.tunes import meter_of
from rnnkit.errors import RnnkitError
from rnnkit.data.tunes import music_of
from rnnkit.recipes.tune import DataConfig, held_out, resume_tune, train_tune
from rnnkit.recipes.tune_eval import (GUIDE_SEED, GuidanceChoice, generation_report, guidance_choice, pick_scale,
                                      pick_temperature)
from rnnkit.recipes.tune_generator import DEFAULT_GUIDANCE
from rnnkit.training.metrics import read_metrics
from rnnkit.training.trainer import TrainingInterrupted
from tune_data import SMALL, SMALL_FLAGS, train_config, write_mixed



@pytest.fixture(scope="module")
def guided(tmp_path_factory, collection):
    out = tmp_path_factory.mktemp("tune") / "guided"
    train_tune(str(out), DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1, condition_dropout=0.3),
               SMALL, train_config(max_steps=300))
    return out


def test_no_kind_is_a_condition_of_its_own(guided):
    """Two kinds and "no kind" after them; with guidance 0 on every character each kind draws the
    same tunes (the twins' alone, which read no kind), and those come in both kinds' meters; by
    default guidance covers the header alone, so both kinds write the same headers there, and
    their bodies, drawn as the kind has them, part."""
    gen = rnnkit.load(str(guided))
    assert gen.kinds == ["jigs", "waltzes"] and gen.no_kind == 2 and gen.model.config.num_conditions == 3
    assert json.loads((guided / "config.json").read_text())["data"]["condition_dropout"] == 0.3
    jigs, waltzes = (gen.sample_many(20, condition=k, seed=3, length=80, guidance=0.0, guide_body=True)
                     for k in ("jigs", "waltzes"))
    assert jigs == waltzes
    meters = [meter_of(t) for t in jigs]
    assert meters.count("6/8") >= 3 and meters.count("3/4") >= 3, meters
    jigs_h, waltzes_h = (gen.sample_many(20, condition=k, seed=3, length=80, guidance=0.0) for k in ("jigs", "waltzes"))
    headers = [[t.split("K:", 1)[0] + t.split("K:", 1)[1].split("\n", 1)[0] for t in ts if "K:" in t]
               for ts in (jigs_h, waltzes_h, jigs)]
    assert headers[0] == headers[1] == headers[2] and len(headers[0]) >= 15
    assert jigs_h != waltzes_h
    # Guided (scale 2, temperature 1): mostly the kind's meter, the other kind's at most once in
    # 20 (this tiny net also writes a few garbled meters at temperature 1, guided or not).
    for kind, meter, other in (("jigs", "6/8", "3/4"), ("waltzes", "3/4", "6/8")):
        got = [meter_of(t) for t in gen.sample_many(20, condition=kind, seed=3, length=80, guidance=2.0)]
        assert got.count(meter) >= 13 and got.count(other) <= 1, (kind, got)


def test_the_default_scale_is_the_runs(guided):
    gen = rnnkit.load(str(guided))
    assert gen.guidance_scale() == DEFAULT_GUIDANCE
    options = dict(condition="waltz", seed=5, length=80, temperature=1.0)
    assert gen.sample_many(4, **options) == gen.sample_many(4, guidance=DEFAULT_GUIDANCE, **options)
    assert "".join(gen.stream(guidance=2.0, **options)) == gen.generate(guidance=2.0, **options)
    assert gen.generate(guidance=2.0, **options) != gen.generate(guidance=1.0, **options)


def test_with_the_meter_the_twins_keep_the_meter_asked_for(tmp_path):
    """A run conditioned on the kind and the meter: each twin reads "no kind" beside its tune's meter."""
    mixed = str(write_mixed(tmp_path / "abc"))
    train_tune(str(tmp_path / "r"), DataConfig(data=mixed, valid_fraction=0.1, test_fraction=0.1, meter=True,
                                               condition_dropout=0.2), SMALL, train_config(max_steps=2))
    gen = rnnkit.load(str(tmp_path / "r"))
    assert gen.no_kind == 1 + len(gen.meter_classes) and gen.model.config.num_conditions == gen.no_kind + 1
    start = gen._start("ashover", 3, "3/4", seed=1, guidance=2.0)
    meter = len(gen.kinds) + gen.meter_classes.index("3/4")
    assert start["conditions"].tolist() == [[0, meter]] * 3
    assert start["guide"].conditions.tolist() == [[gen.no_kind, meter]] * 3 and start["guide"].scale == 2.0
    assert len(gen.generate("ashover", meter="3/4", guidance=2.0, length=40, seed=1)) > 0


def test_resume_drops_the_same_kinds(tmp_path, collection):
    """The kinds dropped are drawn from torch's generator, which checkpoints keep: a resumed run's
    losses and weights are those of the unbroken run, and so are the scales it chooses once trained."""
    d = DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1, condition_dropout=0.5)
    cfg = train_config(max_steps=12, eval_interval=1e-9)
    guide = GuidanceChoice(samples=2, scales=(1.0, 3.0), temperatures=(1.0, 0.5), min_tunes=1)
    train_tune(str(tmp_path / "a"), d, SMALL, cfg, guide=guide)
    with pytest.raises(TrainingInterrupted):
        train_tune(str(tmp_path / "b"), d, SMALL, cfg, stop_after=5, guide=guide)
    assert not (tmp_path / "b" / "guidance.json").exists()  # chosen once trained, not when stopped
    resume_tune(str(tmp_path / "b"))
    assert (tmp_path / "b" / "guidance.json").read_text() == (tmp_path / "a" / "guidance.json").read_text()
    a, b = (read_metrics(str(tmp_path / r / "metrics.jsonl")) for r in "ab")
    assert [r.get("train_loss") for r in a] == [r.get("train_loss") for r in b]
    for p, q in zip(rnnkit.load(str(tmp_path / "a")).model.state_dict().values(),
                    rnnkit.load(str(tmp_path / "b")).model.state_dict().values()):
        assert torch.equal(p, q)


def test_cli_train_sample_and_evaluate(tmp_path, collection, capsys):
    run = tmp_path / "run"
    assert main(["train", "tune", "--data", collection, "--out", str(run), "--max-steps", "3", *SMALL_FLAGS,
                 "--condition-dropout", "0.2"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["condition_dropout"] == 0.2 and config["model"]["num_conditions"] == 3
    capsys.readouterr()
    assert main(["sample", str(run), "--condition", "jig", "--guidance", "2", "--length", "30", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out) > 1
    assert main(["evaluate", str(run), "--samples", "2", "--min-tunes", "1", "--guidance", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["guidance"] == 2.0 and set(result["generated"]) == {"jigs", "waltzes"}
    assert main(["evaluate", str(run), "--samples", "2", "--min-tunes", "1", "--guidance", "2"]) == 0
    assert "generated at temperature 0.2, guidance 2 on the headers\n" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--samples", "2", "--min-tunes", "1", "--guide-body", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["guidance"] == DEFAULT_GUIDANCE == 1.5 and result["guide_body"] is True


def test_bad_guidance_gives_one_line_errors_and_touches_nothing(tmp_path, collection, guided, capsys):
    plain = tmp_path / "plain"
    train_tune(str(plain), DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1, condition_dropout=0.0),
               SMALL, train_config(max_steps=2))
    before = {p.name: p.read_bytes() for p in plain.iterdir() if p.is_file()}
    cases = [
        (["sample", str(plain), "--condition", "jig", "--guidance", "2"], "trained without --condition-dropout"),
        (["evaluate", str(plain), "--guidance", "2"], "trained without --condition-dropout"),
        (["evaluate", str(plain), "--guide-body"], "--guide-body says where guidance applies"),
        (["sample", str(guided), "--condition", "jig", "--guidance", "1", "--guide-body"],
         "--guide-body says where guidance applies"),
        (["sample", str(guided), "--condition", "jig", "--guidance", "-1"], "--guidance"),
        (["train", "tune", "--data", collection, "--out", str(tmp_path / "o1"), "--no-condition",
          "--condition-dropout", "0.1"], "drop it with --no-condition"),
        (["train", "tune", "--data", collection, "--out", str(tmp_path / "o2"), "--condition-dropout", "1"],
         "--condition-dropout"),
        (["train", "tune", "--resume", str(plain), "--condition-dropout", "0.1"], "--condition-dropout, --balance"),
    ]
    for args, pattern in cases:
        capsys.readouterr()
        assert main(args) == 2, args
        lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(lines) == 1 and pattern in lines[0], (args, lines)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    assert {p.name: p.read_bytes() for p in plain.iterdir() if p.is_file()} == before
    with pytest.raises(RnnkitError, match="trained without --condition-dropout"):
        rnnkit.load(str(plain)).generate("jig", guidance=2.0)
    with pytest.raises(RnnkitError, match="condition_dropout"):
        train_tune(str(tmp_path / "o3"), DataConfig(data=collection, condition_dropout=1.0), SMALL, train_config())
    assert not (tmp_path / "o3").exists()



@pytest.fixture(scope="module")
def chosen(tmp_path_factory, collection):
    """A run that chose each kind's scale once trained, between 1 and 3 (never the default 1.5), and its
    temperature, 0.7 or 0.4 (neither the default 0.2 nor the sampler's 1)."""
    out = tmp_path_factory.mktemp("tune") / "chosen"
    train_tune(str(out), DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1, condition_dropout=0.3),
               SMALL, train_config(max_steps=150), guide=GuidanceChoice(samples=8, scales=(1.0, 3.0),
                                                                        temperatures=(0.7, 0.4), min_tunes=1))
    return out


def test_each_kind_samples_at_the_scale_chosen_after_training(chosen):
    """guidance.json holds each kind's shares at each temperature and scale, as drawn again here from
    its seed, the scale that passed most at each temperature and the temperature whose worst kind
    passed most; the loaded run draws each kind at its own scale and that temperature unless told."""
    saved = json.loads((chosen / "guidance.json").read_text())
    gen = rnnkit.load(str(chosen))
    assert set(saved["scales"]) == set(gen.kinds) == {"jigs", "waltzes"} and gen.kind_guidance == saved["scales"]
    assert saved["temperatures"] == [0.7, 0.4] and gen.default_temperature == saved["temperature"]
    known = frozenset(music_of(t.text) for t in held_out(str(chosen), "train"))
    passing = {}
    for temperature in (0.7, 0.4):
        shares = saved["shares"][f"{temperature:g}"]
        for scale in (1.0, 3.0):
            report = generation_report(gen, 8, 1, temperature, GUIDE_SEED, known, scale)
            assert {k: r["new_and_both"] for k, r in report.items()} == {k: v[f"{scale:g}"] for k, v in shares.items()}
        passing[temperature] = {k: max(v.values()) for k, v in shares.items()}
    assert saved["temperature"] == pick_temperature(passing)
    for kind in gen.kinds:
        shares = {float(s): v for s, v in saved["shares"][f"{saved['temperature']:g}"][kind].items()}
        scale = saved["scales"][kind]
        assert scale == pick_scale(shares) and shares[scale] == max(shares.values())
        assert gen.guidance_scale(kind=kind) == scale and gen.guidance_scale(kind=kind, guide_body=True) == DEFAULT_GUIDANCE
        options = dict(condition=kind, seed=5, length=80, temperature=1.0)
        assert gen.sample_many(4, **options) == gen.sample_many(4, guidance=scale, **options)
        assert gen.sample_many(4, **options) != gen.sample_many(4, guidance=DEFAULT_GUIDANCE, **options)
    assert generation_report(gen, 2, 1, 1.0, 1)["jigs"]["guidance"] == saved["scales"]["jigs"]


def test_sample_draws_at_the_temperature_chosen_after_training(chosen, capsys):
    gen = rnnkit.load(str(chosen))
    assert main(["sample", str(chosen), "--condition", "jig", "--num-samples", "3", "--length", "60", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    options = dict(condition="jig", length=60, seed=1)
    assert all(t in out for t in gen.sample_many(3, temperature=gen.default_temperature, **options))
    other = 1.1 - gen.default_temperature  # the other of the two chosen from (neither is 0.2 nor the sampler's 1)
    assert any(t not in out for t in gen.sample_many(3, temperature=other, **options))


def test_runs_from_before_the_temperature_was_chosen(chosen, tmp_path):
    """Their configuration names one temperature, their guidance.json none: they draw at 0.2."""
    old = {"samples": 50, "scales": [1.0, 1.5], "temperature": 0.2, "min_tunes": 30}
    got = guidance_choice(old)
    assert (got.samples, tuple(got.scales), tuple(got.temperatures), got.min_tunes) == (50, (1.0, 1.5), (0.2,), 30)
    import shutil
    run = tmp_path / "run"
    shutil.copytree(chosen, run)
    saved = json.loads((run / "guidance.json").read_text())
    (run / "guidance.json").write_text(json.dumps({"scales": saved["scales"]}))
    gen = rnnkit.load(str(run))
    assert gen.default_temperature == 0.2 and gen.kind_guidance == saved["scales"]


def test_a_run_from_before_the_temperature_was_chosen_resumes(tmp_path, collection):
    """Stopped before it ended, such a run resumes and chooses its scales at its one temperature."""
    d = DataConfig(data=collection, valid_fraction=0.1, test_fraction=0.1, condition_dropout=0.5)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train_tune(str(run), d, SMALL, train_config(max_steps=6), stop_after=3,
                   guide=GuidanceChoice(samples=2, scales=(1.0, 3.0), min_tunes=1))
    config = json.loads((run / "config.json").read_text())
    config["guidance"] = {"samples": 2, "scales": [1.0, 3.0], "temperature": 0.7, "min_tunes": 1}
    (run / "config.json").write_text(json.dumps(config))
    resume_tune(str(run))
    saved = json.loads((run / "guidance.json").read_text())
    assert saved["temperatures"] == [0.7] and saved["temperature"] == 0.7 and set(saved["shares"]) == {"0.7"}
    assert rnnkit.load(str(run)).default_temperature == 0.7


def test_cli_evaluate_names_each_kinds_scale(chosen, capsys):
    gen = rnnkit.load(str(chosen))
    scales, temperature = gen.kind_guidance, gen.default_temperature
    assert main(["evaluate", str(chosen), "--samples", "2", "--min-tunes", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["guidance"] is None and {k: r["guidance"] for k, r in result["generated"].items()} == scales
    assert result["temperature"] == temperature
    known = frozenset(music_of(t.text) for t in held_out(str(chosen), "train"))
    assert result["generated"] == json.loads(json.dumps(generation_report(gen, 2, 1, temperature, 1, known)))
    assert main(["evaluate", str(chosen), "--samples", "2", "--min-tunes", "1"]) == 0
    out = capsys.readouterr().out
    assert f"generated at temperature {temperature:g}, each kind's guidance on the headers\n" in out
    assert f"jigs: 2 generated at guidance {scales['jigs']:g}, meter" in out
    assert main(["evaluate", str(chosen), "--samples", "2", "--min-tunes", "1", "--guidance", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["guidance"] == 2.0 and {r["guidance"] for r in result["generated"].values()} == {2.0}


def test_a_bad_guidance_file_is_one_line(chosen, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(chosen, run)
    for bad in ({"scales": {"polkas": 2.0}}, {"scales": {"jigs": 2.0}, "temperature": "hot"}):
        (run / "guidance.json").write_text(json.dumps(bad))
        assert main(["sample", str(run), "--condition", "jig", "--length", "20"]) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(lines) == 1 and "is not a guidance choice" in lines[0], lines


def test_cli_guidance_samples(tmp_path, collection, capsys):
    """--guidance-samples N is recorded (0: no choice made, every kind at the default); it needs
    "no kind" to guide from, and a resumed run keeps its own."""
    run = tmp_path / "run"
    assert main(["train", "tune", "--data", collection, "--out", str(run), "--max-steps", "2", *SMALL_FLAGS,
                 "--guidance-samples", "0"]) == 0
    assert json.loads((run / "config.json").read_text())["guidance"]["samples"] == 0
    assert not (run / "guidance.json").exists() and rnnkit.load(str(run)).guidance_scale(kind="jigs") == DEFAULT_GUIDANCE
    for args, pattern in ((["train", "tune", "--data", collection, "--out", str(tmp_path / "o"), "--condition-dropout",
                            "0", "--guidance-samples", "5"], "--guidance-samples chooses"),
                          (["train", "tune", "--resume", str(run), "--guidance-samples", "5"], "--guidance-samples")):
        capsys.readouterr()
        assert main(args) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(lines) == 1 and pattern in lines[0], lines
    assert not (tmp_path / "o").exists()
