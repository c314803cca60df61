"""Secret scopes, secrets and scope ACLs through the official SDK."""

import base64

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from databricks.sdk.service.workspace import AclPermission, AzureKeyVaultSecretScopeMetadata, ScopeBackendType

ADMIN = "admin@lakeforge.local"


def make_user(w: WorkspaceClient, unique: str) -> str:
    name = f"secrets-{unique}@example.com"
    w.api_client.do(
        "POST",
        "/api/2.0/preview/scim/v2/Users",
        body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name},
    )
    return name


def test_scope_lifecycle(w: WorkspaceClient, unique: str):
    scope = f"scope-{unique}"
    w.secrets.create_scope(scope)
    listed = {s.name: s for s in w.secrets.list_scopes()}
    assert listed[scope].backend_type == ScopeBackendType.DATABRICKS
    with pytest.raises(ResourceAlreadyExists) as e:
        w.secrets.create_scope(scope)
    assert e.value.args[0] == f"Scope {scope} already exists!"
    w.secrets.delete_scope(scope)
    assert scope not in {s.name for s in w.secrets.list_scopes()}
    with pytest.raises(ResourceDoesNotExist):
        w.secrets.delete_scope(scope)


def test_scope_name_rules(w: WorkspaceClient, unique: str):
    w.secrets.create_scope(f"ok.name_{unique}-x@y")
    with pytest.raises(InvalidParameterValue):
        w.secrets.create_scope(f"bad name {unique}")
    with pytest.raises(InvalidParameterValue):
        w.secrets.create_scope("x" * 129)


def test_put_list_get_delete_secret(w: WorkspaceClient, unique: str):
    scope = f"values-{unique}"
    w.secrets.create_scope(scope)
    w.secrets.put_secret(scope, "text", string_value="s3cr3t-välue")
    raw = bytes(range(256))
    w.secrets.put_secret(scope, "blob", bytes_value=base64.b64encode(raw).decode())

    listed = list(w.secrets.list_secrets(scope))
    assert [s.key for s in listed] == ["blob", "text"]
    assert all(s.last_updated_timestamp and s.last_updated_timestamp > 0 for s in listed)
    assert "value" not in w.api_client.do("GET", "/api/2.0/secrets/list", query={"scope": scope})["secrets"][0]

    got = w.secrets.get_secret(scope, "text")
    assert got.key == "text"
    assert base64.b64decode(got.value).decode("utf-8") == "s3cr3t-välue"
    assert base64.b64decode(w.secrets.get_secret(scope, "blob").value) == raw

    # put overwrites
    w.secrets.put_secret(scope, "text", string_value="second")
    assert base64.b64decode(w.secrets.get_secret(scope, "text").value) == b"second"

    w.secrets.delete_secret(scope, "text")
    assert [s.key for s in w.secrets.list_secrets(scope)] == ["blob"]
    with pytest.raises(NotFound):
        w.secrets.get_secret(scope, "text")
    with pytest.raises(NotFound):
        w.secrets.delete_secret(scope, "text")
    with pytest.raises(NotFound):
        w.secrets.list_secrets(f"missing-{unique}")


def test_put_secret_validation(w: WorkspaceClient, unique: str):
    scope = f"rules-{unique}"
    w.secrets.create_scope(scope)
    with pytest.raises(BadRequest):
        w.secrets.put_secret(scope, "both", string_value="a", bytes_value=base64.b64encode(b"a").decode())
    with pytest.raises(InvalidParameterValue):
        w.secrets.put_secret(scope, "neither")
    with pytest.raises(InvalidParameterValue):
        w.secrets.put_secret(scope, "bad key!", string_value="a")
    with pytest.raises(InvalidParameterValue) as e:
        w.secrets.put_secret(scope, "big", string_value="x" * (128 * 1024 + 1))
    assert "x" * 20 not in str(e.value)  # the value is never echoed back
    w.secrets.put_secret(scope, "exactly-128k", string_value="y" * (128 * 1024))
    with pytest.raises(ResourceDoesNotExist):
        w.secrets.put_secret(f"missing-{unique}", "k", string_value="v")


