"""Tests for tui.core.repl.explain, against the real error messages of the installed torch.

Each case triggers the error for real, so a torch release that rewords a message fails
here instead of silently losing its explanation. Only messages that cannot be raised on
this machine (CUDA devices) are given verbatim.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tui.core.repl.explain import explain, explain_message


def explained(fn: Callable[[], object], error: type[BaseException] = RuntimeError) -> str:
    """Run ``fn``, which must raise ``error``, and return the explanation of it."""
    with pytest.raises(error) as info:
        fn()
    text = explain(info.value)
    assert text is not None, f"no explanation for: {info.value}"
    assert text.count("\n") <= 1, "at most two lines"
    return text


def has_all(text: str, *parts: str) -> None:
    missing = [part for part in parts if part not in text]
    assert not missing, f"{missing} not in: {text}"


def r(*shape: int, **kwargs: object) -> torch.Tensor:
    return torch.randn(*shape, **kwargs)


# --- unknown errors ------------------------------------------------------------------


def test_unrelated_errors_give_none() -> None:
    assert explain(ValueError("x")) is None
    assert explain(KeyError("shape")) is None
    assert explain_message("RuntimeError: something else went wrong") is None


def test_an_exception_whose_message_fails_gives_none() -> None:
    class Unprintable(RuntimeError):
        def __str__(self) -> str:
            raise TypeError("no message")

    assert explain(Unprintable()) is None


def test_module_imports_neither_torch_nor_textual() -> None:
    # explain runs under every REPL error, and must not slow the first frame by pulling torch.
    code = (
        "import sys, tui.core.repl.explain; print('torch' in sys.modules, 'textual' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


# --- 1. matrix products --------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [lambda a, b: a @ b, torch.matmul, torch.mm],
    ids=["@", "matmul", "mm"],
)
def test_matmul_inner_mismatch_suggests_transposing_b(op: Callable) -> None:
    text = explained(lambda: op(r(2, 3), r(2, 3)))
    has_all(text, "(2x3) @ (2x3)", "3 columns", "2 rows", "second operand transposed (3x2)")


def test_matmul_suggests_transposing_a_when_that_fits() -> None:
    text = explained(lambda: r(2, 3) @ r(2, 4))
    has_all(text, "3 columns", "2 rows", "first operand transposed (3x2)")


def test_matmul_without_a_transpose_that_fits_reads_it_as_maybe_linear() -> None:
    text = explained(lambda: torch.mm(r(2, 3), r(4, 2)))
    has_all(
        text, "(2x3) @ (4x2)", "3 columns", "4 rows", "If this is nn.Linear(4, 2)", "in_features=3"
    )
    assert "transposed" not in text


def test_bmm_inner_mismatch() -> None:
    text = explained(lambda: torch.bmm(r(5, 2, 3), r(5, 2, 3)))
    has_all(text, "3 columns", "2 rows", ".mT")


def test_bmm_batch_mismatch() -> None:
    text = explained(lambda: torch.bmm(r(5, 2, 3), r(4, 3, 3)))
    has_all(text, "5 vs 4")


def test_matrix_vector_mismatch() -> None:
    text = explained(lambda: r(2, 3) @ r(4))
    has_all(text, "(2x3) @ (4,)", "3 columns", "4 elements")


@pytest.mark.parametrize("op", [lambda a, b: a @ b, torch.dot], ids=["@", "dot"])
def test_dot_length_mismatch(op: Callable) -> None:
    text = explained(lambda: op(r(3), r(4)))
    has_all(text, "3 and 4 elements", "same length")


# --- 2. Linear on an unflattened input -----------------------------------------------


def test_linear_on_unflattened_image_says_flatten() -> None:
    text = explained(lambda: nn.Linear(784, 10)(r(4, 1, 28, 28)))
    has_all(text, "in_features=784", "last dim 28", "(4, 1, 28, 28)", "flatten(1)", "(4, 784)")


def test_linear_on_wrong_width_says_in_features() -> None:
    text = explained(lambda: nn.Linear(784, 10)(r(4, 100)))
    has_all(text, "in_features=784", "last dim 100", "in_features=100")
    assert "unflattened" not in text  # a 2-D input has nothing to flatten


def test_linear_message_alone_is_read_with_a_hedge() -> None:
    text = explain_message("mat1 and mat2 shapes cannot be multiplied (112x28 and 784x10)")
    assert text is not None
    has_all(text, "28 columns", "784 rows", "If this is nn.Linear(784, 10)", "x.flatten(1)")


# --- 3. broadcasting -----------------------------------------------------------------


def test_broadcast_mismatch_names_dim_and_sizes() -> None:
    text = explained(lambda: r(2, 3) + r(4, 3))
    has_all(text, "dimension 0", "has 2", "other 4", "equal or 1", "unsqueeze")


def test_broadcast_mismatch_in_a_later_dim() -> None:
    text = explained(lambda: r(2, 3, 5) * r(3, 4))
    has_all(text, "dimension 2", "has 5", "other 4")


# --- 4. dtypes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "parts"),
    [
        (lambda: torch.randint(0, 3, (2, 3)) @ r(3, 2), ("int64", "float32", ".float()")),
        (lambda: r(2, 3) @ torch.randint(0, 3, (3, 2)), ("int64", "float32", ".float()")),
        (lambda: r(2, 3).half() @ r(3, 2), ("float16", "float32", ".float()")),
        (lambda: nn.Linear(3, 2)(torch.randint(0, 3, (4, 3))), ("int64", ".float()")),
        (lambda: nn.Linear(3, 2)(r(4, 3, dtype=torch.float64)), ("float64", ".float()")),
        (lambda: torch.bmm(torch.randint(0, 3, (2, 2, 3)), r(2, 3, 2)), ("int64", ".float()")),
        (lambda: nn.Conv2d(1, 2, 3)(torch.randint(0, 3, (1, 1, 5, 5))), ("int64", ".float()")),
        (
            lambda: F.binary_cross_entropy(torch.rand(3), torch.tensor([1, 0, 1])),
            ("int64", ".float()"),
        ),
        (
            lambda: F.binary_cross_entropy_with_logits(r(3), torch.tensor([1, 0, 1])),
            ("float32", "int64", ".float()"),
        ),
    ],
    ids=["long@float", "float@long", "half@float", "linear-long", "linear-double", "bmm",
         "conv-long", "bce-long-target", "bce-logits-long-target"],
)  # fmt: skip
def test_dtype_mismatch_says_how_to_convert(fn: Callable, parts: tuple[str, ...]) -> None:
    has_all(explained(fn), *parts)


def test_layer_dtype_message_verbatim_offers_casting_the_layer() -> None:
    text = explain_message("Input type (float) and bias type (c10::Half) should be the same")
    assert text is not None
    has_all(text, "float32", "float16", ".half()", "model.float()")


# --- 5. devices ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "Expected all tensors to be on the same device, but found at least two devices, "
        "cuda:0 and cpu!",
        "Expected all tensors to be on the same device, but found at least two devices, "
        "cuda:0 and cpu! (when checking argument for argument mat1 in method wrapper_addmm)",
        "Expected all tensors to be on the same device, but got mat1 is on cpu, different "
        "from other tensors on cuda:0 (when checking argument in method wrapper_CUDA_addmm)",
    ],
)
def test_cuda_device_messages_verbatim(message: str) -> None:
    text = explain_message(message)
    assert text is not None
    has_all(text, "cuda:0", "cpu", ".to('cuda:0')")


def test_legacy_tensor_type_device_message_verbatim() -> None:
    message = (
        "Input type (torch.cuda.FloatTensor) and weight type (torch.FloatTensor) should be the same"
    )
    text = explain_message(message)
    assert text is not None
    has_all(text, "cuda", "cpu", ".to(")


@pytest.mark.parametrize(
    "fn",
    [
        lambda: r(2, 2) + r(2, 2, device="meta"),
        lambda: torch.cat([r(2, 2), r(2, 2, device="meta")]),
        lambda: nn.Linear(2, 2)(r(2, 2, device="meta")),
    ],
    ids=["add", "cat", "linear"],
)
def test_meta_vs_cpu_names_both_devices(fn: Callable) -> None:
    has_all(explained(fn), "meta", "cpu", ".to('cpu')")


# --- 6. cat / stack ------------------------------------------------------------------


def test_cat_size_mismatch() -> None:
    text = explained(lambda: torch.cat([r(2, 3), r(2, 4)]))
    has_all(text, "dim 0", "tensor number 1", "size 4", "has 3", "dim=")


def test_cat_size_mismatch_along_dim_1() -> None:
    text = explained(lambda: torch.cat([r(2, 3), r(4, 3)], dim=1))
    has_all(text, "dim 1", "size 4", "has 2")


def test_cat_rank_mismatch() -> None:
    text = explained(lambda: torch.cat([r(2, 3), r(2, 3, 1)]))
    has_all(text, "2 and 3", "unsqueeze")


def test_stack_shape_mismatch() -> None:
    text = explained(lambda: torch.stack([r(2, 3), r(2, 4)]))
    has_all(text, "[2, 3]", "[2, 4]", "entry 1", "dim=")


# --- 7. convolutions -----------------------------------------------------------------


def test_conv_channel_mismatch() -> None:
    text = explained(lambda: nn.Conv2d(3, 8, 3)(r(1, 1, 28, 28)))
    has_all(text, "in_channels=3", "dim 1", "(1, 1, 28, 28)", "in_channels=1", "permute")


def test_conv_on_channels_last_input_says_permute() -> None:
    text = explained(lambda: nn.Conv2d(3, 8, 3)(r(1, 28, 28, 3)))
    has_all(text, "in_channels=3", "channels-last", "x.permute(0, 3, 1, 2)")


def test_conv1d_channel_mismatch() -> None:
    text = explained(lambda: nn.Conv1d(3, 8, 3)(r(1, 1, 28)))
    has_all(text, "Conv1d(in_channels=3)", "in_channels=1", "permute(0, 2, 1)")


def test_conv_with_too_few_dims() -> None:
    text = explained(lambda: nn.Conv2d(3, 8, 3)(r(28, 28)))
    has_all(text, "(C, H, W)", "(N, C, H, W)", "2D (28, 28)", "unsqueeze")


def test_conv_with_too_many_dims() -> None:
    text = explained(lambda: nn.Conv1d(3, 8, 3)(r(1, 1, 3, 28)))
    has_all(text, "(C, L)", "4D (1, 1, 3, 28)", "flatten")


# --- 8. cross-entropy targets --------------------------------------------------------


def logits() -> torch.Tensor:
    return r(4, 10)


@pytest.mark.parametrize(
    ("target", "dtype"),
    [(torch.randn(4), "float32"), (torch.randint(0, 10, (4,), dtype=torch.int32), "int32")],
    ids=["float", "int32"],
)
def test_cross_entropy_index_target_of_wrong_dtype(target: torch.Tensor, dtype: str) -> None:
    text = explained(lambda: F.cross_entropy(logits(), target))
    has_all(text, dtype, "int64", "[0, C)", "target.long()")


def test_cross_entropy_probability_target_must_be_float() -> None:
    text = explained(lambda: F.cross_entropy(logits(), torch.randint(0, 2, (4, 10))))
    has_all(text, "probabilities", "int64", "target.float()", "argmax(1)")


def test_cross_entropy_batch_size_mismatch() -> None:
    text = explained(lambda: F.cross_entropy(logits(), torch.randint(0, 10, (8,))), ValueError)
    has_all(text, "batch size 4", "target 8", "(4,)")


def test_cross_entropy_target_out_of_range() -> None:
    text = explained(lambda: F.cross_entropy(logits(), torch.tensor([0, 1, 2, 10])), IndexError)
    has_all(text, "10", "[0, C)", "out_features")


def test_cross_entropy_two_dim_index_target() -> None:
    text = explained(lambda: F.cross_entropy(logits(), torch.randint(0, 10, (4, 1))))
    has_all(text, "shape (N,)", "squeeze(1)")


def test_cross_entropy_sequence_target_shape() -> None:
    text = explained(lambda: F.cross_entropy(r(4, 10, 7), torch.randint(0, 10, (4, 5))))
    has_all(text, "[4, 7]", "[4, 5]", "transpose(1, 2)")


# --- extras --------------------------------------------------------------------------


def test_view_to_a_shape_of_another_size() -> None:
    text = explained(lambda: r(4, 3).view(5, 2))
    has_all(text, "(5, 2)", "10 elements", "12")


def test_reshape_with_minus_one_that_cannot_divide() -> None:
    text = explained(lambda: r(4, 3).reshape(-1, 5))
    has_all(text, "(-1, 5)", "12", "5")


def test_view_of_a_non_contiguous_tensor() -> None:
    has_all(explained(lambda: r(4, 3).t().view(12)), ".reshape(", ".contiguous()")


def test_backward_without_grad() -> None:
    has_all(explained(lambda: r(3).sum().backward()), "requires_grad=True", "no_grad")


def test_embedding_index_out_of_range_names_num_embeddings() -> None:
    text = explained(lambda: nn.Embedding(10, 3)(torch.tensor([1, 10])), IndexError)
    has_all(text, "num_embeddings=10", "[0, 10)")


def test_plain_index_out_of_range_makes_no_embedding_claim() -> None:
    text = explained(lambda: r(3).index_select(0, torch.tensor([5])), IndexError)
    has_all(text, "0 to size - 1")
    assert "num_embeddings=" not in text


def test_embedding_of_float_ids() -> None:
    has_all(explained(lambda: nn.Embedding(10, 3)(torch.tensor([1.0]))), "float32", ".long()")


def test_rnn_input_size_mismatch() -> None:
    text = explained(lambda: nn.LSTM(3, 4)(r(5, 2, 6)))
    has_all(text, "input_size=3", "last dim is 6", "input_size=6")


def test_rnn_input_rank() -> None:
    text = explained(lambda: nn.LSTM(3, 4)(r(5)), ValueError)
    has_all(text, "nn.LSTM", "1D", "batch_first")


def test_batchnorm_feature_mismatch() -> None:
    text = explained(lambda: nn.BatchNorm1d(3)(r(4, 5)))
    has_all(text, "num_features=3", "5 channels", "num_features=5")


def test_message_with_a_cpp_stack_trace_appended() -> None:
    message = (
        "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)\n"
        "Exception raised from meta at aten/src/ATen/native/LinearAlgebra.cpp:190 "
        "(most recent call first):\nframe #0: c10::Error::Error(...)"
    )
    text = explain_message(message)
    assert text is not None
    has_all(text, "(2x3) @ (2x3)")
