"""The trainer's engine: configuration, data sources, the loop, run directories, series."""
