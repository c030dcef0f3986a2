"""Speech: a recording uploaded to a digits run (its class probabilities) or a connected-digits
run (the posteriorgram and the decoded segments)."""
from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from ...data.audio import read_audio
from ...errors import RnnkitError
from . import Field, View, stat, table

MAX_BYTES = 5_000_000  # about 2.5 minutes of 16-bit audio at 16 kHz


def recording(run: Any, form: dict[str, str]):
    data = form.get("recording") or ""
    if not data:
        raise RnnkitError("choose a recording (a wav file)")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RnnkitError("the recording did not arrive whole (bad base64)") from None
    if len(raw) > MAX_BYTES:
        raise RnnkitError(f"the recording has {len(raw):,} bytes; this page reads at most {MAX_BYTES:,}")
    return read_audio(raw, run.predictor.features.rate, name=form.get("recording_name") or "the recording")


def answer(run: Any, form: dict[str, str]) -> list[dict[str, Any]]:
    samples = recording(run, form)
    model = run.predictor
    if run.task == "digits":
        probs = model.probabilities([samples])[0].tolist()
        ranked = sorted(enumerate(probs), key=lambda kv: -kv[1])
        return [stat("digit", ranked[0][0]), table(["digit", "probability"], [[d, f"{p:.4f}"] for d, p in ranked])]
    from ...recipes.connected_eval import plot_posteriorgram

    decoder = form.get("decoder") or "greedy"
    [t] = model.transcribe([samples], decoder)
    buf = io.BytesIO()
    plot_posteriorgram(model, samples, t, buf, name=form.get("recording_name") or "recording")
    said = " ".join(map(str, t.digits)) if t.digits is not None else " ".join(t.units)
    return [stat("heard", said or "(nothing)"),
            {"type": "image", "src": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()},
            table(["symbol", "start (s)", "end (s)"], [[s.symbol, f"{s.start:.2f}", f"{s.end:.2f}"] for s in t.segments])]


def fields(run: Any) -> list[Field]:
    out = [Field("recording", "Recording (wav)", "file")]
    if run.task == "connected":
        from ...recipes.transcriber import DECODERS

        out.append(Field("decoder", "Decoder", "select", "greedy", tuple(DECODERS)))
    return out


VIEW = View(name="speech", title="Speech", tasks=("digits", "connected"), fields=fields, answer=answer, button="Listen")
