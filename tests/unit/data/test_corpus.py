import os
import tarfile

import pytest

from rnnkit.data.corpus import read_corpus, python_stdlib_dir
from rnnkit.errors import RnnkitError


def test_file_is_read_whole(tiny_corpus):
    c = read_corpus(tiny_corpus)
    assert c.text == open(tiny_corpus).read()
    assert c.stats.files == 1


def test_directory_with_globs_skips_binary_and_counts_invalid_utf8(code_dir):
    c = read_corpus(code_dir, include="*.c,*.h")
    assert c.stats.files == 3  # a.c, sub/b.h, latin.c
    assert c.stats.skipped_binary == 1
    assert c.stats.replaced_chars == 1  # the latin-1 byte 0xe9
    assert "caf\ufffd" in c.text
    assert "print" not in c.text


def test_tar_archive_streams_matching_members(tmp_path, code_dir):
    archive = tmp_path / "src.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(code_dir, arcname="linux-source")
    c = read_corpus(str(archive), include="*.h")
    assert c.stats.files == 1 and "#define N 10" in c.text
    # A pattern with a folder matches the tail of member paths (archives have a top folder).
    c = read_corpus(str(archive), include="sub/*.h")
    assert c.stats.files == 1 and "#define N 10" in c.text


def test_max_chars_truncates(code_dir):
    c = read_corpus(code_dir, include="*.c", max_chars=50)
    assert len(c.text) == 50 and c.stats.truncated


def test_python_corpus_is_the_stdlib():
    c = read_corpus("python", max_chars=100_000)
    assert os.path.isdir(python_stdlib_dir())
    assert c.stats.files >= 1 and len(c.text) == 100_000


def test_split_keeps_last_tenth_for_validation():
    from rnnkit.data.corpus import Corpus, CorpusStats

    train, valid = Corpus("x" * 90 + "y" * 10, CorpusStats(), "t").split(0.1)
    assert train == "x" * 90 and valid == "y" * 10


@pytest.mark.parametrize("make, message", [
    (lambda p: str(p / "missing.txt"), "corpus not found"),
    (lambda p: (p / "empty.txt").write_text("") and None or str(p / "empty.txt"), "is empty"),
    (lambda p: (p / "blank.txt").write_text("  \n\n") and None or str(p / "blank.txt"), "is empty"),
    (lambda p: (p / "bin.dat").write_bytes(b"\x00\x01") and None or str(p / "bin.dat"), "binary file"),
    (lambda p: (p / "d").mkdir() or str(p / "d"), "no text files"),
])
def test_bad_corpora_raise_clear_errors(tmp_path, make, message):
    with pytest.raises(RnnkitError, match=message):
        read_corpus(make(tmp_path))


def test_no_matching_files_names_the_patterns(code_dir):
    with pytest.raises(RnnkitError, match=r"no matching \*\.rs files"):
        read_corpus(code_dir, include="*.rs")


def test_broken_archive_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.tar.xz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(RnnkitError, match="cannot read archive"):
        read_corpus(str(bad))


def test_linux_corpus_absent_says_how_to_get_it(monkeypatch):
    import rnnkit.data.corpus as corpus

    monkeypatch.setattr(corpus.glob, "glob", lambda pattern: [])
    with pytest.raises(RnnkitError, match="apt-get install linux-source-6.1"):
        read_corpus("linux")
