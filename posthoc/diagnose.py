"""Run every detector on a run, order the findings, pick status and the primary (root) cause.

Findings are ordered by severity, then first step, then confidence. Status: failed if any critical,
warning if any warning, inconclusive when the run logged too little for any training-loss check to judge,
else healthy. Primary: the earliest link of a causal chain (CAUSES), else the most severe finding, a state the
run ends in before an event it recovered from (TRANSIENT), then the most confident; findings that restate
another's symptom are dropped first (SUPPRESSED_BY).
"""

from __future__ import annotations

import dataclasses
import math

from posthoc.config import Config, key_path, unknown_key
from posthoc.detectors import DETECTORS
from posthoc.errors import BadInput
from posthoc.kinds import (
    KIND_LABELS,
    LR_RANGE_TEST,
    ONE_BATCH_TEST,
    TRAINING,
    ExperimentContext,
    KindMatch,
    analyze_test,
    recognize,
    test_findings,
    tests_for,
)
from posthoc.model import SEVERITY_RANK, Diagnosis, Finding, Run, Skipped
from posthoc.roles import ROLES, Roles, resolve_roles
from posthoc.signal import lr_cycle, phase_locked

# --fail-on LEVEL: the statuses that make the exit code 1. A ladder: each level adds the next-weaker verdict,
# and `inconclusive` also alerts on runs nobody could judge.
FAIL_ON: dict[str, tuple[str, ...]] = {
    "failed": ("failed",),
    "warning": ("failed", "warning"),
    "inconclusive": ("failed", "warning", "inconclusive"),
    "never": (),
}

# cause → effects it can produce. A cause is the root of an effect when it starts no later than the effect
# and is still active near its start (its span ends within PROXIMITY of the run's steps before it): spikes
# 300 steps before an unrelated NaN are not its cause.
CAUSES: dict[str, tuple[str, ...]] = {
    "exploding_gradients": ("nan_inf", "divergence", "loss_spikes", "oscillation"),
    "divergence": ("nan_inf",),
    "oscillation": ("nan_inf", "divergence"),
    "loss_spikes": ("nan_inf",),
    "vanishing_gradients": ("plateau", "underfitting"),
    "overfitting": (),
}
PROXIMITY = 0.1  # fraction of the run's logged step span
SWING_OVER_RISE = 0.25  # oscillation's typical swing over divergence's rise above which the swings dominate
# a spike this many typical swings tall is not one of the swings (loss_spikes' own 10-sigma bar): the spikes,
# and the up-down structure they leave behind, are the story
SPIKE_OVER_SWING = 10.0
# A finding that restates another's symptom is dropped: the pattern it is listed under explains it. A
# diverged or exploded run also "stalls" at a huge level; swings contain spikes (unless the spikes stand far
# above them); a net whose gradients vanished learns nothing, so its val drift is not overfitting;
# noisy_small_batch requires a clearly falling trend, which rules out oscillation's "little net progress".
# Plateau explains underfitting only when the run never learned, learned far too slowly or the lr collapsed;
# divergence vs oscillation and loss_spikes vs oscillation are decided by `_explains`.
SUPPRESSED_BY: dict[str, tuple[str, ...]] = {
    "plateau": ("divergence", "exploding_gradients", "vanishing_gradients", "oscillation"),
    "underfitting": ("divergence", "exploding_gradients", "plateau", "oscillation", "vanishing_gradients"),
    "noisy_small_batch": ("divergence", "exploding_gradients", "vanishing_gradients"),
    "oscillation": ("divergence", "noisy_small_batch", "loss_spikes"),
    "divergence": ("oscillation",),
    "loss_spikes": ("divergence", "oscillation", "noisy_small_batch"),
    "overfitting": ("vanishing_gradients", "divergence", "exploding_gradients", "plateau"),
}


def diagnose(run: Run, config: Config | None = None, strict: bool = False,
             context: ExperimentContext | None = None) -> Diagnosis:
    """Detectors that raise are recorded in `errors` so a batch goes on; `strict` re-raises (tests).

    `context` holds the experiment's test runs and params (posthoc.kinds.build_context): a run cites the tests
    that speak for it, and a range test measures the experiment's lrs against itself."""
    config = config or Config()
    roles = resolve_roles(run, config.roles)
    match = recognize(run, roles)
    cited = None if context is None else tuple(
        t for kind in (ONE_BATCH_TEST, LR_RANGE_TEST) for t in tests_for(run.params, context, kind, run.run_id))
    if match.kind != TRAINING:
        return _diagnose_test(run, roles, match, context, cited)
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
    missing = missing_evidence(run, roles, config)
    if missing is not None:
        findings.append(missing)
    cycle = lr_cycle(roles.get("lr"))
    findings = [f for f in findings if not any(_explains(other, f, cycle) for other in findings)]
    ordered = tuple(sorted((_mark_order(f, run) for f in findings), key=_order_key))
    status = status_of(ordered)
    return Diagnosis(
        run=run,
        status=status,
        primary="inconclusive" if status == "inconclusive" else primary_of(ordered, _step_span(run)),
        findings=ordered,
        roles=roles.keys(),
        skipped=tuple(skipped),
        errors=tuple(errors),
        experiment_tests=cited,
        role_notes=roles.notes,
    )


