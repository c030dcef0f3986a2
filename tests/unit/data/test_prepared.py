"""rnnkit prepare: a corpus encoded once into memory-mapped token files, split by file."""
import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data import prepared as prep
from rnnkit.data.batching import BlockStreams
from rnnkit.data.prepared import PrepareConfig, open_prepared, part_of, prepare
from rnnkit.errors import RnnkitError

QUIET = dict(progress=lambda message: None)


def source_files(n=40):
    """Our own small C-like files, one with non-ASCII text, plus a binary one."""
    files = {f"linux/kernel/f{i:02d}.c": (f"/* file {i} */\nint f{i}(int x)\n{{\n\treturn x * {i};\n}}\n" * (3 + i % 5))
             for i in range(n)}
    files["linux/include/caf\u00e9.h"] = "#define NAME \"caf\u00e9 \u00fcber\"\n" * 4
    return files


def write_archive(path, files, binary=True):
    with tarfile.open(path, "w:gz") as tar:
        items = {name: text.encode() for name, text in files.items()}
        if binary:
            items["linux/tools/blob.o"] = b"\x7fELF\x00\x01\x02"
        for name, data in items.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("src") / "linux.tar.gz", source_files())


@pytest.fixture(scope="module")
def data(archive, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("prepared") / "linux")
    manifest = prepare(PrepareConfig(archive, include="*.c,*.h", valid_fraction=0.15, test_fraction=0.15), out, **QUIET)
    return out, manifest


def test_the_parts_hold_whole_files_split_by_a_seeded_hash(data):
    out, manifest = data
    files = source_files()
    listing = [json.loads(line) for line in open(os.path.join(out, "files.jsonl"), encoding="utf-8")]
    assert sorted(f["name"] for f in listing) == sorted(files)  # the binary file and *.o are not read
    prepared = open_prepared(out)
    for part in ("train", "valid", "test"):
        names = [f["name"] for f in listing if f["part"] == part]
        assert names, part  # 41 files, 15% each: every part holds some
        assert all(part_of(name, 0, 0.15, 0.15) == part for name in names)
        text = "".join(files[name] for name in names)  # in archive order, whole files
        assert prepared.vocab.decode(prepared.ids(part)) == text
        info = manifest["parts"][part]
        assert (info["files"], info["chars"], info["dtype"]) == (len(names), len(text), "uint8")
        assert info["sha256"] == hashlib.sha256(open(os.path.join(out, f"{part}.bin"), "rb").read()).hexdigest()
    assert all(f["sha256"] == hashlib.sha256(files[f["name"]].encode()).hexdigest() for f in listing)
    assert manifest["split"] == {"by": "file", "seed": 0, "valid_fraction": 0.15, "test_fraction": 0.15}
    assert isinstance(prepared.ids("train"), np.memmap)


def test_the_same_seed_gives_the_same_split_and_another_seed_another(archive, tmp_path):
    a = prepare(PrepareConfig(archive, valid_fraction=0.3, test_fraction=0.0), str(tmp_path / "a"), **QUIET)
    b = prepare(PrepareConfig(archive, valid_fraction=0.3, test_fraction=0.0), str(tmp_path / "b"), **QUIET)
    c = prepare(PrepareConfig(archive, valid_fraction=0.3, test_fraction=0.0, split_seed=7), str(tmp_path / "c"), **QUIET)
    assert a["parts"] == b["parts"]
    assert a["parts"]["valid"]["sha256"] != c["parts"]["valid"]["sha256"]


