import pytest

from posthoc.config import load_config
from posthoc.demo.loops import NAMING, TrainConfig
from posthoc.errors import BadInput
from posthoc.roles import resolve_roles
from tests.conftest import QUICK


@pytest.mark.parametrize("naming", sorted(NAMING))
def test_every_logger_style_resolves(sqlite_store, naming):
    import dataclasses

    sqlite_store.add(naming, dataclasses.replace(QUICK, naming=naming))
    roles = resolve_roles(sqlite_store.load(naming)).keys()
    expected = {role: key for role, key in NAMING[naming].items() if not (naming == "keras" and role == "grad_norm")}
    assert {role: roles[role] for role in expected} == expected


def test_project_aliases_win(sqlite_store, tmp_path):
    sqlite_store.add("hf", TrainConfig(dataset="wine", steps=30, naming="hf"))
    (tmp_path / "pyproject.toml").write_text('[tool.posthoc.roles]\nval_loss = ["eval_accuracy"]\n')
    roles = resolve_roles(sqlite_store.load("hf"), load_config(cwd=tmp_path).roles).keys()
    assert roles["val_loss"] == "eval_accuracy" and roles["train_loss"] == "loss"


def test_bad_threshold_names_are_reported(tmp_path):
    from posthoc.detectors import nan_inf

    (tmp_path / "posthoc.toml").write_text("[thresholds.nan_inf]\ngrowth = 3\n")
    config = load_config(cwd=tmp_path)
    with pytest.raises(BadInput, match="unknown threshold.*growth.*nan_inf"):
        config.thresholds_for("nan_inf", nan_inf.Thresholds())


def test_replicate_params_accepts_one_name(tmp_path):
    (tmp_path / "posthoc.toml").write_text('replicate_params = "trial"\n')
    assert load_config(cwd=tmp_path).replicate_params == ("trial",)


def _run(metrics: dict, params: dict | None = None):
    from posthoc.model import Run, Series

    series = {key: Series.from_points(key, range(len(v)), v, [7] * len(v)) for key, v in metrics.items()}
    return Run("r", "r", "0", "FINISHED", None, None, params or {}, {}, series)


def test_booster_sets_resolve_to_loss_roles_not_scores():
    roles = resolve_roles(_run({"train-auc": [0.7, 0.8, 0.9], "train-logloss": [0.6, 0.5, 0.4],
                                "eval-auc": [0.7, 0.75, 0.76], "eval-logloss": [0.62, 0.58, 0.57]},
                               {"verbose_eval": "False"}))
    assert roles.keys() == {"train_loss": "train-logloss", "val_loss": "eval-logloss"} and roles.framework == "xgboost"


def test_validation_0_is_the_training_set_only_when_it_ends_lowest():
    trap = resolve_roles(_run({"validation_0-logloss": [0.6, 0.3, 0.1], "validation_1-logloss": [0.6, 0.5, 0.55]}))
    assert trap.keys() == {"train_loss": "validation_0-logloss", "val_loss": "validation_1-logloss"}
    two_val_sets = resolve_roles(_run({"validation_0-rmse": [3.0, 2.5, 2.4], "validation_1-rmse": [3.0, 2.2, 2.1]}))
    assert two_val_sets.keys() == {"val_loss": "validation_1-rmse"}


def test_score_metrics_are_maximized():
    from posthoc.roles import higher_is_better

    assert higher_is_better("valid_0-auc") and higher_is_better("val_accuracy") and higher_is_better("eval-ndcg@5")
    assert not higher_is_better("valid_0-binary_error") and not higher_is_better("validation-mape")
