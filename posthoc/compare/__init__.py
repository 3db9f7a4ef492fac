"""Compare runs one variable at a time: outcome per param value, seed noise, confounding, importance."""

from posthoc.compare.core import compare

__all__ = ["compare"]
