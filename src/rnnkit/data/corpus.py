"""Text corpora read from the machine at run time: a file, a directory, a tar archive, or a name.

Named corpora need no download:

* ``python`` (the default): the ``*.py`` source of the running interpreter's standard library.
* ``linux``: a Linux kernel tree, or Debian's ``linux-source-*.tar.xz`` under ``/usr/src``
  (``apt-get install linux-source-6.1``).

Decoding rule: files are read as UTF-8; invalid byte sequences become U+FFFD
(``errors="replace"``) and are counted in :class:`CorpusStats`. A file whose first 8 KiB hold a
NUL byte is binary: it is skipped and counted, never fed to a model.
"""
from __future__ import annotations

import fnmatch
import glob
import logging
import lzma
import os
import sysconfig
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..errors import RnnkitError

log = logging.getLogger(__name__)

NAMED_CORPORA = ("python", "linux")
DEFAULT_INCLUDE = {"python": "*.py", "linux": "*.c,*.h"}
# Enough text for a CPU run of hours; keeps memory bounded for 1 GB trees.
DEFAULT_MAX_CHARS = 20_000_000
LINUX_HINT = (
    "install Debian's kernel source with 'apt-get install linux-source-6.1' "
    "(it puts /usr/src/linux-source-6.1.tar.xz), or pass --corpus PATH to a kernel tree or tarball"
)
# What a damaged archive raises from tarfile and its decompressors: a truncated gzip header even
# raises TypeError inside tarfile (found by tests/unit/test_fuzz_readers.py).
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, TypeError, ValueError)
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")


@dataclass
class CorpusStats:
    """What reading a corpus found: files used, binaries skipped, bytes that were not UTF-8."""

    files: int = 0
    skipped_binary: int = 0
    skipped_unmatched: int = 0
    replaced_chars: int = 0
    truncated: bool = False
    sources: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    """The text of a corpus and how it was read."""

    text: str
    stats: CorpusStats
    name: str

    def split(self, valid_fraction: float = 0.1) -> tuple[str, str]:
        """(train, valid): the last ``valid_fraction`` of the text is validation (nanoGPT's convention)."""
        if not 0.0 <= valid_fraction < 1.0:
            raise RnnkitError(f"valid fraction must be in [0, 1), got {valid_fraction}")
        cut = int(len(self.text) * (1.0 - valid_fraction))
        return self.text[:cut], self.text[cut:]


def parse_include(include: str | None) -> list[str]:
    """'*.c,*.h' -> ['*.c', '*.h']; None or '' -> [] (everything)."""
    return [p.strip() for p in (include or "").split(",") if p.strip()]


def _matches(path: str, patterns: list[str]) -> bool:
    """A pattern without '/' matches file names; one with '/' matches the path or any tail of it,
    so 'kernel/sched/*.c' finds 'linux-source-6.1/kernel/sched/core.c' inside an archive."""
    if not patterns:
        return True
    base = os.path.basename(path)
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, "*/" + p) if "/" in p else fnmatch.fnmatch(base, p)
               for p in patterns)


def decode_file(data: bytes, stats: CorpusStats) -> str | None:
    """A file's text by the decoding rule above, or None for a binary file (counted in ``stats``)."""
    if b"\x00" in data[:8192]:
        stats.skipped_binary += 1
        return None
    text = data.decode("utf-8", errors="replace")
    if "\ufffd" in text:
        # Count only replacements we introduced, not U+FFFD already in valid UTF-8.
        stats.replaced_chars += text.count("\ufffd") - data.count("\ufffd".encode())
    stats.files += 1
    return text


