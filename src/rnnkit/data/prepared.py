"""Prepared corpora: a corpus of any size encoded once into memory-mapped token files, split by file.

``rnnkit prepare --corpus linux-source-6.1.tar.xz --include '*.c,*.h' --out data/linux`` reads
the corpus as a stream, one file at a time, twice (count the training characters, then encode),
so memory does not grow with the corpus. The folder it writes::

    manifest.json     format, source, include, the split (seed, fractions), the token type, and per
                      part: files, characters, bytes and the SHA-256 of its token file
    files.jsonl       one line per file read: name, part, bytes, characters, SHA-256 of its bytes
    vocab.json        the character vocabulary of the training part
    train.bin valid.bin test.bin
                      token ids, little-endian uint8 (vocabularies up to 256) or uint16

The split is by file: a file's part is decided by a seeded hash of its name, so validation and
test are whole files the model never saw, spread over the corpus, and the same seed gives the
same split whatever the reading order. Everything is written to a temporary folder renamed into
place at the end: a prepare that fails leaves no half-written data, and an older one intact.

>>> part_of("kernel/sched/core.c", seed=0, valid_fraction=0.0, test_fraction=0.0)
'train'
>>> part_of("kernel/sched/core.c", seed=0, valid_fraction=1.0, test_fraction=0.0)
'valid'
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import RnnkitError
from .corpus import CorpusStats, decode_file, iter_files, resolve_corpus
from .vocab import Vocabulary

log = logging.getLogger(__name__)

FORMAT = 1
PARTS = ("train", "valid", "test")
MAX_CODE = 0x110000  # code points


def part_of(name: str, seed: int, valid_fraction: float, test_fraction: float) -> str:
    """The part (train, valid, test) a file of this name falls in: a seeded hash, uniform in [0, 1)."""
    u = int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode("utf-8", "surrogatepass")).digest()[:8], "big") / 2**64
    return "test" if u < test_fraction else "valid" if u < test_fraction + valid_fraction else "train"


@dataclass(frozen=True)
class PrepareConfig:
    """What ``rnnkit prepare`` reads and how it splits it."""

    corpus: str
    include: str | None = None
    valid_fraction: float = 0.01
    test_fraction: float = 0.01
    split_seed: int = 0
    max_vocab: int | None = 256

    def validate(self) -> "PrepareConfig":
        for name in ("valid_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise RnnkitError(f"{name.replace('_', ' ')} must be in [0, 1), got {getattr(self, name)}")
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise RnnkitError("valid and test fractions leave nothing to train on")
        return self


CHUNK = 1 << 22  # characters encoded at a time: a file of any size costs a few tens of MB


def _codes(text: str) -> Iterator[np.ndarray]:
    """The code points of ``text``, a chunk at a time."""
    for start in range(0, len(text), CHUNK):
        yield np.frombuffer(text[start: start + CHUNK].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _files(cfg: PrepareConfig, stats: CorpusStats):
    """(name, part, raw bytes, text) of every text file of the corpus, in reading order."""
    for name, data in iter_files(cfg.corpus, cfg.include, stats):
        text = decode_file(data, stats) if data is not None else None
        if text is not None:
            yield name, part_of(name, cfg.split_seed, cfg.valid_fraction, cfg.test_fraction), data, text


def _count(cfg: PrepareConfig, progress: Callable[[str], None]) -> tuple[np.ndarray, list[str], CorpusStats]:
    """Pass 1: character counts of the training files, and the SHA-256 of every file read, in order
    (a list: an archive may hold two files of one name)."""
    counts = np.zeros(MAX_CODE, dtype=np.int64)
    digests: list[str] = []
    stats = CorpusStats()
    for name, part, data, text in _files(cfg, stats):
        digests.append(hashlib.sha256(data).hexdigest())
        if part == "train":
            for codes in _codes(text):
                found = np.bincount(codes)
                counts[: found.size] += found
        if len(digests) % 5000 == 0:
            progress(f"counting: {len(digests)} files")
    return counts, digests, stats


def _encode(cfg: PrepareConfig, vocab: Vocabulary, digests: list[str], folder: str,
            progress: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Pass 2: every file's ids appended to its part's token file; files.jsonl beside them."""
    dtype = np.uint8 if len(vocab) <= 256 else np.uint16
    table = vocab.code_table(MAX_CODE).astype(dtype)
    parts = {p: {"files": 0, "chars": 0, "bytes": 0, "unknown_chars": 0, "hash": hashlib.sha256()} for p in PARTS}
    outs = {p: open(os.path.join(folder, f"{p}.bin"), "wb") for p in PARTS}
    unk = vocab.index(vocab.unk)
    seen = 0
    try:
        with open(os.path.join(folder, "files.jsonl"), "w", encoding="utf-8") as listing:
            for name, part, data, text in _files(cfg, CorpusStats()):
                digest = hashlib.sha256(data).hexdigest()
                if seen >= len(digests) or digests[seen] != digest:
                    raise RnnkitError(f"{name} changed while the corpus was being prepared: prepare it again")
                p = parts[part]
                for codes in _codes(text):
                    ids = table[codes]
                    chunk = ids.tobytes()
                    outs[part].write(chunk)
                    p["hash"].update(chunk)
                    p["unknown_chars"] += int(((ids == unk) & (codes != ord(vocab.unk))).sum())
                p["files"], p["chars"], p["bytes"] = p["files"] + 1, p["chars"] + len(text), p["bytes"] + len(data)
                listing.write(json.dumps({"name": name, "part": part, "bytes": len(data), "chars": len(text),
                                          "sha256": digest}, ensure_ascii=False) + "\n")
                seen += 1
                if seen % 5000 == 0:
                    progress(f"encoding: {seen} of {len(digests)} files")
    finally:
        for f in outs.values():
            f.close()
    if seen != len(digests):
        raise RnnkitError("the corpus changed while it was being prepared (a different set of files): prepare it again")
    return {p: {**{k: v for k, v in d.items() if k != "hash"}, "sha256": d["hash"].hexdigest(), "dtype": np.dtype(dtype).name}
            for p, d in parts.items()}


