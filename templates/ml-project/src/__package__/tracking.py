"""MLflow set-up: tracking server, model registry, experiments and model names.

On Databricks the tracking server is the workspace (``databricks``) and models are registered in
Unity Catalog (``databricks-uc``) under ``<catalog>.<schema>.<model>``. Elsewhere the store is a
SQLite file under ``.local/`` unless ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` say otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
from mlflow.tracking import MlflowClient

from .runtime import LOCAL_DIR, on_databricks
from .tables import TableName

CHALLENGER = "challenger"
"""Alias of the newest trained version, waiting for validation."""
CHAMPION = "champion"
"""Alias of the version that batch inference and serving use."""

VALIDATION_STATUS_TAG = "validation_status"
"""Model version tag set by validation: :data:`PASSED` or :data:`FAILED`; promotion requires PASSED."""
PASSED = "passed"
FAILED = "failed"


def configure_mlflow(tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
    """Point MLflow at the tracking server and model registry.

    Explicit arguments win, then ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``, then the
    defaults: the workspace and Unity Catalog on Databricks, ``.local/mlflow.db`` elsewhere.
    """
    tracking = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking:
        if on_databricks():
            tracking = "databricks"
        else:
            LOCAL_DIR.mkdir(parents=True, exist_ok=True)
            tracking = f"sqlite:///{(LOCAL_DIR / 'mlflow.db').resolve()}"
    registry = registry_uri or os.environ.get("MLFLOW_REGISTRY_URI")
    if not registry:
        registry = "databricks-uc" if tracking.startswith("databricks") else tracking
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def use_experiment(name: str) -> str:
    """Make ``name`` the active experiment, creating it if needed; return its id.

    With a local SQLite store, a new experiment keeps its artifacts next to the database file.
    """
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        mlflow.set_experiment(experiment_id=existing.experiment_id)
        return str(existing.experiment_id)
    artifact_location = _local_artifact_location(mlflow.get_tracking_uri())
    experiment_id = mlflow.create_experiment(name, artifact_location=artifact_location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def _local_artifact_location(tracking_uri: str) -> str | None:
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite" or not parsed.path:
        return None
    # sqlite:///relative.db and sqlite:////absolute.db: the first slash only separates.
    database = Path(unquote(parsed.path)[1:])
    return (database.parent / "mlartifacts").resolve().as_uri()


def model_name(catalog: str, schema: str, model: str) -> str:
    """The registered model's full name, ``<catalog>.<schema>.<model>`` (as Unity Catalog wants)."""
    return str(TableName.of(catalog, schema, model))


def model_uri(name: str, alias: str) -> str:
    """The URI of the version that holds ``alias``: ``models:/<name>@<alias>``."""
    return f"models:/{name}@{alias}"


def client() -> MlflowClient:
    """A client for the configured tracking server and registry."""
    return MlflowClient()


def version_with_alias(name: str, alias: str) -> str | None:
    """The version number that holds ``alias``, or ``None`` if no version holds it (or no model)."""
    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise
