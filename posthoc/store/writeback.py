"""Opt-in write-back for `posthoc nightly --write-tags / --attach`: the only code that writes to a store.

It goes through the MLflow client, so it works the same for sqlite, file stores and servers; the readers
stay read-only. Imported lazily: without the flags mlflow is never loaded and nothing is written.
"""

from __future__ import annotations

from posthoc.errors import BadInput, StoreUnreachable, redact

ARTIFACT_DIR = "posthoc"
REPORT_ARTIFACT = f"{ARTIFACT_DIR}/report.html"


class WriteBack:
    """Tags and report artifacts for analyzed runs, one client for the whole job."""

    def __init__(self, uri: str, write_tags: bool, attach: bool):
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.write_tags = write_tags
        self.attach = attach
        if uri.startswith(("http://", "https://")):
            from posthoc.store.client import probe_server

            probe_server(uri)
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.client.search_experiments(max_results=1)  # fail now, not once per run
        except Exception as exc:  # the client raises many kinds for a bad backend
            if "MLFLOW_ALLOW_FILE_STORE" in str(exc):
                raise BadInput(f"MLflow 3 writes file stores such as {redact(uri)} only with MLFLOW_ALLOW_FILE_STORE=true: "
                               "set it for --write-tags / --attach, or drop those flags") from exc
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreUnreachable(f"cannot open tracking store {redact(uri)} for write-back: {first}") from exc

    def write(self, run_id: str, tags: dict[str, str], html: str | None) -> None:
        """Set the posthoc.* tags in one call and log the report; raises with a one-line reason on failure."""
        from mlflow.entities import RunTag

        if self.write_tags:
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if self.attach and html is not None:
            self.client.log_text(run_id, html, REPORT_ARTIFACT)


def posthoc_tags(status: str, primary: str, version: str) -> dict[str, str]:
    return {"posthoc.status": status, "posthoc.primary": primary, "posthoc.version": version}
