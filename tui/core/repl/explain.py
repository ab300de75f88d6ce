"""Plain-words explanations of common PyTorch shape, dtype and device errors.

The REPL shows the real traceback; under it, :func:`explain` adds one line that names the
shapes, the dimension and a likely fix. It reads the message of the real exception with
regular expressions; the tests trigger each error with the installed torch, so a reworded
message fails a test instead of silently losing its explanation. Where the traceback shows
the error came from inside ``nn.Linear`` or ``nn.Embedding``, the layer and its input are
read from that frame, because the message alone cannot tell a Linear from a plain ``a @ b``.

This module imports neither torch nor textual: it reads strings and attributes only, so it
costs nothing at start-up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from tui.core.text import shape_text

__all__ = ["explain", "explain_message"]

# C++ spellings (``long int``), ScalarType names (``Long``), legacy tensor types
# (``torch.cuda.LongTensor``) and Python names (``torch.int64``) all appear in messages.
_DTYPES = {
    "float": "float32", "double": "float64", "c10::half": "float16", "half": "float16",
    "c10::bfloat16": "bfloat16", "long int": "int64", "long": "int64", "int": "int32",
    "short int": "int16", "short": "int16", "signed char": "int8", "char": "int8",
    "unsigned char": "uint8", "byte": "uint8", "complexfloat": "complex64",
    "complexdouble": "complex128",
}  # fmt: skip
_METHODS = {
    "float32": ".float()", "float64": ".double()", "float16": ".half()",
    "bfloat16": ".bfloat16()", "int64": ".long()", "int32": ".int()", "bool": ".bool()",
}  # fmt: skip
_FLOATING = {"float32", "float64", "float16", "bfloat16"}
_TARGETS = (
    "targets must be class indices (int64, shape (N,)) in [0, C) "
    "or class probabilities (float, same shape as the input)"
)

Handler = Callable[[re.Match[str], BaseException | None], str | None]


def _dtype(name: str) -> str:
    name = name.strip().lower().removeprefix("torch.").removeprefix("cuda.")
    name = name.removesuffix("tensor")
    return _DTYPES.get(name, name)


def _to(dtype: str) -> str:
    return _METHODS.get(dtype, f".to(torch.{dtype})")


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in re.findall(r"-?\d+", text))


def _module(exc: BaseException | None, path_end: str, attribute: str) -> dict[str, Any] | None:
    """Locals of the innermost ``forward`` in a torch file ending with ``path_end``.

    Only when its ``self`` has ``attribute``, so a user's own module in a file of the same
    name is not mistaken for the torch layer.
    """
    found = None
    tb = exc.__traceback__ if exc is not None else None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "forward" and code.co_filename.replace("\\", "/").endswith(path_end):
            found = tb.tb_frame.f_locals
        tb = tb.tb_next
    return found if found is not None and hasattr(found.get("self"), attribute) else None


# --- matrix products -----------------------------------------------------------------


def _matmul(m: re.Match[str], exc: BaseException | None) -> str | None:
    r1, c1, r2, c2 = (int(g) for g in m.groups())
    frame = _module(exc, "torch/nn/modules/linear.py", "in_features")
    if frame is not None:
        return _linear(frame["self"].in_features, frame.get("input"), c1)
    text = (
        f"Matrix multiply needs the inner sizes to match: ({r1}x{c1}) @ ({r2}x{c2}) "
        f"has {c1} columns vs {r2} rows"
    )
    if c1 == c2:
        return f"{text}; the second operand transposed ({c2}x{r2}) would fit (b.T or b.mT)"
    if r1 == r2:
        return f"{text}; the first operand transposed ({c1}x{r1}) would fit (a.T or a.mT)"
    # Linear computes input @ weight.T, so mat2 is (in_features x out_features); the
    # message alone cannot say whether this was a Linear, hence the "if".
    hint = (
        f"If this is nn.Linear({r2}, {c2}), the input's last dimension is {c1} "
        f"but the layer expects {r2} features"
    )
    if c1 and r2 % c1 == 0:
        fix = "the input looks unflattened, flatten first (nn.Flatten() or x.flatten(1))"
    else:
        fix = f"set in_features={c1} or reshape the input"
    return f"{text}.\n{hint}: {fix}"


def _linear(in_features: int, x: Any, last: int) -> str:
    shape = tuple(getattr(x, "shape", ()))
    text = (
        f"nn.Linear(in_features={in_features}) got input {shape_text(shape)} with last dim {last}"
    )
    if len(shape) > 2 and math.prod(shape[1:]) == in_features:
        return (
            f"{text}: it looks unflattened; x.flatten(1) or nn.Flatten() "
            f"gives {shape_text((shape[0], in_features))}, which fits"
        )
    # A 2-D input has nothing left to flatten, so only a deeper one "looks unflattened".
    if len(shape) > 2 and last and in_features % last == 0:
        return (
            f"{text}: it looks unflattened, flatten first (nn.Flatten() or "
            f"x.flatten(1)) or set in_features={last}"
        )
    return f"{text}: set in_features={last}, or reshape the input so its last dim is {in_features}"


def _bmm(m: re.Match[str], exc: BaseException | None) -> str | None:
    (b1, k), (b2, r) = _shape(m[1]), _shape(m[2])
    if b1 != b2:
        return f"Batched matrix multiply needs as many matrices on both sides: {b1} vs {b2}"
    return (
        f"Batched matrix multiply needs the inner sizes to match: the first operand's "
        f"matrices have {k} columns but the second's have {r} rows; check whether the "
        f"second needs .mT (transpose of the last two dims)"
    )


# --- dtypes and devices --------------------------------------------------------------


def _dtype_pair(m: re.Match[str], exc: BaseException | None) -> str | None:
    a, b = _dtype(m["a"]), _dtype(m["b"])
    if a == b:
        return None
    # Convert towards the floating type: integer data in a product almost always should
    # have been float; between two floats, float32 is the usual default.
    if (a in _FLOATING) != (b in _FLOATING):
        target = a if a in _FLOATING else b
    else:
        target = "float32" if "float32" in (a, b) else b
    other = b if target == a else a
    return (
        f"Both operands must have one dtype, but got {a} and {b}: convert the {other} one "
        f"with {_to(target)} (or .to(other.dtype))"
    )


def _cast(m: re.Match[str], exc: BaseException | None) -> str | None:
    result, out = _dtype(m[1]), _dtype(m[2])
    return (
        f"The op computes {result} but must store it in a {out} tensor (an in-place op, out=, "
        f"or an integer target of a float loss): convert that tensor with {_to(result)}"
    )


def _tensor_type(text: str) -> tuple[str, str]:
    # "torch.cuda.FloatTensor" names a device, "long int" only a dtype: these messages
    # spell out the device only for the legacy tensor types, and then CPU has no prefix.
    return ("cuda" if "cuda." in text else "cpu"), _dtype(text)


def _layer_types(m: re.Match[str], exc: BaseException | None) -> str | None:
    (x_dev, x_dt), (w_dev, w_dt), kind = _tensor_type(m["x"]), _tensor_type(m["w"]), m["kind"]
    if x_dev != w_dev:
        return _devices(x_dev, w_dev, "the input or the model")
    if x_dt == w_dt:
        return None
    text = (
        f"The input is {x_dt} but the layer's {kind} is {w_dt}: convert the input with {_to(w_dt)}"
    )
    # Casting a whole model to an integer type is never the fix, so offer it for floats only.
    return f"{text} (or the layer with model{_to(x_dt)})" if x_dt in _FLOATING else text


def _devices(a: str, b: str, subject: str = "one") -> str:
    target = b if a in ("cpu", "meta") and b != "meta" else a
    text = (
        f"Tensors on different devices ({a} and {b}) cannot be combined: move {subject} "
        f"with .to('{target}') (a model: model.to('{target}'))"
    )
    return text + "; meta tensors hold shapes only, no values" if "meta" in (a, b) else text


# --- shapes and layers ---------------------------------------------------------------


def _view(m: re.Match[str], exc: BaseException | None) -> str | None:
    sizes, n = _shape(m[1]), int(m[2])
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        return (
            f"The shape {shape_text(sizes)} cannot fill in -1: "
            f"{n} elements do not divide by {known}"
        )
    return (
        f"The shape {shape_text(sizes)} holds {known} elements but the tensor has {n}: the sizes "
        f"must multiply to {n} (one of them may be -1 to infer it)"
    )


def _conv_channels(m: re.Match[str], exc: BaseException | None) -> str | None:
    weight, shape = _shape(m["w"]), _shape(m["x"])
    want, got, nd = int(m["want"]), int(m["got"]), len(weight) - 2
    text = (
        f"Conv{nd}d(in_channels={want}) reads channels from dim 1 of the input, but input "
        f"{shape_text(shape)} has {got} there: set in_channels={got}"
    )
    perm = shape_text((0, nd + 1, *range(1, nd + 1)))
    if shape[-1] == want:
        return f"{text}, or the input looks channels-last: x.permute{perm} moves channels to dim 1"
    return f"{text}, or fix the input layout (a channels-last batch needs x.permute{perm})"


_LAYOUTS = {"conv1d": "(C, L)", "conv2d": "(C, H, W)", "conv3d": "(C, D, H, W)"}


def _input_rank(m: re.Match[str], exc: BaseException | None) -> str | None:
    lo, hi, op, shape = int(m[1]), int(m[2]), m[3], _shape(m[4])
    layout = _LAYOUTS.get(op)
    forms = f"{lo}D {layout} or {hi}D (N, {layout[1:]}" if layout else f"{lo}D or {hi}D"
    text = f"{op} takes a {forms} input, but got {len(shape)}D {shape_text(shape)}"
    if len(shape) < lo:
        return f"{text}: add the missing axes with x.unsqueeze(0) (e.g. an image's channel axis)"
    return f"{text}: merge or drop the extra axes (x.flatten(0, 1) or x.squeeze(dim))"


def _embedding(m: re.Match[str], exc: BaseException | None) -> str | None:
    # The message is index_select's, shared by any indexing; only the traceback can say
    # it came from an Embedding.
    frame = _module(exc, "torch/nn/modules/sparse.py", "num_embeddings")
    if frame is None:
        return (
            "An index is outside the dimension it indexes (valid: 0 to size - 1); "
            "for nn.Embedding, ids must be in [0, num_embeddings)"
        )
    n = frame["self"].num_embeddings
    return (
        f"nn.Embedding(num_embeddings={n}) needs ids in [0, {n}) and some id is outside: "
        f"raise num_embeddings to the vocabulary size or fix the ids"
    )


def _say(template: str) -> Handler:
    """A handler that only fills the match groups into ``template`` ({0}, {1}, ...)."""
    return lambda m, exc: template.format(*m.groups())


def _say_dtype(template: str) -> Handler:
    """Like :func:`_say` for a single group that is a dtype, shown as torch.float32 names it."""
    return lambda m, exc: template.format(_dtype(m[1]))


# Searched in order; the first handler that returns text wins.
_RULES: list[tuple[str, Handler]] = [
    (r"shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)", _matmul),
    (r"first two dimensions of batch2 tensor to be: \[(.*?)\] but got: \[(.*?)\]", _bmm),
    (r"size mismatch, got input \((\d+)\), mat \((\d+)x(\d+)\), vec \((\d+)\)",
     _say("Matrix-vector product needs the vector's length to equal the matrix's columns: "
          "({1}x{2}) @ ({3},) has {2} columns vs {3} elements")),
    (r"inconsistent tensor size, expected tensor \[(\d+)\] and src \[(\d+)\]",
     _say("A dot product (1-D @ 1-D) needs vectors of the same length, but got {0} and {1} "
          "elements: slice or pad one to match")),
    (r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) "
     r"at non-singleton dimension (\d+)",
     _say("Broadcasting needs the sizes at each dimension to be equal or 1 (shapes line up "
          "from the right), but at dimension {2} of the result one tensor has {0} and the "
          "other {1}: make them equal (slice / reshape), or add a size-1 axis with unsqueeze()")),
    (r"expected m1 and m2 to have the same dtype, but got: (?P<a>.+?) != (?P<b>[\w: ]+)",
     _dtype_pair),
    (r"mat1 and mat2 must have the same dtype, but got (?P<a>\w+) and (?P<b>\w+)", _dtype_pair),
    (r"expected scalar type (?P<a>[\w.]+) but found (?P<b>[\w.]+)", _dtype_pair),
    (r"Found dtype (?P<a>\w+) but expected (?P<b>\w+)", _dtype_pair),
    (r"result type (\w+) can't be cast to the desired output type (\w+)", _cast),
    (r"Input type \((?P<x>[\w.: ]+)\) and (?P<kind>weight|bias) type \((?P<w>[\w.: ]+)\) "
     r"should be the same", _layer_types),
    (r"same device, but found at least two devices, (\S+?) and (\S+?)!",
     lambda m, exc: _devices(m[1], m[2])),
    (r"same device, but got (\w+) is on (\S+?), "
     r"different from other tensors on (\S+?)(?:[ ,!]|$)",
     lambda m, exc: _devices(m[2], m[3], m[1])),
    (r"Tensor on device (\S+) is not on the expected device (\S+?)!",
     lambda m, exc: _devices(m[1], m[2])),
    (r"Sizes of tensors must match except in dimension (\d+)\. "
     r"Expected size (\d+) but got size (\d+) for tensor number (\d+)",
     _say("torch.cat along dim {0} needs every other dimension to match, but tensor number "
          "{3} has size {2} where the first has {1}: pass dim= to join along the dimension "
          "that differs, or reshape / slice tensor {3}")),
    (r"Tensors must have same number of dimensions: got (\d+) and (\d+)",
     _say("torch.cat needs tensors with the same number of dimensions, but got {0} and {1}: "
          "add an axis with unsqueeze() or drop one with squeeze()")),
    (r"stack expects each tensor to be equal size, "
     r"but got (\[.*?\]) at entry (\d+) and (\[.*?\]) at entry (\d+)",
     _say("torch.stack needs equal shapes, but entry {1} is {0} and entry {3} is {2}: "
          "torch.cat(..., dim=) joins along an existing dim instead")),
    (r"weight of size \[(?P<w>.*?)\], expected input\[(?P<x>.*?)\] "
     r"to have (?P<want>\d+) channels, but got (?P<got>\d+) channels", _conv_channels),
    (r"Expected (\d)D \(unbatched\) or (\d)D \(batched\) input to (\w+), "
     r"but got input of size: \[(.*?)\]", _input_rank),
    (r"expected target dtype to be Long or Byte, but got (\w+)",
     _say_dtype(f"For cross_entropy / nll_loss, {_TARGETS}; this target is {{0}}: "
                "use target.long()")),
    (r"Expected floating point type for target with class probabilities, got (\w+)",
     _say_dtype("A target with the input's shape is read as class probabilities, which must "
                "be float, not {0}: use target.float(), or target.argmax(1) for class indices")),
    (r"Expected input batch_size \((\d+)\) to match target batch_size \((\d+)\)",
     _say(f"The input has batch size {{0}} but the target {{1}}: {_TARGETS}, so here a "
          "target of shape ({0},); check reshapes of the logits")),
    (r"Expected target size (\[.*?\]), got (\[.*?\])",
     _say("For an input (N, C, d1, ...) class-index targets must be (N, d1, ...) = {0}, got "
          "{1}; sequence logits (N, L, C) need .transpose(1, 2) so the classes are dim 1")),
    (r"Target (-?\d+) is out of bounds",
     _say("Class indices must be in [0, C), C = input.shape[1] (the number of classes), but a "
          "target is {0}: make the model output every class (e.g. out_features), or shift "
          "labels that start at 1 with target - 1")),
    (r"0D or 1D target tensor expected, multi-target not supported",
     _say(f"For cross_entropy / nll_loss, {_TARGETS}: a (N, 1) target needs "
          "target.squeeze(1), one-hot rows target.argmax(1)")),
    (r"shape '\[(.*?)\]' is invalid for input of size (\d+)", _view),
    (r"view size is not compatible with input tensor's size and stride",
     _say("The tensor is not contiguous (after .t(), .permute() or .transpose()), so view() "
          "cannot reshape it: use .reshape(...) or .contiguous().view(...)")),
    (r"element 0 of tensors does not require grad",
     _say("backward() was called on a result not connected to any tensor with "
          "requires_grad=True: create parameters with requires_grad=True, and check it was "
          "not computed under torch.no_grad() or after .detach()")),
    (r"index out of range in self", _embedding),
    (r"'indices' to have one of the following scalar types: Long, Int; but got torch\.(\w+)",
     _say_dtype("Embedding ids must be integers, but got {0}: use ids.long()")),
    (r"input\.size\(-1\) must be equal to input_size\. Expected (\d+), got (\d+)",
     _say("The RNN was built with input_size={0} but the input's last dim is {1}: set "
          "input_size={1}, or check the input is (L, N, features) ((N, L, ...) if batch_first)")),
    (r"(\w+): Expected input to be 2D or 3D, got (\d)D",
     _say("nn.{0} takes a 2D (L, features) or 3D (L, N, features) input ((N, L, features) with "
          "batch_first=True), but got {1}D: add a batch axis with unsqueeze() or reshape")),
    (r"running_mean should contain (\d+) elements not (\d+)",
     _say("BatchNorm was built with num_features={1} but the input has {0} channels at dim "
          "1: set num_features={0}, or check the layout is (N, C, ...)")),
]  # fmt: skip
_COMPILED = [(re.compile(pattern), handler) for pattern, handler in _RULES]


def _lookup(message: str, exc: BaseException | None) -> str | None:
    for pattern, handler in _COMPILED:
        match = pattern.search(message)
        if match is not None:
            text = handler(match, exc)
            if text is not None:
                return text
    return None


# PyTorch's messages that we explain are a few lines; a user's ValueError('y' * 10**8)
# must not make every pattern scan 100 MB.
MESSAGE_LIMIT = 4_000


def explain_message(message: str) -> str | None:
    """One or two plain-words lines about a PyTorch error message, or None if unknown."""
    try:
        return _lookup(message[:MESSAGE_LIMIT], None)
    except Exception:
        return None


def explain(exc: BaseException, message: str | None = None) -> str | None:
    """One or two plain-words lines about a PyTorch error, or None if it is not a known one.

    Reads the exception's message (``message`` when the caller has it already: a user's
    ``__str__`` may be slow, and is called once); for errors raised inside ``nn.Linear`` /
    ``nn.Embedding`` it also reads the layer (and the Linear's input shape) from the
    traceback.
    """
    try:
        text = str(exc) if message is None else message
        return _lookup(text[:MESSAGE_LIMIT], exc)
    except Exception:
        # An explanation is a courtesy under a traceback the user already sees; a bug in
        # reading an odd message must never replace that traceback with a second one.
        return None