def _diagnose_test(run: Run, roles: Roles, match: KindMatch, context: ExperimentContext | None,
                   cited: tuple | None) -> Diagnosis:
    """A range test diverges and a one-batch test memorizes on purpose: its verdict replaces the detectors'."""
    result = analyze_test(run, roles, match.kind)
    findings = tuple(sorted(test_findings(run, match, result, context), key=_order_key))
    reason = f"not applied to {KIND_LABELS[match.kind]} (recognized by {match.source}): its own verdict replaces it"
    return Diagnosis(run=run, status=status_of(findings), primary=primary_of(findings), findings=findings,
                     roles=roles.keys(), skipped=tuple(Skipped(d.PATTERN, reason) for d in DETECTORS),
                     kind=match.kind, kind_source=match.source, test=result, experiment_tests=cited,
                     role_notes=roles.notes)


def _mark_order(f: Finding, run: Run) -> Finding:
    """Evidence of a metric logged without a step says its steps are positions in time order."""
    series = run.metrics.get(f.metric) if f.metric else None
    if series is None or series.ordered_by == "step":
        return f
    return dataclasses.replace(f, evidence={**f.evidence, "ordered_by": series.ordered_by})



def _explains(other: Finding, f: Finding, cycle: float | None = None) -> bool:
    """Whether `other` explains `f` away (SUPPRESSED_BY); `cycle`: the period of a cyclic lr, in steps, if any."""
    if other.pattern not in SUPPRESSED_BY.get(f.pattern, ()):
        return False
    if (other.pattern, f.pattern) == ("plateau", "underfitting"):  # a run that never converged did not converge high
        return other.evidence.get("kind") in ("never_learned", "too_slow", "lr_collapsed")
    if (other.pattern, f.pattern) == ("plateau", "overfitting"):  # a train loss that never learned did not keep falling
        return other.evidence.get("kind") == "never_learned"
    if {other.pattern, f.pattern} == {"divergence", "oscillation"}:
        div, osc = (other, f) if other.pattern == "divergence" else (f, other)
        return _swinging(div.evidence, osc.evidence) == (other.pattern == "oscillation")
    if {other.pattern, f.pattern} == {"loss_spikes", "oscillation"}:
        spikes, osc = (other, f) if other.pattern == "loss_spikes" else (f, other)
        height = (spikes.evidence.get("max_spike_value") or 0.0) - (spikes.evidence.get("running_level_at_max") or 0.0)
        # a lone moderate spike (info) explains nothing; spikes at one phase of a cyclic lr are its swings' peaks
        locked = cycle is not None and phase_locked(spikes.evidence.get("spike_steps") or [], cycle)
        tall = spikes.severity != "info" and height >= SPIKE_OVER_SWING * (osc.evidence.get("swing") or 0.0) and not locked
        return tall if other.pattern == "loss_spikes" else not tall
    return True


def _swinging(div: dict, osc: dict) -> bool:
    """Whether a loss that rose above its best and swings is oscillating (bounded bouncing) rather than diverged
    (a new level): it had risen as much before and come back, or its swings, already there before the climb
    (not born with it: divergence's swing growth), span a good part of the rise, measured from the level held around
    the best."""
    rise = (div.get("final_value") or 0.0) - div.get("best_level", div.get("best_value") or 0.0)
    if (div.get("earlier_rise") or 0.0) >= rise:
        return True
    return not div.get("swings_born_with_rise") and (osc.get("swing") or 0.0) >= SWING_OVER_RISE * rise


def _order_key(f: Finding):
    return (-SEVERITY_RANK[f.severity], f.step_start if f.step_start is not None else 0, -f.confidence, f.pattern)


def status_of(findings: tuple[Finding, ...]) -> str:
    severities = {f.severity for f in findings}
    if "critical" in severities or "warning" in severities:
        return "failed" if "critical" in severities else "warning"
    return "inconclusive" if any(f.pattern == INSUFFICIENT for f in findings) else "healthy"


def reaches(status: str, fail_on: str) -> bool:
    """Whether a run with this status makes `--fail-on fail_on` exit 1."""
    return status in FAIL_ON[fail_on]


INSUFFICIENT = "insufficient_data"


