"""dltui's Textual widgets, grouped by the pane they belong to (repl, builder, monitor, common)."""
