"""The tensor REPL's engine: session, output capture, completion, history, explain, inspect."""
