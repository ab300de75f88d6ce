"""Stacks and checks shared by the builder's engine tests (not a test module).

:data:`VARIED` exercises most layer families of the catalogue; :func:`check_against_real`
compares every propagated row with a real CPU module run on a real batch, so expected
shapes, parameter counts and mult-adds come from torch, not from numbers written here.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from tui.core.builder.codegen import build_module
from tui.core.builder.propagate import propagate, totals
from tui.core.builder.spec import LayerSpec, LayerStack

A = "auto"


def stack(shape, *layers, dtype="float32"):
    return LayerStack(tuple(shape), dtype, [LayerSpec(t, dict(a)) for t, a in layers])


def real_input(st: LayerStack, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(0)
    if st.input_dtype == "int64":
        high = st.layers[0].args["num_embeddings"]
        return torch.randint(0, high, (batch, *st.input_shape))
    return torch.randn(batch, *st.input_shape)


def check_against_real(st: LayerStack) -> None:
    """Every row's shapes, counts, mult-adds and autos match a real CPU module."""
    rows = propagate(st)
    assert [r.error for r in rows] == [None] * len(rows)
    model = build_module(st).eval()
    x = real_input(st)
    for layer, spec, row in zip(model, st.layers, rows, strict=True):
        for name, value in spec.args.items():
            if value == A:  # an auto argument equals what the real input says
                got = row.resolved_args[name]
                want = x.shape[-1] if name in ("in_features", "normalized_shape") else x.shape[1]
                if name == "unflattened_size":
                    continue  # checked by the real forward below
                assert got == want, (row.index, name)
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            y = layer(x)
        assert tuple(y.shape) == (2, *row.output_shape), row
        params = list(layer.parameters())
        assert row.params_total == sum(p.numel() for p in params)
        assert row.params_trainable == sum(p.numel() for p in params if p.requires_grad)
        if row.mult_adds is not None:
            # batch 2 and 2 flops per multiply-add
            assert flops.get_total_flops() == 4 * row.mult_adds, row
        x = y
    t = totals(st, rows)
    assert t.params_total == sum(p.numel() for p in model.parameters())
    assert t.params_bytes == 4 * t.params_total
    assert t.output_shape == tuple(x.shape[1:])


VARIED = {
    "conv-bn-pool": stack(
        (3, 32, 32),
        ("Conv2d", {"in_channels": A, "out_channels": 16, "kernel_size": 3, "padding": 1}),
        ("BatchNorm2d", {"num_features": A}),
        ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Conv2d", {"in_channels": A, "out_channels": 8, "kernel_size": (3, 5), "stride": (1, 2)}),
        ("LeakyReLU", {"negative_slope": 0.2}),
        ("AvgPool2d", {"kernel_size": 2, "stride": 1}),
        ("AdaptiveAvgPool2d", {"output_size": (4, None)}),
        ("Dropout", {"p": 0.1}),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 10}),
        ("LogSoftmax", {"dim": 1}),
    ),
    "conv1d": stack(
        (4, 50),
        ("Conv1d", {"in_channels": A, "out_channels": 8, "kernel_size": 5, "stride": 2}),
        ("BatchNorm1d", {"num_features": A}),
        ("GELU", {"approximate": "tanh"}),
        ("MaxPool1d", {"kernel_size": 3}),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 16}),
        ("BatchNorm1d", {"num_features": A}),
        ("SiLU", {}),
        ("Softmax", {"dim": -1}),
    ),
    "embedding-layernorm": stack(
        (12,),
        ("Embedding", {"num_embeddings": 100, "embedding_dim": 32, "padding_idx": 0}),
        ("LayerNorm", {"normalized_shape": A}),
        ("Linear", {"in_features": A, "out_features": 64}),
        ("Tanh", {}),
        ("LayerNorm", {"normalized_shape": (12, 64)}),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 3}),
        ("Sigmoid", {}),
        ("Identity", {}),
        dtype="int64",
    ),
    "decoder-unflatten-transpose": stack(
        (1, 28, 28),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 64}),
        ("ReLU", {}),
        ("Linear", {"in_features": A, "out_features": 784}),
        ("Unflatten", {"dim": 1, "unflattened_size": A}),
        (
            "ConvTranspose2d",
            {
                "in_channels": A,
                "out_channels": 4,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
            },
        ),
        (
            "Conv2d",
            {
                "in_channels": A,
                "out_channels": 1,
                "kernel_size": 3,
                "padding": "same",
                "padding_mode": "reflect",
            },
        ),
    ),
}
