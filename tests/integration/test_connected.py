"""The connected-digits recipe on synthetic recordings: CTC and aligned learn, the decoders, the
CLI with times and plots, and bad input."""
import json

import numpy as np
import pytest
import soundfile
import torch
from digits_data import RATE, digit_signal, write_digits

import rnnkit
from rnnkit.cli import main
from rnnkit.data.features import FeatureConfig
from rnnkit.decoding.hypothesis import Hypothesis
from rnnkit.errors import RnnkitError
from rnnkit.recipes.connected import ConnectedConfig, train_connected
from rnnkit.recipes.transcriber import Transcriber
from rnnkit.training.trainer import TrainConfig

SMALL = dict(embedding_dim=32, hidden_size=32, num_layers=1, dropout=0.0)
DATA = dict(train_utterances=300, dev_utterances=40, test_utterances=60, max_digits=3, stack=2, snr_db=30.0, pause_min=0.05)
FLAGS = ["--embedding-dim", "32", "--hidden-size", "32", "--num-layers", "1", "--dropout", "0", "--lr", "0.01",
         "--batch-size", "16", "--no-progress", "--precision", "fp32", "--eval-interval", "0", "--stack", "2",
         "--train-utterances", "300", "--dev-utterances", "40", "--max-digits", "3", "--pause", "0.05", "0.25"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("connected") / "recordings")


def _train(out, data, steps=250, **options):
    cfg = TrainConfig(batch_size=16, lr=1e-2, warmup_steps=10, max_steps=steps, eval_interval=0, log_interval=25,
                      precision="fp32", device="cpu", progress=False, select="valid_error_rate", select_mode="min",
                      patience=None)
    return train_connected(str(out), ConnectedConfig(data=data, **{**DATA, **options}), SMALL, cfg)


@pytest.fixture(scope="module")
def ctc_run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("ctc") / "run"
    return out, _train(out, data)


def _evaluate(run, capsys, *options):
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_ctc_learns_digit_strings_and_every_decoder_reads_them(ctc_run, capsys):
    run, result = ctc_run
    assert result["valid_error_rate"] == 0.0, result
    report = _evaluate(run, capsys)
    assert report["utterances"] == 60 and report["repeat_utterances"] > 5
    for name in ("greedy", "beam", "lexicon"):
        assert report["decoders"][name]["der"] == 0.0, (name, report)
        assert report["decoders"][name]["per"] is None  # a digit model has no phonemes


def test_aligned_reads_repeats_only_where_a_pause_splits_them(tmp_path, data, capsys):
    run = tmp_path / "aligned"
    assert _train(run, data, divergence="aligned", pause_min=0.05)["valid_error_rate"] == 0.0
    report = _evaluate(run, capsys)
    assert list(report["decoders"]) == ["greedy"] and report["decoders"]["greedy"]["der"] == 0.0
    # Digits back to back: the frame targets of "2 2" are one long run of 2s, so the merged
    # output is one 2. Utterances without a repeat are still read; those with one lose digits.
    run = tmp_path / "no-pause"
    assert _train(run, data, divergence="aligned", pause_min=0.0, pause_max=0.0)["valid_error_rate"] > 0.02
    greedy = _evaluate(run, capsys)["decoders"]["greedy"]
    assert greedy["der_other"] == 0.0 and greedy["der_repeats"] > 0.2, greedy
    assert capsys.readouterr().err == ""
    with pytest.raises(RnnkitError, match="decodes greedy only"):
        rnnkit.load(str(run)).transcribe([digit_signal(1, 0, 0)], "beam")


def test_phoneme_ctc_with_the_lexicon_gives_digits(tmp_path, data, capsys):
    run = tmp_path / "phonemes"
    _train(run, data, units="phonemes", steps=300)
    config = json.loads((run / "config.json").read_text())
    assert config["symbols"][:3] == ["_", "AH", "AO"] and config["pronunciations"]["3"] == ["TH", "R", "IY"]
    report = _evaluate(run, capsys)
    lexicon, greedy = report["decoders"]["lexicon"], report["decoders"]["greedy"]
    assert lexicon["der"] <= 0.02 and lexicon["per"] <= 0.02, lexicon
    assert greedy["der"] is None and greedy["per"] <= 0.05, greedy   # phonemes, not words
    model = rnnkit.load(str(run))
    signal = np.concatenate([np.zeros(800, np.float32), digit_signal(3, 1, 1), np.zeros(800, np.float32),
                             digit_signal(0, 1, 2), np.zeros(800, np.float32)])
    [t] = model.transcribe([signal], "lexicon")
    assert t.digits == (3, 0) and len(t.units) == 7 and [s.symbol for s in t.segments] == ["3", "0"]


