"""The tensor REPL's engine: session, output capture, completion, history, error explanations, tensor summaries."""
