"""A ``dbutils`` for tasks run by the local workspace.

Covered: ``widgets`` (get, getAll, text, dropdown, combobox, multiselect, remove, removeAll),
``jobs.taskValues`` (set, get), ``secrets`` (get, getBytes, list, listScopes; read from the workspace
over its REST API with the run's token), ``fs`` (ls, cp, mv, mkdirs, rm, put, head on local folders
standing for ``dbfs:/`` and ``/Volumes/``) and ``notebook`` (exit, run). Anything else raises
``NotImplementedError`` naming what is missing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class NotebookExit(BaseException):
    """Raised by ``dbutils.notebook.exit``: ends the task successfully with a result."""

    def __init__(self, value: str):
        super().__init__(value)
        self.value = value


@dataclass
class TaskContext:
    """What a task knows about its run (read from the task description)."""

    task_key: str
    widgets: dict[str, str]
    task_values: dict[str, dict[str, Any]]
    values_file: Path
    dbfs_root: Path
    volumes_root: Path
    host: str = ""
    token: str = ""
    secrets_seen: set[str] = field(default_factory=set)


class _Widgets:
    def __init__(self, ctx: TaskContext):
        self._ctx = ctx
        self._defaults: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name in self._ctx.widgets:
            return str(self._ctx.widgets[name])
        if name in self._defaults:
            return self._defaults[name]
        raise ValueError(f"InputWidgetNotDefined: no input widget named {name}")

    getArgument = get  # noqa: N815 (the Databricks name)

    def getAll(self) -> dict[str, str]:  # noqa: N802
        return {**self._defaults, **{k: str(v) for k, v in self._ctx.widgets.items()}}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:  # noqa: N803
        self._defaults[name] = str(defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:  # noqa: N803
        if defaultValue not in choices:
            raise ValueError(f"default value {defaultValue!r} of widget {name} is not one of its choices")
        self._defaults[name] = str(defaultValue)

    combobox = dropdown

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:  # noqa: N803
        self._defaults[name] = str(defaultValue)

    def remove(self, name: str) -> None:
        self._defaults.pop(name, None)

    def removeAll(self) -> None:  # noqa: N802
        self._defaults.clear()


class _TaskValues:
    def __init__(self, ctx: TaskContext):
        self._ctx = ctx
        self._own: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        try:
            encoded = json.dumps(value)
        except TypeError as e:
            raise TypeError(f"task value {key!r} must be JSON serializable: {e}") from None
        if len(encoded.encode()) > 48 * 1024:
            raise ValueError(f"task value {key!r} is larger than 48 KiB once serialized as JSON")
        self._own[key] = value
        tmp = self._ctx.values_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._own))
        tmp.replace(self._ctx.values_file)

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:  # noqa: N803
        if taskKey == self._ctx.task_key and key in self._own:
            return self._own[key]
        values = self._ctx.task_values.get(taskKey)
        if values is not None and key in values:
            return values[key]
        if default is not None:
            return default
        raise ValueError(f"No task value {key!r} was set by task {taskKey!r} (or it is not upstream of this task)")


class _Jobs:
    def __init__(self, ctx: TaskContext):
        self.taskValues = _TaskValues(ctx)


class _Secrets:
    def __init__(self, ctx: TaskContext):
        self._ctx = ctx

    def _call(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        url = f"{self._ctx.host.rstrip('/')}{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._ctx.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read() or b"{}")
            except ValueError:
                body = {}
            raise RuntimeError(f"{body.get('error_code', e.code)}: {body.get('message', e.reason)}") from None

    def getBytes(self, scope: str, key: str) -> bytes:  # noqa: N802
        raw = base64.b64decode(self._call("/api/2.0/secrets/get", {"scope": scope, "key": key})["value"])
        try:
            self._ctx.secrets_seen.add(raw.decode())
        except UnicodeDecodeError:
            pass
        return raw

    def get(self, scope: str, key: str) -> str:
        return self.getBytes(scope, key).decode()

    def list(self, scope: str) -> list[Any]:
        return [_Row(key=s["key"]) for s in self._call("/api/2.0/secrets/list", {"scope": scope}).get("secrets", [])]

    def listScopes(self) -> list[Any]:  # noqa: N802
        return [_Row(name=s["name"]) for s in self._call("/api/2.0/secrets/scopes/list", {}).get("scopes", [])]


class _Row:
    """A small record with attribute access, like the ones dbutils returns."""

    def __init__(self, **fields: Any):
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Row) and other.__dict__ == self.__dict__


class FileInfo(_Row):
    pass


class _Fs:
    def __init__(self, ctx: TaskContext):
        self._ctx = ctx

    def local(self, path: str) -> Path:
        """The local path standing for a ``dbfs:/``, ``/dbfs/``, ``/Volumes/`` or ``file:/`` path."""
        if path.startswith("dbfs:"):
            rest = path[len("dbfs:") :].lstrip("/")
            if rest.startswith("Volumes/"):
                return self._ctx.volumes_root / rest[len("Volumes/") :]
            return self._ctx.dbfs_root / rest
        if path.startswith("file:"):
            return Path("/" + path[len("file:") :].lstrip("/"))
        if path.startswith("/Volumes/"):
            return self._ctx.volumes_root / path[len("/Volumes/") :]
        if path.startswith("/dbfs/"):
            return self._ctx.dbfs_root / path[len("/dbfs/") :]
        return self._ctx.dbfs_root / path.lstrip("/")

    def ls(self, path: str) -> list[FileInfo]:
        local = self.local(path)
        if not local.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: {path} does not exist")
        base = path.rstrip("/")
        entries = [local] if local.is_file() else sorted(local.iterdir())
        out = []
        for entry in entries:
            is_dir = entry.is_dir()
            name = entry.name + ("/" if is_dir else "")
            shown = base if local.is_file() else f"{base}/{name}"
            stat = entry.stat()
            out.append(
                FileInfo(path=shown, name=name, size=0 if is_dir else stat.st_size, modificationTime=int(stat.st_mtime * 1000))
            )
        return out

    def mkdirs(self, path: str) -> bool:
        self.local(path).mkdir(parents=True, exist_ok=True)
        return True

    def put(self, path: str, contents: str, overwrite: bool = False) -> bool:
        local = self.local(path)
        if local.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(contents)
        return True

    def head(self, path: str, maxBytes: int = 65536) -> str:  # noqa: N803
        with open(self.local(path), "rb") as f:
            return f.read(maxBytes).decode("utf-8", errors="replace")

    def cp(self, source: str, destination: str, recurse: bool = False) -> bool:
        src, dst = self.local(source), self.local(destination)
        if src.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{source} is a directory; pass recurse=True")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        return True

    def mv(self, source: str, destination: str, recurse: bool = False) -> bool:
        dst = self.local(destination)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.local(source)), str(dst))
        return True

    def rm(self, path: str, recurse: bool = False) -> bool:
        local = self.local(path)
        if not local.exists():
            return False
        if local.is_dir():
            if not recurse and any(local.iterdir()):
                raise IsADirectoryError(f"{path} is a non-empty directory; pass recurse=True")
            shutil.rmtree(local)
        else:
            local.unlink()
        return True


class _Notebook:
    def exit(self, value: Any) -> None:
        raise NotebookExit("" if value is None else str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: dict[str, str] | None = None) -> str:
        raise NotImplementedError("dbutils.notebook.run is not supported by the local workspace; use %run or a job task")


class DBUtils:
    """The ``dbutils`` object of a task."""

    def __init__(self, ctx: TaskContext):
        self.widgets = _Widgets(ctx)
        self.jobs = _Jobs(ctx)
        self.secrets = _Secrets(ctx)
        self.fs = _Fs(ctx)
        self.notebook = _Notebook()

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"dbutils.{name} is not supported by the local workspace")


def context_from(spec: dict[str, Any], run_dir: Path) -> TaskContext:
    dbfs_root = Path(spec["dbfs_root"])
    volumes_root = Path(spec["volumes_root"])
    return TaskContext(
        task_key=spec["task_key"],
        widgets=dict(spec.get("widgets", {})),
        task_values=dict(spec.get("task_values", {})),
        values_file=run_dir / "values.json",
        dbfs_root=dbfs_root,
        volumes_root=volumes_root,
        host=os.environ.get("DATABRICKS_HOST", ""),
        token=os.environ.get("DATABRICKS_TOKEN", ""),
    )
