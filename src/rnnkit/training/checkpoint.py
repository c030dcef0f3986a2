"""Run folders are checkpoints: plain JSON and safetensors, written atomically, never unpickled.

Layout of a run folder::

    config.json                   what was run: task, model config, training config, data settings
    vocab.json                    the vocabulary (a checkpoint alone is enough to sample or decode)
    checkpoint.json               the commit point: step, trainer state, names and SHA-256 of the files below
    model-<step>.safetensors      weights (fp32, CPU) of that step
    state-<step>.safetensors      optimizer moments, RNG state, carried recurrent state
    metrics.jsonl, loss.png       progress log and loss curve

Every file is written to a temporary name, flushed, fsync'ed and renamed into place.
``checkpoint.json`` is renamed last, so a kill at any moment leaves either the previous
checkpoint or the new one, never a mix; older weight files are deleted only afterwards.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import load_file, save_file

from ..errors import RnnkitError

FORMAT = 1
MANIFEST = "checkpoint.json"
TMP_PREFIX = ".tmp-"  # files being written; never read, and removed when a run is resumed


class WriteError(RnnkitError):
    """A file of a run folder could not be written (disk full, read-only folder...); the file it
    was to replace is intact."""


@contextlib.contextmanager
def _replacing(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it is fsync'ed and renamed onto ``path``.
    Any OSError (disk full, a read-only folder) becomes a :class:`WriteError` naming ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)
        os.close(fd)
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, SafetensorError) as exc:
        raise WriteError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def check_writable(folder: str) -> None:
    """Make sure a file can be written in ``folder`` (or, while it does not exist yet, in the
    nearest folder above it, where it will be made), before work that would be lost otherwise:
    a read-only or full place is a :class:`WriteError` now. Nothing is left behind."""
    probe = os.path.abspath(folder)
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        if os.path.exists(probe):
            raise WriteError(f"cannot write in {folder}: {probe} is a file")
        probe = os.path.dirname(probe)
    try:
        # Not TMP_PREFIX: another process of a torchrun run may be removing half-written files meanwhile.
        fd, tmp = tempfile.mkstemp(prefix=".write-check-", dir=probe)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as exc:
        raise WriteError(f"cannot write in {folder}: {exc.strerror or exc}") from None


def remove_partial_files(run_dir: str) -> int:
    """Delete the temporary files a killed process left half-written in ``run_dir``; how many."""
    removed = 0
    for name in os.listdir(run_dir) if os.path.isdir(run_dir) else ():
        if name.startswith(TMP_PREFIX):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(run_dir, name))
                removed += 1
    return removed


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    with _replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_json(path: str, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _atomic_save_tensors(path: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """Save tensors as safetensors atomically; returns the file's SHA-256."""
    with _replacing(path) as tmp:
        # clone(): tied weights share storage, which safetensors refuses to save twice.
        save_file({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()


def read_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RnnkitError(f"{what} missing: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RnnkitError(f"{what} is corrupted: {path} ({exc})") from None


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns: the trainer state and the tensors of one step."""

    step: int
    trainer: dict[str, Any]
    model: dict[str, torch.Tensor]
    state: dict[str, torch.Tensor]


def save_checkpoint(run_dir: str, step: int, model_tensors: dict[str, torch.Tensor],
                    state_tensors: dict[str, torch.Tensor], trainer: dict[str, Any]) -> None:
    """Write one checkpoint into ``run_dir`` atomically and drop the previous one's files."""
    os.makedirs(run_dir, exist_ok=True)
    previous = _read_manifest_or_none(run_dir)
    names = {"model": f"model-{step:08d}.safetensors", "state": f"state-{step:08d}.safetensors"}
    meta = {"format": str(FORMAT), "step": str(step)}
    try:
        digests = {
            "model": _atomic_save_tensors(os.path.join(run_dir, names["model"]), model_tensors, meta),
            "state": _atomic_save_tensors(os.path.join(run_dir, names["state"]), state_tensors, meta),
        }
        manifest = {"format": FORMAT, "step": step, "files": names, "sha256": digests, "trainer": trainer}
        atomic_write_json(os.path.join(run_dir, MANIFEST), manifest)  # the commit point
    except WriteError as exc:  # not committed: this step's files go, the previous checkpoint's stay
        kept = set((previous or {}).get("files", {}).values())
        for name in names.values():
            if name not in kept:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(run_dir, name))
        intact = (f"the checkpoint of step {previous.get('step')} in {run_dir} is intact (--resume it once there is room)"
                  if previous else "no checkpoint was written before it")
        raise WriteError(f"{exc}: the checkpoint of step {step} was not saved; {intact}") from None
    if previous:
        for name in previous.get("files", {}).values():
            if name not in names.values():
                try:
                    os.unlink(os.path.join(run_dir, name))
                except FileNotFoundError:
                    pass


def _read_manifest_or_none(run_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(run_dir, MANIFEST), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _load_tensors(run_dir: str, manifest: dict[str, Any], key: str, verify: bool) -> dict[str, torch.Tensor]:
    try:
        name = manifest["files"][key]
    except (KeyError, TypeError):
        raise RnnkitError(f"run folder {run_dir} is incomplete: {MANIFEST} names no {key} file") from None
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        raise RnnkitError(f"run folder {run_dir} is incomplete: {name} is missing")
    if verify:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != manifest.get("sha256", {}).get(key):
            raise RnnkitError(f"run folder {run_dir} is corrupted: {name} does not match its checksum")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise RnnkitError(f"run folder {run_dir} is corrupted: cannot read {name} ({exc})") from None


def load_checkpoint(run_dir: str, with_state: bool = True, verify: bool = True) -> Checkpoint:
    """Read the checkpoint of ``run_dir``; a missing, incomplete or corrupted folder is an RnnkitError."""
    if not os.path.isdir(run_dir):
        raise RnnkitError(f"run folder not found: {run_dir}")
    path = os.path.join(run_dir, MANIFEST)
    if not os.path.exists(path):
        raise RnnkitError(f"{run_dir} holds no checkpoint ({MANIFEST} missing): is it a run folder, and did training save?")
    manifest = read_json(path, "checkpoint manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RnnkitError(f"{path} is not an rnnkit checkpoint of format {FORMAT}")
    model = _load_tensors(run_dir, manifest, "model", verify)
    state = _load_tensors(run_dir, manifest, "state", verify) if with_state else {}
    return Checkpoint(step=int(manifest.get("step", 0)), trainer=manifest.get("trainer", {}), model=model, state=state)


def best_weights(run_dir: str, ckpt: Checkpoint) -> tuple[dict[str, torch.Tensor], int] | None:
    """The weights kept by model selection (``TrainConfig.select``) at ``ckpt`` and their step;
    None when the run keeps none. A file that does not match its recorded checksum is an error."""
    best = ckpt.trainer.get("best") or {}
    if not best.get("file"):
        return None
    path = os.path.join(run_dir, best["file"])
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise RnnkitError(f"run folder {run_dir} is incomplete: {best['file']} is missing") from None
    if hashlib.sha256(data).hexdigest() != best.get("sha256"):
        raise RnnkitError(f"run folder {run_dir} is corrupted: {best['file']} does not match its checksum")
    return load_safetensors(data), int(best["step"])
