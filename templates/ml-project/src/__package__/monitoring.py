"""Monitoring: has the scored population drifted away from the training population?

The check compares the most recent rows of the inference table with the feature table the model
was trained on, using the population stability index (PSI) of every feature, plus the PSI between
the share of churners in the training labels and the mean predicted churn probability. A PSI
below 0.1 is usually read as stable, 0.1-0.2 as a moderate shift and above 0.2 as a significant
one; a column whose PSI exceeds the threshold asks for retraining.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .features import FEATURE_COLUMNS, LABEL_COLUMN
from .inference import PROBABILITY_COLUMN, SCORED_AT_COLUMN
from .tables import TableName, read_table

logger = logging.getLogger(__name__)

PREDICTION_DRIFT = "prediction"
"""Name under which the report lists the drift of the predictions."""
DEFAULT_THRESHOLD = 0.2
_EPSILON = 1e-4


@dataclass(frozen=True)
class DriftReport:
    """PSI per column between the training data and the recent inference rows."""

    psi: dict[str, float]
    threshold: float
    reference_rows: int
    recent_rows: int
    drifted: list[str] = field(default_factory=list)

    @property
    def retrain(self) -> bool:
        """Whether any column drifted beyond the threshold."""
        return bool(self.drifted)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly summary."""
        return {
            "retrain": self.retrain,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "psi": {name: round(value, 4) for name, value in self.psi.items()},
            "reference_rows": self.reference_rows,
            "recent_rows": self.recent_rows,
        }


def population_stability_index(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """PSI of ``actual`` against ``expected``, with bins at the quantiles of ``expected``.

    Columns with few distinct values (flags, counts) get one bin per value.
    """
    expected = np.asarray(expected, dtype="float64")
    actual = np.asarray(actual, dtype="float64")
    expected = expected[~np.isnan(expected)]
    actual = actual[~np.isnan(actual)]
    if expected.size == 0 or actual.size == 0:
        raise ValueError("both samples need at least one value")
    edges = np.unique(np.quantile(expected, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    expected_share = _shares(np.searchsorted(edges, expected, side="right"), edges.size + 1)
    actual_share = _shares(np.searchsorted(edges, actual, side="right"), edges.size + 1)
    return _psi(expected_share, actual_share)


def rate_stability_index(expected_rate: float, actual_rate: float) -> float:
    """PSI between two binary distributions given by their positive rates."""
    expected = np.array([1.0 - expected_rate, expected_rate])
    actual = np.array([1.0 - actual_rate, actual_rate])
    return _psi(np.clip(expected, _EPSILON, None), np.clip(actual, _EPSILON, None))


def _shares(buckets: np.ndarray, count: int) -> np.ndarray:
    shares = np.bincount(buckets, minlength=count).astype("float64") / buckets.size
    return np.clip(shares, _EPSILON, None)


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def check_drift(
    spark: SparkSession,
    *,
    reference_table: str | TableName,
    inference_table: str | TableName,
    threshold: float = DEFAULT_THRESHOLD,
    lookback_hours: float = 24.0,
    max_rows: int = 200_000,
) -> DriftReport:
    """Compare the inference rows of the last ``lookback_hours`` with the training data.

    The window ends at the newest ``scored_at`` in the inference table (not at the current time),
    so a late or repeated check sees the same rows. At most ``max_rows`` rows of each side are used.
    """
    if threshold <= 0:
        raise ValueError(f"the drift threshold must be positive, not {threshold}")
    inference = read_table(spark, inference_table)
    newest = inference.agg(F.max(SCORED_AT_COLUMN)).first()
    if newest is None or newest[0] is None:
        raise LookupError(f"{inference_table} has no scored rows yet")
    since = newest[0] - timedelta(hours=lookback_hours)
    columns = list(FEATURE_COLUMNS)
    recent = _sample(
        inference.where(F.col(SCORED_AT_COLUMN) >= F.lit(since)).select(*columns, PROBABILITY_COLUMN),
        max_rows,
    )
    reference = _sample(read_table(spark, reference_table).select(*columns, LABEL_COLUMN), max_rows)

    psi = {
        column: population_stability_index(reference[column].to_numpy(), recent[column].to_numpy())
        for column in columns
    }
    psi[PREDICTION_DRIFT] = rate_stability_index(
        float(reference[LABEL_COLUMN].mean()), float(recent[PROBABILITY_COLUMN].mean())
    )
    drifted = sorted(name for name, value in psi.items() if math.isfinite(value) and value > threshold)
    report = DriftReport(
        psi=psi,
        threshold=threshold,
        reference_rows=len(reference),
        recent_rows=len(recent),
        drifted=drifted,
    )
    logger.info("drift check: %s", report.to_dict())
    return report


def _sample(frame: DataFrame, max_rows: int) -> pd.DataFrame:
    rows = frame.limit(max_rows).toPandas()
    if rows.empty:
        raise LookupError("no rows to compare")
    return rows
