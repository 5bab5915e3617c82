"""The process layer: launcher, CLI, control client and process checks."""
