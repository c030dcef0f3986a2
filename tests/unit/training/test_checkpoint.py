import json
import os

import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.training.checkpoint import load_checkpoint, save_checkpoint


def _save(run, step, value):
    save_checkpoint(str(run), step, {"w": torch.full((3,), float(value))}, {"s": torch.arange(4)}, {"step": step})


def test_round_trip_and_old_files_removed(tmp_path):
    _save(tmp_path, 1, 1.0)
    _save(tmp_path, 2, 2.0)
    ck = load_checkpoint(str(tmp_path))
    assert ck.step == 2 and torch.equal(ck.model["w"], torch.full((3,), 2.0))
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".safetensors")) == [
        "model-00000002.safetensors", "state-00000002.safetensors"]


def test_kill_during_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path, 1, 1.0)
    import rnnkit.training.checkpoint as ckmod

    real = ckmod.atomic_write_json

    def dying(path, obj):  # the process dies just before the commit point
        raise KeyboardInterrupt

    monkeypatch.setattr(ckmod, "atomic_write_json", dying)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, 2, 2.0)
    monkeypatch.setattr(ckmod, "atomic_write_json", real)
    ck = load_checkpoint(str(tmp_path))
    assert ck.step == 1 and float(ck.model["w"][0]) == 1.0
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_missing_incomplete_and_corrupted_folders(tmp_path):
    with pytest.raises(RnnkitError, match="run folder not found"):
        load_checkpoint(str(tmp_path / "nope"))
    with pytest.raises(RnnkitError, match="holds no checkpoint"):
        load_checkpoint(str(tmp_path))
    _save(tmp_path, 1, 1.0)
    weights = tmp_path / "model-00000001.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(RnnkitError, match="corrupted.*checksum"):
        load_checkpoint(str(tmp_path))
    weights.unlink()
    with pytest.raises(RnnkitError, match="incomplete.*missing"):
        load_checkpoint(str(tmp_path))
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(RnnkitError, match="corrupted"):
        load_checkpoint(str(tmp_path))


def test_checkpoint_holds_no_pickle(tmp_path):
    _save(tmp_path, 1, 1.0)
    for name in os.listdir(tmp_path):
        head = (tmp_path / name).read_bytes()[:2]
        assert head != b"\x80\x04" and head != b"PK"  # pickle protocol 4 / torch zip
    json.loads((tmp_path / "checkpoint.json").read_text())
