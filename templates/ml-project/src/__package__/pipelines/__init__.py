"""Entry points of the Databricks job tasks (``spark_python_task``), one module per step.

Each module is a thin layer: it parses the arguments, sets up Spark and MLflow, and calls the
package's modules. ``main(argv)`` returns the process exit code, so tests call it directly.
"""
