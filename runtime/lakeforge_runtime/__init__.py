"""The Python side of job runs in the Lakeforge local workspace.

Every task of a job run starts ``python -m lakeforge_runtime``: it reads the task description the
workspace wrote (``LAKEFORGE_TASK_SPEC``), provides ``dbutils`` and a lazily created local ``spark``,
runs the task's code and reports task values, the notebook result and any error back through files in
the task's run directory.
"""

from .dbutils import DBUtils, TaskContext  # noqa: F401