def test_acls(w: WorkspaceClient, unique: str):
    scope = f"acl-{unique}"
    w.secrets.create_scope(scope)
    assert [(a.principal, a.permission) for a in w.secrets.list_acls(scope)] == [(ADMIN, AclPermission.MANAGE)]
    w.secrets.put_acl(scope, "users", AclPermission.READ)
    assert w.secrets.get_acl(scope, "users").permission == AclPermission.READ
    w.secrets.put_acl(scope, "users", AclPermission.WRITE)  # overwrites
    acls = {a.principal: a.permission for a in w.secrets.list_acls(scope)}
    assert acls == {ADMIN: AclPermission.MANAGE, "users": AclPermission.WRITE}
    w.secrets.delete_acl(scope, "users")
    with pytest.raises(NotFound):
        w.secrets.get_acl(scope, "users")
    with pytest.raises(NotFound):
        w.secrets.delete_acl(scope, "users")
    with pytest.raises(InvalidParameterValue):
        w.secrets.put_acl(scope, f"nobody-{unique}@example.com", AclPermission.READ)


def test_initial_manage_principal_users(w: WorkspaceClient, unique: str):
    scope = f"shared-{unique}"
    w.secrets.create_scope(scope, initial_manage_principal="users")
    assert [(a.principal, a.permission) for a in w.secrets.list_acls(scope)] == [("users", AclPermission.MANAGE)]
    with pytest.raises(InvalidParameterValue):
        w.secrets.create_scope(f"other-{unique}", initial_manage_principal="admins")


def test_acls_are_enforced_for_non_admins(local, w: WorkspaceClient, unique: str):
    scope = f"guarded-{unique}"
    w.secrets.create_scope(scope)
    w.secrets.put_secret(scope, "k", string_value="v")
    user = make_user(w, unique)
    u = local.client(token=local.token_for(user_name=user))

    with pytest.raises(PermissionDenied):
        u.secrets.list_secrets(scope)
    with pytest.raises(PermissionDenied):
        u.secrets.get_secret(scope, "k")

    w.secrets.put_acl(scope, user, AclPermission.READ)
    assert [s.key for s in u.secrets.list_secrets(scope)] == ["k"]
    assert base64.b64decode(u.secrets.get_secret(scope, "k").value) == b"v"
    with pytest.raises(PermissionDenied):
        u.secrets.put_secret(scope, "k2", string_value="v2")
    with pytest.raises(PermissionDenied):
        u.secrets.delete_secret(scope, "k")
    with pytest.raises(PermissionDenied):
        u.secrets.list_acls(scope)

    w.secrets.put_acl(scope, user, AclPermission.WRITE)
    u.secrets.put_secret(scope, "k2", string_value="v2")
    u.secrets.delete_secret(scope, "k")
    with pytest.raises(PermissionDenied):
        u.secrets.put_acl(scope, user, AclPermission.MANAGE)
    with pytest.raises(PermissionDenied):
        u.secrets.delete_scope(scope)

    # A scope the user creates is theirs to manage; the admin still manages it.
    own = f"own-{unique}"
    u.secrets.create_scope(own)
    assert [(a.principal, a.permission) for a in u.secrets.list_acls(own)] == [(user, AclPermission.MANAGE)]
    w.secrets.put_secret(own, "by-admin", string_value="x")
    u.secrets.delete_scope(own)


def test_azure_keyvault_scope_is_read_only(w: WorkspaceClient, unique: str):
    scope = f"akv-{unique}"
    w.secrets.create_scope(
        scope,
        scope_backend_type=ScopeBackendType.AZURE_KEYVAULT,
        backend_azure_keyvault=AzureKeyVaultSecretScopeMetadata(
            resource_id="/subscriptions/0000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
            dns_name="https://kv.vault.azure.net/",
        ),
    )
    listed = {s.name: s for s in w.secrets.list_scopes()}
    assert listed[scope].backend_type == ScopeBackendType.AZURE_KEYVAULT
    assert listed[scope].keyvault_metadata.dns_name == "https://kv.vault.azure.net/"
    with pytest.raises(BadRequest):
        w.secrets.put_secret(scope, "k", string_value="v")
    with pytest.raises(InvalidParameterValue):
        w.secrets.create_scope(f"akv2-{unique}", scope_backend_type=ScopeBackendType.AZURE_KEYVAULT)


def test_secret_values_stay_out_of_the_request_log(local, w: WorkspaceClient, unique: str):
    canary = f"canary-{unique}-value"
    start = local.control("GET", "requests?since=0")["last_seq"]
    scope = f"log-{unique}"
    w.secrets.create_scope(scope)
    w.secrets.put_secret(scope, "k", string_value=canary)
    w.secrets.get_secret(scope, "k")
    assert canary not in str(local.requests_since(start))
