"""The training loop shared by every task: BPTT, clipping, AdamW, schedule, checkpoints, resume.

A task supplies batches, a divergence and an evaluation (the :class:`Task` protocol); the
trainer knows nothing of characters, tags or CTC. Recurrent state is carried between batches
that continue a stream (``Batch.new_stream`` False) and detached there, so gradients reach
back one segment while the state remembers the whole stream.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ..data.batching import Batch
from ..errors import RnnkitError
from ..models.dropout import set_dropout_scale
from .averaging import WeightAverage
from . import distributed
from .checkpoint import Checkpoint, remove_partial_files, save_checkpoint
from .metrics import MetricsLog, NoMetrics, Progress, plot_losses
from .runtime import Runtime
# TrainConfig and the schedules live in schedule.py; importing them from here keeps working.
from .schedule import TrainConfig, dropout_scale_at, lr_at  # noqa: F401
# The Task protocol and run_model live in tasks.py, with the tasks; importing them from here keeps working.
from .selection import BestWeights
from .tasks import Task, run_model  # noqa: F401

log = logging.getLogger(__name__)
MAX_SKIPPED = 5  # steps in a row with a non-finite loss or gradient before a run stops


class TrainingInterrupted(RnnkitError):
    """Training stopped on Ctrl-C / SIGTERM after saving a checkpoint (the CLI exits 130)."""




# The input embedding's parameter names after "input.": an nn.Embedding's, and a PairEmbedding's tables.
EMBEDDING_TABLES = ("weight", "symbols.", "classes.", "counts.", "sections.")


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # Weight decay on matrices only: biases, gains and (by convention) embeddings are not shrunk.
    decay, rest = [], []
    for name, p in model.named_parameters():
        embedding = any(f"input.{table}" in name for table in EMBEDDING_TABLES)
        (decay if p.dim() >= 2 and not embedding else rest).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def _detach(state: tuple[torch.Tensor, ...] | None) -> tuple[torch.Tensor, ...] | None:
    return None if state is None else tuple(s.detach() for s in state)


class Trainer:
    """Trains ``model`` on ``task`` into ``run_dir``; ``resume`` continues a saved checkpoint exactly."""

    def __init__(self, model: nn.Module, task: Task, cfg: TrainConfig, runtime: Runtime, run_dir: str,
                 resume: Checkpoint | None = None):
        self.cfg, self.task, self.run_dir = cfg.validate(), task, run_dir
        self.world = distributed.join(runtime.device)  # one process: rank 0 of 1 (see distributed.py)
        self.runtime = runtime = replace(runtime, device=distributed.local_device(runtime.device))
        os.makedirs(run_dir, exist_ok=True)
        if self.world.main and remove_partial_files(run_dir):
            log.info("removed the half-written files of an interrupted save in %s", run_dir)
        self.model = model.to(runtime.device)
        if resume is None:
            distributed.seed_rank(self.world, cfg.seed)  # the other processes: dropout masks of their own
        self.ddp = distributed.wrap(self.model, lambda m, b, s: run_model(task, m, b, s), self.world, runtime.device)
        self.rows: list[int] = []  # rows of the last batch per rank: how the carried state is split
        self.optimizer = _optimizer(self.model, cfg)
        self.average = WeightAverage(self.model, cfg.average) if cfg.average > 0 else None
        self.step, self.elapsed, self.units = 0, 0.0, 0
        self.state: tuple[torch.Tensor, ...] | None = None
        self.dropout_scale: float | None = None
        self.best_valid = math.inf
        self.skipped_in_a_row = 0
        self.best = BestWeights(cfg.select, cfg.select_mode, cfg.patience)  # model selection (selection.py)
        self.restart = (0.0, 1.0)  # see lr_at
        self._stop_signal: str | None = None
        if resume is not None:
            self._restore(resume)
        self.metrics = (MetricsLog(os.path.join(run_dir, "metrics.jsonl"), resume_step=self.step if resume else None)
                        if self.world.main else NoMetrics())

    # -- state --------------------------------------------------------------------------------
    def _progress(self, stop: tuple[int | None, float | None] | None = None) -> float:
        """How far the run is towards its stop (``max_steps``, ``time_budget``), 1 at the end."""
        max_steps, time_budget = stop or (self.cfg.max_steps, self.cfg.time_budget)
        fractions = []
        if max_steps:
            fractions.append(self.step / max_steps)
        if time_budget:
            fractions.append(self.elapsed / time_budget)
        return max(fractions)

    def extend_schedule(self, old_stop: tuple[int | None, float | None]) -> None:
        """The run was resumed with another stop than it was saved with: continue the cosine from
        the rate in force at the checkpoint down to the floor at the new stop, instead of jumping
        to where a run planned that long from the start would be."""
        if tuple(old_stop) == (self.cfg.max_steps, self.cfg.time_budget):
            return
        scale = lr_at(replace(self.cfg, lr=1.0, warmup_steps=0), self.step, self._progress(old_stop), self.restart)
        self.restart = (self._progress(), scale)

    def save(self) -> None:
        """Write a checkpoint of the current step (atomic; see checkpoint.py)."""
        opt = self.optimizer.state_dict()
        tensors: dict[str, torch.Tensor] = self._rng_states()
        for idx, slots in opt["state"].items():
            for key, value in slots.items():
                tensors[f"optim/{idx}/{key}"] = torch.as_tensor(value)
        for i, s in enumerate(self._global_state()):
            tensors[f"carry/{i}"] = s
        if self.average is not None:
            tensors.update(self.average.tensors())
        # Strict JSON: no validation loss yet is null (Infinity is not JSON; jq rejects it).
        best_valid = self.best_valid if math.isfinite(self.best_valid) else None
        trainer = {"step": self.step, "elapsed": self.elapsed, "units": self.units, "best_valid": best_valid,
                   "position": self.task.position(), "param_groups": opt["param_groups"],
                   "carry": len(self.state or ()), "stop": [self.cfg.max_steps, self.cfg.time_budget],
                   "restart": list(self.restart)}
        if self.cfg.select is not None:
            trainer["best"] = dict(self.best.record)
        if self.average is not None:
            trainer["average"] = self.cfg.average  # the predictor's weights are the average (recipes/runs.py)
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise RnnkitError(f"the weights at step {self.step} are not finite: not saved; the last checkpoint in "
                              f"{self.run_dir} is intact (lower --lr or --clip-norm and --resume)")
        if self.world.main:  # rank 0 writes; the others gave it their state above
            save_checkpoint(self.run_dir, self.step, self.model.state_dict(), tensors, trainer)
            self.best.drop_beaten(self.run_dir)
        # Everyone waits for the write: a process that exited first (after a stop) would have torchrun
        # kill rank 0 mid-write.
        self.world.barrier()

    def _rng_states(self) -> dict[str, torch.Tensor]:
        """This process's random generators, and under torchrun every rank's (``rng/cpu/<rank>``)."""
        tensors = {"rng/cpu": torch.get_rng_state()}
        if self.runtime.device.type == "cuda":
            tensors["rng/cuda"] = torch.cuda.get_rng_state(self.runtime.device)
        return {**tensors, **distributed.gather_rng(self.world, tensors["rng/cpu"])}

    def _global_state(self) -> tuple[torch.Tensor, ...]:
        """The carried state of the whole batch (every rank's rows, under torchrun)."""
        return distributed.gather_state(self.world, self.state or (), getattr(self.model, "state_batch_dim", 1), self.rows)

    def _restore(self, ckpt: Checkpoint) -> None:
        try:
            self.model.load_state_dict(ckpt.model)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise RnnkitError("checkpoint does not fit this model shape: "
                              + (first[1].strip() if len(first) > 1 else first[0])) from None
        t = ckpt.trainer
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in ckpt.state.items():
            if key.startswith("optim/"):
                _, idx, slot = key.split("/", 2)
                state.setdefault(int(idx), {})[slot] = value.to(self.runtime.device) if slot != "step" else value
        self.optimizer.load_state_dict({"state": state, "param_groups": t["param_groups"]})
        mine = f"rng/cpu/{self.world.rank}"
        if self.world.rank == 0 or mine in ckpt.state:
            torch.set_rng_state(ckpt.state[mine if mine in ckpt.state else "rng/cpu"])
        else:  # more processes than wrote the checkpoint: a generator of its own, seeded from the step
            distributed.seed_rank(self.world, self.cfg.seed + int(t["step"]))
        if "rng/cuda" in ckpt.state and self.runtime.device.type == "cuda" and self.world.size == 1:
            torch.cuda.set_rng_state(ckpt.state["rng/cuda"], self.runtime.device)
        carry = [ckpt.state[f"carry/{i}"].to(self.runtime.device) for i in range(int(t.get("carry", 0)))]
        self.rows, self.state = distributed.local_state(self.world, tuple(carry), getattr(self.model, "state_batch_dim", 1))
        self.step, self.elapsed, self.units = int(t["step"]), float(t["elapsed"]), int(t.get("units", 0))
        self.best_valid = math.inf if t.get("best_valid") is None else float(t["best_valid"])
        self.best.record.update(t.get("best", {}))
        self.restart = tuple(t.get("restart", (0.0, 1.0)))
        self.task.seek(t["position"])
        if self.average is not None:
            self.average.load(ckpt.state)
        if "stop" in t:  # checkpoints from before this was saved resume on the new schedule as they did
            self.extend_schedule(tuple(t["stop"]))

    # -- loop ---------------------------------------------------------------------------------
    def _passes(self) -> float | None:
        passes = getattr(self.task, "passes", None)  # a task that cannot say gets constant dropout
        return None if passes is None else float(passes())

    def _schedule_dropout(self) -> None:
        passes = self._passes()
        scale = 1.0 if passes is None else dropout_scale_at(self.cfg, passes)
        if scale != self.dropout_scale:
            set_dropout_scale(self.model, scale)
            self.dropout_scale = scale

    def _train_step(self, batch: Batch, lr: float) -> tuple[float, float, bool]:
        """One update on ``batch``: (its summed divergence, its count, whether the update was applied).

        Under torchrun each process computes its rows of the batch (distributed.shard) and the
        figures returned are the whole batch's."""
        self.rows = distributed.row_counts(int(batch.inputs.shape[0]), self.world)
        batch, weight = distributed.shard(batch, self.world)
        batch = batch.to(self.runtime.device)
        state = None if batch.new_stream or weight == 0 else _detach(self.state)
        with self.runtime.autocast():
            logits, new_state = (self.ddp(batch, state) if self.ddp is not None
                                 else run_model(self.task, self.model, batch, state))
        result = self.task.divergence(logits, batch)
        penalty = getattr(self.model, "penalty", None)  # a model's own regulariser (SequenceModel: ar, tar)
        count = float(result.count) * weight
        if self.world.size == 1:
            objective = result.mean
        else:  # DDP averages the ranks' gradients: this makes that average the whole batch's mean's
            global_count = self.world.all_sum([count])[0]
            objective = result.total * (weight * self.world.size / max(global_count, 1e-12))
        self.optimizer.zero_grad(set_to_none=True)
        (objective if penalty is None else objective + penalty).backward()
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
        # float() is a device sync point, the one the loop needs for the loss anyway: a non-finite loss
        # or gradient changes nothing, neither the weights nor the optimizer's moments nor the carried
        # state; the loop says so. The gradient (all-reduced) is the same on every rank; the loss is summed.
        total = float(result.total.detach()) * weight
        if self.world.size > 1:
            total, count = self.world.all_sum([total, count])
        if not (math.isfinite(total) and math.isfinite(float(norm))):
            self.optimizer.zero_grad(set_to_none=True)
            return total, count, False
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.model, self.step)
        self.state = new_state
        return total, count, True

    def _skip(self, total: float, progress: Progress) -> None:
        """Log a step whose update was skipped (a non-finite loss or gradient: see _train_step);
        after MAX_SKIPPED in a row stop the run, its last checkpoint intact."""
        self.skipped_in_a_row += 1
        what = "loss" if not math.isfinite(total) else "gradient"
        self.metrics.write({"step": self.step, "time": round(self.elapsed, 2), "skipped": f"non-finite {what}"})
        message = f"step {self.step}: the {what} is not finite: update skipped"
        if progress.enabled:
            progress.message(message)
        elif self.world.main:  # told even without a progress line
            log.warning(message)
        if self.skipped_in_a_row >= MAX_SKIPPED:
            kept = (f"the last checkpoint in {self.run_dir} is intact (lower --lr or --clip-norm and --resume)"
                    if os.path.exists(os.path.join(self.run_dir, "checkpoint.json")) else
                    "no checkpoint was written yet (lower --lr or --clip-norm)")
            raise RnnkitError(f"training diverged: {MAX_SKIPPED} steps in a row to step {self.step} had a non-finite "
                              f"loss or gradient; {kept}")

    def _done(self) -> bool:
        if self.best.spent():
            return True
        if self.cfg.max_steps is not None and self.step >= self.cfg.max_steps:
            return True
        return self.cfg.time_budget is not None and self.elapsed >= self.cfg.time_budget

    def evaluate(self) -> dict[str, float]:
        """Evaluate (the averaged weights, with ``cfg.average``), log, and keep the best weights."""
        with self.average.applied(self.model) if self.average is not None else contextlib.nullcontext():
            self.model.eval()
            try:
                with torch.no_grad():
                    result = self.task.evaluate(self.model, self.runtime)
            finally:
                self.model.train()
            self.best_valid = min(self.best_valid, result.get("valid_loss", math.inf))
            self.metrics.write({"step": self.step, "time": round(self.elapsed, 2), **result})
            self.best.offer(result, self.step, self.model, self.run_dir, write=self.world.main)
        return result

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C: stop now, the last checkpoint stays
            raise KeyboardInterrupt
        self._stop_signal = signal.Signals(signum).name

    def run(self, stop_after: int | None = None) -> dict[str, float]:
        """Train until ``max_steps`` or ``time_budget``; returns the final evaluation.

        Ctrl-C or SIGTERM finishes the current step, saves, and raises TrainingInterrupted.
        ``stop_after`` (tests) behaves as a Ctrl-C after that many steps of this call.
        """
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        progress = Progress(self.cfg.progress and self.world.main, unit=self.task.unit)
        self.model.train()
        finished = False  # every process gets to the end together (a stop too); an error is this one's
        try:
            result = self._loop(progress, stop_after)
            finished = True
            return result
        except TrainingInterrupted:
            finished = True
            raise
        finally:
            progress.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if self.world.main:
                plot_losses(os.path.join(self.run_dir, "metrics.jsonl"), os.path.join(self.run_dir, "loss.png"), self.task.unit)
            self.ddp = None  # DistributedDataParallel goes before the group it uses (distributed.leave)
            distributed.leave(finished)  # under torchrun: the process group

    def _clock(self, start: float) -> float:
        """Seconds trained (``self.elapsed``), the same in every process: they decide by it."""
        self.elapsed = self.world.all_max([time.monotonic() - start])[0]
        return self.elapsed

    def _agree_on_stop(self) -> None:
        """A signal that reached one process stops them all at this step."""
        if self.world.size > 1 and self.world.all_max([float(self._stop_signal is not None)])[0] and not self._stop_signal:
            self._stop_signal = "a signal to another training process"

    def _loop(self, progress: Progress, stop_after: int | None) -> dict[str, float]:
        cfg = self.cfg
        start = time.monotonic() - self.elapsed
        last_eval = last_save = self.elapsed
        window_loss, window_count, window_units, window_start = 0.0, 0.0, 0, self.elapsed
        steps_this_call, last_result = 0, None
        while not self._done():
            lr = lr_at(cfg, self.step, self._progress(), self.restart)
            self._schedule_dropout()
            total, count, applied = self._train_step(self.task.next_batch(), lr)
            self.step += 1
            steps_this_call += 1
            self._clock(start)
            if not applied:
                self._skip(total, progress)
            else:
                self.skipped_in_a_row = 0
                window_loss, window_count = window_loss + total, window_count + count
                window_units += int(count)
                self.units += int(count)
            if applied and (self.step % cfg.log_interval == 0 or self._done()):
                rate = window_units / max(self.elapsed - window_start, 1e-9)
                loss = window_loss / max(window_count, 1e-12)
                record = {"step": self.step, "time": round(self.elapsed, 2), "train_loss": loss, "lr": lr,
                          f"{self.task.unit}s_per_s": round(rate, 1), "dropout_scale": self.dropout_scale}
                passes = self._passes()
                if passes is not None:
                    record["passes"] = round(passes, 4)
                self.metrics.write(record)
                progress.update(self.step, loss, rate, lr, min(self._progress(), 1.0), self.elapsed)
                window_loss, window_count, window_units, window_start = 0.0, 0.0, 0, self.elapsed
            if cfg.eval_interval > 0 and self.elapsed - last_eval >= cfg.eval_interval and not self._done():
                result_eval = last_result = self.evaluate()
                progress.message(f"step {self.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in result_eval.items()))
                last_eval = self._clock(start)
            if self.elapsed - last_save >= cfg.checkpoint_interval and not self._done():
                self.save()
                last_save = self._clock(start)
            if stop_after is not None and steps_this_call >= stop_after:
                self._stop_signal = "SIGINT"
            self._agree_on_stop()
            if self._stop_signal is not None:
                self.save()
                raise TrainingInterrupted(
                    f"interrupted ({self._stop_signal}) at step {self.step}; checkpoint saved in {self.run_dir}: "
                    f"continue with --resume {self.run_dir}")
        if self.best.spent() and last_result is not None:  # stopped early, just after evaluating
            final = last_result
            progress.message(f"stopped early: {self.cfg.select} did not improve in {self.cfg.patience} "
                             f"evaluations; best {self.best.record['value']:.4f} at step {self.best.record['step']}")
        else:
            final = self.evaluate()
        self.save()
        progress.message(f"done: step {self.step}, {self.elapsed:.0f} s, "
                         + ", ".join(f"{k} {v:.4f}" for k, v in final.items()))
        return final

