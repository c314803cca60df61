"""Publishing the feature table with Databricks Feature Engineering in Unity Catalog.

With the ``databricks-feature-engineering`` package (part of the Databricks ML runtimes) the
feature table is created with its primary key, so it shows up in the Features UI and can be used
for feature lookups and online tables. Without it (locally, in tests) the table is written as a
plain table and everything else works the same.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from .features import KEY_COLUMN, write_features
from .runtime import on_databricks
from .tables import TableName, table_exists

logger = logging.getLogger(__name__)


def feature_engineering_client() -> Any | None:
    """A ``FeatureEngineeringClient`` when the library is installed and usable here, else ``None``."""
    if not on_databricks():
        return None
    try:
        from databricks.feature_engineering import FeatureEngineeringClient
    except ImportError:
        return None
    return FeatureEngineeringClient()


def publish_features(
    spark: SparkSession,
    features: DataFrame,
    table: str | TableName,
    *,
    description: str = "Customer features for the churn model",
    client: Any | None = None,
) -> bool:
    """Write ``features`` to ``table``, as a feature table when Feature Engineering is available.

    Returns whether the table was written through Feature Engineering. ``client`` replaces the
    client :func:`feature_engineering_client` would create.
    """
    fe = client if client is not None else feature_engineering_client()
    name = str(table)
    if fe is None:
        logger.info("Feature Engineering is not available: writing %s as a plain table", name)
        write_features(spark, features, table)
        return False
    if table_exists(spark, table):
        fe.write_table(name=name, df=features, mode="merge")
    else:
        fe.create_table(name=name, primary_keys=[KEY_COLUMN], df=features, description=description)
    logger.info("published feature table %s", name)
    return True
