"""The unmodified mlflow client against the local workspace, as a Databricks user runs it.

Usage: mlflow_scenario.py train <schema> | load <model> <run_id> | workspace-registry <name>
Environment: DATABRICKS_HOST, DATABRICKS_TOKEN. Prints one JSON object on stdout.
"""

import json
import sys
import warnings

import mlflow
import numpy as np
from databricks.sdk import WorkspaceClient
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")
mlflow.set_tracking_uri("databricks")
mlflow.set_registry_uri("databricks-uc")

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
y = np.array([0, 1, 1, 1] * 5)


def train(schema: str) -> dict:
    w = WorkspaceClient()
    w.schemas.create(name=schema, catalog_name="main")
    me = w.current_user.me().user_name
    model_name = f"main.{schema}.classifier"
    experiment = mlflow.set_experiment(f"/Users/{me}/mlflow-scenario-{schema}")
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params({"C": 1.0, "solver": "lbfgs"})
        mlflow.log_metrics({"accuracy": 0.95, "loss": 0.1})
        mlflow.log_metric("step_metric", 1.0, step=1)
        mlflow.log_dict({"features": ["a", "b"]}, "meta/features.json")
        model = LogisticRegression(C=1.0).fit(X, y)
        mlflow.sklearn.log_model(model, name="model", input_example=X[:2], serialization_format="cloudpickle")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
    client = MlflowClient()
    client.set_registered_model_alias(model_name, "champion", version.version)
    client.set_model_version_tag(model_name, version.version, "validation_status", "passed")
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    got = client.get_run(run.info.run_id)
    artifacts = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    return {
        "experiment_id": experiment.experiment_id,
        "experiment_name": experiment.name,
        "run_id": run.info.run_id,
        "run_user": got.info.user_id,
        "artifact_uri": got.info.artifact_uri,
        "params": got.data.params,
        "metrics": got.data.metrics,
        "artifacts": artifacts,
        "model_name": model_name,
        "version": version.version,
        "version_tags": client.get_model_version(model_name, version.version).tags,
        "alias_version": client.get_model_version_by_alias(model_name, "champion").version,
        "predictions": [int(p) for p in loaded.predict(X[:4])],
    }


def load(model_name: str, run_id: str) -> dict:
    client = MlflowClient()
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    run = client.get_run(run_id)
    return {"predictions": [int(p) for p in loaded.predict(X[:4])], "metrics": run.data.metrics}


def workspace_registry(model_name: str) -> dict:
    """The workspace (non Unity Catalog) model registry: `mlflow.set_registry_uri("databricks")`."""
    mlflow.set_registry_uri("databricks")
    me = WorkspaceClient().current_user.me().user_name
    mlflow.set_experiment(f"/Users/{me}/mlflow-scenario-{model_name}")
    with mlflow.start_run(run_name="train") as run:
        model = LogisticRegression(C=1.0).fit(X, y)
        mlflow.sklearn.log_model(model, name="model", input_example=X[:2], serialization_format="cloudpickle")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
    client = MlflowClient()
    try:  # aliases are for Unity Catalog models: the client refuses them here, as on Databricks
        client.set_registered_model_alias(model_name, "champion", version.version)
        alias_refused = False
    except mlflow.exceptions.MlflowException:
        alias_refused = True
    client.set_model_version_tag(model_name, version.version, "validation_status", "passed")
    client.transition_model_version_stage(model_name, version.version, "Production")
    client.transition_model_version_stage(model_name, second.version, "Staging")
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}/Production")
    by_version = mlflow.pyfunc.load_model(f"models:/{model_name}/{second.version}")
    latest = client.get_latest_versions(model_name)
    found = client.search_model_versions(f"name = '{model_name}'")
    got = client.get_model_version(model_name, version.version)
    return {
        "run_id": run.info.run_id,
        "version": version.version,
        "second": second.version,
        "version_run_id": got.run_id,
        "version_status": got.status,
        "version_tags": got.tags,
        "alias_refused": alias_refused,
        "latest": sorted([v.version, v.current_stage] for v in latest),
        "searched": sorted(v.version for v in found),
        "predictions": [int(p) for p in loaded.predict(X[:4])],
        "predictions_by_version": [int(p) for p in by_version.predict(X[:4])],
    }


if __name__ == "__main__":
    if sys.argv[1] == "workspace-registry":
        result = workspace_registry(sys.argv[2])
    elif sys.argv[1] == "train":
        result = train(sys.argv[2])
    else:
        result = load(sys.argv[2], sys.argv[3])
    print(json.dumps(result))
