"""Divergences: time-synchronous, many-to-one, aligned order-synchronous and CTC.

Each returns a :class:`LossResult` (summed total, count) so the caller averages correctly."""
from .aligned import aligned_xent, batch_frame_targets, frame_targets
from .base import LossResult
from .ctc import CTCLossResult, blank_id, ctc_loss
from .many_to_one import many_to_one_xent
from .timesync import time_synchronous_xent

__all__ = ["CTCLossResult", "LossResult", "aligned_xent", "batch_frame_targets", "blank_id", "ctc_loss",
           "frame_targets", "many_to_one_xent", "time_synchronous_xent"]
