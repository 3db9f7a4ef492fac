"""An honest checklist: ✔ only on positive evidence measured from the logged series, never on "no finding"."""

import re

from posthoc.report.checklist import build_checklist


def _rows(diagnosis) -> dict[str, dict]:
    return {row["check"].split(" (")[0]: row for row in build_checklist(diagnosis)}


def test_gradients_do_not_flow_when_the_grad_norm_is_nan(diagnoses):
    row = _rows(diagnoses["nan"])["gradients flow"]
    assert row["mark"] == "✖" and row["detail"] == "grad_norm is NaN from step 60"


def test_a_loss_that_blew_up_is_neither_stable_nor_going_down(trust):
    rows = _rows(trust["warmup-blowup"])
    train = trust["warmup-blowup"].run.metrics["train_loss"].values
    assert train.max() > 1e50 * train[0]  # the run's loss grew by 50+ orders of magnitude
    assert rows["loss curve is stable"]["mark"] == "✖"
    assert rows["training loss goes down"]["mark"] == "✖"


def test_a_plateau_that_ended_far_lower_still_goes_down(trust):
    assert trust["stall"].primary == "plateau"
    row = _rows(trust["stall"])["training loss goes down"]
    assert row["mark"] == "✔" and "after a plateau at steps" in row["detail"]
    first, last = map(float, re.findall(r"([\d.]+) \((?:first|last) 10%\)", row["detail"]))
    assert last < 0.5 * first


def test_a_flat_loss_does_not_go_down(trust):
    row = _rows(trust["dead-relu"])["training loss goes down"]
    assert row["mark"] == "✖"


def test_every_confirmation_carries_measured_evidence(trust, diagnoses):
    for diagnosis in (trust["plain"], trust["overfit"], diagnoses["healthy"]):
        confirmed = [row for row in build_checklist(diagnosis) if row["mark"] == "✔"]
        assert len(confirmed) >= 4
        for row in confirmed:
            assert "no finding" not in row["detail"] and re.search(r"\d", row["detail"]), row


def test_gradients_flow_is_confirmed_by_finite_norms(trust):
    row = _rows(trust["plain"])["gradients flow"]
    assert row["mark"] == "✔" and re.match(r"grad_norm finite at all 300 points, [\d.e-]+–[\d.e-]+", row["detail"])
