"""How a run's arithmetic goes: TF32 and cuDNN's autotuner, mixed precision, compile.

:class:`MixedPrecision` runs the forward pass under ``torch.autocast`` for ``bf16`` or
``fp16`` (``"32"``: plain float32) and, for fp16, scales the loss with a ``GradScaler``
(its state goes into the checkpoint, so ``--resume`` goes on with the same scale).
bf16 needs no scaler and works on the CPU too. :func:`compile_model` wraps
``torch.compile`` and tries it on one batch, so a platform that cannot compile says so
in plain words before the first step.

TF32 and cuDNN's autotuner:

A GPU user's script usually allows TF32 (matmuls and convolutions on Ampere and later
run on tensor cores with a 10-bit mantissa, several times faster) and sets
``cudnn.benchmark`` (cuDNN tries its convolution algorithms once per input shape and
keeps the fastest: a gain when shapes are fixed, as a training loop's are). dltui does
both by default, each switchable (``TrainConfig.tf32``, ``cudnn_benchmark``, recorded
in config.json). These are process-wide switches in PyTorch, so :func:`cuda_math` sets
them for the run and gives the previous values back when it ends; while a run trains,
the REPL's CUDA float32 math follows them too. Off CUDA nothing is touched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from tui.core.text import first_line

__all__ = ["MixedPrecision", "compile_model", "cuda_math"]


def _cudnn_new_api() -> bool:
    # torch >= 2.9 has per-backend fp32_precision; mixing it with the legacy allow_tf32
    # flags makes PyTorch raise when a flag is read, so one API is used throughout.
    conv = getattr(torch.backends.cudnn, "conv", None)
    return conv is not None and hasattr(conv, "fp32_precision")


@contextlib.contextmanager
def cuda_math(device: torch.device, *, tf32: bool, benchmark: bool) -> Iterator[None]:
    """Allow TF32 (or not) and set cuDNN benchmark mode while the block runs on a CUDA
    ``device``; restore the previous settings afterwards."""
    if device.type != "cuda":
        yield
        return
    matmul = torch.get_float32_matmul_precision()
    old_benchmark = torch.backends.cudnn.benchmark
    new_api = _cudnn_new_api()
    if new_api:
        cudnn = torch.backends.cudnn
        old_conv, old_rnn = cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision
    else:
        old_tf32 = torch.backends.cudnn.allow_tf32
    try:
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        if new_api:
            value = "tf32" if tf32 else "ieee"
            torch.backends.cudnn.conv.fp32_precision = value
            torch.backends.cudnn.rnn.fp32_precision = value
        else:
            torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = benchmark
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.benchmark = old_benchmark
        if new_api:
            torch.backends.cudnn.conv.fp32_precision = old_conv
            torch.backends.cudnn.rnn.fp32_precision = old_rnn
        else:
            torch.backends.cudnn.allow_tf32 = old_tf32


_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _grad_scaler(device_type: str) -> Any:
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler(device_type)
    return torch.cuda.amp.GradScaler()  # torch < 2.3


class MixedPrecision:
    """The forward pass's autocast and the backward pass's loss scaling of one run."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = precision
        self.device_type = device.type
        self.dtype = _AMP_DTYPES.get(precision)
        self.scaler = _grad_scaler(device.type) if precision == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context the forward pass and the loss run in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward_step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        params: list[torch.Tensor],
        grad_clip: float | None,
        check: Callable[[], bool] | None = None,
    ) -> bool:
        """Backward, clip (on the true, unscaled gradients) and step. ``check`` runs
        between backward and step: when it returns False the step is not taken (and
        False returned)."""
        if self.scaler is None:
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            if check is not None and not check():
                return False
            optimizer.step()
            return True
        self.scaler.scale(loss).backward()
        if grad_clip is not None:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        if check is not None and not check():
            return False
        # Skips the step when the scaled gradients overflowed, then adapts the scale.
        self.scaler.step(optimizer)
        self.scaler.update()
        return True

    def state_dict(self) -> dict[str, Any] | None:
        return dict(self.scaler.state_dict()) if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


class CompileError(RuntimeError):
    """torch.compile cannot compile the model on this platform; the message says so."""


def compile_model(
    model: nn.Module, trial: Callable[[Callable[..., Any]], Any]
) -> Callable[..., Any]:
    """``torch.compile(model)``, tried once with ``trial(compiled)`` (a forward pass on a
    real batch: compiling is lazy, so this is where a missing compiler shows).

    Raises:
        CompileError: in one line, with the way out (train without --compile).
    """
    if not hasattr(torch, "compile"):
        raise CompileError("this torch has no torch.compile: train without --compile")
    try:
        compiled = torch.compile(model)
        trial(compiled)
    except Exception as exc:
        raise CompileError(
            f"torch.compile cannot compile this model here ({first_line(exc)}): "
            "train without --compile"
        ) from None
    return compiled
