"""The monitor pane's widgets: run form, runs list, loss plot."""
