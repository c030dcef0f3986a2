"""Speech features against direct NumPy arithmetic, and reading audio files the tests write themselves."""
import numpy as np
import pytest
import soundfile
import torch

from rnnkit.data.audio import read_audio, resample, trim_silence
from rnnkit.data.features import (FeatureConfig, Normalizer, compute_features, dct_matrix, hz_to_mel,
                                  mel_filterbank, power_spectrum)
from rnnkit.errors import RnnkitError

CFG = FeatureConfig()


def _signal(seconds=0.3, rate=8000, seed=0):
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 2500 * t + 1.0)
            + 0.01 * rng.standard_normal(len(t)))


def test_power_spectrum_is_the_direct_dft_of_each_windowed_frame():
    x = _signal()
    got = power_spectrum(torch.tensor(x, dtype=torch.float32), CFG).double().numpy()
    n, hop, N = 200, 80, 256
    w = np.hanning(n)  # symmetric Hann, as the module documents
    k = np.arange(N // 2 + 1)[:, None]
    basis = np.exp(-2j * np.pi * k * np.arange(n)[None, :] / N)  # the DFT of the zero-padded frame, summed directly
    frames = [x[s:s + n] for s in range(0, len(x) - n + 1, hop)]
    want = np.array([np.abs(basis @ (f * w)) ** 2 for f in frames])
    assert got.shape == want.shape == (len(frames), 129)
    # float32 input and FFT against a float64 sum: error about 1e-6 of the frame's largest power.
    assert np.abs(got - want).max() < 1e-5 * want.max()
    assert abs(int(got[3].argmax()) - round(440 * N / 8000)) <= 1  # the louder tone's bin


def test_mel_filters_are_triangles_that_tile_the_band():
    fb = mel_filterbank(CFG).double()  # [129, 40]
    freqs = np.arange(129) * 8000 / 256
    centres = freqs[fb.argmax(0).numpy()]
    assert (np.diff(centres) > 0).all()
    assert (np.diff(hz_to_mel(torch.tensor(centres)).numpy()) > 0).all() and fb.max() <= 1.0
    # Neighbouring triangles cross at half height, so between the first and last centre they sum to 1.
    inside = (freqs > centres[0]) & (freqs < centres[-1])
    np.testing.assert_allclose(fb.sum(1).numpy()[inside], 1.0, atol=1e-6)


def test_mfcc_is_the_orthonormal_dct_of_log_mel():
    d = dct_matrix(40, 40).double()
    np.testing.assert_allclose((d.T @ d).numpy(), np.eye(40), atol=1e-6)
    n = np.arange(40)
    np.testing.assert_allclose(d[:, 3].numpy(), np.sqrt(2 / 40) * np.cos(np.pi * 3 * (2 * n + 1) / 80), atol=1e-7)
    x = torch.tensor(_signal(), dtype=torch.float32)
    logmel = compute_features(x, CFG)
    mfcc = compute_features(x, FeatureConfig(kind="mfcc"))
    torch.testing.assert_close(mfcc, logmel @ dct_matrix(40, 13), rtol=1e-5, atol=1e-4)
    assert mfcc.shape == (logmel.shape[0], 13)


def test_a_tone_lights_the_filter_over_its_frequency():
    for hz in (300.0, 1000.0, 3000.0):
        x = torch.sin(2 * torch.pi * hz * torch.arange(4000) / 8000)
        f = compute_features(x, CFG)
        fb = mel_filterbank(CFG)
        assert int(f.mean(0).argmax()) == int(fb[round(hz * 256 / 8000)].argmax())


def test_normalizer_fits_training_frames_and_round_trips():
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(20, 3, generator=g) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([3.0, -2.0, 0.0])
             for _ in range(4)]
    norm = Normalizer.fit(feats)
    z = torch.cat([norm(f) for f in feats])
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3), atol=1e-5, rtol=0)
    assert Normalizer.from_json(norm.to_json()) == norm
    with pytest.raises(RnnkitError, match="malformed"):
        Normalizer.from_json({"mean": [0.0]})


def test_read_audio_formats_channels_and_rates(tmp_path):
    x = _signal(0.25)
    soundfile.write(tmp_path / "a.wav", x, 8000, subtype="PCM_16")
    got = read_audio(str(tmp_path / "a.wav"), 8000)
    assert got.dtype == np.float32 and np.abs(got - x).max() < 1 / 32768 + 1e-6  # 16-bit rounding
    soundfile.write(tmp_path / "stereo.wav", np.stack([x, 0 * x], 1), 8000, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(str(tmp_path / "stereo.wav"), 8000), x / 2, atol=1e-7)
    t = np.arange(4000) / 16000
    soundfile.write(tmp_path / "16k.wav", np.sin(2 * np.pi * 1000 * t), 16000, subtype="FLOAT")
    y = read_audio(str(tmp_path / "16k.wav"), 8000)
    np.testing.assert_allclose(y, np.sin(2 * np.pi * 1000 * np.arange(2000) / 8000), atol=1e-5)
    assert len(resample(np.ones(7), 8000, 16000)) == 14


def test_bad_audio_files_are_one_line_errors(tmp_path):
    (tmp_path / "text.wav").write_text("not audio at all\n")
    soundfile.write(tmp_path / "ok.wav", _signal(0.25), 8000, subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes((tmp_path / "ok.wav").read_bytes()[:20])  # truncated mid-header
    soundfile.write(tmp_path / "empty.wav", np.zeros(0), 8000)
    for name, match in [("text.wav", "not a readable audio file"), ("cut.wav", "not a readable audio file"),
                        ("empty.wav", "empty"), ("missing.wav", "no such file")]:
        with pytest.raises(RnnkitError, match=match):
            read_audio(str(tmp_path / name), 8000)
    with pytest.raises(RnnkitError, match="silence only"):
        trim_silence(np.zeros(4000, dtype=np.float32), 8000, name="quiet.wav")
    with pytest.raises(RnnkitError, match="shorter than one 25 ms frame"):
        compute_features(torch.zeros(150), CFG)


def test_trimming_keeps_the_speech_and_a_margin():
    rate = 8000
    speech = _signal(0.3).astype(np.float32)
    padded = np.concatenate([np.zeros(rate, np.float32), speech, np.zeros(rate // 2, np.float32)])
    trimmed = trim_silence(padded, rate)
    # The speech whole, plus at most one frame (25 ms) and the 50 ms margin on each side.
    assert len(speech) <= len(trimmed) <= len(speech) + 2 * int(0.075 * rate)
    assert np.abs(trimmed).max() == np.abs(speech).max()
    assert len(trim_silence(speech, rate)) == len(speech)  # already trimmed: unchanged
