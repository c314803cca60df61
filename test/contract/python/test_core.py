"""The workspace's core behaviour through the official SDK: identity, errors, request log, faults."""

import time

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotImplemented as SdkNotImplemented
from databricks.sdk.errors import Unauthenticated


def test_current_user_is_the_admin(w: WorkspaceClient):
    me = w.current_user.me()
    assert me.user_name == "admin@lakeforge.local"
    assert any(g.display == "admins" for g in me.groups or [])


def test_workspace_id_header(w: WorkspaceClient):
    assert w.get_workspace_id() > 0


def test_bad_token_is_unauthenticated(local):
    with pytest.raises(Unauthenticated):
        local.client(token="dapi-not-a-token").current_user.me()


def test_unknown_endpoint_answers_501(w: WorkspaceClient):
    with pytest.raises(SdkNotImplemented) as e:
        w.api_client.do("GET", "/api/2.0/no-such-thing")
    assert "GET /api/2.0/no-such-thing is not implemented" in str(e.value)


def test_request_log_counts_calls(local, w: WorkspaceClient):
    start = local.control("GET", "requests?since=0")["last_seq"]
    w.current_user.me()
    w.current_user.me()
    entries = [e for e in local.requests_since(start) if e["path"].endswith("/Me")]
    assert len(entries) == 2
    assert all(e["status"] == 200 and e["identity"] == "admin@lakeforge.local" for e in entries)


def test_429_with_retry_after_is_retried_by_the_sdk(local, w: WorkspaceClient):
    local.control("POST", "faults", {"method": "GET", "path": "/api/2.0/preview/scim/v2/Me", "status": 429, "retry_after": 1, "count": 1})
    start = local.control("GET", "requests?since=0")["last_seq"]
    began = time.monotonic()
    assert w.current_user.me().user_name == "admin@lakeforge.local"
    statuses = [e["status"] for e in local.requests_since(start) if e["path"].endswith("/Me")]
    assert statuses == [429, 200]
    assert time.monotonic() - began >= 0.9  # the SDK honoured Retry-After
    local.control("DELETE", "faults")
