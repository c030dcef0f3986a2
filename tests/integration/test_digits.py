"""The spoken-digits recipe on synthetic recordings: both divergences learn, the CLI, bad input."""
import json

import numpy as np
import pytest
import soundfile
from digits_data import RATE, digit_signal, write_digits

import rnnkit
from rnnkit.cli import main
from rnnkit.errors import RnnkitError
from rnnkit.recipes.digits import DigitsConfig, train_digits
from rnnkit.training.trainer import TrainConfig

SMALL = dict(embedding_dim=16, hidden_size=24, num_layers=1, dropout=0.0)
FLAGS = ["--embedding-dim", "16", "--hidden-size", "24", "--num-layers", "1", "--dropout", "0", "--lr", "0.01",
         "--batch-size", "16", "--no-progress", "--precision", "fp32", "--eval-interval", "0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits") / "recordings")


def _train(out, data, divergence, steps=200):
    cfg = TrainConfig(batch_size=16, lr=1e-2, warmup_steps=5, max_steps=steps, eval_interval=0, log_interval=10,
                      precision="fp32", device="cpu", progress=False, select="valid_accuracy", patience=None)
    return train_digits(str(out), DigitsConfig(data=data, divergence=divergence), SMALL, cfg)


@pytest.mark.parametrize("divergence", ["last", "all"])
def test_each_divergence_learns_digits_that_need_memory(tmp_path, data, divergence):
    result = _train(tmp_path / divergence, data, divergence)
    assert result["valid_accuracy"] == 1.0, result
    clf = rnnkit.load(str(tmp_path / divergence))
    assert isinstance(clf, rnnkit.DigitClassifier)
    test = [digit_signal(d, s, i) for d in range(4) for s in range(2) for i in range(5)]
    assert [d for d, _ in clf.classify(test)] == [d for d in range(4) for _ in range(10)]


