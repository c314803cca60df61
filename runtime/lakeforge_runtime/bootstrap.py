"""Runs one task of a job run: ``python -m lakeforge_runtime`` with ``LAKEFORGE_TASK_SPEC`` naming the
task description (JSON) the workspace wrote into the task's run directory.

Kinds of task: ``python_file`` (run as ``__main__`` with the task's parameters as ``sys.argv[1:]``),
``notebook`` (cells executed in order in one namespace; ``%sql`` cells through ``spark.sql``, ``%sh``
cells in a shell) and ``wheel`` (an entry point of an installed distribution). ``dbutils``, ``spark``
and ``display`` are available as builtins. The outcome is written next to the description:
``values.json`` (task values), ``result.json`` (``dbutils.notebook.exit``), ``error.json`` (error and
trace); the exit status is 0 for success.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import runpy
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

from .dbutils import DBUtils, NotebookExit, TaskContext, context_from
from .spark import LazySpark

REDACTED = "[REDACTED]"


class _Redacting(io.TextIOBase):
    """Writes through to a stream, replacing the values of secrets read by the task."""

    def __init__(self, target: TextIO, ctx: TaskContext):
        self._target = target
        self._ctx = ctx

    def write(self, text: str) -> int:
        shown = text
        for value in self._ctx.secrets_seen:
            if value:
                shown = shown.replace(value, REDACTED)
        self._target.write(shown)
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._target.fileno()


def _display(obj: Any = None, *args: Any, **kwargs: Any) -> None:
    show = getattr(obj, "show", None)
    if callable(show):
        show(truncate=False)
    else:
        print(obj)


def _run_sql(spark: Any, source: str) -> None:
    for statement in (s.strip() for s in source.split(";")):
        if statement:
            _display(spark.sql(statement))


def _run_notebook(spec: dict[str, Any], namespace: dict[str, Any], spark: Any) -> None:
    for cell in spec["cells"]:
        kind, source, origin = cell["kind"], cell["source"], cell.get("origin", spec.get("notebook_path", "<notebook>"))
        if kind == "python":
            exec(compile(source, origin, "exec"), namespace)  # noqa: S102 - running the user's notebook is the point
        elif kind == "sql":
            _run_sql(spark, source)
        elif kind == "sh":
            done = subprocess.run(source, shell=True, capture_output=True, text=True)  # noqa: S602
            sys.stdout.write(done.stdout)
            sys.stderr.write(done.stderr)
            if done.returncode != 0:
                raise RuntimeError(f"%sh cell of {origin} exited with status {done.returncode}")


def _run_wheel(spec: dict[str, Any]) -> None:
    from importlib import import_module
    from importlib.metadata import PackageNotFoundError, distribution

    package, entry = spec["package_name"], spec["entry_point"]
    sys.argv = [package, *spec.get("argv", [])]
    target: Any = None
    try:
        for ep in distribution(package).entry_points:
            if ep.name == entry:
                target = ep.load()
                break
    except PackageNotFoundError:
        pass
    if target is None:
        module = import_module(package.replace("-", "_"))
        target = getattr(module, entry, None)
        if target is None:
            raise RuntimeError(f"package {package} has no entry point {entry}")
    result = target()
    if isinstance(result, int) and result != 0:
        raise SystemExit(result)


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def main() -> None:
    spec_path = Path(os.environ["LAKEFORGE_TASK_SPEC"])
    spec = json.loads(spec_path.read_text())
    run_dir = spec_path.parent
    ctx = context_from(spec, run_dir)
    sys.stdout = _Redacting(sys.stdout, ctx)  # type: ignore[assignment]
    sys.stderr = _Redacting(sys.stderr, ctx)  # type: ignore[assignment]

    dbutils = DBUtils(ctx)
    spark = LazySpark()
    builtins.dbutils = dbutils  # type: ignore[attr-defined]
    builtins.spark = spark  # type: ignore[attr-defined]
    builtins.display = _display  # type: ignore[attr-defined]
    for entry in reversed(spec.get("sys_path", [])):
        sys.path.insert(0, entry)

    status = 0
    try:
        kind = spec["kind"]
        if kind == "python_file":
            sys.argv = [spec["python_file"], *spec.get("argv", [])]
            sys.path.insert(0, str(Path(spec["python_file"]).parent))
            runpy.run_path(spec["python_file"], run_name="__main__")
        elif kind == "notebook":
            namespace: dict[str, Any] = {"__name__": "__main__", "dbutils": dbutils, "spark": spark, "display": _display}
            _run_notebook(spec, namespace, spark)
        elif kind == "wheel":
            _run_wheel(spec)
        else:
            raise RuntimeError(f"unknown task kind {kind}")
    except NotebookExit as done:
        _write(run_dir / "result.json", {"result": done.value})
    except SystemExit as e:
        code = e.code
        if code not in (None, 0):
            status = code if isinstance(code, int) else 1
            message = f"SystemExit: {code}"
            _write(run_dir / "error.json", {"error": message, "error_trace": traceback.format_exc()})
    except BaseException as e:  # noqa: BLE001 - every failure of user code is reported
        status = 1
        message = f"{type(e).__name__}: {e}"
        trace = traceback.format_exc()
        for value in ctx.secrets_seen:
            if value:
                message = message.replace(value, REDACTED)
                trace = trace.replace(value, REDACTED)
        sys.stderr.write(trace)
        _write(run_dir / "error.json", {"error": message, "error_trace": trace})
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        if spark.started:
            try:
                spark.stop()
            except Exception:  # noqa: BLE001
                pass
    sys.exit(status)
