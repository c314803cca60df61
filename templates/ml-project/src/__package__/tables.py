"""Table names: ``catalog.schema.table`` in Unity Catalog, and the same names on a laptop.

Every table of the project is named with three parts, as Unity Catalog wants. A local Spark
session has a single catalog (``spark_catalog``), so there the catalog and the schema are folded
into one database: ``dev.ml.features`` is stored as ``dev_ml.features``. This is the only place that
knows about the difference; the rest of the code passes three-part names around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from .runtime import on_databricks

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class TableName:
    """A three-part table name."""

    catalog: str
    schema: str
    table: str

    @classmethod
    def parse(cls, name: str) -> TableName:
        """Parse ``catalog.schema.table`` (backticks around a part are allowed)."""
        parts = [part.strip("`") for part in name.split(".")]
        if len(parts) != 3 or not all(_IDENTIFIER.match(part) for part in parts):
            raise ValueError(
                f"table name {name!r} must have the form catalog.schema.table (letters, digits, '_' and '-')"
            )
        return cls(*parts)

    @classmethod
    def of(cls, catalog: str, schema: str, table: str) -> TableName:
        """Build a name from its parts, validating each."""
        return cls.parse(f"{catalog}.{schema}.{table}")

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


def _quote(*parts: str) -> str:
    return ".".join(f"`{part}`" for part in parts)


def catalog_available(spark: SparkSession, catalog: str) -> bool:
    """Whether ``catalog`` can be addressed by name in this session.

    On Databricks this is always assumed, so that a missing or inaccessible catalog fails loudly
    instead of silently writing somewhere else.
    """
    if on_databricks():
        return True
    return catalog in {row[0] for row in spark.sql("SHOW CATALOGS").collect()}


def spark_name(spark: SparkSession, name: str | TableName) -> str:
    """The quoted name under which Spark in this session finds the table ``name``."""
    table = name if isinstance(name, TableName) else TableName.parse(name)
    if catalog_available(spark, table.catalog):
        return _quote(table.catalog, table.schema, table.table)
    return _quote(f"{table.catalog}_{table.schema}", table.table)


def ensure_schema(spark: SparkSession, name: str | TableName) -> str:
    """Create the schema holding ``name`` if it is missing; return the table's Spark name."""
    table = name if isinstance(name, TableName) else TableName.parse(name)
    if catalog_available(spark, table.catalog):
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {_quote(table.catalog, table.schema)}")
    else:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {_quote(f'{table.catalog}_{table.schema}')}")
    return spark_name(spark, table)


def table_exists(spark: SparkSession, name: str | TableName) -> bool:
    """Whether the table exists (and is visible to this session)."""
    return bool(spark.catalog.tableExists(spark_name(spark, name)))


def read_table(spark: SparkSession, name: str | TableName) -> DataFrame:
    """Read a table by its three-part name."""
    return spark.table(spark_name(spark, name))


def write_table(spark: SparkSession, df: DataFrame, name: str | TableName, *, mode: str = "overwrite") -> str:
    """Write ``df`` as a managed table (Delta on Databricks, Parquet locally); return its Spark name.

    ``mode`` is ``overwrite`` (replace data and schema) or ``append``.
    """
    if mode not in ("overwrite", "append"):
        raise ValueError(f"mode must be 'overwrite' or 'append', not {mode!r}")
    target = ensure_schema(spark, name)
    writer = df.write.mode(mode)
    if mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    writer.saveAsTable(target)
    return target
