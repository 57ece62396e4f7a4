"""Spinneret: the CLI, the composition root and the embedded launcher."""

__version__ = "0.1.0"
