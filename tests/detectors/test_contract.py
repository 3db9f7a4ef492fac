"""Every registered detector survives the odd series real logs contain, without raising."""

import numpy as np
import pytest

from posthoc.detectors import DETECTORS
from posthoc.diagnose import diagnose
from posthoc.model import Run, Series

ODD = {
    "empty": ([], []),
    "one point": ([0], [1.0]),
    "three points": ([0, 1, 2], [2.0, 1.0, 1.5]),
    "all nan": (range(50), [np.nan] * 50),
    "constant": (range(200), [0.7] * 200),
    "huge": (range(100), np.linspace(1e300, 1e301, 100)),
    "inf tail": (range(100), [1.0] * 90 + [np.inf] * 10),
    "zeros": (range(100), [0.0] * 100),
}
ROLE_KEYS = ("train_loss", "val_loss", "grad_norm", "lr")


def make_run(steps, values) -> Run:
    series = {key: Series.from_points(key, list(steps), list(values), list(range(len(values)))) for key in ROLE_KEYS}
    return Run("r", "odd", "0", "FINISHED", 0, 1, {}, {}, series)


@pytest.mark.parametrize("case", sorted(ODD))
@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.PATTERN)
def test_detector_survives(detector, case):
    d = diagnose(make_run(*ODD[case]), strict=True)  # strict: a detector that raises fails the test
    for f in d.findings:
        assert 0.0 <= f.confidence <= 1.0 and f.message
    assert d.status in ("healthy", "warning", "failed")


def test_run_without_metrics_is_insufficient_data():
    d = diagnose(Run("r", "empty", "0", "FAILED", 0, None, {}, {}, {}), strict=True)
    assert d.primary == "healthy" and [f.pattern for f in d.findings] == ["insufficient_data"]
