"""compare on sweeps logged the way real loggers log them: ~140 Hugging Face Trainer params with per-run
identifiers, a derived param, seeds under two names; the conclusions must not change (issue 12)."""

import dataclasses
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from posthoc.compare import compare
from posthoc.compare import core as compare_core
from posthoc.demo.loops import config_params, train
from posthoc.demo.record import log_history, open_client
from posthoc.demo.sweeps import BASE
from posthoc.diagnose import diagnose
from posthoc.store import load_runs, open_store

# posthoc-sweeps' knob → the TrainingArguments field the HF-logged twin carries for it
HF_NAME = {"lr": "learning_rate", "weight_decay": "weight_decay", "schedule": "lr_scheduler_type",
           "warmup_steps": "warmup_steps"}
FLAGS = ("significant", "confounded", "joint_significant", "failure_decided")


def by_param(comparison):
    return {c.param: c for c in comparison.comparisons}


def test_hf_logged_sweep_reaches_the_flags_of_the_plain_sweep(sweeps_store, hf_sweeps_store):
    _, plain_runs, plain_diagnoses = sweeps_store
    _, hf_runs, hf_diagnoses = hf_sweeps_store
    assert all(len(r.params) > 100 for r in hf_runs)  # a TrainingArguments-sized param set
    plain, hf = compare(plain_runs, plain_diagnoses), compare(hf_runs, hf_diagnoses)
    ours, theirs = by_param(plain), by_param(hf)
    assert set(theirs) == {HF_NAME[p] for p in ours} | {"warmup_ratio"}
    for param, pc in ours.items():
        twin = theirs[HF_NAME[param]]
        assert [getattr(twin, f) for f in FLAGS] == [getattr(pc, f) for f in FLAGS], param
        assert twin.effect == pytest.approx(pc.effect) and twin.noise == pytest.approx(pc.noise)
        assert [v.run_ids for v in twin.values] == [[hf_id(r, plain_runs, hf_runs) for r in v.run_ids] for v in pc.values]
    assert theirs["learning_rate"].significant and theirs["weight_decay"].effect < theirs["weight_decay"].noise
    # the derived warmup_ratio moves with warmup_steps and the scheduler: one factor, judged together
    assert theirs["warmup_ratio"].moves_with == ["lr_scheduler_type", "warmup_steps"]
    assert theirs["warmup_ratio"].confounded and not theirs["warmup_ratio"].significant
    assert hf.ignored == dict.fromkeys(["hub_model_id", "logging_dir", "output_dir", "run_name"], "differs in every run")
    assert hf.replicate_params == ["data_seed", "seed"] and len(hf.constant_params) > 100
    assert [i.param for i in hf.importance] == [HF_NAME[i.param] for i in plain.importance]


def hf_id(run_id, plain_runs, hf_runs):
    """The HF-logged twin of a plain run: same run name, same training."""
    name = next(r.run_name for r in plain_runs if r.run_id == run_id)
    return next(r.run_id for r in hf_runs if r.run_name == name)


def test_identifiers_used_to_confound_every_param(hf_sweeps_store):
    """Without the guess (every identifier kept) no two runs differ in one param: the bug the issue reports."""
    _, runs, diagnoses = hf_sweeps_store
    kept = compare(runs, diagnoses, keep=("output_dir", "logging_dir", "run_name", "hub_model_id"))
    assert kept.ignored == {} and not any(c.significant for c in kept.comparisons)
    assert by_param(kept)["learning_rate"].confounded


