"""--filter: a small, safe subset of MLflow's search syntax, applied to loaded runs."""

import pytest

from posthoc.compare.filter import Clause, filter_runs, parse_filter
from posthoc.errors import BadInput


def test_parses_equality_inequality_and_numeric_comparisons_joined_by_and():
    clauses = parse_filter("params.optimizer = 'adam' AND params.lr < 0.1 and params.`batch size` != \"8\" AND tags.t >= 2")
    assert clauses == [Clause("params", "optimizer", "=", "adam"), Clause("params", "lr", "<", 0.1),
                       Clause("params", "batch size", "!=", 8), Clause("tags", "t", ">=", 2)]


@pytest.mark.parametrize("text, message", [
    ("params.lr = 1 OR params.lr = 2", "only AND joins conditions, got 'OR'"),
    ("metrics.val_loss < 1", "expected params.NAME, got 'metrics.val_loss'"),
    ("params.lr LIKE 'a%'", "expected an operator after params.lr, got 'LIKE'"),
    ("params.lr <", "incomplete condition"),
    ("params.lr = 1 AND", "incomplete condition"),
    ("params.lr < 'fast'", "< needs a number, got 'fast'"),
    ("(params.lr = 1)", "unexpected '('"),
    ("params.lr = adam", "expected a quoted value or number after params.lr =, got 'adam'"),
    ("   ", "--filter is empty"),
])
def test_unsupported_syntax_is_bad_input_that_says_what_is_supported(text, message):
    with pytest.raises(BadInput) as info:
        parse_filter(text)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_filters_real_runs_by_typed_values(sweeps_store):
    _, runs, _ = sweeps_store
    assert len(filter_runs(runs, None)) == 18
    small = filter_runs(runs, "params.lr < 1")
    assert len(small) == 15 and all(float(r.params["lr"]) < 1 for r in small)
    assert len(filter_runs(runs, "params.lr = '0.30'")) == 3  # typed: "0.30" is the logged "0.3"
    base = filter_runs(runs, "params.lr = 0.03 AND params.schedule = 'constant' AND params.weight_decay = 0")
    assert sorted(r.run_name for r in base) == [f"lr=0.03 (base) seed={s}" for s in range(3)]
    assert len(filter_runs(runs, "params.schedule != 'constant'")) == 3
    assert filter_runs(runs, "params.not_logged = 1") == [] and filter_runs(runs, "params.schedule > 1") == []
