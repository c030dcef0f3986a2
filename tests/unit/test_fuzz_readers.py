"""Every reader of outside input, fuzzed: the only outcomes are a result or an RnnkitError (the
CLI's one-line error). Anything else (an IndexError, a UnicodeError, a crash deep in a library) is
a bug this file finds.

Inputs are random bytes, and valid files mutated (bytes flipped, cut short, grown): mutations
of real files reach the parsers' deeper states that random bytes never pass the first check of.
"""
import gzip
import io
import json
import os
import struct
import tarfile
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from rnnkit.data.abc import check_tune
from rnnkit.data.audio import read_audio
from rnnkit.data.conllu import parse_conllu, read_conllu
from rnnkit.data.corpus import read_corpus
from rnnkit.data.prepared import PrepareConfig, open_prepared, prepare
from rnnkit.data.pronunciations import parse_dictionary
from rnnkit.data.tunes import read_tunes
from rnnkit.data.vocab import Vocabulary
from rnnkit.data.words import read_words
from rnnkit.errors import RnnkitError
from rnnkit.training.checkpoint import load_checkpoint, save_checkpoint

# derandomize: the same examples on every run, so CI is never red by chance; a longer random search is
# RNNKIT_FUZZ=2000 (examples per test), run before changing a reader.
EXAMPLES = int(os.environ.get("RNNKIT_FUZZ", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 100, deadline=None, derandomize=not EXAMPLES,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    database=None)


def outcome(call):
    """Run ``call``: a result, or an RnnkitError with a message of one line."""
    try:
        return call()
    except RnnkitError as exc:
        assert str(exc) and "\n" not in str(exc), repr(exc)
        return exc


@st.composite
def mutated(draw, valid: bytes):
    """``valid`` with some bytes replaced, a piece cut out or random bytes inserted, or cut short."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at: at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:]
    return bytes(data)


def any_bytes(valid: bytes):
    return st.one_of(st.binary(max_size=400), mutated(valid))


def write(folder, name, data: bytes) -> str:
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# -- text corpora, archives, prepared data -----------------------------------------------------
def _tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


VALID_TAR = _tar_bytes({"src/a.c": b"int main(void) { return 0; }\n" * 4, "src/b.h": b"#define X 1\n"})
VALID_TGZ = gzip.compress(VALID_TAR)


@SETTINGS
@given(data=any_bytes(b"int x = 1;\n\xff\xfe caf\xc3\xa9\n"))
def test_text_files(tmp_path, data):
    path = write(tmp_path, "corpus.txt", data)
    result = outcome(lambda: read_corpus(path))
    if not isinstance(result, RnnkitError):
        assert result.text.strip()


@SETTINGS
@given(data=st.one_of(any_bytes(VALID_TAR), any_bytes(VALID_TGZ)))
def test_archives_read_and_prepared(tmp_path, data):
    name = "src.tar.gz" if data[:2] == b"\x1f\x8b" else "src.tar"
    path = write(tmp_path, name, data)
    outcome(lambda: read_corpus(path))
    out = os.path.join(tmp_path, "prepared")
    result = outcome(lambda: prepare(PrepareConfig(path, valid_fraction=0.0, test_fraction=0.0), out,
                                     progress=lambda message: None))
    if not isinstance(result, RnnkitError):
        prepared = open_prepared(out)
        assert len(prepared.ids("train")) == result["parts"]["train"]["chars"]


@pytest.fixture(scope="module")
def prepared_folder(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for i in range(6):
        (src / f"f{i}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n" * 20)
    out = str(tmp_path_factory.mktemp("prepared") / "data")
    prepare(PrepareConfig(str(src), valid_fraction=0.3, test_fraction=0.0), out, progress=lambda message: None)
    return {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)}


@SETTINGS
@given(which=st.sampled_from(["manifest.json", "vocab.json", "train.bin", "valid.bin"]), data=st.data())
def test_prepared_data_damaged(prepared_folder, which, data):
    damaged = data.draw(any_bytes(prepared_folder[which]))
    with tempfile.TemporaryDirectory() as folder:
        for name, content in prepared_folder.items():
            write(folder, name, damaged if name == which else content)

        def read():
            p = open_prepared(folder)
            return [np.asarray(p.ids(part)).max(initial=0) for part in ("train", "valid", "test")], p.spread("train", 50)

        result = outcome(read)
        if not isinstance(result, RnnkitError):
            maxima, _ = result
            assert all(m < len(open_prepared(folder).vocab) for m in maxima)


# -- CoNLL-U, word corpora, dictionaries, tunes, vocabularies ---------------------------------------
VALID_CONLLU = ("# text = The cat sat .\n1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\tNN\t_\t3\tnsubj\t_\t_\n"
                "3-4\tsat.\t_\t_\t_\t_\t_\t_\t_\t_\n3\tsat\tsit\tVERB\tVBD\t_\t0\troot\t_\t_\n"
                "4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n\n").encode()


@SETTINGS
@given(data=any_bytes(VALID_CONLLU), gz=st.booleans())
def test_conllu(tmp_path, data, gz):
    path = write(tmp_path, "x.conllu.gz" if gz else "x.conllu", gzip.compress(data) if gz else data)
    outcome(lambda: read_conllu(path))
    outcome(lambda: parse_conllu(data.decode("utf-8", "replace")))


@SETTINGS
@given(data=any_bytes(b"the cat sat\n\na dog ran on the mat\n"), gz=st.booleans())
def test_word_corpora(tmp_path, data, gz):
    path = write(tmp_path, "w.txt.gz" if gz else "w.txt", gzip.compress(data) if gz else data)
    outcome(lambda: read_words(path))


@SETTINGS
@given(data=any_bytes(b"CAT  K AE1 T\nCAT(2)  K AA1 T\nDOG  D AO1 G\n;;; comment\n"))
def test_pronouncing_dictionaries(data):
    outcome(lambda: parse_dictionary(data.decode("latin-1").splitlines(), "dict.txt"))


TUNE = b"X:1\nT:Test\nM:6/8\nL:1/8\nK:G\n|:GAB cBA|d2e dBG:|\n"


@SETTINGS
@given(data=any_bytes(TUNE))
def test_abc_tunes(tmp_path, data):
    text = data.decode("utf-8", "replace")
    outcome(lambda: check_tune(text))
    folder = tmp_path / "abc"
    folder.mkdir(exist_ok=True)
    write(folder, "jigs.abc", data)
    outcome(lambda: read_tunes(str(folder)))


@SETTINGS
@given(data=any_bytes(json.dumps(Vocabulary.build_chars("hello world").to_json()).encode()))
def test_vocabularies(data):
    def read():
        return Vocabulary.from_json(json.loads(data.decode("utf-8")))

    try:
        outcome(read)
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass  # not JSON: read_json turns these into RnnkitError (test_run_folders)


# -- audio ----------------------------------------------------------------------------------------
def _wav(samples: np.ndarray, rate: int = 8000) -> bytes:
    pcm = (samples * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


VALID_WAV = _wav(np.sin(np.arange(400) / 5.0) * 0.5)


@SETTINGS
@given(data=any_bytes(VALID_WAV))
def test_wav(tmp_path, data):
    result = outcome(lambda: read_audio(data, 8000, name="x.wav"))
    if not isinstance(result, RnnkitError):
        assert result.dtype == np.float32 and result.ndim == 1
    path = write(tmp_path, "x.wav", data)
    outcome(lambda: read_audio(path, 8000))


# -- run folders and checkpoints -------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    run = str(tmp_path_factory.mktemp("run"))
    save_checkpoint(run, 3, {"w": torch.ones(2, 3)}, {"rng/cpu": torch.get_rng_state()}, {"step": 3, "best_valid": None})
    return {name: open(os.path.join(run, name), "rb").read() for name in os.listdir(run)}


@SETTINGS
@given(which=st.sampled_from(["checkpoint.json", "model-00000003.safetensors", "state-00000003.safetensors"]),
       data=st.data(), verify=st.booleans())
def test_run_folders_damaged(run_folder, which, data, verify):
    damaged = data.draw(any_bytes(run_folder[which]))
    with tempfile.TemporaryDirectory() as folder:
        for name, content in run_folder.items():
            write(folder, name, damaged if name == which else content)
        result = outcome(lambda: load_checkpoint(folder, verify=verify))
        if verify and not isinstance(result, RnnkitError):
            assert torch.equal(result.model["w"], torch.ones(2, 3))  # checked: only the real weights load


@SETTINGS
@given(data=any_bytes(b'{"task": "charlm", "model": {"hidden_size": 8}}'))
def test_run_config(tmp_path, data):
    from rnnkit.recipes import recipe_of_run

    write(tmp_path, "config.json", data)
    outcome(lambda: recipe_of_run(str(tmp_path)))
