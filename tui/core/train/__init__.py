"""The trainer's engine: config and run states, data sources, the model/data check,
preparation of a run from settings, the loop, progress text, run directories, series."""
