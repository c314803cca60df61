"""Validation: evaluate ``@challenger`` on the holdout and decide whether it may be promoted.

The challenger passes when

1. its ROC AUC on the holdout reaches ``min_roc_auc``, and
2. it is not worse than the current ``@champion`` (if there is one) on the same rows.

Both checks run through ``mlflow.models.evaluate`` and ``mlflow.validate_evaluation_results``, so
the evaluation (metrics, plots) is logged to the experiment. The outcome is recorded on the model
version as the tag ``validation_status`` (``passed`` / ``failed``), which :mod:`.deployment` reads.
A failed validation raises :class:`ValidationFailed` unless the caller explicitly allows it, so a
job's promotion task never runs after a failing candidate.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, field

import mlflow
import pandas as pd
from mlflow.models import MetricThreshold
from mlflow.models.evaluation.base import EvaluationResult
from mlflow.models.evaluation.validation import ModelValidationFailedException
from pyspark.sql import SparkSession

from .features import LABEL_COLUMN, feature_matrix, split_holdout
from .tables import TableName, read_table
from .tracking import (
    CHALLENGER,
    CHAMPION,
    FAILED,
    PASSED,
    VALIDATION_STATUS_TAG,
    client,
    use_experiment,
    version_with_alias,
)

logger = logging.getLogger(__name__)

METRIC = "roc_auc"
"""The metric the thresholds apply to."""


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one model version."""

    model_name: str
    version: str
    passed: bool
    metrics: dict[str, float]
    champion_version: str | None = None
    champion_metrics: dict[str, float] | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The value of the ``validation_status`` tag: ``passed`` or ``failed``."""
        return PASSED if self.passed else FAILED


class ValidationFailed(RuntimeError):
    """The challenger did not pass validation; it must not be promoted."""

    def __init__(self, result: ValidationResult) -> None:
        reasons = "; ".join(result.failures) or "see the validation run"
        super().__init__(f"{result.model_name} version {result.version} failed validation: {reasons}")
        self.result = result


def validate_challenger(
    spark: SparkSession,
    *,
    model_name: str,
    features_table: str | TableName,
    experiment_name: str,
    min_roc_auc: float = 0.7,
    allow_failed: bool = False,
) -> ValidationResult:
    """Validate the version aliased ``@challenger`` and tag it with the outcome.

    Args:
        model_name: full registered model name, ``<catalog>.<schema>.<model>``.
        features_table: the feature table; its holdout rows are the evaluation data.
        experiment_name: MLflow experiment that receives the evaluation run.
        min_roc_auc: the lowest acceptable ROC AUC on the holdout.
        allow_failed: return a failed result instead of raising :class:`ValidationFailed`.
    """
    if not 0.0 <= min_roc_auc <= 1.0:
        raise ValueError(f"min_roc_auc must be between 0 and 1, not {min_roc_auc}")
    version = version_with_alias(model_name, CHALLENGER)
    if version is None:
        raise LookupError(f"{model_name} has no version aliased @{CHALLENGER}; train one first")
    champion = version_with_alias(model_name, CHAMPION)
    if champion == version:
        champion = None  # Re-validating the champion itself: there is nothing to compare with.

    _, holdout = split_holdout(read_table(spark, features_table))
    rows = holdout.toPandas()
    data = feature_matrix(rows).assign(**{LABEL_COLUMN: rows[LABEL_COLUMN].astype("int64")})

    use_experiment(experiment_name)
    with mlflow.start_run(run_name=f"validate-v{version}") as run:
        mlflow.log_params(
            {
                "model_name": model_name,
                "challenger_version": version,
                "champion_version": champion or "none",
                "min_roc_auc": min_roc_auc,
                "evaluation_rows": len(data),
            }
        )
        candidate = _evaluate(f"models:/{model_name}/{version}", data)
        baseline = None
        if champion is not None:
            with mlflow.start_run(run_name=f"champion-v{champion}", nested=True):
                baseline = _evaluate(f"models:/{model_name}/{champion}", data)
        failures = _check(candidate, baseline, min_roc_auc)
        mlflow.log_metric("validation_passed", 0.0 if failures else 1.0)

    result = ValidationResult(
        model_name=model_name,
        version=version,
        passed=not failures,
        metrics=_floats(candidate.metrics),
        champion_version=champion,
        champion_metrics=_floats(baseline.metrics) if baseline is not None else None,
        failures=failures,
    )
    registry = client()
    registry.set_model_version_tag(model_name, version, VALIDATION_STATUS_TAG, result.status)
    registry.set_model_version_tag(model_name, version, "validation_run_id", run.info.run_id)
    registry.set_model_version_tag(
        model_name, version, f"validation_{METRIC}", f"{result.metrics.get(METRIC, float('nan')):.4f}"
    )
    logger.info("%s version %s: validation %s", model_name, version, result.status)
    if not result.passed and not allow_failed:
        raise ValidationFailed(result)
    return result


def _evaluate(model_uri: str, data: pd.DataFrame) -> EvaluationResult:
    return mlflow.models.evaluate(
        model_uri,
        data,
        targets=LABEL_COLUMN,
        model_type="classifier",
        evaluator_config={"log_model_explainability": False},
    )


def _check(candidate: EvaluationResult, baseline: EvaluationResult | None, min_roc_auc: float) -> list[str]:
    """The reasons the candidate fails (empty when it passes)."""
    threshold = MetricThreshold(
        threshold=min_roc_auc,
        # 0.0: at least as good as the champion (relative change >= 0).
        min_relative_change=0.0 if baseline is not None else None,
        greater_is_better=True,
    )
    try:
        mlflow.validate_evaluation_results({METRIC: threshold}, candidate, baseline)
    except ModelValidationFailedException as error:
        return [line.strip() for line in str(error.message).splitlines() if line.strip()]
    return []


def _floats(metrics: dict[str, object]) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items() if isinstance(value, numbers.Real)}
