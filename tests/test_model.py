import numpy as np

from posthoc.model import Finding, Series, json_number


def test_series_sorts_steps_and_keeps_latest_duplicate():
    s = Series.from_points("loss", [3, 1, 2, 2], [0.3, 0.1, 0.25, 0.2], [30, 10, 25, 21])
    assert s.steps.tolist() == [1, 2, 3]
    assert s.values.tolist() == [0.1, 0.25, 0.3]  # step 2: the value logged last (timestamp 25) wins


def test_series_keeps_nonfinite_values():
    s = Series.from_points("loss", [0, 1, 2], [1.0, np.nan, np.inf], [0, 1, 2])
    assert s.finite_count == 1 and np.isnan(s.values[1]) and np.isposinf(s.values[2])


def test_finding_json_has_no_nan_or_inf():
    f = Finding("nan_inf", "critical", 1.0, "loss", 3, 9, {"a": float("nan"), "b": [float("inf"), 1.0]}, "m")
    assert f.to_dict()["evidence"] == {"a": None, "b": ["inf", 1.0]}
    assert json_number(np.float32(-np.inf)) == "-inf"


def test_points_logged_without_a_step_are_ordered_by_time():
    s = Series.from_points("loss", [0, 0, 0, 0], [3.0, 1.0, 2.0, 0.5], [30, 10, 20, 40])
    assert s.ordered_by == "timestamp" and s.steps.tolist() == [0, 1, 2, 3] and s.values.tolist() == [1.0, 2.0, 3.0, 0.5]
    assert s.finite_part().ordered_by == "timestamp"


def test_steps_that_advance_under_one_timestamp_stay_steps():
    s = Series.from_points("train-logloss", [2, 0, 1], [0.5, 0.7, 0.6], [5, 5, 5])  # autologged booster batch
    assert s.ordered_by == "step" and s.values.tolist() == [0.7, 0.6, 0.5]
