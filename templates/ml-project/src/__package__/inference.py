"""Batch inference: score a table with the ``@champion`` model and append the predictions.

Each scored row keeps its input columns and gains the churn probability, the predicted class, the
model version that produced them and the scoring time, so the predictions table (the inference
table) is also the record that :mod:`.monitoring` compares with the training data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import mlflow
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .features import FEATURE_COLUMNS, RAW_COLUMNS, compute_features
from .tables import TableName, read_table, write_table
from .tracking import CHAMPION, version_with_alias

logger = logging.getLogger(__name__)

PROBABILITY_COLUMN = "probability"
PREDICTION_COLUMN = "prediction"
MODEL_VERSION_COLUMN = "model_version"
SCORED_AT_COLUMN = "scored_at"
DECISION_THRESHOLD = 0.5
"""A customer is predicted to churn when the probability reaches this value."""


@dataclass(frozen=True)
class InferenceResult:
    """What a batch inference run wrote."""

    output_table: str
    model_version: str
    rows: int
    scored_at: datetime


def score(
    spark: SparkSession,
    rows: DataFrame,
    model_name: str,
    *,
    alias: str = CHAMPION,
    scored_at: datetime | None = None,
) -> tuple[DataFrame, str]:
    """Score ``rows`` with the version of ``model_name`` aliased ``alias``.

    ``rows`` holds either the feature columns or raw customer records (features are computed then).
    Returns the scored DataFrame and the model version used.
    """
    version = version_with_alias(model_name, alias)
    if version is None:
        raise LookupError(f"{model_name} has no version aliased @{alias}; promote one first")
    if not all(column in rows.columns for column in FEATURE_COLUMNS):
        if not all(column in rows.columns for column in RAW_COLUMNS):
            raise ValueError("the input has neither the feature columns nor the raw columns")
        rows = compute_features(rows)

    model = mlflow.sklearn.load_model(f"models:/{model_name}/{version}")
    # The function runs on the executors, where this package may not be importable: it uses only
    # the model, plain values and pandas.
    columns = list(FEATURE_COLUMNS)
    outputs = (PROBABILITY_COLUMN, PREDICTION_COLUMN)
    threshold = DECISION_THRESHOLD

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            probabilities = model.predict_proba(batch.loc[:, columns].astype("float64"))[:, 1]
            yield batch.assign(
                **{
                    outputs[0]: probabilities.astype("float64"),
                    outputs[1]: (probabilities >= threshold).astype("int32"),
                }
            )

    schema = T.StructType(
        [
            *rows.schema.fields,
            T.StructField(PROBABILITY_COLUMN, T.DoubleType()),
            T.StructField(PREDICTION_COLUMN, T.IntegerType()),
        ]
    )
    when = scored_at or datetime.now(timezone.utc)
    scored = (
        rows.mapInPandas(predict, schema)
        .withColumn(MODEL_VERSION_COLUMN, F.lit(version))
        .withColumn(SCORED_AT_COLUMN, F.lit(when).cast("timestamp"))
    )
    return scored, version


def run_batch_inference(
    spark: SparkSession,
    *,
    model_name: str,
    input_table: str | TableName,
    output_table: str | TableName,
    alias: str = CHAMPION,
    scored_at: datetime | None = None,
) -> InferenceResult:
    """Score ``input_table`` with ``@alias`` and append the predictions to ``output_table``."""
    rows = read_table(spark, input_table)
    when = scored_at or datetime.now(timezone.utc)
    scored, version = score(spark, rows, model_name, alias=alias, scored_at=when)
    target = write_table(spark, scored, output_table, mode="append")
    count = rows.count()
    logger.info(
        "scored %d rows of %s with %s version %s into %s", count, input_table, model_name, version, target
    )
    return InferenceResult(output_table=str(output_table), model_version=version, rows=count, scored_at=when)
