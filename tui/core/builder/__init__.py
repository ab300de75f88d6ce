"""The layer-stack builder's engine: catalogue, spec, shape propagation, codegen, presets, edits."""
