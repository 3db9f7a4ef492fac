"""Which logged series means what: metric-name aliases for the common loggers, overridable per project."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from posthoc.model import Run, Series

# Tried in order; the first key a run logged wins. Glob patterns allowed (Lightning's `lr-Adam`).
DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "train_loss": (
        "train_loss", "train/loss", "training_loss", "train_loss_step", "train_loss_epoch",
        "loss",  # Hugging Face Trainer and Keras log the training loss as plain `loss`
        "train/loss_step", "train/loss_epoch", "training/loss",
    ),
    "val_loss": (
        "val_loss", "val/loss", "eval_loss", "eval/loss", "validation_loss", "valid_loss",
        "validation/loss", "valid/loss", "val_loss_epoch", "test_loss",
    ),
    "grad_norm": (
        "grad_norm", "train/grad_norm", "gradient_norm", "grad_norm_total", "grad_norm/total",
        "grad_2.0_norm_total", "global_grad_norm",
    ),
    "lr": (
        "lr", "learning_rate", "train/learning_rate", "train/lr", "lr-*", "lr_*", "optimizer/lr*",
    ),
    "train_acc": (
        "train_acc", "train/acc", "train_accuracy", "train/accuracy", "accuracy", "acc",
        "train_acc_step", "train_acc_epoch",
    ),
    "val_acc": (
        "val_acc", "val/acc", "val_accuracy", "val/accuracy", "eval_accuracy", "eval/accuracy",
        "validation_accuracy", "valid_acc", "val_acc_epoch",
    ),
}
ROLES = tuple(DEFAULT_ALIASES)


@dataclass(frozen=True)
class Roles:
    """The series resolved for each role; absent roles are simply missing."""

    series: dict[str, Series]

    def get(self, role: str) -> Series | None:
        return self.series.get(role)

    def keys(self) -> dict[str, str]:
        """role → metric key, for output: a wrong guess must be visible."""
        return {role: s.key for role, s in self.series.items()}


def resolve_roles(run: Run, overrides: dict[str, tuple[str, ...]] | None = None) -> Roles:
    """Pick, for each role, the first alias the run logged (project aliases first)."""
    overrides = overrides or {}
    keys = sorted(run.metrics)
    taken: set[str] = set()
    resolved: dict[str, Series] = {}
    for role in ROLES:
        for alias in (*overrides.get(role, ()), *DEFAULT_ALIASES[role]):
            match = _first_match(alias, keys, taken)
            if match is not None:
                resolved[role] = run.metrics[match]
                taken.add(match)
                break
    return Roles(resolved)


def _first_match(alias: str, keys: list[str], taken: set[str]) -> str | None:
    if not any(ch in alias for ch in "*?["):
        return alias if alias in keys and alias not in taken else None
    return next((k for k in keys if k not in taken and fnmatch.fnmatchcase(k, alias)), None)
