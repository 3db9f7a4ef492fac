"""Runs logged by MLflow's own autologging: LightGBM, XGBoost and Keras.

Each recipe trains a tiny real model on synthetic data inside the caller's active MLflow run, with
`mlflow.<flavor>.autolog()` on, so the store holds exactly what autolog writes. The label is the injected
configuration (too many leaves and no early stopping, stumps on an interaction, a wide net on 80 rows…);
`shows()` checks the logged numbers with plain quantiles, independent of posthoc's detectors, so a seed
that did not produce its label is dropped rather than mislabeled.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

FRAMEWORK_TAG = "posthoc.framework"
LABELS = {
    "lightgbm": ("healthy", "overfitting", "underfitting"),
    "xgboost": ("healthy", "overfitting", "underfitting"),
    "keras": ("healthy", "overfitting", "nan_inf"),
    "stepless": ("healthy", "divergence"),
}
# autolog's slow extras off; metric logging stays exactly as autolog does it
QUIET = dict(log_models=False, log_datasets=False, log_input_examples=False, log_model_signatures=False, silent=True)


def autolog(framework: str) -> None:
    """Turn on MLflow's autologging for one framework (the others off)."""
    import mlflow

    for name, flavor in (("lightgbm", "lightgbm"), ("xgboost", "xgboost"), ("keras", "keras")):
        module = getattr(mlflow, flavor)
        if name == framework:
            module.autolog(**({k: v for k, v in QUIET.items() if name != "keras" or k != "log_input_examples"}))
        else:
            module.autolog(disable=True)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _data(rng: np.random.Generator, n: int, features: int, kind: str, flip: float = 0.0):
    """(X, y) for a binary task: `additive` is what trees fit well (a clear signal: a good model removes
    over half of the initial log loss), `interaction` is mostly a product of two features, which stumps
    cannot fit; `flip` replaces that fraction of labels at random."""
    x = rng.normal(size=(n, features)).astype(np.float32)
    if kind == "interaction":
        logit = 3.0 * x[:, 2] + 4.0 * x[:, 0] * x[:, 1]
    else:
        logit = 2.5 * (1.5 * x[:, 0] - x[:, 1] + 0.8 * x[:, 2] * (x[:, 3] > 0) + 0.5 * np.sin(2 * x[:, 4]))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    flipped = rng.random(n) < flip
    y[flipped] = rng.integers(0, 2, int(flipped.sum()))
    return x, y


