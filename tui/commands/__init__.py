"""The headless commands (summary, export, train, watch): they print and return exit codes."""