def _transcriber(symbols, prons=None):
    return Transcriber(None, FeatureConfig(), None, 2, 40.0, "ctc", symbols, prons, {}, 0)


def test_segment_times_follow_the_steps():
    # Steps of 2 frames: hop 160 samples (20 ms), window 200 + 80 = 280 samples (35 ms), at 8 kHz.
    model = _transcriber(("_",) + tuple("0123456789"))
    best = np.array([0, 4, 4, 0, 0, 4, 0, 8])
    t = model.transcript(Hypothesis(tokens=(4, 4, 8), score=-1.0, timesteps=(1, 5, 7)), best, offset=800)
    assert t.digits == (3, 3, 7)
    # The first 3: steps 1-2 -> (800 + 160) / 8000 .. (800 + 2 * 160 + 280) / 8000.
    assert [(s.symbol, s.start, s.end) for s in t.segments] == [
        ("3", 0.12, 0.175), ("3", 0.2, 0.235), ("7", 0.24, 0.275)]
    prons = {3: ("TH", "R", "IY"), 0: ("Z", "IH", "R", "OW")}
    model = _transcriber(("_", "IH", "IY", "OW", "R", "TH", "Z"), prons)
    h = Hypothesis(tokens=(5, 4, 2), score=0.0, timesteps=(0, 2, 3), words=("3",))
    t = model.transcript(h, np.array([5, 0, 4, 2, 2]), offset=0)
    assert t.digits == (3,) and [(s.symbol, s.start, s.end) for s in t.segments] == [("3", 0.0, 0.115)]
    assert model.transcript(Hypothesis((5, 4), 0.0, (0, 2)), np.array([5, 0, 4]), 0).digits is None