def _split(rng, n_train: int, n_val: int, features: int, kind: str, flip: float):
    x, y = _data(rng, n_train + n_val, features, kind, flip)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def train_lightgbm(label: str, seed: int, api: str | None = None, early_stopping: bool | None = None) -> dict:
    """One lgb.train or LGBMClassifier.fit (api "sklearn") under autolog; returns the train/val keys it logged."""
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    sklearn_api = bool(rng.random() < 0.4) if api is None else api == "sklearn"
    if label == "overfitting":  # big leaves, tiny leaf size, noisy labels, no early stopping
        xt, yt, xv, yv = _split(rng, int(rng.integers(200, 500)), 400, 8, "additive", rng.uniform(0.15, 0.3))
        params = dict(num_leaves=int(rng.choice([63, 127, 255])), min_data_in_leaf=int(rng.integers(1, 4)),
                      learning_rate=_log_uniform(rng, 0.1, 0.3))
        rounds, stopping = int(rng.integers(150, 300)), 0
    elif label == "underfitting":  # stumps on an interaction: only the weak additive part is learnable
        xt, yt, xv, yv = _split(rng, int(rng.integers(6000, 10000)), 3000, 6, "interaction", 0.0)
        params = dict(num_leaves=2, min_data_in_leaf=int(rng.integers(100, 300)), learning_rate=_log_uniform(rng, 0.1, 0.2))
        rounds, stopping = int(rng.integers(150, 250)), 0
    else:  # small trees, a modest lr, early stopping or few enough rounds
        xt, yt, xv, yv = _split(rng, int(rng.integers(1500, 3000)), 1000, 8, "additive", rng.uniform(0.0, 0.05))
        params = dict(num_leaves=int(rng.choice([7, 15])), min_data_in_leaf=int(rng.integers(20, 50)),
                      learning_rate=_log_uniform(rng, 0.03, 0.08))
        stopping = int(rng.choice([20, 30])) if (rng.random() < 0.7 if early_stopping is None else early_stopping) else 0
        # without early stopping, enough rounds to converge (learning_rate x rounds of 8-15): a run stopped
        # mid-descent is under-trained, not healthy
        rounds = int(rng.integers(300, 600)) if stopping else int(rng.uniform(8, 15) / params["learning_rate"])
    params.update(objective="binary", verbose=-1, seed=seed, num_threads=1)
    if sklearn_api:
        model = lgb.LGBMClassifier(n_estimators=rounds, num_leaves=params["num_leaves"],
                                   min_child_samples=params["min_data_in_leaf"], learning_rate=params["learning_rate"],
                                   random_state=seed, n_jobs=1, verbose=-1)
        callbacks = [lgb.early_stopping(stopping, verbose=False)] if stopping else []
        with warnings.catch_warnings():  # LightGBM 4.7 prefers eval_X/eval_y; most code still passes eval_set
            warnings.simplefilter("ignore", FutureWarning)
            model.fit(xt, yt, eval_set=[(xt, yt), (xv, yv)], callbacks=callbacks)
        return {"train": "training-binary_logloss", "val": "valid_1-binary_logloss"}
    train_set = lgb.Dataset(xt, yt)
    names = ["train", "valid"] if rng.random() < 0.5 else None
    callbacks = [lgb.early_stopping(stopping, verbose=False)] if stopping else []
    lgb.train(params, train_set, num_boost_round=rounds, valid_sets=[train_set, lgb.Dataset(xv, yv, reference=train_set)],
              valid_names=names, callbacks=callbacks)
    return ({"train": "train-binary_logloss", "val": "valid-binary_logloss"} if names
            else {"train": "training-binary_logloss", "val": "valid_1-binary_logloss"})


