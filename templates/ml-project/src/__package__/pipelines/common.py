"""What every entry point shares: the common arguments and the set-up of Spark, MLflow and logging.

Every step takes ``--catalog``, ``--schema``, ``--model-name`` (the short name; the registered
model is ``<catalog>.<schema>.<model-name>``) and ``--experiment-name``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from pyspark.sql import DataFrame, SparkSession

from ..data import customers_dataframe
from ..defaults import DEFAULT_EXPERIMENT_NAME, DEFAULT_MODEL_NAME, DEFAULT_SCHEMA, PROJECT_NAME
from ..runtime import get_spark
from ..tables import TableName, read_table
from ..tracking import configure_mlflow, model_name


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the arguments common to every step."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--catalog", required=True, help="Unity Catalog catalog of the target")
    result.add_argument("--schema", default=DEFAULT_SCHEMA, help="schema for tables and the model")
    result.add_argument(
        "--model-name", default=DEFAULT_MODEL_NAME, help="registered model name, without catalog and schema"
    )
    result.add_argument(
        "--experiment-name", default=DEFAULT_EXPERIMENT_NAME, help="MLflow experiment (a workspace path)"
    )
    return result


@dataclass(frozen=True)
class Context:
    """The parsed arguments plus the Spark session, with MLflow configured.

    The session starts on first use, so a step that only talks to MLflow (promotion) starts no JVM.
    """

    args: argparse.Namespace
    app_name: str = PROJECT_NAME

    @cached_property
    def spark(self) -> SparkSession:
        """The Spark session of this run (see :func:`get_spark`)."""
        return get_spark(self.app_name)

    @property
    def model_name(self) -> str:
        """The registered model's full name, ``<catalog>.<schema>.<model-name>``."""
        return model_name(self.args.catalog, self.args.schema, self.args.model_name)

    def table(self, value: str | None, default_table: str) -> TableName:
        """A table argument: a full ``catalog.schema.table`` name, else ``default_table`` in the schema."""
        if value:
            return TableName.parse(value)
        return TableName.of(self.args.catalog, self.args.schema, default_table)


def add_raw_arguments(arguments: argparse.ArgumentParser) -> None:
    """Add the arguments that choose the raw customer records (a table, or generated sample data)."""
    arguments.add_argument(
        "--input-table", help="raw customer records, catalog.schema.table (default: synthetic sample data)"
    )
    arguments.add_argument("--raw-rows", type=int, default=5000, help="rows of sample data to generate")
    arguments.add_argument("--seed", type=int, default=42, help="seed of the sample data")


def raw_records(context: Context) -> DataFrame:
    """The raw records chosen by the arguments of :func:`add_raw_arguments`."""
    args = context.args
    if args.input_table:
        return read_table(context.spark, TableName.parse(args.input_table))
    return customers_dataframe(context.spark, args.raw_rows, args.seed)


def start(arguments: argparse.ArgumentParser, argv: Sequence[str] | None) -> Context:
    """Parse ``argv``, configure logging and MLflow, and get the Spark session."""
    args = arguments.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_mlflow()
    return Context(args=args)
