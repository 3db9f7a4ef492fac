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
