"""float32 math on CUDA for the length of a run: TF32 and cuDNN's autotuner.

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
from collections.abc import Iterator

import torch

__all__ = ["cuda_math"]


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
