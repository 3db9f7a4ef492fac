"""compare() on real sweeps and small real experiments: flags, effects, noise, failures, edge cases."""

import dataclasses
import json

import pytest

from posthoc.compare import compare
from posthoc.config import Config
from posthoc.demo.sweeps import BASE
from posthoc.diagnose import diagnose
from posthoc.numbers import short


def by_param(comparison):
    return {c.param: c for c in comparison.comparisons}


def values(pc):
    return {v.value: v for v in pc.values}


def test_sweeps_lr_matters_weight_decay_does_not_warmup_is_confounded(sweeps_store):
    _, runs, diagnoses = sweeps_store
    result = compare(runs, diagnoses)
    params = by_param(result)
    assert set(params) == {"lr", "weight_decay", "schedule", "warmup_steps"}
    assert result.replicate_params == ["seed"] and result.target == "val_loss" and result.mode == "min"
    lr, wd = params["lr"], params["weight_decay"]
    assert lr.significant and not lr.confounded and lr.effect > lr.noise > 0
    assert lr.best_value == 0.3 and lr.worst_value == 0.003
    assert not wd.significant and wd.effect < wd.noise and wd.effect < 0.01
    assert lr.effect > 10 * params["schedule"].effect > wd.effect  # ordering of effects
    assert [c.param for c in result.comparisons][0] == "lr"  # significant effects come first
    for name, other in (("schedule", "warmup_steps"), ("warmup_steps", "schedule")):
        assert params[name].confounded and params[name].confounders == [other] and not params[name].significant
    # 3 seeds per setting; the base setting is shared by every comparison
    assert [v.n for v in lr.values] == [3, 3, 3, 0] and values(wd)[0.0].run_ids == values(lr)[0.03].run_ids
    assert lr.noise_source == "compared runs" and lr.noise_df == 6  # three finite replicate groups of 3


def test_nan_runs_are_failures_of_their_value_not_missing(sweeps_store):
    _, runs, diagnoses = sweeps_store
    lr = by_param(compare(runs, diagnoses))["lr"]
    blown = values(lr)[30.0]
    assert blown.failures == 3 and blown.n == 0 and blown.missing == 0 and len(blown.run_ids) == 3
    # gradients blew up, the loss climbed past 1e300 (divergence, finite all the way), then went NaN
    assert blown.patterns == {"exploding_gradients": 3, "divergence": 3, "nan_inf": 3}
    assert values(lr)[0.3].patterns == {"healthy": 3} and values(lr)[0.3].failures == 0
    assert compare(runs, diagnoses).failures == 3


def test_a_value_that_always_fails_is_significant_by_failures(sweeps_store):
    _, runs, diagnoses = sweeps_store
    base = {"weight_decay": "0.0", "schedule": "constant"}
    chosen = [r for r in runs if r.params["lr"] in ("0.03", "30.0") and all(r.params[k] == v for k, v in base.items())]
    result = compare(chosen, diagnoses)
    (lr,) = result.comparisons
    assert len(chosen) == 6 and lr.effect is None and lr.failure_decided and lr.significant
    assert (lr.best_value, lr.worst_value) == (0.03, 30.0)
    assert result.summary == ["lr=30 failed in 3/3 runs (exploding_gradients)"]  # the root cause, not the NaN


def test_summary_reads_like_the_findings(sweeps_store):
    _, runs, diagnoses = sweeps_store
    summary = compare(runs, diagnoses).summary
    assert summary[0].startswith("lr 0.003 → 0.3 lowered best val_loss ") and "(3 runs each, noise ±" in summary[0]
    assert "lr=30 failed in 3/3 runs (exploding_gradients)" in summary
    assert any(line.startswith("warmup_steps moves with schedule (an exact function across these runs): confounded; "
                               "together: schedule warmup → constant changed best val_loss ") and line.endswith("within noise")
               for line in summary)
    assert any(line.startswith("weight_decay made no clear difference") for line in summary)


def test_noise_band_is_the_pooled_replicate_t_interval(sweeps_store):
    import numpy as np
    from scipy.stats import t

    _, runs, diagnoses = sweeps_store
    wd = by_param(compare(runs, diagnoses))["weight_decay"]
    assert [len(values(wd)[value].run_ids) for value in (0.0, 1e-4)] == [3, 3]
    stds = [values(wd)[value].std for value in (0.0, 1e-4)]
    pooled = np.sqrt((stds[0] ** 2 + stds[1] ** 2) / 2)
    assert wd.noise_std == pytest.approx(pooled) and wd.noise_df == 4
    assert wd.noise == pytest.approx(t.ppf(0.975, 4) * pooled * np.sqrt(2 / 3))


