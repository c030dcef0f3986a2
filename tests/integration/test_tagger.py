"""The tagger recipe end to end on a toy language the tests write: it learns, resumes exactly,
loads as a Tagger, and its command line (train, evaluate, tag) works and fails in one line."""
import json

import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.data.conllu import read_conllu
from rnnkit.errors import RnnkitError
from rnnkit.recipes.tagger import DataConfig, Tagger, resume_tagger, train_tagger
from rnnkit.training.metrics import read_metrics
from rnnkit.training.trainer import TrainConfig, TrainingInterrupted
from tagger_data import toy_sentences, write_toy_conllu

SMALL = dict(word_dim=16, char_dim=8, char_hidden_size=8, hidden_size=24, num_layers=2, dropout=0.0, word_dropout=0.0)
SMALL_FLAGS = ["--word-dim", "16", "--char-dim", "8", "--char-hidden-size", "8", "--hidden-size", "24",
               "--dropout", "0", "--word-dropout", "0", "--batch-size", "8", "--lr", "0.01", "--precision", "fp32",
               "--no-progress"]


def _cfg(**kw):
    base = dict(batch_size=8, lr=1e-2, warmup_steps=5, weight_decay=0.0, dropout_from=0.0, dropout_ramp=0.0,
                max_steps=150, eval_interval=0, checkpoint_interval=1e9, log_interval=1, precision="fp32",
                device="cpu", progress=False, select="valid_upos_accuracy", patience=None)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger_data")
    return write_toy_conllu(root / "train.conllu", 60, 0), write_toy_conllu(root / "dev.conllu", 15, 1)


@pytest.mark.parametrize("members", [1, 2])
def test_overfits_the_toy_language(tmp_path, data, members):
    """Every training word right, including the sentence-initial "fish" that only the words after it
    disambiguate (NOUN before "swim", VERB before "now"): the backward direction must work. An
    ensemble of two learns it too, and loads and tags as one tagger."""
    train_tagger(str(tmp_path / "r"), DataConfig(train=data[0], dev=data[1]), {**SMALL, "members": members}, _cfg())
    tagger = rnnkit.load(str(tmp_path / "r"))
    assert isinstance(tagger, Tagger)
    sentences = toy_sentences(60, 0)
    predicted = tagger.predict([tokens for tokens, _ in sentences])
    assert [p.upos for p in predicted] == [tags for _, tags in sentences]
    assert tagger.tag(["fish", "now", "."]) == ["VERB", "ADV", "PUNCT"]
    assert tagger.tag(["fish", "swim", "."]) == ["NOUN", "VERB", "PUNCT"]
    pairs = tagger.tag(["the", "cat", "sat", "."], probabilities=True)
    assert [t for t, _ in pairs] == ["DET", "NOUN", "VERB", "PUNCT"] and all(0.5 < p <= 1 for _, p in pairs)
    assert predicted[1].xpos == ["DT", "NN", "VBD", "IN", "DT", "NN", "."]
    losses = [r["train_loss"] for r in read_metrics(str(tmp_path / "r" / "metrics.jsonl")) if "train_loss" in r]
    assert losses[-1] < 0.05 < losses[0]


@pytest.mark.parametrize("members", [1, 2])
def test_resume_continues_exactly_and_keeps_the_same_best(tmp_path, data, members):
    d = DataConfig(train=data[0], dev=data[1])
    cfg = _cfg(max_steps=24, eval_interval=1e-9, patience=100)  # evaluate (and select) after every step
    # The random parts must resume too: dropouts and misspellings, in each member of an ensemble.
    model = {**SMALL, "dropout": 0.3, "word_dropout": 0.2, "rare_word_dropout": 1.0, "misspell": 0.2,
             "members": members}
    train_tagger(str(tmp_path / "a"), d, model, cfg)
    with pytest.raises(TrainingInterrupted):
        train_tagger(str(tmp_path / "b"), d, model, cfg, stop_after=11)
    resume_tagger(str(tmp_path / "b"))
    a, b = (read_metrics(str(tmp_path / r / "metrics.jsonl")) for r in "ab")
    assert [r.get("train_loss") for r in a] == [r.get("train_loss") for r in b] and len(a) == 48
    ca, cb = (json.loads((tmp_path / r / "checkpoint.json").read_text())["trainer"]["best"] for r in "ab")
    assert ca == cb
    ta, tb = rnnkit.load(str(tmp_path / "a")), rnnkit.load(str(tmp_path / "b"))
    assert ta.step == ca["step"]
    for p, q in zip(ta.model.state_dict().values(), tb.model.state_dict().values()):
        assert torch.equal(p, q)


