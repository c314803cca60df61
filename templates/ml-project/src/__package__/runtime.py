"""Where the code runs: a Databricks job or notebook, or a laptop and CI.

On Databricks the platform provides the SparkSession and ``dbutils``; elsewhere this module
builds a local SparkSession whose tables persist under ``.local/`` in the working directory.
"""

from __future__ import annotations

import builtins
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

LOCAL_DIR = Path(".local")
"""Where local runs keep their Spark tables and MLflow store (ignored by git)."""


def on_databricks() -> bool:
    """Whether this process runs on Databricks compute (a job, a notebook or serverless)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def get_spark(app_name: str = "ml-project") -> SparkSession:
    """Return the session in use: the active one (Databricks, a notebook, a test) or a new local one."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if on_databricks():
        return SparkSession.builder.getOrCreate()
    return local_spark(app_name, LOCAL_DIR.resolve(), persistent_catalog=True)


def local_spark(
    app_name: str,
    base_dir: Path,
    *,
    persistent_catalog: bool = False,
    shuffle_partitions: int = 2,
) -> SparkSession:
    """Build a small local SparkSession for development and tests.

    Tables are written under ``base_dir/spark-warehouse``. With ``persistent_catalog`` the table
    definitions are kept in a Derby metastore under ``base_dir`` as well, so that one step can read
    what an earlier process wrote; without it the catalog lives in memory (faster, for tests).
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    # A small local JVM starts faster with the client compiler and the serial collector.
    java_options = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    # Python workers (pandas UDFs) must use this interpreter, not whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.sql.warehouse.dir", str(base_dir / "spark-warehouse"))
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
    )
    if persistent_catalog:
        metastore = base_dir / "metastore_db"
        builder = builder.config("spark.sql.catalogImplementation", "hive").config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore};create=true",
        )
        java_options.append(f"-Dderby.system.home={base_dir}")
    spark = builder.config("spark.driver.extraJavaOptions", " ".join(java_options)).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def dbutils(spark: SparkSession) -> Any | None:
    """Return the job's ``dbutils``, or ``None`` where there is none.

    A job runner may provide it as a builtin (as notebooks and the Lakeforge local workspace do);
    on Databricks compute it is built from the session; on a laptop and in tests there is none.
    """
    provided = getattr(builtins, "dbutils", None)
    if provided is not None:
        return provided
    if not on_databricks():
        return None
    try:
        from pyspark.dbutils import DBUtils  # type: ignore[import-not-found]
    except ImportError:
        return None
    return DBUtils(spark)


def set_task_value(spark: SparkSession, key: str, value: str) -> bool:
    """Publish a job task value (read by later tasks as ``{{tasks.<task>.values.<key>}}``).

    Returns whether it was published: outside a Databricks job there is nowhere to publish it.
    """
    utils = dbutils(spark)
    if utils is None:
        return False
    utils.jobs.taskValues.set(key=key, value=value)
    return True
