"""The addition recipe: trained on 8-bit pairs it adds longer numbers; the CLI and its bad input."""
import json

import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.recipes.addition import AdditionConfig, train_addition
from rnnkit.training.trainer import TrainConfig

FLAGS = ["--no-progress", "--precision", "fp32", "--eval-interval", "0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("addition") / "run"
    assert main(["train", "addition", "--bits", "8", "--examples", "1000", "--out", str(out), *FLAGS]) == 0
    return str(out)


def test_trained_on_8_bits_it_adds_longer_numbers(run):
    adder = rnnkit.load(run)
    assert isinstance(adder, rnnkit.Adder)
    for bits in (8, 9, 16, 64):
        r = adder.accuracy(bits, count=300)
        assert r["exact"] == 1.0, r
    big = (1 << 100) + 12345
    assert adder.add(big, big - 1) == 2 * big - 1 and adder.add(0, 0) == 0


def test_cli_evaluate_and_add(run, capsys):
    capsys.readouterr()
    assert main(["evaluate", run, "--bits", "8,16", "--pairs", "200", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trained_bits"] == 8 and [r["bits"] for r in result["lengths"]] == [8, 16]
    assert all(r["exact"] == 1.0 and r["pairs"] == 200 for r in result["lengths"])
    assert main(["add", run, "1011", "110"]) == 0
    assert capsys.readouterr().out.strip() == "10001"
    # the trained adder's gradient flow (a feature model: it reads random frames of 2 values)
    assert main(["diagnose", "gradient-flow", "--run", run, "--cell", "none", "--length", "20", "--json"]) == 0
    (name, curve), = json.loads(capsys.readouterr().out)["steps_back"].items()
    assert name == f"{run} (rnn_tanh)" and len(curve) == 20 and all(v >= 0 for v in curve)


@pytest.mark.parametrize("argv, message", [
    (["add", "RUN", "102", "1"], "not a binary number: '102'"),
    (["evaluate", "RUN", "--bits", "8,x"], "expected bit lengths like 8,16,1024"),
    (["evaluate", "RUN", "--bits", "0"], "bit lengths must be positive"),
])
def test_bad_input_is_one_line(run, capsys, argv, message):
    capsys.readouterr()
    assert main([run if a == "RUN" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_bad_training_data_and_the_wrong_task(tmp_path, capsys):
    assert main(["train", "addition", "--bits", "2", "--examples", "16", "--out", str(tmp_path / "r"), *FLAGS]) == 2
    err = capsys.readouterr().err
    assert "only 16 different pairs of 2-bit numbers" in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()
    cfg = TrainConfig(max_steps=5, eval_interval=0, progress=False, precision="fp32")
    train_addition(str(tmp_path / "tiny"), AdditionConfig(bits=3, examples=20, dev=5), {"hidden_size": 4}, cfg)
    assert main(["sample", str(tmp_path / "tiny")]) == 2
    assert "is an addition run; this command needs a charlm, wordlm or tune run" in capsys.readouterr().err
