"""Layouts: the model, the YAML reader with located problems, and the timing presets."""