def missing_evidence(run: Run, roles: Roles, config: Config) -> Finding | None:
    """What keeps the run from a verdict: unreadable, no metrics, no training loss, or fewer points than any
    training-loss check needs (each detector's own min_points). None when some check could judge it."""
    train = roles.get("train_loss")
    needed = min(getattr(config.thresholds_for(d.PATTERN, d.Thresholds()), "min_points", 1) for d in DETECTORS
                 if "train_loss" in d.REQUIRES and all(roles.get(r) is not None or r == "train_loss" for r in d.REQUIRES))
    evidence = {"metrics_logged": len(run.metrics), "train_loss_points": train.finite_count if train else 0,
                "points_needed": needed}
    if run.unreadable:
        message = f"unreadable: {run.unreadable}"
    elif not run.metrics:
        message = "the run logged no metrics: nothing to judge"
    elif train is None:
        keys = sorted(run.metrics)
        shown = ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
        guess = next((k for k in keys if "loss" in k.lower()), keys[0])
        message = (f"no training loss resolved among: {shown}; map one with [tool.posthoc.roles] "
                   f'train_loss = ["{guess}"]')
    elif train.finite_count < needed:
        message = (f"{train.key} logged {train.finite_count} finite point(s); the training-loss checks need at "
                   f"least {needed}")
    else:
        return None
    return Finding(INSUFFICIENT, "info", 1.0, train.key if train else None, None, None, evidence, message)


def _step_span(run: Run) -> int:
    steps = [s.steps for s in run.metrics.values() if len(s)]
    return max((int(x[-1]) - int(x[0]) for x in steps), default=0)


def causes(cause: Finding, effect: Finding, span: int = 0) -> bool:
    """Whether `cause` can explain `effect`: a known link, starting no later, still active near its start."""
    if effect.pattern not in CAUSES.get(cause.pattern, ()):
        return False
    if effect.pattern == "nan_inf" and not _grew_into(effect):
        return False  # a NaN out of nowhere (a bad batch) has no precursor among the shape findings
    c_start, c_end = cause.step_start or 0, cause.step_end if cause.step_end is not None else cause.step_start or 0
    e_start = effect.step_start or 0
    return c_start <= e_start and c_end >= e_start - PROXIMITY * span


def _grew_into(nan: Finding, ratio: float = 10.0) -> bool:
    """Whether the loss or grad norm grew (by `ratio`, nan_inf's own threshold) in the points before the NaN."""
    growth = [nan.evidence.get("lead_up_growth_ratio"), nan.evidence.get("grad_norm_growth_ratio")]
    return any(g is not None and abs(g) >= ratio for g in growth)


# Events the run recovered from: at equal severity, a state the run ends in (overfit, stalled, diverged) costs the
# delivered model more, so it is the primary; the events stay among the findings
TRANSIENT = ("loss_spikes",)


def primary_of(findings: tuple[Finding, ...], span: int = 0) -> str:
    """The earliest link of a causal chain, else the most severe finding, a lasting state before a recovered
    event, then the most confident."""
    candidates = [f for f in findings if f.severity in ("critical", "warning")]
    if not candidates:
        return "healthy"
    effects = {effect.pattern for cause in candidates for effect in candidates if causes(cause, effect, span)}
    roots = [f for f in candidates if f.pattern not in effects] or candidates
    return min(roots, key=lambda f: (-SEVERITY_RANK[f.severity], f.pattern in TRANSIENT, -f.confidence,
                                     f.step_start or 0)).pattern


def check_config(config: Config) -> Config:
    """Role names, pattern names, threshold names, types and ranges, checked once on load: a bad value must
    stop the command (exit 2) before any run is read, never crash a detector into a HEALTHY verdict."""
    source = config.source or "config"
    for role in config.roles:
        if role not in ROLES:
            raise unknown_key(source, key_path(config.prefix, "roles", role), role, ROLES)
    detectors = {d.PATTERN: d for d in DETECTORS}
    for pattern, overrides in config.thresholds.items():
        if pattern not in detectors:
            raise unknown_key(source, key_path(config.prefix, "thresholds", pattern), pattern, list(detectors))
        defaults = detectors[pattern].Thresholds()
        for name, value in overrides.items():
            path = key_path(config.prefix, "thresholds", pattern, name)
            if name not in _field_names(defaults):
                raise unknown_key(source, path, name, _field_names(defaults))
            problem = _threshold_problem(value, getattr(defaults, name))
            if problem:
                raise BadInput(f"{source}: {path} = {value!r} {problem} (default {getattr(defaults, name)!r})")
    return config


def _field_names(defaults) -> list[str]:
    return [f.name for f in dataclasses.fields(defaults)]


def _threshold_problem(value, default) -> str | None:
    """Why `value` cannot replace `default`: the same kind of number, finite, counts >= 1, others >= 0."""
    if isinstance(default, bool) or isinstance(value, bool):
        return None if isinstance(value, bool) and isinstance(default, bool) else "must be a number"
    if isinstance(default, int):
        return None if isinstance(value, int) and value >= 1 else "must be a whole number >= 1"
    if not isinstance(value, (int, float)):
        return "must be a number"
    return None if math.isfinite(value) and value >= 0 else "must be a finite number >= 0"
