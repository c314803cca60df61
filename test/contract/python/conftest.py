"""Fixtures for the contract suite: a local workspace per test module, driven by the official SDK."""

import json
import os
import pathlib
import subprocess
import uuid

import pytest
import requests
from databricks.sdk import WorkspaceClient

ROOT = pathlib.Path(__file__).resolve().parents[3]


class LocalWorkspace:
    def __init__(self, url: str, token: str, proc: subprocess.Popen):
        self.url = url
        self.token = token
        self.proc = proc

    def client(self, token: str | None = None) -> WorkspaceClient:
        return WorkspaceClient(host=self.url, token=token or self.token, auth_type="pat")

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        """Calls the test control API under /__lakeforge/ as the admin."""
        r = requests.request(
            method,
            f"{self.url}/__lakeforge/{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        r.raise_for_status()
        return r.json()

    def token_for(self, *, user_name: str | None = None, application_id: str | None = None) -> str:
        body = {"user_name": user_name} if user_name else {"application_id": application_id}
        return self.control("POST", "tokens", body)["token_value"]

    def requests_since(self, seq: int = 0) -> list[dict]:
        return self.control("GET", f"requests?since={seq}")["requests"]


def start_workspace(*extra: str) -> LocalWorkspace:
    proc = subprocess.Popen(
        ["node", str(ROOT / "bin" / "lakeforge.js"), "workspace", "serve", "--port", "0", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")},
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the local workspace did not start (is dist/ built? run npm run build)")
    info = json.loads(line)
    return LocalWorkspace(info["url"], info["token"], proc)


@pytest.fixture(scope="module")
def local():
    ws = start_workspace("--ephemeral")
    yield ws
    ws.proc.terminate()
    ws.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def w(local: LocalWorkspace) -> WorkspaceClient:
    return local.client()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def _no_databricks_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("DATABRICKS_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(ROOT / ".cache" / "no-databrickscfg"))
