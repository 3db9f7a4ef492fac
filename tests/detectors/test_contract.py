"""The detector contract: every registered detector, on the degenerate series real logs contain, gives the
finding in the table below or none, never raises, and computes a confidence inside [0, 1] by itself."""

import numpy as np
import pytest

from posthoc.demo.loops import TrainConfig, config_params, train
from posthoc.detectors import DETECTORS
from posthoc.diagnose import diagnose
from posthoc.model import Run, Series
from posthoc.roles import resolve_roles

ROLE_KEYS = ("train_loss", "val_loss", "grad_norm", "lr")
DECAY = 2.0 * np.exp(-np.arange(300) / 40.0) + 0.1 + 0.01 * np.random.default_rng(0).standard_normal(300)
CASES = {  # every role logs these values (steps 0..n-1), except an lr that stays constant in a blow-up
    "constant": [0.7] * 200,
    "all zero": [0.0] * 200,
    "two points": [2.0, 1.0],
    "nan at the end": [*DECAY[:-1], np.nan],
    "empty": [],
    "all nan": [np.nan] * 50,
    "inf tail": [1.0] * 90 + [np.inf] * 10,
    "finite blow-up": list(np.logspace(0, 305, 200)),
}
# case -> the patterns its detectors must report; every other detector must report nothing. A constant
# loss never learned; a loss at exactly 0 has converged (its gradients vanish by design); a climb to 1e305
# is divergence and exploding gradients whether or not it reached Inf.
EXPECTED = {
    "constant": {"plateau"},
    "all zero": set(),
    "two points": set(),
    "nan at the end": {"nan_inf"},
    "empty": set(),
    "all nan": {"nan_inf"},
    "inf tail": {"nan_inf", "plateau"},
    "finite blow-up": {"divergence", "exploding_gradients"},
    "healthy run": set(),
}


def odd_run(values, lr=None) -> Run:
    steps = list(range(len(values)))
    series = {key: Series.from_points(key, steps, values, steps) for key in ROLE_KEYS}
    if lr is not None:
        series["lr"] = Series.from_points("lr", steps, [lr] * len(steps), steps)
    return Run("r", "odd", "0", "FINISHED", 0, 1, {}, {}, series)


@pytest.fixture(scope="module")
def healthy_run() -> Run:
    history = train(TrainConfig(dataset="wine", depth=1, hidden=16, lr=0.05, steps=300, val_every=10))
    series = {k: Series.from_points(k, s, v, s) for k, (s, v) in history.metrics.items()}
    return Run("h", "healthy", "0", "FINISHED", 0, 1, config_params(history.config), {}, series)


@pytest.mark.parametrize("case", sorted(EXPECTED))
@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.PATTERN)
def test_detector_gives_the_expected_finding_or_none(detector, case, healthy_run):
    run = healthy_run if case == "healthy run" else odd_run(CASES[case], 0.1 if case == "finite blow-up" else None)
    roles = resolve_roles(run)
    findings = detector.detect(run, roles, detector.Thresholds()) if all(roles.get(r) for r in detector.REQUIRES) else []
    assert [f.pattern for f in findings] == ([detector.PATTERN] if detector.PATTERN in EXPECTED[case] else [])
    for f in findings:
        assert 0.0 <= f.confidence <= 1.0 and f.message and f.suggestions


@pytest.mark.parametrize("values", [[], [1.0], [2.0, 1.0, 1.5]], ids=["empty", "one point", "three points"])
def test_too_little_to_judge_is_inconclusive_never_healthy(values):
    d = diagnose(odd_run(values), strict=True)
    assert (d.status, d.primary) == ("inconclusive", "inconclusive")
    assert "insufficient_data" in [f.pattern for f in d.findings]


def test_run_without_metrics_is_inconclusive():
    d = diagnose(Run("r", "empty", "0", "FAILED", 0, None, {}, {}, {}), strict=True)
    assert (d.status, d.primary) == ("inconclusive", "inconclusive")
    assert [f.pattern for f in d.findings] == ["insufficient_data"]
