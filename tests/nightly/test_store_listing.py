"""experiment_names() and run_params(): the same answers from the sqlite, file-store and server readers."""

import pytest

from posthoc.store import open_store
from tests.conftest import QUICK


@pytest.mark.parametrize("kind", ["sqlite_store", "file_store", "server_store"])
def test_experiment_names_and_run_params(kind, request, tmp_path):
    builder = request.getfixturevalue(kind)
    first, second, gone = (f"{name}-{tmp_path.name}" for name in ("first", "second", "gone"))
    a = builder.add("a", QUICK, experiment=first)
    b = builder.add("b", QUICK, experiment=second)
    builder.experiment(gone)
    builder.client.delete_experiment(builder.experiment(gone))
    deleted = builder.add("deleted", QUICK, experiment=first)
    builder.client.delete_run(deleted)
    store = open_store(builder.uri)
    names = store.experiment_names()
    assert {first, second} <= set(names) and gone not in names  # active experiments only
    assert "Default" in names
    ids = store.experiment_ids([first, second])
    params = store.run_params([ids[first]])
    assert set(params) == {a}  # the deleted run is not listed
    assert params[a]["lr"] == str(QUICK.lr) and params[a]["dataset"] == "wine"
    assert set(store.run_params(list(ids.values()))) == {a, b}
