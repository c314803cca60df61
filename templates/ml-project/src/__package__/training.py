"""Training: fit a classifier on the feature table, log it to MLflow and register it as ``@challenger``.

The run records the parameters, the holdout metrics, the training data source, the model signature
and an input example. The new model version gets the alias ``@challenger``; it becomes
``@champion`` only after :mod:`.validation` passed it and :mod:`.deployment` promoted it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .features import KEY_COLUMN, LABEL_COLUMN, feature_matrix, split_holdout
from .runtime import on_databricks
from .tables import TableName, read_table
from .tracking import CHALLENGER, client, use_experiment

logger = logging.getLogger(__name__)

ALGORITHMS = ("gradient_boosting", "logistic_regression", "lightgbm")
"""Supported algorithms; ``lightgbm`` needs the ``lightgbm`` package."""
DEFAULT_ALGORITHM = "gradient_boosting"


class Classifier(Protocol):
    """What the code needs from an estimator (scikit-learn's classifier interface)."""

    def fit(self, features: Any, labels: Any, /) -> Classifier: ...

    def predict(self, features: Any, /) -> Any: ...

    def predict_proba(self, features: Any, /) -> Any: ...


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced."""

    model_name: str
    version: str
    run_id: str
    metrics: dict[str, float]

    @property
    def model_uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.model_name}/{self.version}"


def build_estimator(
    algorithm: str = DEFAULT_ALGORITHM, seed: int = 42, params: Mapping[str, Any] | None = None
) -> Classifier:
    """A fresh, unfitted classifier for ``algorithm``; ``params`` override its defaults."""
    estimator: Any
    if algorithm == "gradient_boosting":
        estimator = HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=15,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
    elif algorithm == "logistic_regression":
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    elif algorithm == "lightgbm":
        try:
            from lightgbm import LGBMClassifier
        except ImportError as error:
            raise RuntimeError(
                "algorithm 'lightgbm' needs the lightgbm package (add it to requirements.txt)"
            ) from error
        estimator = LGBMClassifier(
            n_estimators=150,
            learning_rate=0.05,
            num_leaves=15,
            random_state=seed,
            n_jobs=1,
            verbose=-1,
        )
    else:
        raise ValueError(f"unknown algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    if params:
        if algorithm == "logistic_regression":
            params = {f"logisticregression__{key}": value for key, value in params.items()}
        estimator.set_params(**params)
    return estimator


def holdout_metrics(model: Classifier, rows: pd.DataFrame) -> dict[str, float]:
    """ROC AUC, accuracy, F1 and log loss of ``model`` on labelled ``rows``."""
    features = feature_matrix(rows)
    labels = rows[LABEL_COLUMN].astype("int64")
    probabilities = model.predict_proba(features)[:, 1]
    predictions = (probabilities >= 0.5).astype("int64")
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)),
        "accuracy": float(accuracy_score(labels, predictions)),
        "f1": float(f1_score(labels, predictions, zero_division=0)),
        "log_loss": float(log_loss(labels, probabilities, labels=[0, 1])),
    }


def train_and_register(
    spark: SparkSession,
    *,
    features_table: str | TableName,
    model_name: str,
    experiment_name: str,
    training_rows: int | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
) -> TrainingResult:
    """Train on the feature table, log the run, register a new version and alias it ``@challenger``.

    Args:
        features_table: three-part name of the table written by the features step.
        model_name: full registered model name, ``<catalog>.<schema>.<model>``.
        experiment_name: MLflow experiment (a workspace path on Databricks).
        training_rows: use at most this many training rows (lowest keys first); all when ``None``.
        algorithm: one of :data:`ALGORITHMS`.
        seed: random seed of the estimator.
        params: estimator parameters overriding the defaults.
    """
    table = features_table if isinstance(features_table, TableName) else TableName.parse(features_table)
    estimator = build_estimator(algorithm, seed, params)
    training, holdout = split_holdout(read_table(spark, table))
    if training_rows is not None:
        if training_rows <= 0:
            raise ValueError(f"training_rows must be positive, not {training_rows}")
        training = training.orderBy(F.col(KEY_COLUMN)).limit(training_rows)
    train_rows = training.toPandas()
    holdout_rows = holdout.toPandas()
    for label, rows in (("training", train_rows), ("holdout", holdout_rows)):
        if rows[LABEL_COLUMN].nunique() < 2:
            raise ValueError(f"the {label} rows of {table} must contain both classes of {LABEL_COLUMN}")

    use_experiment(experiment_name)
    with mlflow.start_run(run_name=f"train-{algorithm}") as run:
        mlflow.log_params(
            {
                "algorithm": algorithm,
                "seed": seed,
                "features_table": str(table),
                "training_rows": len(train_rows),
                "holdout_rows": len(holdout_rows),
                **{f"param_{key}": value for key, value in (params or {}).items()},
            }
        )
        mlflow.log_input(_dataset(training, train_rows, table), context="training")
        features = feature_matrix(train_rows)
        model = estimator.fit(features, train_rows[LABEL_COLUMN].astype("int64"))
        metrics = holdout_metrics(model, holdout_rows)
        mlflow.log_metrics({f"holdout_{name}": value for name, value in metrics.items()})
        logged = _log_sklearn_model(model, features, algorithm, model_name)
        version = str(logged.registered_model_version)

    registry = client()
    registry.set_model_version_tag(model_name, version, "algorithm", algorithm)
    registry.set_model_version_tag(model_name, version, "features_table", str(table))
    registry.set_registered_model_alias(model_name, CHALLENGER, version)
    logger.info("registered %s version %s as @%s", model_name, version, CHALLENGER)
    return TrainingResult(model_name=model_name, version=version, run_id=run.info.run_id, metrics=metrics)


def _dataset(training: DataFrame, rows: pd.DataFrame, table: TableName) -> Any:
    """The training data as an MLflow dataset; on Databricks it names the Unity Catalog table (lineage)."""
    if on_databricks():
        return mlflow.data.from_spark(training, table_name=str(table), targets=LABEL_COLUMN, name=str(table))
    return mlflow.data.from_pandas(rows, targets=LABEL_COLUMN, name=str(table))


def _log_sklearn_model(model: Classifier, features: pd.DataFrame, algorithm: str, model_name: str) -> Any:
    """Log ``model`` with its signature, an input example and pinned requirements; register it."""
    example = features.head(5)
    with warnings.catch_warnings():
        # The output (the predicted class) is an integer on purpose; MLflow's hint about integer
        # columns and missing values concerns inputs, which are all doubles here.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(example, model.predict(example))
    options: dict[str, Any] = {}
    if on_databricks() or mlflow.get_tracking_uri().startswith("databricks"):
        # What MLflow itself chooses on Databricks.
        options["serialization_format"] = "cloudpickle"
        requirements = _pinned(["mlflow", "scikit-learn", "pandas", "numpy", "cloudpickle"])
    else:
        # skops (MLflow's safe default elsewhere) loads only the types listed as trusted: the
        # types of the model trained just now.
        import skops.io

        options["serialization_format"] = "skops"
        options["skops_trusted_types"] = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        requirements = _pinned(["mlflow", "scikit-learn", "pandas", "numpy", "skops"])
    if algorithm == "lightgbm":
        requirements += _pinned(["lightgbm"])
    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        input_example=example,
        # Listing the requirements avoids MLflow inferring them by loading the model in a subprocess.
        pip_requirements=requirements,
        registered_model_name=model_name,
        **options,
    )


def _pinned(distributions: list[str]) -> list[str]:
    """``name==version`` for each installed distribution (MLflow itself may be mlflow-skinny)."""
    pinned = []
    for name in distributions:
        if name == "mlflow":
            pinned.append(f"mlflow=={mlflow.__version__}")
            continue
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            logger.warning("%s is not installed; the model's requirements will not pin it", name)
    return pinned
