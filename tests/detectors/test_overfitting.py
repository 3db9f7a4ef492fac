import numpy as np

from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding

SMALL = TrainConfig(dataset="digits", depth=1, hidden=128, train_subset=100, label_noise=0.3, lr=0.1, steps=1500,
                    val_every=25)


def test_small_noisy_subset_overfits_after_val_bottoms_out(analyze, detector_store):
    d = analyze("overfit", SMALL)
    f = finding(d, "overfitting")
    assert f is not None and d.primary == "overfitting"
    val = detector_store.load("overfit").metrics["val_loss"]
    true_best = int(val.steps[np.argmin(val.values)])
    assert abs(f.evidence["best_step"] - true_best) <= 100
    assert f.evidence["final_val"] > f.evidence["best_val"]
    assert f.evidence["train_change_after_best_ratio"] < 0 and f.evidence["gap"] > 0
    assert f.suggestions[0].startswith(f"stop early at step {f.evidence['best_step']}")


def test_full_data_does_not_overfit(analyze):
    d = analyze("full", TrainConfig(dataset="digits", depth=1, hidden=64, lr=0.05, steps=600, val_every=25))
    assert finding(d, "overfitting") is None
