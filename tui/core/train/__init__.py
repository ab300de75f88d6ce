"""The trainer's engine: configuration, data sources, the training loop, run directories and metric series."""
