"""A local SparkSession, created the first time a task uses ``spark``.

Tables live under ``.local/`` of the working directory (``spark-warehouse`` and a Derby metastore in
``metastore_db``), which every run of the same job or bundle shares, so one task reads what an earlier
one wrote. Unity Catalog names ``catalog.schema.table`` are folded into the local database
``catalog_schema`` (``dev.ml.features`` is ``dev_ml.features``) by ``spark.table``, ``spark.sql`` (after
FROM, JOIN, TABLE, INTO, UPDATE and EXISTS), ``DataFrameWriter.saveAsTable``/``insertInto`` and
``spark.catalog.tableExists``; the database is created on first write.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

_THREE_PART = re.compile(r"^`?([A-Za-z0-9_-]+)`?\.`?([A-Za-z0-9_-]+)`?\.`?([A-Za-z0-9_-]+)`?$")
_SQL_NAME = re.compile(
    r"(?i)\b(FROM|JOIN|TABLE|INTO|UPDATE|EXISTS)(\s+)`?([A-Za-z0-9_-]+)`?\.`?([A-Za-z0-9_-]+)`?\.`?([A-Za-z0-9_-]+)`?"
)
_LOCAL_CATALOGS = {"spark_catalog"}


def fold(name: str) -> str:
    """``a.b.c`` → ```a_b`.`c```; other names unchanged."""
    m = _THREE_PART.match(name.strip())
    if not m or m.group(1) in _LOCAL_CATALOGS:
        return name
    return f"`{m.group(1)}_{m.group(2)}`.`{m.group(3)}`"


def fold_sql(query: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(3) in _LOCAL_CATALOGS:
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}`{m.group(3)}_{m.group(4)}`.`{m.group(5)}`"

    return _SQL_NAME.sub(repl, query)


def _database_of(folded: str) -> str | None:
    parts = folded.split("`.`")
    return parts[0].strip("`") if len(parts) == 2 else None


def build_session() -> Any:
    from pyspark.sql import DataFrameWriter, SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    base = Path(".local").resolve()
    base.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    java_options = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", f"-Dderby.system.home={base}"]
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lakeforge-task")
        .config("spark.sql.warehouse.dir", str(base / "spark-warehouse"))
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.catalogImplementation", "hive")
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={base / 'metastore_db'};create=true")
        .config("spark.driver.extraJavaOptions", " ".join(java_options))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")

    original_table = session.table
    original_sql = session.sql
    original_exists = session.catalog.tableExists

    def table(name: str) -> Any:
        return original_table(fold(name))

    def sql(query: str, *args: Any, **kwargs: Any) -> Any:
        return original_sql(fold_sql(query), *args, **kwargs)

    def table_exists(name: str, dbName: str | None = None) -> bool:  # noqa: N803
        return original_exists(name, dbName) if dbName else original_exists(fold(name))

    session.table = table  # type: ignore[method-assign]
    session.sql = sql  # type: ignore[method-assign]
    session.catalog.tableExists = table_exists  # type: ignore[method-assign]

    if not getattr(DataFrameWriter, "_lakeforge_folding", False):
        save_as_table = DataFrameWriter.saveAsTable
        insert_into = DataFrameWriter.insertInto

        def folded_save(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            target = fold(name)
            database = _database_of(target) if target != name else None
            if database:
                original_sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            return save_as_table(self, target, *args, **kwargs)

        def folded_insert(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            return insert_into(self, fold(name), *args, **kwargs)

        DataFrameWriter.saveAsTable = folded_save  # type: ignore[method-assign]
        DataFrameWriter.insertInto = folded_insert  # type: ignore[method-assign]
        DataFrameWriter._lakeforge_folding = True  # type: ignore[attr-defined]
    return session


class LazySpark:
    """Stands for the SparkSession; the session (and its JVM) starts on first attribute access."""

    def __init__(self) -> None:
        self._session: Any = None

    def _get(self) -> Any:
        if self._session is None:
            self._session = build_session()
        return self._session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __repr__(self) -> str:
        return "<lazy local SparkSession>" if self._session is None else repr(self._session)

    @property
    def started(self) -> bool:
        return self._session is not None
