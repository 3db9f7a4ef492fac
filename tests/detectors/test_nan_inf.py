import dataclasses

from posthoc.demo.loops import TrainConfig
from posthoc.diagnose import diagnose
from tests.conftest import QUICK


def test_corrupted_batch_gives_nan_at_its_step_with_no_lead_up(sqlite_store):
    sqlite_store.add("bad", dataclasses.replace(QUICK, corrupt_steps=(73,), corrupt_scale=float("inf")))
    d = diagnose(sqlite_store.load("bad"), strict=True)
    f = d.findings[0]
    assert (d.status, d.primary, f.pattern) == ("failed", "nan_inf", "nan_inf")
    assert f.evidence["first_bad_step"] == 73 and f.evidence["last_finite_step"] == 72
    assert f.evidence["lead_up_growth_ratio"] < 10 and "inspect the batch at step 73" in f.suggestions[0]


def test_lr_blowup_shows_the_growth_that_led_up_to_it(sqlite_store):
    sqlite_store.add("blowup", TrainConfig(dataset="diabetes", depth=1, hidden=16, lr=0.5, steps=200))
    f = diagnose(sqlite_store.load("blowup"), strict=True).findings[0]
    assert f.pattern == "nan_inf"
    assert max(f.evidence["lead_up_growth_ratio"] or 0, f.evidence.get("grad_norm_growth_ratio") or 0) >= 10
    assert f.suggestions[0].startswith("lr=0.5: try")


def test_healthy_run_has_no_nan_finding(sqlite_store):
    sqlite_store.add("ok", QUICK)
    assert not [f for f in diagnose(sqlite_store.load("ok"), strict=True).findings if f.pattern == "nan_inf"]