def test_without_dev_data_the_last_weights_are_the_model(tmp_path, data):
    train_tagger(str(tmp_path / "r"), DataConfig(train=data[0]), SMALL, _cfg(max_steps=3))
    assert rnnkit.load(str(tmp_path / "r")).step == 3
    # Strict JSON in the run folder (jq and other readers reject Infinity and NaN): no validation
    # loss yet is null, not Infinity; resuming reads it back.
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    for name in ("checkpoint.json", "config.json"):
        json.loads((tmp_path / "r" / name).read_text(), parse_constant=refuse)
    resume_tagger(str(tmp_path / "r"), train_overrides={"max_steps": 5})
    assert rnnkit.load(str(tmp_path / "r")).step == 5


@pytest.fixture(scope="module")
def run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("tagger_cli") / "run"
    assert main(["train", "tagger", "--train", data[0], "--dev", data[1], "--out", str(out), "--max-steps", "150",
                 "--eval-interval", "0", *SMALL_FLAGS]) == 0
    return out


def test_cli_train_evaluate_and_tag(run, data, tmp_path, capsys):
    for name in ("config.json", "vocab.json", "checkpoint.json", "metrics.jsonl", "loss.png"):
        assert (run / name).exists(), name
    assert json.loads((run / "config.json").read_text())["task"] == "tagger"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", data[1], "--json", "--confusion", str(tmp_path / "c.png")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["upos_accuracy"] == 1.0 and result["xpos_accuracy"] == 1.0 and result["tokens"] > 50
    assert result["per_tag"]["ADV"]["f1"] == 1.0 and result["tokens_per_s"] > 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    # Raw text: TABs separate tokens, blank lines are skipped, no final newline is fine, and a
    # sentence longer than any in training (7 words) is tagged like the others.
    long_line = " ".join(["the", "cat", "sat", "on", "the", "mat"] * 5) + " ."
    (tmp_path / "in.txt").write_text("fish now .\n\n  \nthe\tdog ran .\n" + long_line)
    assert main(["tag", str(run), str(tmp_path / "in.txt"), "--output", str(tmp_path / "out.conllu")]) == 0
    tagged = read_conllu(tmp_path / "out.conllu")
    assert [s.upos for s in tagged[:2]] == [["VERB", "ADV", "PUNCT"], ["DET", "NOUN", "VERB", "PUNCT"]]
    assert tagged[1].xpos == ["DT", "NN", "VBD", "."] and len(tagged[2].words) == 31
    assert tagged[2].upos[:3] == ["DET", "NOUN", "VERB"]
    # CoNLL-U in: only UPOS and XPOS change, everything else is kept byte for byte.
    blank = (tmp_path / "blank.conllu")
    gold = open(data[1], encoding="utf-8").read()
    blank.write_text("\n".join("\t".join(c[:3] + ["_", "_"] + c[5:]) if len(c := line.split("\t")) == 10 else line
                               for line in gold.split("\n")))
    assert main(["tag", str(run), str(blank), "--format", "conllu"]) == 0
    assert capsys.readouterr().out == gold


def test_unseen_gold_tags_are_errors_not_crashes(run, tmp_path, capsys):
    (tmp_path / "odd.conllu").write_text("1\tfish\t_\tNOUN\tNN\t_\t_\t_\t_\t_\n2\twow\t_\tINTJ\tUH\t_\t_\t_\t_\t_\n\n")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "odd.conllu"), "--json",
                 "--confusion", str(tmp_path / "c.png")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["unknown_gold_upos"] == {"INTJ": 1} and result["upos_accuracy"] <= 0.5
    assert result["unseen_tokens"] == 1 and result["per_tag"]["INTJ"]["recall"] == 0.0