def test_json_lists_ignored_params_and_moves_with(hf_sweeps_store):
    uri, _, _ = hf_sweeps_store
    result = CliRunner().invoke(cli, ["compare", "-e", "posthoc-sweeps-hf", "--tracking-uri", uri, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert {i["param"]: i["reason"] for i in out["ignored"]} == dict.fromkeys(
        ["hub_model_id", "logging_dir", "output_dir", "run_name"], "differs in every run")
    entries = {c["param"]: c for c in out["comparisons"]}
    assert entries["warmup_steps"]["moves_with"] == ["lr_scheduler_type", "warmup_ratio"]
    assert entries["learning_rate"]["moves_with"] == []
    failed = [v for v in entries["learning_rate"]["values"] if v["value"] == 30.0][0]
    assert len(failed["failed_run_ids"]) == 3 and set(failed["failed_run_ids"]) == set(failed["run_ids"])
    scheduler = [i for i in out["importance"] if i["param"] == "lr_scheduler_type"][0]
    assert scheduler["moves_with"] == ["warmup_ratio", "warmup_steps"]
    assert "NaN" not in result.stdout and "nan ±" not in result.stdout


def test_ignore_and_keep_from_the_command_line_and_config(hf_sweeps_store, tmp_path):
    uri, _, _ = hf_sweeps_store
    base = ["compare", "-e", "posthoc-sweeps-hf", "--tracking-uri", uri, "--format", "json"]
    out = json.loads(CliRunner().invoke(cli, [*base, "--ignore", "weight_decay", "--keep", "hub_model_id"]).stdout)
    ignored = {i["param"]: i["reason"] for i in out["ignored"]}
    assert ignored["weight_decay"] == "--ignore or ignore_params" and "hub_model_id" not in ignored
    assert {c["param"] for c in out["comparisons"]} >= {"hub_model_id"} and "weight_decay" not in {
        c["param"] for c in out["comparisons"]}
    (tmp_path / "posthoc.toml").write_text('ignore_params = ["weight_decay", "warmup_ratio"]\n')
    out = json.loads(CliRunner().invoke(cli, [*base, "--config", str(tmp_path / "posthoc.toml"), "--no-importance"]).stdout)
    assert {"weight_decay", "warmup_ratio"} <= {i["param"] for i in out["ignored"]}
    assert out["importance"] == [] and "importance not computed (--no-importance)" in out["warnings"]
    assert [c["moves_with"] for c in out["comparisons"] if c["param"] == "warmup_steps"] == [["lr_scheduler_type"]]


@pytest.fixture(scope="module")
def batch_sweep(sweeps_uri):
    """batch_size 8 vs 64 at a fixed step count, 3 seeds, each run also logging the epochs it covered."""
    uri = sweeps_uri
    client = open_client(uri)
    experiment_id = client.create_experiment("batch")
    train_size = 124  # wine's 70% training split
    for batch_size in (8, 64):
        for seed in (0, 1, 2):
            config = dataclasses.replace(BASE, batch_size=batch_size, seed=seed)
            params = {**config_params(config), "epochs": str(round(config.steps * batch_size / train_size, 2))}
            log_history(client, experiment_id, train(config), f"bs={batch_size} seed={seed}", params=params)
    store = open_store(uri)
    runs = load_runs(store, store.run_ids(list(store.experiment_ids(["batch"]).values())))
    return runs, [diagnose(r) for r in runs]


def test_epochs_moves_with_batch_size_and_the_pair_is_judged_together(batch_sweep):
    runs, diagnoses = batch_sweep
    without = compare([dataclasses.replace(r, params={k: v for k, v in r.params.items() if k != "epochs"}) for r in runs],
                      diagnoses)
    (alone,) = without.comparisons
    result = by_param(compare(runs, diagnoses))
    assert set(result) == {"batch_size", "epochs"}
    assert result["epochs"].moves_with == ["batch_size"] and result["batch_size"].moves_with == ["epochs"]
    for pc in result.values():  # confounded, with the joint effect and whether it clears the noise
        assert pc.confounded and not pc.significant and pc.confounders == pc.moves_with
        assert pc.effect == pytest.approx(alone.effect) and pc.noise == pytest.approx(alone.noise)
        assert pc.joint_significant == alone.significant
    summary = compare(runs, diagnoses).summary
    assert summary[0].startswith("epochs moves with batch_size (an exact function across these runs): confounded; "
                                 "together: batch_size ")


def test_params_that_move_together_are_grouped_in_one_pass(sweeps_store, monkeypatch):
    """300 logged params that are functions of lr (a model config that follows it) form one factor; the
    grouping work grows with the params, not with their square or cube (issue 17: 500 params took > 10 min).
    Work is counted as np.unique calls, the grouping primitive; the old search needed ≥ params² of them."""
    _, runs, diagnoses = sweeps_store
    derived = [dataclasses.replace(r, params={**r.params, **{f"lr_x{k:03d}": str(float(r.params["lr"]) * (k + 1))
                                                             for k in range(300)}}) for r in runs]
    budget, calls, unique = 40 * 300, [0], np.unique

    def counted(*args, **kwargs):
        calls[0] += 1
        if calls[0] > budget:
            raise AssertionError(f"more than {budget} np.unique calls for 300 params")
        return unique(*args, **kwargs)

    monkeypatch.setattr(compare_core.np, "unique", counted)
    result = compare(derived, diagnoses)
    monkeypatch.undo()
    lr = by_param(result)["lr"]
    assert len(lr.moves_with) == 300 and lr.confounded and lr.joint_significant and not lr.significant
    assert [len(i.moves_with) for i in result.importance if i.param == "lr"] == [300]  # one column for the group
    (line,) = [s for s in result.summary if "move with lr" in s]
    assert line.startswith("lr_x000, lr_x001, lr_x002, lr_x003, lr_x004, lr_x005 and 294 more move with lr")
    assert by_param(result)["weight_decay"].significant == by_param(compare(runs, diagnoses))["weight_decay"].significant


def test_text_and_html_say_how_many_runs_failed_never_nan(sweeps_store, tmp_path):
    uri, _, _ = sweeps_store
    for fmt in ("text", "html", "json"):
        out = tmp_path / f"compare.{fmt}"
        result = CliRunner().invoke(cli, ["compare", "-e", "posthoc-sweeps", "--tracking-uri", uri, "--format", fmt,
                                          "--out", str(out)])
        assert result.exit_code == 0, result.stderr
        text = out.read_text()
        assert "NaN ± NaN" not in text and "nan ± nan" not in text and "n/a ± n/a" not in text
        if fmt != "json":
            assert "3/3 failed (exploding_gradients)" in text
        assert not re.search(r">\s*NaN\s*<|NaN ±|± NaN|corr NaN|mean NaN", text)  # no number shown as NaN


def test_overlay_chart_keeps_the_axis_of_the_runs_that_trained(sweeps_store, tmp_path):
    uri, runs, _ = sweeps_store
    out = tmp_path / "compare.html"
    CliRunner().invoke(cli, ["compare", "-e", "posthoc-sweeps", "--tracking-uri", uri, "--format", "html",
                             "--out", str(out)])
    html = out.read_text()
    charts = re.findall(r'<svg[^>]*class="chart line overlay wide".*?</svg>', html, re.DOTALL)
    assert len(charts) == 4  # one per param, every value on one axis
    lr = next(c for c in charts if "val_loss by lr" in c)
    ticks = [float(t) for t in re.findall(r'class="yt">([^<]+)<', lr)]
    trained = [float(np.nanmax(r.metrics["val_loss"].values)) for r in runs if r.params["lr"] != "30.0"]
    assert max(ticks) <= 10 * max(trained)  # the blown-up lr=30 runs do not set the axis
    clipped = re.findall(r'class="bad clipped"><title>([^<]+)</title>', lr)
    assert sorted(t.split(":")[0] for t in clipped) == ["lr=30 seed=0", "lr=30 seed=1", "lr=30 seed=2"]
    assert lr.count('stroke-dasharray="4 2"') == 3  # the three failed runs, dashed
    for value in ("lr=0.003", "lr=0.03", "lr=0.3", "lr=30"):
        assert f'class="lg">{value}</text>' in lr