def test_target_accuracy_is_maximized(sweeps_store):
    _, runs, diagnoses = sweeps_store
    result = compare(runs, diagnoses, target="val_acc")
    lr = by_param(result)["lr"]
    assert result.mode == "max" and lr.best_value in (0.03, 0.3) and lr.worst_value == 0.003
    assert values(lr)[30.0].failures == 3  # accuracy stays finite, but the train loss went NaN


def test_to_dict_matches_the_design_contract(sweeps_store):
    _, runs, diagnoses = sweeps_store
    out = json.loads(json.dumps(compare(runs, diagnoses).to_dict(), allow_nan=False))
    assert set(out) >= {"experiment_id", "target", "comparisons", "importance", "summary", "warnings", "outcome_metric"}
    entry = out["comparisons"][0]
    assert set(entry) >= {"param", "values", "effect", "noise", "significant", "confounded", "confounders"}
    assert set(entry["values"][0]) >= {"value", "run_ids", "outcome", "patterns", "failures"}
    assert set(entry["values"][0]["outcome"]) == {"mean", "std", "n"}
    assert {i["param"]: i["moves_with"] for i in out["importance"]} == {"lr": [], "weight_decay": [], "schedule": ["warmup_steps"]}
    assert set(out["importance"][0]) >= {"param", "importance", "correlation"}
    assert out["importance"][0]["param"] == "lr"
    failed = [v for v in entry["values"] if v["value"] == 30.0][0]
    assert failed["outcome"] == {"mean": None, "std": None, "n": 0}


@pytest.fixture(scope="module")
def five_runs(tmp_path_factory):
    from tests.conftest import StoreBuilder

    store = StoreBuilder(f"sqlite:///{tmp_path_factory.mktemp('five') / 'mlflow.db'}")
    for lr, seeds in ((0.003, (0, 1)), (0.3, (0, 1, 2))):
        for seed in seeds:
            store.add(f"lr={lr} seed={seed}", dataclasses.replace(BASE, lr=lr, seed=seed))
    for lr, bs in ((0.003, 16), (0.3, 64)):  # lr and batch_size always together
        for seed in (0, 1):
            store.add(f"both lr={lr} bs={bs} seed={seed}", dataclasses.replace(BASE, lr=lr, batch_size=bs, seed=seed),
                      experiment="together")
    store.add("no val lr=0.3", dataclasses.replace(BASE, lr=0.3, log_val=False), experiment="mixed")
    store.add("no val lr=0.003", dataclasses.replace(BASE, lr=0.003, log_val=False), experiment="mixed")
    store.add("val lr=0.003", dataclasses.replace(BASE, lr=0.003), experiment="mixed")
    return store


def load(store, experiment):
    from posthoc.store import load_runs, open_store

    s = open_store(store.uri)
    return load_runs(s, s.run_ids(list(s.experiment_ids([experiment]).values())))


def test_five_runs(five_runs):
    runs = load(five_runs, "tests")
    result = compare(runs, [diagnose(r) for r in runs])
    (lr,) = result.comparisons
    assert [v.n for v in lr.values] == [2, 3] and lr.significant and lr.best_value == 0.3
    assert result.importance == [] and "importance skipped: 5 runs" in result.warnings[0]


def test_all_params_confounded(five_runs):
    runs = load(five_runs, "together")
    result = compare(runs)
    params = by_param(result)
    assert set(params) == {"lr", "batch_size"}
    assert all(c.confounded and not c.significant for c in params.values())
    assert params["lr"].confounders == ["batch_size"] and params["batch_size"].confounders == ["lr"]
    assert params["lr"].effect == pytest.approx(params["batch_size"].effect) and params["lr"].effect > 0.3
    # two seeds of a noisy setting: even the joint change (0.88 → 0.03) stays inside t(2)'s wide band
    assert params["lr"].noise > params["lr"].effect and not params["lr"].joint_significant
    assert params["lr"].moves_with == ["batch_size"] and params["batch_size"].moves_with == ["lr"]
    (line,) = result.summary
    assert line.startswith("lr moves with batch_size (an exact function across these runs): confounded; together: "
                           "batch_size 16 → 64 changed best val_loss ") and line.endswith("(2 runs each, noise ±"
                                                                                          f"{short(params['lr'].noise, 3)}), within noise")


