"""A check for options added after runs were made: a run whose config.json lacks the new keys
(written before they existed) must resume exactly as an unbroken run with the old behaviour goes on."""
import json

import pytest

from rnnkit.training.metrics import read_metrics
from rnnkit.training.trainer import TrainingInterrupted


def assert_resumes_as_before(tmp_path, train, resume, drop, stop_after=4):
    """``train(out, stop_after=None)`` makes a run with the old behaviour; run ``a`` goes unbroken,
    run ``b`` stops after ``stop_after`` steps, loses the config.json keys ``drop`` (pairs of
    section and key), and is continued by ``resume(out)``: both must log the same losses."""
    train(str(tmp_path / "a"))
    with pytest.raises(TrainingInterrupted):
        train(str(tmp_path / "b"), stop_after=stop_after)
    path = tmp_path / "b" / "config.json"
    config = json.loads(path.read_text())
    for section, key in drop:
        del config[section][key]
    path.write_text(json.dumps(config))
    resume(str(tmp_path / "b"))
    a, b = (read_metrics(str(tmp_path / r / "metrics.jsonl")) for r in "ab")
    assert [r.get("train_loss") for r in a] == [r.get("train_loss") for r in b] and len(a) > 2 * stop_after
