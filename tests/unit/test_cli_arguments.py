"""Every option the CLI converts itself: bad values are one line on stderr and exit status 2."""
import numpy as np
import pytest

from rnnkit.cli import main

LP = np.log(np.full((1, 4, 3), 1 / 3, dtype=np.float32))


@pytest.fixture
def lp_file(tmp_path):
    np.save(tmp_path / "lp.npy", LP)
    return str(tmp_path / "lp.npy")


@pytest.mark.parametrize("extra, message", [
    (["--blank", "x"], "--blank must be a non-negative integer id (or give --vocab to name it by symbol), got 'x'"),
    (["--blank", "-1"], "--blank must be a non-negative integer id"),
    (["--blank", "0", "--beam-size", "two"], "expected a positive integer, got 'two'"),
    (["--blank", "0", "--lm-weight", "nan"], "expected a finite number, got 'nan'"),
    (["--blank", "0", "--word-bonus", "inf"], "expected a finite number, got 'inf'"),
    (["--blank", "0", "--lengths", "4,x"], "--lengths must be comma-separated integers"),
])
def test_decode_option_errors(capsys, lp_file, extra, message):
    assert main(["decode", lp_file, "--method", "ctc_beam", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit: error: ") and message in err


@pytest.mark.parametrize("flag, value, expected", [
    ("--lr", "nan", "a positive number"),
    ("--time-budget", "inf", "a positive number"),
    ("--weight-decay", "-0.1", "a number >= 0"),
    ("--weight-decay", "nan", "a number >= 0"),
    ("--warmup-steps", "-5", "an integer >= 0"),
    ("--eval-interval", "-1", "a number >= 0"),
    ("--seed", "1.5", "invalid int value"),
    ("--dropout", "1", "a number in [0, 1)"),
])
def test_train_option_errors(capsys, tmp_path, flag, value, expected):
    assert main(["train", "charlm", "--out", str(tmp_path / "r"), flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and flag in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag, value, expected", [
    ("--length", "-3", "an integer >= 0"),
    ("--temperature", "-1", "a number >= 0"),
    ("--temperature", "nan", "a number >= 0"),
    ("--top-k", "0", "a positive integer"),
    ("--top-p", "1.5", "a number in (0, 1]"),
    ("--num-samples", "many", "a positive integer"),
])
def test_sample_option_errors(capsys, tmp_path, flag, value, expected):
    assert main(["sample", str(tmp_path), flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
