"""Feature computation: raw customer records → one row of model features per customer.

The feature table is keyed by :data:`KEY_COLUMN` and carries the label (:data:`LABEL_COLUMN`) next
to the features, so training and validation read a single table. All features are doubles, which
keeps the model signature stable when a value is missing.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from .tables import TableName, write_table

KEY_COLUMN = "customer_id"
LABEL_COLUMN = "churned"
FEATURE_COLUMNS: tuple[str, ...] = (
    "tenure_months",
    "monthly_charges",
    "avg_monthly_spend",
    "charge_ratio",
    "support_calls",
    "is_month_to_month",
    "is_one_year",
    "has_internet",
    "paperless_billing",
)
"""The model's inputs, in order."""

RAW_COLUMNS = (
    KEY_COLUMN,
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "contract",
    "support_calls",
    "has_internet",
    "paperless_billing",
)
"""Columns the raw input must have (the label column is optional: unlabelled data can be scored)."""

HOLDOUT_FRACTION = 0.2
"""Share of customers kept out of training and used for validation (chosen by key, so stable)."""


def compute_features(raw: DataFrame) -> DataFrame:
    """Compute the feature table from raw customer records.

    Returns one row per input row with :data:`KEY_COLUMN`, the :data:`FEATURE_COLUMNS` and, when the
    input has it, :data:`LABEL_COLUMN`.
    """
    missing = [column for column in RAW_COLUMNS if column not in raw.columns]
    if missing:
        raise ValueError(f"raw data lacks the column(s) {', '.join(missing)}")

    tenure = F.col("tenure_months").cast("double")
    avg_spend = F.col("total_charges").cast("double") / F.greatest(tenure, F.lit(1.0))
    features: dict[str, Column] = {
        "tenure_months": tenure,
        "monthly_charges": F.col("monthly_charges").cast("double"),
        "avg_monthly_spend": F.round(avg_spend, 4),
        # Above 1 when the customer now pays more than they did on average: a price increase.
        "charge_ratio": F.round(
            F.when(avg_spend > 0, F.col("monthly_charges") / avg_spend).otherwise(F.lit(1.0)), 4
        ),
        "support_calls": F.col("support_calls").cast("double"),
        "is_month_to_month": (F.col("contract") == "month-to-month").cast("double"),
        "is_one_year": (F.col("contract") == "one-year").cast("double"),
        "has_internet": F.col("has_internet").cast("double"),
        "paperless_billing": F.col("paperless_billing").cast("double"),
    }
    columns = [F.col(KEY_COLUMN).cast("long").alias(KEY_COLUMN)]
    columns += [features[name].alias(name) for name in FEATURE_COLUMNS]
    if LABEL_COLUMN in raw.columns:
        columns.append(F.col(LABEL_COLUMN).cast("int").alias(LABEL_COLUMN))
    return raw.select(*columns)


def write_features(spark: SparkSession, features: DataFrame, table: str | TableName) -> str:
    """Replace the feature table's contents with ``features``; return the table's Spark name."""
    return write_table(spark, features, table, mode="overwrite")


def is_holdout(fraction: float = HOLDOUT_FRACTION) -> Column:
    """A boolean column: whether the row's customer belongs to the validation holdout."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the holdout fraction must be between 0 and 1, not {fraction}")
    return F.pmod(F.xxhash64(F.col(KEY_COLUMN)), F.lit(1000)) < F.lit(int(fraction * 1000))


def split_holdout(features: DataFrame, fraction: float = HOLDOUT_FRACTION) -> tuple[DataFrame, DataFrame]:
    """Split the feature table into (training rows, holdout rows), stably by customer."""
    holdout = is_holdout(fraction)
    return features.where(~holdout), features.where(holdout)


def feature_matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """The model input for ``rows``: the :data:`FEATURE_COLUMNS`, in order, as float64."""
    missing = [column for column in FEATURE_COLUMNS if column not in rows.columns]
    if missing:
        raise ValueError(f"the input lacks the feature column(s) {', '.join(missing)}")
    return rows.loc[:, list(FEATURE_COLUMNS)].astype("float64")