def test_load_dispatches_on_the_task(run, tmp_path, tiny_corpus):
    from rnnkit.recipes.charlm import DataConfig as CharData, train_charlm

    assert isinstance(rnnkit.load(str(run)), rnnkit.Tagger)
    train_charlm(str(tmp_path / "lm"), CharData(corpus=tiny_corpus), dict(hidden_size=8, embedding_dim=4, num_layers=1),
                 TrainConfig(batch_size=4, bptt=8, max_steps=2, eval_interval=0, progress=False, precision="fp32",
                             device="cpu"))
    assert isinstance(rnnkit.load(str(tmp_path / "lm")), rnnkit.LanguageModel)
    with pytest.raises(RnnkitError, match="run folder not found"):
        rnnkit.load(str(tmp_path / "nothing"))


def _bad_inputs(tmp_path, run, data):
    t = tmp_path
    (t / "malformed.conllu").write_text("# sent_id = 1\n1\tfish\t_\tNOUN\n\n")
    (t / "empty.conllu").write_text("")
    (t / "untagged.conllu").write_text("1\tfish\t_\t_\t_\t_\t_\t_\t_\t_\n\n")
    (t / "control.txt").write_text("fish now .\nthe \x07 cat\n")
    (t / "empty.txt").write_text("")
    (t / "blank.txt").write_text("\n  \n\t\n")
    out = ["--output", str(t / "out.conllu")]
    return [
        (["train", "tagger", "--train", str(t / "malformed.conllu"), "--out", str(t / "o1")], "malformed.conllu:2:"),
        (["train", "tagger", "--train", str(t / "empty.conllu"), "--out", str(t / "o2")], "no sentences"),
        (["train", "tagger", "--train", str(t / "untagged.conllu"), "--out", str(t / "o3")], "no UPOS tags"),
        (["train", "tagger", "--out", str(t / "o4")], "give --train"),
        (["train", "tagger", "--train", data[0], "--dev", str(t / "missing.conllu"), "--out", str(t / "o5")], "file not found"),
        (["train", "tagger", "--train", data[0], "--out", str(run)], "already holds a run"),
        (["train", "tagger", "--resume", str(run), "--hidden-size", "64"], "cannot change the model shape"),
        (["train", "tagger", "--resume", str(run), "--train", data[0]], "drop --train"),
        (["train", "tagger", "--train", data[0], "--out", str(t / "o6"), "--word-dropout", "1"], "a number in [0, 1)"),
        (["evaluate", str(run), "--data", str(t / "malformed.conllu")], "malformed.conllu:2:"),
        (["evaluate", str(run), "--data", str(t / "empty.conllu")], "no sentences"),
        (["evaluate", str(run), "--data", str(t / "untagged.conllu")], "no UPOS tags to evaluate"),
        (["evaluate", str(run)], "required: --data"),
        (["evaluate", str(run), "--data", data[1], "--corpus", data[1]], "unrecognized arguments: --corpus"),
        (["tag", str(run), str(t / "control.txt"), *out], "control.txt:2: control character"),
        (["tag", str(run), str(t / "empty.txt"), *out], "no sentences"),
        (["tag", str(run), str(t / "blank.txt"), *out], "no sentences"),
        (["tag", str(run), str(t / "malformed.conllu"), *out], "malformed.conllu:2:"),
        (["tag", str(run), str(t / "missing.txt"), *out], "file not found"),
        (["tag", str(t / "nothing"), data[1], *out], "run folder not found"),
        (["sample", str(run)], "is a tagger run; this command needs a charlm, wordlm or tune run"),
    ]


def test_bad_inputs_give_one_line_errors_and_touch_nothing(run, data, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for args, pattern in _bad_inputs(tmp_path, run, data):
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("rnnkit: error")]
        assert len(lines) == 1 and pattern in lines[0], (args, err)
        assert not (tmp_path / "out.conllu").exists(), args
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before


