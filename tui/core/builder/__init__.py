"""The layer-stack builder's engine: catalogue, stack spec, shape propagation, code generation, presets, edits."""
