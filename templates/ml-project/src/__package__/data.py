"""Seeded synthetic sample data, so that every step runs offline and in tests.

The records describe customers of a subscription business and whether they left (``churned``).
They stand in for the use case's real source: point the features step at a real table with
``--input-table`` (same columns) or replace :func:`compute_features <.features.compute_features>`.

The same ``rows`` and ``seed`` always give the same records. ``drift`` shifts the distributions
(higher prices, more support calls, more monthly contracts) to simulate a population that changed
since training, which the monitoring step should notice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

CONTRACTS = ("month-to-month", "one-year", "two-year")

RAW_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.LongType(), nullable=False),
        T.StructField("tenure_months", T.IntegerType(), nullable=False),
        T.StructField("monthly_charges", T.DoubleType(), nullable=False),
        T.StructField("total_charges", T.DoubleType(), nullable=False),
        T.StructField("contract", T.StringType(), nullable=False),
        T.StructField("support_calls", T.IntegerType(), nullable=False),
        T.StructField("has_internet", T.BooleanType(), nullable=False),
        T.StructField("paperless_billing", T.BooleanType(), nullable=False),
        T.StructField("churned", T.IntegerType(), nullable=False),
    ]
)
"""Columns of the raw customer records."""


def generate_customers(
    rows: int = 5000, seed: int = 42, *, drift: float = 0.0, first_id: int = 1
) -> pd.DataFrame:
    """Generate ``rows`` customer records with a ``churned`` label (about a quarter churn).

    Args:
        rows: number of customers.
        seed: random seed; the same arguments always give the same records.
        drift: 0 for the training population; larger values shift the feature distributions.
        first_id: ``customer_id`` of the first record (ids are consecutive).
    """
    if rows <= 0:
        raise ValueError(f"rows must be positive, not {rows}")
    rng = np.random.default_rng(seed)
    month_to_month = min(0.5 + 0.3 * drift, 0.95)
    contract = rng.choice(
        CONTRACTS, size=rows, p=[month_to_month, (1 - month_to_month) * 0.6, (1 - month_to_month) * 0.4]
    )
    tenure = rng.integers(1, 73, size=rows)
    monthly = np.clip(rng.normal(65.0 + 40.0 * drift, 20.0, size=rows), 18.0, 160.0).round(2)
    total = (monthly * tenure * rng.uniform(0.9, 1.1, size=rows)).round(2)
    support_calls = rng.poisson(1.5 * (1.0 + 2.0 * drift), size=rows)
    has_internet = rng.random(rows) < 0.75
    paperless = rng.random(rows) < 0.6

    logit = (
        -2.2
        + 1.6 * (contract == "month-to-month")
        + 0.4 * (contract == "one-year")
        - 0.035 * tenure
        + 0.02 * (monthly - 65.0)
        + 0.45 * support_calls
        + 0.35 * paperless
        + 0.25 * has_internet
    )
    churned = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))

    return pd.DataFrame(
        {
            "customer_id": np.arange(first_id, first_id + rows, dtype="int64"),
            "tenure_months": tenure.astype("int32"),
            "monthly_charges": monthly.astype("float64"),
            "total_charges": total.astype("float64"),
            "contract": contract.astype(str),
            "support_calls": support_calls.astype("int32"),
            "has_internet": has_internet,
            "paperless_billing": paperless,
            "churned": churned.astype("int32"),
        }
    )


def customers_dataframe(
    spark: SparkSession, rows: int = 5000, seed: int = 42, *, drift: float = 0.0, first_id: int = 1
) -> DataFrame:
    """The records of :func:`generate_customers` as a Spark DataFrame with :data:`RAW_SCHEMA`."""
    records = generate_customers(rows, seed, drift=drift, first_id=first_id)
    return spark.createDataFrame(records, schema=RAW_SCHEMA)
