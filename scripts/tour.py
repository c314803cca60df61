"""A narrated tour of a Lakeforge local workspace through the official Databricks SDK for Python.

Run it through `npm run tour`, which starts an in-memory workspace and sets DATABRICKS_HOST and
DATABRICKS_TOKEN. Every step is plain SDK usage, exactly as against a real workspace. Exits 1 if any
step fails.
"""

import base64
import secrets
import sys
from datetime import timedelta

from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language

NOTEBOOK = """# Databricks notebook source
# MAGIC %md # Train the churn model

# COMMAND ----------

features = spark.table("tour.ml.customers")
print(f"training on {features.count()} customers")
"""

w = WorkspaceClient()
made: dict = {}
outcomes: list[tuple[str, Exception | None]] = []


def say(line: str) -> None:
    print(f"  {line}", flush=True)


def step(title: str):
    """Runs the decorated function as one step of the tour and records whether it worked."""

    def run(fn):
        print(f"\n▸ {title}", flush=True)
        try:
            fn()
            outcomes.append((title, None))
        except Exception as e:  # the tour goes on; the summary and the exit code tell
            say(f"✗ {type(e).__name__}: {e}")
            outcomes.append((title, e))
        return fn

    return run


def needs(key: str, what: str):
    if key not in made:
        raise RuntimeError(f"needs {what} from an earlier step")
    return made[key]


@step("Who am I?")
def who_am_i():
    me = w.current_user.me()
    made["user"] = me.user_name
    groups = ", ".join(sorted(g.display for g in me.groups or [] if g.display)) or "no groups"
    say(f"signed in as {me.user_name} ({me.display_name}), member of: {groups}")
    say(f"workspace id {w.get_workspace_id()} at {w.config.host}")


@step("Make a folder and import a notebook")
def notebook():
    user = needs("user", "the current user")
    folder = f"/Users/{user}/lakeforge-tour"
    w.workspace.mkdirs(folder)
    path = f"{folder}/train"
    w.workspace.import_(
        path,
        content=base64.b64encode(NOTEBOOK.encode()).decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
        overwrite=True,
    )
    info = w.workspace.get_status(path)
    say(f"imported {path}: a {info.language.value} {info.object_type.value.lower()} (object id {info.object_id})")
    exported = base64.b64decode(w.workspace.export(path, format=ExportFormat.SOURCE).content or "").decode()
    if "training on" not in exported:
        raise AssertionError("the exported notebook does not hold what was imported")
    say(f"exported it back: {len(exported.splitlines())} lines, as imported")
    made["folder"], made["notebook"] = folder, path


@step("Create a cluster and wait until it runs")
def cluster():
    spark_version = w.clusters.select_spark_version(long_term_support=True)
    node_type = w.clusters.select_node_type()
    say(f"picked runtime {spark_version} on node type {node_type}")
    c = w.clusters.create_and_wait(
        cluster_name="lakeforge-tour",
        spark_version=spark_version,
        node_type_id=node_type,
        num_workers=1,
        autotermination_minutes=30,
        timeout=timedelta(minutes=5),
    )
    say(f"cluster {c.cluster_name} ({c.cluster_id}) is {c.state.value}")
    made["cluster_id"] = c.cluster_id


@step("Create a job with two tasks")
def job():
    notebook_path = needs("notebook", "the notebook")
    cluster_id = needs("cluster_id", "the cluster")
    created = w.jobs.create(
        name="lakeforge-tour: train churn model",
        tasks=[
            jobs.Task(
                task_key="prepare",
                notebook_task=jobs.NotebookTask(notebook_path=notebook_path, base_parameters={"stage": "prepare"}),
                existing_cluster_id=cluster_id,
            ),
            jobs.Task(
                task_key="train",
                depends_on=[jobs.TaskDependency(task_key="prepare")],
                notebook_task=jobs.NotebookTask(notebook_path=notebook_path, base_parameters={"stage": "train"}),
                existing_cluster_id=cluster_id,
            ),
        ],
        tags={"project": "lakeforge-tour"},
    )
    j = w.jobs.get(created.job_id)
    order = " → ".join(t.task_key for t in j.settings.tasks or [])
    say(f"job {j.job_id} '{j.settings.name}' runs {order} on cluster {cluster_id}")
    made["job_id"] = j.job_id


@step("Keep a secret")
def secret():
    scope, key = "lakeforge-tour", "api-key"
    value = secrets.token_urlsafe(24)  # made up here and never printed
    w.secrets.create_scope(scope)
    w.secrets.put_secret(scope, key, string_value=value)
    keys = [s.key for s in w.secrets.list_secrets(scope)]
    say(f"scope {scope} holds {keys}; listing shows keys, never values")
    stored = base64.b64decode(w.secrets.get_secret(scope, key).value or "").decode()
    if stored != value:
        raise AssertionError("the secret read back differs from the one stored")
    say("read it back: it matches what was stored (value not shown)")
    made["scope"] = scope


@step("Register a model in Unity Catalog")
def unity_catalog():
    catalog = w.catalogs.create(name="tour", comment="made by the Lakeforge tour")
    schema = w.schemas.create(name="ml", catalog_name=catalog.name)
    model = w.registered_models.create(
        catalog_name=catalog.name, schema_name=schema.name, name="churn", comment="predicts customer churn"
    )
    say(f"catalog {catalog.name}, schema {schema.full_name}, registered model {model.full_name}")
    made["catalog"], made["schema"] = catalog.name, schema.name


@step("List what the tour made")
def inventory():
    if "folder" in made:
        items = [f"{o.path.rsplit('/', 1)[-1]} ({o.object_type.value.lower()})" for o in w.workspace.list(made["folder"])]
        say(f"{made['folder']}: {', '.join(items)}")
    clusters = [f"{c.cluster_name} [{c.state.value}]" for c in w.clusters.list() if c.cluster_name == "lakeforge-tour"]
    say(f"clusters: {', '.join(clusters) or 'none'}")
    tour_jobs = [f"{j.job_id} {j.settings.name}" for j in w.jobs.list(name="lakeforge-tour: train churn model")]
    say(f"jobs: {', '.join(tour_jobs) or 'none'}")
    say(f"secret scopes: {', '.join(s.name for s in w.secrets.list_scopes())}")
    if "catalog" in made:
        models = w.registered_models.list(catalog_name=made["catalog"], schema_name=made["schema"])
        say(f"models in {made['catalog']}.{made['schema']}: {', '.join(m.name for m in models) or 'none'}")


failed = [title for title, error in outcomes if error is not None]
print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} steps worked.", flush=True)
if failed:
    print("Failed: " + "; ".join(failed), file=sys.stderr)
    sys.exit(1)
print("The workspace stops when the tour ends; `lakeforge workspace serve` keeps one running.")
