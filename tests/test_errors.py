"""Messages are one line and never show credentials from a tracking URI."""

import pytest

from posthoc.errors import one_line, redact


@pytest.mark.parametrize("text, shown", [
    ("tracking store http://alice:s3cret@mlflow:5000 failed", "tracking store http://alice:***@mlflow:5000 failed"),
    ("postgresql+psycopg2://u:p%40ss@db:5432/mlflow", "postgresql+psycopg2://u:***@db:5432/mlflow"),
    ("https://ghp_t0ken@mlflow.example.com/", "https://***@mlflow.example.com/"),
    ("mysql://u@db/m?sslmode=require&password=hunter2", "mysql://u@db/m?sslmode=require&password=***"),
    ("'http://a:b@h1' and 'http://c:d@h2'", "'http://a:***@h1' and 'http://c:***@h2'"),
    ("sqlite:////srv/ml/mlflow.db and http://127.0.0.1:5000/api/2.0", "sqlite:////srv/ml/mlflow.db and http://127.0.0.1:5000/api/2.0"),
])
def test_redact(text, shown):
    assert redact(text) == shown


def test_one_line():
    assert one_line("mapping values are not allowed here\n  in \"<unicode string>\", line 1\n\n") == (
        'mapping values are not allowed here in "<unicode string>", line 1')
