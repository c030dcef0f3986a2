"""Device and precision, resolved once and passed down (no global device).

``precision="auto"`` picks bf16 autocast where the hardware runs it natively (a CPU with AMX or
AVX512-BF16, a CUDA GPU with bf16 support) and fp32 elsewhere; an explicit ``bf16`` where it is
not native is an error (oneDNN has no bf16 recurrent kernels on, say, an AVX2-only CPU). Weights and optimizer state
stay fp32 in every case; autocast only lowers the matrix products.
"""
from __future__ import annotations

import contextlib
import functools
import random
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import RnnkitError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (AMX tiles or AVX512-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return ("amx_bf16" in flags or "avx512_bf16" in flags) and torch.backends.mkldnn.is_available()


@dataclass(frozen=True)
class Runtime:
    """Where and in which precision a model runs."""

    device: torch.device
    precision: str  # "fp32" or "bf16"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for forward passes (a no-op in fp32)."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def resolve_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Turn the user's ``--device``/``--precision`` into a Runtime, or a clear error."""
    if device not in DEVICES:
        raise RnnkitError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise RnnkitError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RnnkitError("--device cuda asked for, but no CUDA GPU is available to this PyTorch")
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    native = torch.cuda.is_bf16_supported() if dev.type == "cuda" else cpu_has_bf16()
    if precision == "auto":
        precision = "bf16" if native else "fp32"
    elif precision == "bf16" and not native:
        # oneDNN has no bf16 recurrent kernels without AVX512-BF16/AMX (it fails deep inside
        # nn.LSTM), and PyTorch's fallback runs them about 40x slower than fp32: say so up front.
        where = "this GPU" if dev.type == "cuda" else "this CPU (it has neither AMX nor AVX512-BF16)"
        raise RnnkitError(f"--precision bf16 needs native bf16 support, which {where} lacks: use fp32 or auto")
    return Runtime(device=dev, precision=precision)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device) from one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