def prepare(cfg: PrepareConfig, out: str, progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Encode the corpus ``cfg`` into the folder ``out`` (see the module's docstring); returns its manifest."""
    cfg.validate()
    source, _ = resolve_corpus(cfg.corpus, cfg.include)
    if os.path.exists(out) and not os.path.isdir(out):
        raise RnnkitError(f"--out {out} is a file, not a folder")
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "manifest.json")):
        raise RnnkitError(f"--out {out} holds other files: give an empty or new folder, or a prepared one to replace")
    start = time.monotonic()
    counts, digests, stats = _count(cfg, progress)
    if stats.files == 0:
        raise RnnkitError(f"no text files in {source}" + (f" matching {cfg.include}" if cfg.include else ""))
    if not counts.any():
        raise RnnkitError(f"no file of {source} fell in the training part: lower --valid-fraction/--test-fraction")
    vocab = Vocabulary.from_char_counts(counts, cfg.max_vocab)
    try:
        return _write(cfg, vocab, digests, stats, source, out, start, progress)
    except OSError as exc:  # a full disk, a read-only place: an older prepared folder at out is untouched
        raise RnnkitError(f"cannot write {out}: {exc.strerror or exc}; nothing was replaced") from None


def _write(cfg: PrepareConfig, vocab: Vocabulary, digests: list[str], stats: CorpusStats, source: str, out: str,
           start: float, progress: Callable[[str], None]) -> dict[str, Any]:
    """Pass 2 into a temporary folder beside ``out``, then the swap; returns the manifest."""
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".prepare-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private; the prepared one reads like any other
    try:
        parts = _encode(cfg, vocab, digests, tmp, progress)
        manifest = {"format": FORMAT, "kind": "char", "source": os.path.abspath(source), "include": cfg.include,
                    "split": {"by": "file", "seed": cfg.split_seed, "valid_fraction": cfg.valid_fraction,
                              "test_fraction": cfg.test_fraction},
                    "vocab_size": len(vocab), "parts": parts,
                    "skipped": {"binary": stats.skipped_binary, "unmatched": stats.skipped_unmatched},
                    "replaced_invalid_utf8": stats.replaced_chars, "seconds": round(time.monotonic() - start, 1)}
        _write_json(os.path.join(tmp, "vocab.json"), vocab.to_json())
        _write_json(os.path.join(tmp, "manifest.json"), manifest)
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def _swap_in(tmp: str, out: str) -> None:
    """Put the finished folder ``tmp`` at ``out``; a prepared folder already there is replaced only now."""
    for name in os.listdir(tmp):
        with open(os.path.join(tmp, name), "rb") as f:
            os.fsync(f.fileno())
    if os.path.isdir(out):
        old = tmp + "-old"
        os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError:
            os.replace(old, out)  # the older prepared folder goes back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


