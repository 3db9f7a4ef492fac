"""Evaluation tooling for the labeled corpus: randomized recipes and model-free label checks (not shipped)."""