def test_cli_transcribe_times_plot_and_bad_input(ctc_run, data, tmp_path, capsys):
    run, _ = ctc_run
    # A user's file: 16 kHz stereo float, 0.5 s of silence, "2 1", 0.3 s of silence.
    gap = np.zeros(RATE // 4, np.float32)
    two, one = digit_signal(2, 0, 3), digit_signal(1, 1, 4)
    x = np.concatenate([np.zeros(RATE // 2, np.float32), two, gap, one, np.zeros(3 * RATE // 10, np.float32)])
    up = np.interp(np.arange(2 * len(x)) / 2, np.arange(len(x)), x)
    wav = tmp_path / "user.wav"
    soundfile.write(wav, np.stack([up, up], 1), 2 * RATE, subtype="FLOAT")
    capsys.readouterr()
    assert main(["transcribe", str(run), str(wav), "--json", "--decoder", "lexicon", "--plot", str(tmp_path / "p.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["digits"] == "21" and [s["symbol"] for s in out["segments"]] == ["2", "1"]
    # Each digit's segment lies within (or touches) its own samples in the original file.
    spans = [(0.5, 0.5 + len(two) / RATE), (0.75 + len(two) / RATE, 0.75 + (len(two) + len(one)) / RATE)]
    for seg, (a, b) in zip(out["segments"], spans):
        assert a - 0.04 <= seg["start"] < seg["end"] <= b + 0.04, (seg, a, b)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["transcribe", str(run), str(wav)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{wav}\t2 1" and lines[1].startswith("  2\t") and len(lines) == 3
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text.wav").write_text("not audio\n")
    soundfile.write(bad / "quiet.wav", np.zeros(4000), RATE)
    soundfile.write(bad / "short.wav", 0.5 * np.ones(100), RATE)
    cases = [([str(bad / "text.wav")], "not a readable audio file"), ([str(bad / "quiet.wav")], "silence only"),
             ([str(bad / "short.wav")], "shorter than one"), ([str(wav), str(wav), "--plot", "x.png"], "one file"),
             ([str(bad / "none.wav")], "no such file")]
    for files, message in cases:
        capsys.readouterr()
        assert main(["transcribe", str(run), *files]) == 2, files
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and message in err, (files, err)
    assert not (tmp_path / "x.png").exists()


def test_cli_train_resume_and_refusals(tmp_path, data, capsys):
    run = tmp_path / "run"
    assert main(["train", "connected", "--data", data, "--out", str(run), "--max-steps", "2", *FLAGS]) == 0
    assert main(["train", "connected", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 0
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 4
    capsys.readouterr()
    for args, message in [(["--resume", str(run), "--units", "phonemes"], "drop --units"),
                          (["--data", data, "--out", str(tmp_path / "n"), "--units", "phonemes", "--divergence", "aligned"],
                           "needs digit units"),
                          (["--data", data, "--out", str(tmp_path / "n"), "--pause", "0.3", "0.1"], "pauses must be")]:
        assert main(["train", "connected", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "n").exists()
    assert main(["transcribe", str(run), f"{data}/1_spk0_3.wav", "--decoder", "nope"]) == 2
    with pytest.raises(RnnkitError, match="list of recordings"):
        rnnkit.load(str(run)).transcribe(f"{data}/1_spk0_3.wav")
    assert isinstance(rnnkit.load(str(run)), rnnkit.Transcriber)


def test_targets_follow_the_divergence():
    from rnnkit.data.connected_digits import build_utterances
    from rnnkit.recipes.connected import example, output_symbols

    recs = [(np.ones(800, np.float32), 3), (np.ones(400, np.float32), 7)]
    [u] = build_utterances(recs, 1, seed=4, digits=(3, 3))
    steps = ((len(u.samples) - 200) // 80 + 2) // 2          # frames of 10 ms, two to a step
    feats = torch.zeros(steps, 80)
    symbols = output_symbols(ConnectedConfig(), None)
    _, y = example(u, feats, ConnectedConfig(), FeatureConfig(), symbols, None)
    assert y.tolist() == [d + 1 for d in u.digits]
    _, frames = example(u, feats, ConnectedConfig(divergence="aligned", stack=2), FeatureConfig(), symbols, None)
    hop = 160
    for span in u.spans:   # a step whose window's centre lies inside a digit is labelled with it
        inside = [t for t in range(steps) if span.start <= t * hop + 140 < span.end]
        assert inside and all(frames[t] == span.digit + 1 for t in inside)
    assert int((frames == 0).sum()) == steps - sum(
        1 for t in range(steps) if any(s.start <= t * hop + 140 < s.end for s in u.spans))


def test_resume_refuses_changed_recordings(tmp_path, data, capsys):
    import shutil

    copy = tmp_path / "recordings"
    shutil.copytree(data, copy)
    run = tmp_path / "run"
    assert main(["train", "connected", "--data", str(copy), "--out", str(run), "--max-steps", "2", *FLAGS]) == 0
    (copy / "0_spk0_7.wav").unlink()                       # a dev recording gone
    capsys.readouterr()
    assert main(["train", "connected", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "changed since the run began" in err and err.count("\n") == 1, err


def test_inspect_speech_view_shows_the_transcript_and_posteriorgram(ctc_run, data):
    import base64
    import os

    from rnnkit.inspect.server import open_run

    run, _ = ctc_run
    inspected = open_run(str(run))
    assert list(inspected.views) == ["training", "speech"]
    wav = os.path.join(data, "2_spk1_2.wav")
    form = {"recording": base64.b64encode(open(wav, "rb").read()).decode(), "recording_name": "2.wav", "decoder": "beam"}
    heard, image, segments = inspected.views["speech"].answer(inspected, form)
    [want] = rnnkit.load(str(run)).transcribe([wav], "beam")
    assert heard["value"] == " ".join(map(str, want.digits))
    assert image["src"].startswith("data:image/png;base64,iVBOR")
    assert segments["rows"] == [[s.symbol, f"{s.start:.2f}", f"{s.end:.2f}"] for s in want.segments]