def test_a_vocabulary_of_the_training_files_only(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    names = [f"f{i}.txt" for i in range(30)]
    valid = [n for n in names if part_of(n, 0, 0.2, 0.0) == "valid"]
    assert valid
    for name in names:
        (src / name).write_text("abc\n" + ("\u00a7" if name == valid[0] else ""))
    manifest = prepare(PrepareConfig(str(src), valid_fraction=0.2, test_fraction=0.0), str(tmp_path / "p"), **QUIET)
    prepared = open_prepared(str(tmp_path / "p"))
    assert "\u00a7" not in prepared.vocab and manifest["parts"]["valid"]["unknown_chars"] == 1


def test_a_corpus_that_changes_while_it_is_read_leaves_the_old_folder(archive, tmp_path, monkeypatch):
    out = str(tmp_path / "p")
    first = prepare(PrepareConfig(archive), out, **QUIET)
    real = prep.iter_files
    calls = []

    def changing(spec, include, stats):  # the second pass finds one file edited
        calls.append(1)
        for name, blob in real(spec, include, stats):
            yield name, (blob + b"//" if len(calls) == 2 and name.endswith("f03.c") else blob)

    monkeypatch.setattr(prep, "iter_files", changing)
    with pytest.raises(RnnkitError, match="f03.c changed while the corpus was being prepared"):
        prepare(PrepareConfig(archive), out, **QUIET)
    assert open_prepared(out).manifest == first  # the old folder, whole
    assert [n for n in os.listdir(tmp_path) if n.startswith(".prepare-")] == []


def test_bad_input(archive, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    cases = [(PrepareConfig(archive, include="*.rs"), str(tmp_path / "a"), "no text files"),
             (PrepareConfig(str(tmp_path / "missing.tar")), str(tmp_path / "b"), "corpus not found"),
             (PrepareConfig(archive, valid_fraction=0.6, test_fraction=0.5), str(tmp_path / "c"), "nothing to train"),
             (PrepareConfig(archive), str(other), "holds other files")]
    for cfg, out, message in cases:
        with pytest.raises(RnnkitError, match=message):
            prepare(cfg, out, **QUIET)
    assert os.listdir(other) == ["notes.txt"]
    with pytest.raises(RnnkitError, match="not prepared data"):
        open_prepared(str(other))


def test_block_streams_read_every_block_once_an_epoch_and_resume_exactly():
    ids = torch.arange(1000)
    streams = BlockStreams(ids, batch_size=3, bptt=5, segments=4, seed=1)
    starts = []
    for _ in range(streams.rounds * 4):
        batch = streams.next_batch()
        assert torch.equal(batch.targets, batch.inputs + 1)  # contiguous: the next symbol is the target
        if batch.new_stream:
            starts += batch.inputs[:, 0].tolist()
    assert sorted(starts) == sorted(set(starts)) and all(s % 20 == 0 for s in starts)  # distinct blocks
    assert len(starts) == streams.rounds * 3 and streams.passes() == 1.0
    again = BlockStreams(ids, batch_size=3, bptt=5, segments=4, seed=1)
    again.seek(streams.position())
    for _ in range(30):  # into the next epoch: a new order, the cut shifted
        a, b = streams.next_batch(), again.next_batch()
        assert torch.equal(a.inputs, b.inputs) and a.new_stream == b.new_stream
    with pytest.raises(RnnkitError, match="fewer than 3 blocks"):
        BlockStreams(torch.arange(50), batch_size=3, bptt=5, segments=4)


def test_cli_prepare_train_evaluate(archive, tmp_path, capsys):
    out, run = str(tmp_path / "data"), str(tmp_path / "run")
    assert main(["prepare", "--corpus", archive, "--out", out, "--valid-fraction", "0.2", "--test-fraction", "0.2",
                 "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["parts"]["train"]["files"] > 0
    small = ["--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "1", "--batch-size", "4", "--bptt", "16",
             "--block-segments", "2", "--precision", "fp32", "--no-progress"]
    assert main(["train", "charlm", "--data", out, "--out", run, "--max-steps", "5", *small]) == 0
    config = json.loads(open(os.path.join(run, "config.json")).read())
    assert config["data"]["prepared"] == os.path.abspath(out)
    assert config["corpus"]["train_files"] == manifest["parts"]["train"]["files"]
    assert main(["train", "charlm", "--resume", run, "--max-steps", "8"]) == 0
    capsys.readouterr()
    assert main(["evaluate", run, "--data", out, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["part"] == "test" and result["files"] == manifest["parts"]["test"]["files"]
    assert result["nats_per_char"] > 0
    assert main(["evaluate", run, "--data", out, "--split", "valid", "--max-chars", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chars"] <= 64
    errors = [(["train", "charlm", "--data", out, "--corpus", archive, "--out", str(tmp_path / "x")], "drop --corpus"),
              (["train", "charlm", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "y")], "prepared data not found"),
              (["train", "charlm", "--resume", run, "--data", out], "drop --data"),
              (["evaluate", run, "--data", out, "--corpus", archive], "not both")]
    for argv, message in errors:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "y")
