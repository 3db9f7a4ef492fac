"""Run every detector on a run, order the findings, pick status and the primary (root) cause."""

from __future__ import annotations

from posthoc.config import Config
from posthoc.detectors import DETECTORS
from posthoc.model import SEVERITY_RANK, Diagnosis, Finding, Run, Skipped
from posthoc.roles import resolve_roles

# cause → effects it can produce; a cause that starts no later than its effect is the root
CAUSES: dict[str, tuple[str, ...]] = {
    "exploding_gradients": ("nan_inf", "divergence", "loss_spikes", "oscillation"),
    "divergence": ("nan_inf",),
    "oscillation": ("nan_inf", "divergence"),
    "loss_spikes": ("nan_inf",),
    "vanishing_gradients": ("plateau", "underfitting"),
    "noisy_small_batch": ("oscillation",),
    "overfitting": (),
}


def diagnose(run: Run, config: Config | None = None, strict: bool = False) -> Diagnosis:
    """Detectors that raise are recorded in `errors` so a batch goes on; `strict` re-raises (tests)."""
    config = config or Config()
    roles = resolve_roles(run, config.roles)
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    errors: list[str] = []
    for detector in DETECTORS:
        thresholds = config.thresholds_for(detector.PATTERN, detector.Thresholds())
        missing = [role for role in detector.REQUIRES if roles.get(role) is None]
        if missing:
            skipped.append(Skipped(detector.PATTERN, f"needs {' and '.join(missing)}, which this run did not log"))
            continue
        try:
            findings.extend(detector.detect(run, roles, thresholds))
        except Exception as exc:
            if strict:
                raise
            errors.append(f"{detector.PATTERN}: {type(exc).__name__}: {exc}")
    if not any(s.finite_count for s in run.metrics.values()):
        findings.append(Finding("insufficient_data", "info", 1.0, None, None, None, {"metrics_logged": len(run.metrics)},
                                "the run logged no finite metric values: nothing to analyze"))
    ordered = tuple(sorted(findings, key=_order_key))
    return Diagnosis(
        run=run,
        status=status_of(ordered),
        primary=primary_of(ordered),
        findings=ordered,
        roles=roles.keys(),
        skipped=tuple(skipped),
        errors=tuple(errors),
    )


def _order_key(f: Finding):
    return (-SEVERITY_RANK[f.severity], f.step_start if f.step_start is not None else 0, -f.confidence, f.pattern)


def status_of(findings: tuple[Finding, ...]) -> str:
    severities = {f.severity for f in findings}
    return "failed" if "critical" in severities else "warning" if "warning" in severities else "healthy"


def primary_of(findings: tuple[Finding, ...]) -> str:
    """The earliest link of a causal chain, else the most severe and most confident finding."""
    candidates = [f for f in findings if f.severity in ("critical", "warning")]
    if not candidates:
        return "healthy"
    effects = {
        effect.pattern
        for cause in candidates
        for effect in candidates
        if effect.pattern in CAUSES.get(cause.pattern, ())
        and (cause.step_start or 0) <= (effect.step_end if effect.step_end is not None else 0)
        and (cause.step_start or 0) <= (effect.step_start or 0)
    }
    roots = [f for f in candidates if f.pattern not in effects] or candidates
    return min(roots, key=lambda f: (-SEVERITY_RANK[f.severity], -f.confidence, f.step_start or 0)).pattern
