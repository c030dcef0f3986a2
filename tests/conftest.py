"""Shared fixtures: small corpora written by rnnkit's authors (no third-party text)."""
from __future__ import annotations

import random

import pytest
import torch

# Two cores: keep each test process to one intra-op thread so parallel tools never oversubscribe.
torch.set_num_threads(1)

WORDS = "the a cat dog bird sat ran flew on under over mat log tree and then slowly quickly".split()


def make_text(num_lines: int = 400, seed: int = 0) -> str:
    """A toy language: short sentences with a little grammar, so a model has something to learn."""
    rng = random.Random(seed)
    lines = []
    for _ in range(num_lines):
        subj = rng.choice(["the cat", "a dog", "the bird"])
        verb = rng.choice(["sat", "ran", "flew"])
        prep = rng.choice(["on", "under", "over"])
        obj = rng.choice(["the mat", "a log", "the tree"])
        lines.append(f"{subj} {verb} {prep} {obj}.")
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny_corpus(tmp_path) -> str:
    path = tmp_path / "tiny.txt"
    path.write_text(make_text())
    return str(path)


@pytest.fixture
def code_dir(tmp_path) -> str:
    """A directory with C files, a Python file, a binary file and a file with invalid UTF-8."""
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "a.c").write_text("int main(void) {\n\treturn 0;\n}\n" * 20)
    (root / "sub" / "b.h").write_text("#define N 10\nstatic int x;\n" * 20)
    (root / "c.py").write_text("print('hi')\n")
    (root / "blob.c").write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    (root / "latin.c").write_bytes("/* caf\xe9 */\nint y;\n".encode("latin-1"))
    return str(root)


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> str:
    """The tune tests' toy ABC collection (tune_data.py): 15 jigs and 15 waltzes, one file each."""
    from tune_data import write_collection

    return str(write_collection(tmp_path_factory.mktemp("tunes") / "abc", per_kind=15))