def test_cli_train_evaluate_classify(tmp_path, data, capsys):
    run = tmp_path / "run"
    assert main(["train", "digits", "--data", data, "--out", str(run), "--max-steps", "200", *FLAGS]) == 0
    for name in ("config.json", "normalizer.json", "checkpoint.json", "metrics.jsonl"):
        assert (run / name).exists(), name
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["recordings"] == 40 and result["accuracy"] == 1.0
    # A user's recording: 16 kHz, stereo, float, with silence around the word -> resampled, mixed
    # down, trimmed, and named like the training recordings.
    x = digit_signal(3, 1, 2)
    padded = np.concatenate([np.zeros(RATE), x, np.zeros(RATE // 2)])
    up = np.interp(np.arange(2 * len(padded)) / 2, np.arange(len(padded)), padded)
    soundfile.write(tmp_path / "user.wav", np.stack([up, up], 1), 2 * RATE, subtype="FLOAT")
    assert main(["classify", str(run), str(tmp_path / "user.wav"), f"{data}/1_spk0_3.wav", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["digit"], r["file"]) for r in lines] == [(3, str(tmp_path / "user.wav")), (1, f"{data}/1_spk0_3.wav")]
    assert all(0.5 < r["probability"] <= 1.0 for r in lines)


def test_bad_inputs_are_one_line_errors(tmp_path, data, capsys):
    run = tmp_path / "run"
    assert main(["train", "digits", "--data", data, "--out", str(run), "--max-steps", "2", *FLAGS]) == 0
    assert main(["train", "digits", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 0
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 4
    assert main(["train", "digits", "--resume", str(run), "--divergence", "all"]) == 2  # the run's own data settings
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text.wav").write_text("not audio\n")
    soundfile.write(bad / "ok.wav", digit_signal(0, 0, 0), RATE, subtype="PCM_16")
    (bad / "cut.wav").write_bytes((bad / "ok.wav").read_bytes()[:30])
    soundfile.write(bad / "empty.wav", np.zeros(0), RATE)
    soundfile.write(bad / "short.wav", 0.5 * np.ones(100), RATE)  # 12.5 ms: less than one frame
    soundfile.write(bad / "quiet.wav", np.zeros(4000), RATE)
    cases = {"text.wav": "not a readable audio file", "cut.wav": "not a readable audio file", "empty.wav": "empty",
             "short.wav": "shorter than one 25 ms frame", "quiet.wav": "silence only", "none.wav": "no such file"}
    for name, message in cases.items():
        capsys.readouterr()
        assert main(["classify", str(run), str(bad / name)]) == 2, name
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and message in err and name in err, (name, err)
    empty_dir, labels = tmp_path / "nothing", tmp_path / "labels"
    empty_dir.mkdir()
    labels.mkdir()
    soundfile.write(labels / "12_spk0_3.wav", digit_signal(0, 0, 0), RATE)
    for folder, message in [(empty_dir, "no .wav files"), (labels, "not a digit 0-9"), (tmp_path / "gone", "not a folder")]:
        capsys.readouterr()
        assert main(["train", "digits", "--data", str(folder), "--out", str(tmp_path / "new")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "new").exists()  # nothing written
    with pytest.raises(RnnkitError, match="list of recordings"):
        rnnkit.load(str(run)).classify(str(bad / "ok.wav"))


def test_divergence_option_picks_the_lecture_weights():
    import torch

    from rnnkit.data.batching import Batch
    from rnnkit.losses.many_to_one import many_to_one_xent
    from rnnkit.recipes.digits import make_task

    g = torch.Generator().manual_seed(0)
    logits, labels, lengths = torch.randn(3, 5, 10, generator=g), torch.tensor([1, 7, 3]), torch.tensor([5, 2, 4])
    batch = Batch(torch.zeros(3, 5, 2), labels, lengths)
    examples = [(torch.zeros(4, 2), torch.tensor(1))]
    for option, weights in (("last", "last"), ("all", "uniform")):
        task = make_task(examples, None, DigitsConfig(divergence=option), TrainConfig())
        got, want = task.divergence(logits, batch), many_to_one_xent(logits, labels, lengths, weights)
        assert float(got.total) == float(want.total) and float(got.count) == float(want.count)
    assert float(many_to_one_xent(logits, labels, lengths, "last").total) != float(want.total)


def test_resume_refuses_changed_recordings(tmp_path, data, capsys):
    import shutil

    copy = tmp_path / "recordings"
    shutil.copytree(data, copy)
    run = tmp_path / "run"
    assert main(["train", "digits", "--data", str(copy), "--out", str(run), "--max-steps", "2", *FLAGS]) == 0
    (copy / "2_spk1_12.wav").unlink()                      # a training recording gone
    capsys.readouterr()
    assert main(["train", "digits", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "changed since the run began" in err and err.count("\n") == 1, err
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 2


def test_inspect_speech_view_gives_the_classifiers_probabilities(tmp_path, data, capsys):
    import base64
    import os

    from rnnkit.inspect.server import open_run

    run = tmp_path / "run"
    assert main(["train", "digits", "--data", data, "--out", str(run), "--max-steps", "2", *FLAGS]) == 0
    inspected = open_run(str(run))
    assert list(inspected.views) == ["training", "speech"]
    wav = os.path.join(data, "3_spk0_1.wav")
    form = {"recording": base64.b64encode(open(wav, "rb").read()).decode(), "recording_name": "3.wav"}
    blocks = inspected.views["speech"].answer(inspected, form)
    want = rnnkit.load(str(run)).probabilities([wav])[0]
    rows = {int(d): float(p) for d, p in blocks[1]["rows"]}
    assert rows == pytest.approx({d: float(p) for d, p in enumerate(want)}, abs=5e-5)  # printed to 4 places
    assert blocks[0]["value"] == int(want.argmax())
    with pytest.raises(RnnkitError, match="not a readable audio file"):
        inspected.views["speech"].answer(inspected, {"recording": base64.b64encode(b"RIFF junk").decode()})
