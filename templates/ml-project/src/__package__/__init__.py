"""The use case's machine-learning code.

Each step of the pipeline lives in its own module and takes plain arguments (a SparkSession,
table names, a model name), so it can be called from a job, a notebook or a test alike:

- :mod:`.data` generates the seeded synthetic sample data the project ships with;
- :mod:`.features` turns raw records into the feature table;
- :mod:`.training` trains a classifier, logs it to MLflow and registers it as ``@challenger``;
- :mod:`.validation` evaluates the challenger and compares it with the ``@champion``;
- :mod:`.deployment` promotes a validated challenger to ``@champion``;
- :mod:`.inference` scores a table with the ``@champion`` model.

The thin entry points that the Databricks jobs run are in :mod:`.pipelines`.
"""