def train_xgboost(label: str, seed: int, api: str | None = None, early_stopping: bool | None = None) -> dict:
    """One xgb.train or XGBClassifier.fit (api "sklearn": sets named validation_0/1) under autolog."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    sklearn_api = bool(rng.random() < 0.5) if api is None else api == "sklearn"
    if label == "overfitting":
        xt, yt, xv, yv = _split(rng, int(rng.integers(200, 500)), 400, 8, "additive", rng.uniform(0.15, 0.3))
        params = dict(max_depth=int(rng.integers(8, 13)), min_child_weight=0.0, learning_rate=_log_uniform(rng, 0.15, 0.4))
        rounds, stopping = int(rng.integers(100, 200)), 0
    elif label == "underfitting":
        xt, yt, xv, yv = _split(rng, int(rng.integers(6000, 10000)), 3000, 6, "interaction", 0.0)
        params = dict(max_depth=1, min_child_weight=float(rng.integers(20, 60)), learning_rate=_log_uniform(rng, 0.1, 0.2))
        rounds, stopping = int(rng.integers(150, 250)), 0
    else:
        xt, yt, xv, yv = _split(rng, int(rng.integers(1500, 3000)), 1000, 8, "additive", rng.uniform(0.0, 0.05))
        params = dict(max_depth=int(rng.integers(2, 4)), min_child_weight=float(rng.integers(3, 10)),
                      learning_rate=_log_uniform(rng, 0.03, 0.1))
        stopping = int(rng.choice([20, 30])) if (rng.random() < 0.7 if early_stopping is None else early_stopping) else 0
        # without early stopping, enough rounds to converge (learning_rate x rounds of 8-15): a run stopped
        # mid-descent is under-trained, not healthy
        rounds = int(rng.integers(300, 600)) if stopping else int(rng.uniform(8, 15) / params["learning_rate"])
    if sklearn_api:
        model = xgb.XGBClassifier(n_estimators=rounds, early_stopping_rounds=stopping or None, random_state=seed,
                                  n_jobs=1, eval_metric="logloss", **params)
        model.fit(xt, yt, eval_set=[(xt, yt), (xv, yv)], verbose=False)
        return {"train": "validation_0-logloss", "val": "validation_1-logloss"}
    train_set, val_set = xgb.DMatrix(xt, yt), xgb.DMatrix(xv, yv)
    val_name = str(rng.choice(["validation", "eval", "valid"]))
    xgb.train({**params, "objective": "binary:logistic", "eval_metric": "logloss", "seed": seed, "nthread": 1},
              train_set, rounds, evals=[(train_set, "train"), (val_set, val_name)],
              early_stopping_rounds=stopping or None, verbose_eval=False)
    return {"train": "train-logloss", "val": f"{val_name}-logloss"}


def train_keras(label: str, seed: int) -> dict:
    """One model.fit under mlflow.keras.autolog() (KERAS_BACKEND=jax): loss/val_loss per epoch."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    if label == "nan_inf":  # plain SGD far past the stability limit on a regression target with a large scale
        x = rng.normal(size=(400, 8)).astype(np.float32)
        y = (x @ rng.normal(size=8) * 50 + 100).astype(np.float32)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(_log_uniform(rng, 0.05, 0.5)), loss="mse", metrics=["mae"])
        model.fit(x[:300], y[:300], validation_data=(x[300:], y[300:]), epochs=int(rng.integers(15, 30)),
                  batch_size=32, verbose=0)
        return {"train": "loss", "val": "val_loss"}
    if label == "overfitting":  # a wide net on a few noisy rows
        xt, yt, xv, yv = _split(rng, int(rng.integers(60, 120)), 300, 20, "additive", rng.uniform(0.1, 0.25))
        width, lr, epochs = int(rng.choice([128, 256])), _log_uniform(rng, 2e-3, 6e-3), int(rng.integers(50, 80))
    else:
        xt, yt, xv, yv = _split(rng, int(rng.integers(1500, 3000)), 600, 20, "additive", 0.0)
        # trained to convergence (40-70 epochs): a run stopped while val still falls is under-trained, not healthy
        width, lr, epochs = int(rng.choice([8, 16])), _log_uniform(rng, 1e-3, 3e-3), int(rng.integers(40, 70))
    model = keras.Sequential([keras.Input((xt.shape[1],)), keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(xt, yt, validation_data=(xv, yv), epochs=epochs, batch_size=int(rng.choice([32, 64])), verbose=0)
    return {"train": "loss", "val": "val_loss"}


TRAINERS = {"lightgbm": train_lightgbm, "xgboost": train_xgboost, "keras": train_keras}


def shows(label: str, metrics: dict[str, tuple[np.ndarray, np.ndarray]], names: dict) -> str | None:
    """None when the logged train/val losses show `label` by plain quantiles, else why not.

    Autolog's early-stopping extra point (at step = rounds run) is left out: it copies the best round."""
    train, val = metrics.get(names.get("train")), metrics.get(names.get("val") or "")
    if train is None:
        return "no train loss logged"
    t = train[1][: len(train[1]) - ("best_iteration" in metrics)]
    v = None if val is None else val[1][: len(val[1]) - ("best_iteration" in metrics)]
    if label == "nan_inf":
        return None if not np.isfinite(t).all() else "no non-finite loss"
    if not np.isfinite(t).all() or (v is not None and not np.isfinite(v).all()):
        return "non-finite loss"
    if v is None or len(v) < 10:
        return "too few validation points"
    k = max(len(v) // 10, 2)
    v_best, v_final, t_first, t_final = np.min(v), np.median(v[-k:]), np.median(t[:k]), np.median(t[-k:])
    train_drop = (t_first - t_final) / abs(t_first)
    val_rise = (v_final - v_best) / abs(v_best)
    if label == "overfitting":
        return None if val_rise > 0.15 and train_drop > 0.3 else f"val rise {val_rise:.2f}, train drop {train_drop:.2f}"
    if label == "underfitting":  # both above 80% of the start, within 10% of each other
        gap = abs(v_final - t_final) / t_final
        return None if t_final > 0.8 * t_first and gap < 0.1 else f"train at {t_final / t_first:.2f} of start, gap {gap:.2f}"
    # healthy: train fell, val ends within 5% of its best (early stopping's patience included)
    return None if train_drop > 0.1 and val_rise < 0.05 else f"val rise {val_rise:.2f}, train drop {train_drop:.2f}"