def test_one_run_and_no_varying_params(five_runs):
    runs = load(five_runs, "tests")
    one = compare(runs[:1])
    assert one.comparisons == [] and one.summary == ["only 1 run: nothing to compare"]
    same = [r for r in runs if r.params["lr"] == "0.3"]  # three seeds of one setting
    result = compare(same)
    assert result.comparisons == [] and result.summary[0].startswith("no param varies")
    assert json.dumps(result.to_dict(), allow_nan=False)


def test_no_replicates_says_noise_unknown(five_runs):
    runs = [r for r in load(five_runs, "tests") if r.params["seed"] == "0"]
    (lr,) = compare(runs).comparisons
    assert lr.noise is None and not lr.significant and lr.note == "no replicates: noise unknown"
    assert "no replicates: noise unknown" in compare(runs).summary[0]


def test_replicate_params_are_configurable(five_runs):
    runs = load(five_runs, "tests")
    result = compare(runs, config=Config(replicate_params=()))
    params = by_param(result)
    assert set(params) == {"lr", "seed"} and result.replicate_params == []
    assert params["lr"].noise is None  # every run is now its own configuration: no replicates left


def test_one_outcome_for_all_runs_missing_val_is_missing_not_train_loss(five_runs):
    runs = load(five_runs, "mixed")
    result = compare(runs)
    params = by_param(result)  # log_val is a logged param too
    assert result.target == "val_loss" and result.statistic == "best"
    assert [(v.value, v.n, v.missing) for v in params["log_val"].values] == [(False, 0, 1), (True, 1, 0)]
    assert [(v.value, v.n, v.missing) for v in params["lr"].values] == [(0.003, 0, 1), (0.3, 0, 1)]
    assert params["lr"].effect is None and "2 run(s) did not log the target metric: left out of the outcomes" in result.warnings
    no_val = [r for r in runs if r.run_name.startswith("no val")]
    fallback = compare(no_val)  # no run logged a val loss: the final train loss is the outcome
    assert fallback.target == "train_loss" and fallback.statistic == "final"
    finals = {r.params["lr"]: float(r.metrics["train_loss"].values[-1]) for r in no_val}
    assert {v.value: v.mean for v in fallback.comparisons[0].values} == {0.003: finals["0.003"], 0.3: finals["0.3"]}


def test_a_path_unique_to_every_run_is_set_aside_unless_kept(five_runs):
    runs = load(five_runs, "tests")
    tagged = [dataclasses.replace(r, params={**r.params, "output_dir": f"/tmp/{r.run_id}"}) for r in runs]
    result = compare(tagged)
    assert result.ignored == {"output_dir": "differs in every run"} and by_param(result)["lr"].significant
    assert result.summary[-1] == "ignored: output_dir (differs in every run)"
    kept = compare(tagged, keep=("output_dir",))  # a wrong guess overridden: no two runs differ in one param only
    assert any(w.startswith("param 'output_dir' has a different value in every run") for w in kept.warnings)
    assert not by_param(kept)["lr"].significant and kept.ignored == {}


def test_range_tests_are_set_aside_not_compared_as_an_lr_value(sweeps_store):
    """An LR range test logged into the sweep (lr=1e-7 is where it starts) is a probe, not a setting."""
    from posthoc.demo.loops import config_params, train
    from posthoc.model import Run, Series

    _, runs, diagnoses = sweeps_store
    finder = dataclasses.replace(BASE, lr=1e-7, schedule="range_test", range_end_lr=10.0, steps=200, log_val=False)
    history = train(finder)
    metrics = {k: Series.from_points(k, s, v, 1_700_000_000_000 + s * 20) for k, (s, v) in history.metrics.items()}
    probe = Run("lrfinder01", "lr-finder", runs[0].experiment_id, "FINISHED", 1_700_000_000_000, None,
                {k: v for k, v in config_params(finder).items() if k in runs[0].params}, {}, metrics)
    with_probe = compare([*runs, probe], [*diagnoses, diagnose(probe)])
    lr = by_param(with_probe)["lr"]
    assert 1e-7 not in values(lr) and with_probe.run_count == len(runs)
    assert any("set aside 1 test run" in w and "lr-finder (an LR range test)" in w for w in with_probe.warnings)
    assert [c.to_dict() for c in with_probe.comparisons] == [c.to_dict() for c in compare(runs, diagnoses).comparisons]
