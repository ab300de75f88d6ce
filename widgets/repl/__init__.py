"""The REPL pane's widgets: input, output, inspector, tensor detail, history search."""