# -- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreparedCorpus:
    """A prepared folder opened for reading: its manifest, vocabulary and memory-mapped parts."""

    path: str
    manifest: dict[str, Any]
    vocab: Vocabulary

    def ids(self, part: str) -> np.ndarray:
        """The token ids of ``part`` (train, valid, test), memory-mapped: nothing is read until used."""
        if part not in PARTS:
            raise RnnkitError(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")
        info = self.manifest["parts"][part]
        path = os.path.join(self.path, f"{part}.bin")
        dtype = np.dtype(info["dtype"])
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise RnnkitError(f"prepared data {self.path} is incomplete: {exc.strerror}: {path}") from None
        if size != int(info["chars"]) * dtype.itemsize:
            raise RnnkitError(f"prepared data {self.path} is corrupted: {part}.bin holds {size} bytes, "
                              f"its manifest says {int(info['chars']) * dtype.itemsize}")
        if size == 0:
            return np.zeros(0, dtype=dtype)
        ids = np.memmap(path, dtype=dtype, mode="r")
        if ids.size and int(ids[-min(ids.size, 4096):].max()) >= len(self.vocab):
            raise RnnkitError(f"prepared data {self.path} is corrupted: {part}.bin holds ids outside its vocabulary")
        return ids

    def spread(self, part: str, max_chars: int, pieces: int = 16) -> np.ndarray:
        """At most ``max_chars`` ids of ``part`` as ``pieces`` evenly spaced windows (in memory):
        a held-out sample of the whole part rather than its first files."""
        ids = self.ids(part)
        if ids.size <= max_chars:
            return np.array(ids, dtype=np.int64)
        width = max_chars // pieces
        starts = np.linspace(0, ids.size - width, pieces).astype(np.int64)
        return np.concatenate([np.asarray(ids[s: s + width], dtype=np.int64) for s in starts])


def open_prepared(path: str) -> PreparedCorpus:
    """Open a folder written by :func:`prepare`; anything else is a one-line RnnkitError."""
    if not os.path.isdir(path):
        raise RnnkitError(f"prepared data not found: {path} (write it with rnnkit prepare)")
    manifest = _read(os.path.join(path, "manifest.json"), path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RnnkitError(f"{path}/manifest.json is not rnnkit prepared data of format {FORMAT}")
    try:
        for part in PARTS:
            info = manifest["parts"][part]
            np.dtype(info["dtype"])
            if int(info["chars"]) < 0:
                raise ValueError(part)
    except (KeyError, TypeError, ValueError):
        raise RnnkitError(f"{path}/manifest.json is malformed (its parts)") from None
    vocab = _read(os.path.join(path, "vocab.json"), path)
    if not isinstance(vocab, dict):
        raise RnnkitError(f"{path}/vocab.json is malformed")
    return PreparedCorpus(path=path, manifest=manifest, vocab=Vocabulary.from_json(vocab))


def _read(file: str, folder: str) -> Any:
    try:
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RnnkitError(f"{folder} is not prepared data ({os.path.basename(file)} missing)") from None
    except (OSError, ValueError) as exc:
        raise RnnkitError(f"{file} is corrupted ({exc})") from None
