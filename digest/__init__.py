"""digest: the weekly email newsletter builder."""

__version__ = "0.1.0"
