"""A char-LM corpus of documents: the seeded split by document, --stop at a document's end,
evaluation on the run's own held-out documents, and the bad input."""
import json

import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.data.documents import END, split_documents
from rnnkit.errors import RnnkitError

TUNE = "X:1\nT:Same\nM:2/4\nL:1/8\nK:C\nCDEF|GABc|c4|]\n"
SMALL = ["--hidden-size", "48", "--num-layers", "1", "--embedding-dim", "16", "--batch-size", "8", "--bptt", "32",
         "--no-progress", "--precision", "fp32", "--eval-interval", "0", "--lr", "0.01"]


def test_the_split_is_seeded_disjoint_and_complete():
    text = "% a header line\n" + "".join(f"X:{i}\nK:C\nC{i}|\n\n" for i in range(50))
    parts = split_documents(text, "^X:", 0.1, 0.2, seed=7)
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [35, 5, 10]
    assert sorted(parts["train"] + parts["valid"] + parts["test"]) == sorted(f"X:{i}\nK:C\nC{i}|\n" for i in range(50))
    assert parts["dropped_chars"] == len("% a header line")
    assert split_documents(text, "^X:", 0.1, 0.2, seed=7) == parts
    assert split_documents(text, "^X:", 0.1, 0.2, seed=8)["test"] != parts["test"]
    for pattern, args, message in [("^Y:", (0.1, 0.1), "no line of the corpus matches"),
                                   ("^X:(", (0.1, 0.1), "not a regular expression"),
                                   ("^X:", (0.5, 0.5), "sum below 1")]:
        with pytest.raises(RnnkitError, match=message.replace("(", r"\(")):
            split_documents(text, pattern, *args)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    (folder / "tunes.abc").write_text("".join(TUNE + "\n\n" for _ in range(40)))
    out = folder / "run"
    assert main(["train", "charlm", "--corpus", str(folder / "tunes.abc"), "--documents", "^X:", "--valid-fraction",
                 "0.1", "--test-fraction", "0.1", "--max-steps", "150", "--out", str(out), *SMALL]) == 0
    return str(out)


def test_a_document_run_records_its_split_and_stops_at_the_document_end(run, capsys):
    config = json.load(open(f"{run}/config.json"))
    assert config["data"]["documents"] == "^X:"
    assert (config["corpus"]["train_documents"], config["corpus"]["valid_documents"],
            config["corpus"]["test_documents"]) == (32, 4, 4)
    lm = rnnkit.load(run)
    assert lm.documents and END in lm.vocab
    # greedy: the memorised tune, then the end of the document, which --stop cuts (and does not print)
    assert lm.sample("X:", length=200, temperature=0, end_of_document=True) == TUNE[2:]
    capsys.readouterr()
    assert main(["sample", run, "--prime", "X:", "--stop", "--temperature", "0", "--length", "200",
                 "--num-samples", "2"]) == 0
    assert capsys.readouterr().out == ("--- sample 1\n" + TUNE + "\n--- sample 2\n" + TUNE + "\n")
    midi = f"{run}/../tune.mid"
    assert main(["sample", run, "--prime", "X:", "--stop", "--temperature", "0", "--length", "200", "--midi", midi]) == 0
    assert capsys.readouterr().out == TUNE + "\n" and open(midi, "rb").read()[:4] == b"MThd"
    assert main(["evaluate", run, "--split", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["documents"] == 4 and result["chars"] == 4 * len(TUNE + END) and result["nats_per_char"] < 0.5


def test_bad_document_input(run, tmp_path, capsys):
    capsys.readouterr()
    corpus = tmp_path / "plain.txt"
    corpus.write_text("no documents here\n" * 20)
    cases = [(["train", "charlm", "--corpus", str(corpus), "--documents", "^X:", "--out", str(tmp_path / "a"),
               "--max-steps", "1"], "no line of the corpus matches --documents '^X:'"),
             (["train", "charlm", "--corpus", str(corpus), "--test-fraction", "0.1", "--out", str(tmp_path / "b"),
               "--max-steps", "1"], "--test-fraction needs --documents"),
             (["evaluate", run, "--split", "test", "--corpus", str(corpus)], "not both")]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    plain = str(tmp_path / "plain")
    assert main(["train", "charlm", "--corpus", str(corpus), "--out", plain, "--max-steps", "2", *SMALL]) == 0
    capsys.readouterr()
    for argv, message in [(["sample", plain, "--stop"], "needs a charlm run trained with --documents"),
                          (["evaluate", plain, "--split", "test"], "--split reads the held-out documents of a run "
                                                                   "trained with --documents"),
                          (["sample", plain, "--prime", "no", "--midi", str(tmp_path / "x.mid"), "--length", "5"],
                           "no sample could be written as MIDI")]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