def test_gzip_input_and_resume_from_the_command_line(tmp_path):
    gz = write_toy_conllu(tmp_path / "train.conllu.gz", 20, 2)
    run = tmp_path / "run"
    assert main(["train", "tagger", "--train", gz, "--out", str(run), "--max-steps", "2", *SMALL_FLAGS]) == 0
    assert main(["train", "tagger", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 0
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 4
    assert json.loads((run / "config.json").read_text())["corpus"]["train_sentences"] == 20
    # The ablation's flag: a forward-only sentence LSTM, kept on resume, refused as a change of shape.
    uni = tmp_path / "uni"
    assert main(["train", "tagger", "--train", gz, "--out", str(uni), "--max-steps", "2", "--unidirectional",
                 *SMALL_FLAGS]) == 0
    assert json.loads((uni / "config.json").read_text())["model"]["bidirectional"] is False
    assert main(["train", "tagger", "--resume", str(uni), "--max-steps", "3", "--unidirectional", "--no-progress"]) == 0
    assert main(["train", "tagger", "--resume", str(run), "--max-steps", "5", "--unidirectional", "--no-progress"]) == 2


def test_predictor_input_checks(run):
    tagger = rnnkit.load(str(run))
    assert tagger.predict([]) == []
    for bad in (["fish", ""], "fish now .", []):
        with pytest.raises(RnnkitError, match="sentence 1"):
            tagger.tag(bad)


def test_predictor_keeps_each_spelling_once_and_tags_as_the_model_does(run):
    """The predictor's cached character features give the tags and probabilities of the model's
    own forward pass, cold, warm, and when the cache fills up and starts afresh."""
    from rnnkit.data.batching import pad_sequences
    from rnnkit.recipes.tagger import SpellingCache

    tagger = rnnkit.load(str(run))
    sentences = [tokens for tokens, _ in toy_sentences(40, seed=5)] + [["Fish", "swam", "underneath", "."]]
    inputs, lengths = pad_sequences([tagger.vocab.encode_tokens(s) for s in sentences])
    with torch.no_grad():
        probs = tagger.model(inputs, lengths)[0][..., :len(tagger.vocab.upos)].softmax(-1)
    for cache in (SpellingCache(), SpellingCache(limit=6)):
        tagger.spellings = cache
        for _ in range(2):  # cold, then warm
            for s, (row, tagging) in zip(sentences, enumerate(tagger.predict(sentences, batch_size=7))):
                p, k = probs[row, :len(s)].max(-1)
                assert tagging.upos == [tagger.vocab.upos.tokens[i] for i in k.tolist()]
                torch.testing.assert_close(torch.tensor(tagging.upos_prob), p, rtol=1e-5, atol=1e-6)
        distinct = len({t for s in sentences for t in s})
        assert len(cache.index) == distinct if cache.limit > distinct else len(cache.index) < distinct


def test_an_auxiliary_character_head_changes_no_prediction(tmp_path, data):
    """With --char-loss the model has U more outputs at the end; the predictor's UPOS and XPOS are
    the argmax of their own columns, never of the auxiliary ones."""
    from rnnkit.data.batching import pad_sequences

    train_tagger(str(tmp_path / "r"), DataConfig(train=data[0], dev=data[1]), {**SMALL, "char_loss": 0.5},
                 _cfg(max_steps=20))
    tagger = rnnkit.load(str(tmp_path / "r"))
    sentences = [tokens for tokens, _ in toy_sentences(10, seed=6)]
    inputs, lengths = pad_sequences([tagger.vocab.encode_tokens(s) for s in sentences])
    with torch.no_grad():
        logits = tagger.model(inputs, lengths)[0]
    U, X = len(tagger.vocab.upos), len(tagger.vocab.xpos)
    assert logits.shape[-1] == U + X + U
    for row, tagging in enumerate(tagger.predict(sentences)):
        n = len(sentences[row])
        assert tagging.upos == [tagger.vocab.upos.tokens[i] for i in logits[row, :n, :U].argmax(-1).tolist()]
        assert tagging.xpos == [tagger.vocab.xpos.tokens[i] for i in logits[row, :n, U:U + X].argmax(-1).tolist()]


def test_inspect_tags_view_gives_the_taggers_tags_and_probabilities(run):
    from rnnkit.inspect.server import open_run

    inspected = open_run(str(run))
    assert list(inspected.views) == ["training", "tags"]
    sentences = ["the cat sat", "a dog ran on the mat"]
    coloured, listed = inspected.views["tags"].answer(inspected, {"text": "\n".join(sentences)})
    want = rnnkit.load(str(run)).predict([s.split() for s in sentences])
    assert [r[2] for r in listed["rows"]] == [tag for t in want for tag in t.upos]
    assert [t["value"] for t in coloured["tokens"]] == pytest.approx([p for t in want for p in t.upos_prob])
    with pytest.raises(RnnkitError, match="give some text"):
        inspected.views["tags"].answer(inspected, {"text": "  "})


def test_new_runs_misspell_by_default_and_older_runs_resume_without(tmp_path, data):
    """A new run records --misspell 0.1 (the recipe's default); a run whose config.json predates
    the setting reads as 0 (TaggerConfig's default), so it resumes as it was trained."""
    from rnnkit.configs import from_dict
    from rnnkit.models.tagger import TaggerConfig

    train_tagger(str(tmp_path / "r"), DataConfig(train=data[0]), SMALL, _cfg(max_steps=2))
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["misspell"] == 0.1
    del config["model"]["misspell"]
    assert from_dict(TaggerConfig, config["model"]).misspell == 0.0
    train_tagger(str(tmp_path / "s"), DataConfig(train=data[0]), {**SMALL, "misspell": 0.0}, _cfg(max_steps=2))
    assert json.loads((tmp_path / "s" / "config.json").read_text())["model"]["misspell"] == 0.0


def test_the_agreement_benchmark_scores_runs_as_the_tagger_does(run, tmp_path, capsys):
    """benchmarks/tagger_agreement.py: its probabilities give the tagger's own tags, and on one run
    given twice every error on an unseen word is shared, with the same tag, and the mean of the
    two is that run's accuracy (score_taggings')."""
    import importlib.util
    import pathlib

    from rnnkit.data.conllu import sentences_from_tokens, with_tags, write_conllu
    from rnnkit.recipes.tagger_eval import score_taggings

    path = pathlib.Path(__file__).parents[2] / "benchmarks" / "tagger_agreement.py"
    spec = importlib.util.spec_from_file_location("tagger_agreement", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # The mean and the shared errors on runs that differ (below, one run given twice cannot tell):
    a, b = [torch.tensor([[0.6, 0.4, 0.0]])], [torch.tensor([[0.0, 0.4, 0.6]])]
    assert bench.mean_tags([a, b], [(0, 0)], ("X", "Y", "Z")) == ["Y"]  # neither run's own choice
    assert bench.shared_errors([["A", "B", "B", "C"], ["A", "B", "C", "A"]], ["A", "A", "A", "C"]) == (2, 1)
    tokens = [["the", "zebra", "sat", "on", "a", "mat", "."], ["Fish", "now", "."],
              ["a", "Dog", "ran", "under", "the", "zog", "."], ["fish", "swum", "."],
              ["the", "cat", "slep", "on", "a", "Log", "."]]
    tags = [["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"], ["VERB", "ADV", "PUNCT"],
            ["DET", "NOUN", "VERB", "ADP", "DET", "ADV", "PUNCT"], ["NOUN", "VERB", "PUNCT"],  # "zog" ADV: an error
            ["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]]
    data = str(tmp_path / "unseen.conllu")
    write_conllu([with_tags(s, t) for s, t in zip(sentences_from_tokens(tokens), tags)], data)
    tagger = rnnkit.load(str(run))
    probs = bench.upos_probabilities(tagger, tokens, batch_size=2)
    predicted = tagger.predict(tokens)
    assert [[tagger.vocab.upos.tokens[k] for k in p.argmax(-1).tolist()] for p in probs] == [t.upos for t in predicted]
    score = score_taggings(read_conllu(data), predicted, tagger.vocab.train_forms)
    errors = round(score["unseen_tokens"] * (1 - score["unseen_upos_accuracy"]))
    assert 0 < errors < score["unseen_tokens"]  # some unseen words right and some wrong, or nothing is tested
    bench.main([str(run), str(run), "--data", data])
    out = capsys.readouterr().out
    assert f"{score['unseen_tokens']} words unseen in training" in out
    assert f"| mean probabilities of all 2 | {100 * score['unseen_upos_accuracy']:.2f}% | {errors} |" in out
    assert f"wrong in every run: {errors} words; with the same wrong tag in every run: {errors}" in out
    seen = str(tmp_path / "seen.conllu")
    [fish] = sentences_from_tokens([["fish", "swim", "."]])
    write_conllu([with_tags(fish, ["NOUN", "VERB", "PUNCT"])], seen)
    with pytest.raises(SystemExit, match="no tagged words unseen"):
        bench.main([str(run), str(run), "--data", seen])
    with pytest.raises(SystemExit, match="two or more"):
        bench.main([str(run), "--data", data])
