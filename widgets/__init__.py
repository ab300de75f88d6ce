"""The Textual widgets of dltui, grouped by the pane they belong to (repl, builder, monitor) and common."""
