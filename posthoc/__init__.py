"""posthoc: say why a logged MLflow training run went wrong, with evidence."""

__version__ = "0.1.0"