def _walk_dir(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        # Skip hidden and cache folders: .git, __pycache__ hold no corpus text.
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def _collect(blobs: Iterable[tuple[str, bytes | None]], max_chars: int, stats: CorpusStats) -> list[str]:
    """Decode the files' bytes until ``max_chars`` characters are read (None: a file that could
    not be read). The generator is not drawn further, so an archive is read no further than needed."""
    parts: list[str] = []
    total = 0
    for _, data in blobs:
        text = decode_file(data, stats) if data is not None else None
        if text is None:
            continue
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            stats.truncated = True
            break
    return parts


def _dir_blobs(paths: Iterable[str], root: str, patterns: list[str], stats: CorpusStats) -> Iterator[tuple[str, bytes | None]]:
    """(name relative to ``root``, bytes) of each matching file; files that do not match are counted, not read."""
    for path in paths:
        name = os.path.relpath(path, root)
        if not _matches(name, patterns):
            stats.skipped_unmatched += 1
            continue
        try:
            with open(path, "rb") as f:
                yield name, f.read()
        except OSError as exc:
            log.warning("skipping unreadable file %s: %s", path, exc)
            yield name, None


def _tar_blobs(tar: tarfile.TarFile, patterns: list[str], stats: CorpusStats) -> Iterator[tuple[str, bytes | None]]:
    for member in tar:
        if not member.isfile():
            continue
        if not _matches(member.name, patterns):
            stats.skipped_unmatched += 1
            continue
        fileobj = tar.extractfile(member)
        yield member.name, fileobj.read() if fileobj is not None else None


def _read_files(paths: Iterable[str], root: str, patterns: list[str], max_chars: int, stats: CorpusStats) -> list[str]:
    return _collect(_dir_blobs(paths, root, patterns, stats), max_chars, stats)


def _read_tar(path: str, patterns: list[str], max_chars: int, stats: CorpusStats) -> list[str]:
    try:
        # Stream mode ("r|*"): one pass over the compressed archive, nothing unpacked to disk.
        with tarfile.open(path, mode="r|*") as tar:
            return _collect(_tar_blobs(tar, patterns, stats), max_chars, stats)
    except _ARCHIVE_ERRORS as exc:
        raise RnnkitError(f"cannot read archive {path}: {exc}") from None


def iter_files(spec: str, include: str | None, stats: CorpusStats) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of every file of a corpus that ``include`` matches, in reading order, one at
    a time (None: unreadable): what :func:`read_corpus` reads, for callers that stream a corpus
    of any size (:mod:`rnnkit.data.prepared`). Decode each with :func:`decode_file`."""
    path, patterns = resolve_corpus(spec, include)
    if os.path.isdir(path):
        yield from _dir_blobs(_walk_dir(path), path, patterns, stats)
    elif is_archive(path):
        try:
            with tarfile.open(path, mode="r|*") as tar:
                yield from _tar_blobs(tar, patterns, stats)
        except _ARCHIVE_ERRORS as exc:
            raise RnnkitError(f"cannot read archive {path}: {exc}") from None
    else:
        yield from _dir_blobs([path], os.path.dirname(path) or ".", [], stats)


def python_stdlib_dir() -> str:
    """The folder holding the running interpreter's standard library source."""
    return sysconfig.get_paths()["stdlib"]


def find_linux_source() -> str:
    """A kernel tree or tarball at its standard place, or an error that says how to get one."""
    candidates = sorted(glob.glob("/usr/src/linux-source-*.tar.xz"), reverse=True)
    candidates += sorted(
        d for d in glob.glob("/usr/src/linux-source-*") if os.path.isdir(os.path.join(d, "kernel"))
    )
    if not candidates:
        raise RnnkitError(f"no Linux kernel source found under /usr/src: {LINUX_HINT}")
    return candidates[0]


def is_archive(path: str) -> bool:
    return path.endswith(_ARCHIVE_SUFFIXES)


def resolve_corpus(spec: str, include: str | None) -> tuple[str, list[str]]:
    """(the path a corpus names, its include patterns): a named corpus's place and default
    patterns, or the path given, which must exist."""
    if spec in NAMED_CORPORA:
        include = include if include is not None else DEFAULT_INCLUDE[spec]
        return (python_stdlib_dir() if spec == "python" else find_linux_source()), parse_include(include)
    if not os.path.exists(spec):
        raise RnnkitError(f"corpus not found: {spec} (give a file, a directory, a tar archive, or one of: {', '.join(NAMED_CORPORA)})")
    return spec, parse_include(include)


def read_corpus(spec: str = "python", include: str | None = None, max_chars: int | None = None) -> Corpus:
    """Read a corpus: a named one (``python``, ``linux``), a file, a directory or a tar archive.

    ``include`` is a comma-separated list of glob patterns matched against file names and
    paths inside a directory or archive (default: ``*.py`` for ``python``, ``*.c,*.h`` for
    ``linux``, every file otherwise). Reading stops once ``max_chars`` characters were read.
    """
    max_chars = DEFAULT_MAX_CHARS if max_chars is None else max_chars
    if max_chars <= 0:
        raise RnnkitError(f"max chars must be positive, got {max_chars}")
    path, patterns = resolve_corpus(spec, include)
    stats = CorpusStats(sources=[path])

    if os.path.isdir(path):
        parts = _read_files(_walk_dir(path), path, patterns, max_chars, stats)
        where = f"directory {path}"
    elif is_archive(path):
        parts = _read_tar(path, patterns, max_chars, stats)
        where = f"archive {path}"
    else:
        parts = _read_files([path], os.path.dirname(path) or ".", [], max_chars, stats)
        where = f"file {path}"
        if stats.skipped_binary:
            raise RnnkitError(f"{path} is a binary file, not text")

    if stats.files == 0:
        what = f"matching {','.join(patterns)}" if patterns else "text"
        extra = f" ({stats.skipped_binary} binary skipped)" if stats.skipped_binary else ""
        raise RnnkitError(f"no {what} files in {where}{extra}")
    text = "".join(parts)[:max_chars]
    if not text.strip():
        raise RnnkitError(f"corpus {path} is empty")
    if stats.skipped_binary:
        log.warning("skipped %d binary file(s) in %s", stats.skipped_binary, path)
    if stats.replaced_chars:
        log.warning("%d invalid UTF-8 sequence(s) in %s were replaced by U+FFFD", stats.replaced_chars, path)
    return Corpus(text=text, stats=stats, name=spec)
