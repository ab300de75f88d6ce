"""The builder pane's widgets: the layer table and the layer form."""
