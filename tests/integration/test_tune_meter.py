"""The tune recipe's second condition, the meter: a kind whose tunes come in two meters (as the
Nottingham Ashover tunes come in four) writes the meter it is given, draws one of its own meters
when none is given, and runs from before the meter existed still load and resume as they were."""
import dataclasses
import json
from collections import Counter

import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.data.tunes import meter_of
from rnnkit.errors import RnnkitError
from rnnkit.recipes.tune import DataConfig, resume_tune, train_tune
from rnnkit.training.trainer import TrainConfig
from old_runs import assert_resumes_as_before
from tune_data import SMALL, train_config, write_collection, write_mixed



@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Ashover tunes, 15 in 6/8 and 15 in 3/4, and 15 reels in 4/4."""
    folder = tmp_path_factory.mktemp("mixed") / "abc"
    write_mixed(folder, per_shape=15)
    return str(write_collection(folder, per_kind=15, seed=2, kinds=("reels",)))


@pytest.fixture(scope="module")
def with_meter(tmp_path_factory, mixed):
    out = tmp_path_factory.mktemp("tune") / "meter"
    # No "no kind" (no guidance): the meter condition alone decides what is checked here.
    train_tune(str(out), DataConfig(data=mixed, valid_fraction=0.1, test_fraction=0.1, meter=True, condition_dropout=0.0),
               SMALL, train_config(max_steps=400))
    return out


def test_the_meter_asked_for_is_the_meter_written(with_meter):
    """Greedy Ashover tunes given 6/8 and 3/4 write that meter and its note length: the kind alone
    cannot tell them apart, so the meter condition decides (greedy decoding from the kind alone
    writes one tune, in one meter)."""
    gen = rnnkit.load(str(with_meter))
    assert gen.meter_classes == ["?", "3/4", "4/4", "6/8"] and gen.meters["ashover"] == ["3/4", "6/8"]
    assert gen.model.config.num_conditions == 2 + 4
    jig, waltz = (gen.generate("ashover", meter=m, temperature=0) for m in ("6/8", "3/4"))
    assert meter_of(jig) == "6/8" and "L:1/8" in jig, jig
    assert meter_of(waltz) == "3/4" and "L:1/4" in waltz, waltz
    assert meter_of(gen.generate("reel", meter="C|", temperature=0, length=60)) == "4/4"  # cut time is 4/4 here


def test_without_a_meter_each_tune_draws_one_of_its_kinds(with_meter):
    """The kind's meters as often as its training tunes have them; tune i's meter from seed + i."""
    gen = rnnkit.load(str(with_meter))
    drawn = gen.draw_meters("ashover", 400, seed=0)
    counts = Counter(drawn)
    assert set(counts) == {"3/4", "6/8"} and abs(counts["3/4"] - 200) < 40, counts  # 4 standard deviations
    assert gen.draw_meters("reels", 5, seed=0) == ["4/4"] * 5
    # Weighted by the counts, not uniform over the kind's meters: 3 to 1 gives 300 of 400, sd 8.7.
    lopsided = dataclasses.replace(gen, meter_counts={"ashover": {"3/4": 3, "6/8": 1}})
    assert abs(Counter(lopsided.draw_meters("ashover", 400, seed=0))["3/4"] - 300) < 35
    assert [gen.draw_meters("ashover", 1, seed=7 + i)[0] for i in range(6)] == gen.draw_meters("ashover", 6, seed=7)
    tunes = gen.sample_many(12, condition="ashover", temperature=0, seed=0, length=40)
    assert [meter_of(t) for t in tunes] == gen.draw_meters("ashover", 12, seed=0)
    options = dict(condition="ashover", temperature=0.8, seed=5)
    assert "".join(gen.stream(**options)) == gen.generate(**options)


def test_sample_and_evaluate_from_the_command_line(with_meter, capsys):
    capsys.readouterr()
    assert main(["sample", str(with_meter), "--condition", "ashover", "--meter", "3/4", "--temperature", "0"]) == 0
    assert meter_of(capsys.readouterr().out) == "3/4"
    assert main(["evaluate", str(with_meter), "--samples", "10", "--min-tunes", "5", "--temperature", "0.5",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tunes"] == 4 and set(result["generated"]) == {"ashover", "reels"}
    assert all(r["meter_fits"] == 1.0 for r in result["generated"].values()), result


def test_bad_meters_give_one_line_errors(with_meter, tmp_path, capsys):
    from rnnkit.recipes.charlm import DataConfig as CharData, train_charlm

    (tmp_path / "c.txt").write_text("abcabcabd " * 200)
    lm = tmp_path / "lm"
    train_charlm(str(lm), CharData(corpus=str(tmp_path / "c.txt")), dict(hidden_size=16, embedding_dim=8, num_layers=1),
                 TrainConfig(max_steps=2, batch_size=4, bptt=16, progress=False, precision="fp32", device="cpu"))
    before = {p.name: p.read_bytes() for p in with_meter.iterdir() if p.is_file()}
    for args, pattern in [
        (["sample", str(with_meter), "--condition", "reel", "--meter", "5/4"],
         "not trained on tunes in '5/4'; its meters: 3/4, 4/4, 6/8"),
        (["sample", str(with_meter), "--condition", "reel", "--meter", "?"], "not trained on tunes in '?'"),
        (["sample", str(lm), "--meter", "6/8"], "--meter picks the meter of a tune: it needs a tune run"),
    ]:
        capsys.readouterr()
        assert main(args) == 2, args
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rnnkit: error")]
        assert len(lines) == 1 and pattern in lines[0], (args, lines)
    assert {p.name: p.read_bytes() for p in with_meter.iterdir() if p.is_file()} == before
    with pytest.raises(RnnkitError, match="its meters"):
        rnnkit.load(str(with_meter)).generate("reel", meter="9/8")


def test_a_run_from_before_the_meter_loads_and_resumes_without_it(tmp_path, mixed):
    """A run whose config.json has no ``meter`` (written before it existed) is a kind-only run: it
    resumes exactly as an unbroken kind-only run goes on, and takes no meter."""
    d = DataConfig(data=mixed, valid_fraction=0.1, test_fraction=0.1, meter=False, condition_dropout=0.0)
    assert_resumes_as_before(tmp_path, lambda out, stop_after=None: train_tune(
        out, d, SMALL, train_config(max_steps=10, eval_interval=1e-9), stop_after=stop_after), resume_tune,
        [("data", "meter")])
    assert "meter_classes" not in json.loads((tmp_path / "b" / "vocab.json").read_text())
    gen = rnnkit.load(str(tmp_path / "b"))
    assert gen.meter_classes is None and gen.model.config.num_conditions == 2
    with pytest.raises(RnnkitError, match="trained without the meter"):
        gen.generate("ashover", meter="6/8")
