"""Widgets every pane shares: the status line, the help screen, dialogs."""
