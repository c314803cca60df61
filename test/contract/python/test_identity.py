"""Identity through the official SDK: SCIM users, groups and service principals, tokens, OAuth M2M and
workload identity federation."""

import base64
import json
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from databricks.sdk import AccountClient, WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import (
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    Unauthenticated,
)
from databricks.sdk.service import iam, oauth2, settings

ADMIN = "admin@lakeforge.local"
PATCH_OP = [iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP]


def scim(w: WorkspaceClient, resource: str, **query) -> dict:
    """A raw SCIM list call, to see the list envelope the SDK iterators hide."""
    return w.api_client.do("GET", f"/api/2.0/preview/scim/v2/{resource}", query=query)


def users_group(w: WorkspaceClient) -> iam.Group:
    (group,) = list(w.groups.list(filter='displayName eq "users"'))
    return w.groups.get(group.id)


# ----- Users -----------------------------------------------------------------------------------


def test_user_create_get_and_duplicate(w: WorkspaceClient, unique):
    name = f"alice-{unique}@example.com"
    user = w.users.create(user_name=name, display_name="Alice Example", name=iam.Name(given_name="Alice"))
    assert user.id and user.active is True
    assert user.schemas and iam.UserSchema.URN_IETF_PARAMS_SCIM_SCHEMAS_CORE_2_0_USER in user.schemas
    got = w.users.get(user.id)
    assert got.user_name == name
    assert got.display_name == "Alice Example"
    assert got.name.given_name == "Alice"
    assert [e.value for e in got.emails] == [name]
    # Every new user joins the built-in users group; its groups attribute says so.
    assert [g.display for g in got.groups] == ["users"]
    assert user.id in {m.value for m in users_group(w).members}

    with pytest.raises(ResourceAlreadyExists, match=f"User with username {name.upper()} already exists"):
        w.users.create(user_name=name.upper())  # user names are unique case-insensitively
    with pytest.raises(NotFound):
        w.users.get("123456789")


def test_user_filters(w: WorkspaceClient, unique):
    a = w.users.create(user_name=f"filter-a-{unique}@example.com", display_name=f"Filter A {unique}", external_id=f"ext-{unique}")
    b = w.users.create(user_name=f"filter-b-{unique}@example.com", display_name=f"Filter B {unique}", active=False)

    def ids(flt: str) -> set:
        return {u.id for u in w.users.list(filter=flt)}

    assert ids(f'userName eq "FILTER-A-{unique}@EXAMPLE.COM"') == {a.id}  # attribute values: case-insensitive
    assert ids(f"USERNAME eq 'filter-a-{unique}@example.com'") == {a.id}  # attribute names too; single quotes
    assert ids(f'userName sw "filter-" and userName co "{unique}"') == {a.id, b.id}
    assert ids(f'displayName co "{unique}" and active eq false') == {b.id}
    assert ids(f'displayName co "{unique}" and userName ne "filter-a-{unique}@example.com"') == {b.id}
    assert ids(f'(userName eq "filter-a-{unique}@example.com" or userName eq "filter-b-{unique}@example.com") and externalId pr') == {a.id}
    assert ids(f'externalId eq "ext-{unique}"') == {a.id}
    assert ids(f'id eq "{b.id}"') == {b.id}
    assert ids(f'emails[value ew "{unique}@example.com"] and displayName sw "filter b"') == {b.id}
    assert ids(f'not (userName eq "filter-a-{unique}@example.com") and displayName co "{unique}"') == {b.id}
    with pytest.raises(InvalidParameterValue):
        list(w.users.list(filter='userName zz "x"'))


def test_list_paging_sorting_and_attributes(w: WorkspaceClient, unique):
    names = [f"page-{unique}-{i}@example.com" for i in range(3)]
    for n in names:
        w.users.create(user_name=n)
    flt = f'userName sw "page-{unique}"'

    page = scim(w, "Users", filter=flt, startIndex=2, count=1, sortBy="userName", sortOrder="descending", attributes="userName")
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (3, 1, 2)
    (only,) = page["Resources"]
    assert only["userName"] == names[1]
    assert set(only) == {"id", "userName", "schemas"}

    past_end = scim(w, "Users", filter=flt, startIndex=4, count=10)
    assert past_end["totalResults"] == 3 and past_end["itemsPerPage"] == 0 and "Resources" not in past_end

    listed = list(w.users.list(filter=flt, sort_by="userName", sort_order=iam.ListSortOrder.DESCENDING, count=2))
    assert [u.user_name for u in listed] == list(reversed(names))  # the SDK pages through with startIndex
    slim = list(w.users.list(filter=flt, excluded_attributes="emails,groups"))
    assert slim and all(not u.emails and not u.groups and u.user_name for u in slim)
    sub = scim(w, "Users", filter=flt, attributes="emails.value")
    assert all(r["emails"] == [{"value": r_name}] for r, r_name in zip(sub["Resources"], names))


def test_user_put_patch_and_delete(w: WorkspaceClient, unique):
    user = w.users.create(user_name=f"bob-{unique}@example.com", display_name="Bob")
    group = w.groups.create(display_name=f"bobs-{unique}")

    w.users.update(user.id, user_name=user.user_name, display_name="Robert", groups=[iam.ComplexValue(value=group.id)])
    got = w.users.get(user.id)
    assert got.display_name == "Robert"
    assert {g.display for g in got.groups} == {"users", f"bobs-{unique}"}  # users membership is kept

    w.users.patch(
        user.id,
        operations=[
            # The SDK drops a value of False from a Patch; a string is what identity providers send anyway.
            iam.Patch(op=iam.PatchOp.REPLACE, path="active", value="false"),
            iam.Patch(op=iam.PatchOp.ADD, path="entitlements", value=[{"value": "allow-cluster-create"}]),
            iam.Patch(op=iam.PatchOp.REPLACE, value={"name.familyName": "Builder"}),
        ],
        schemas=PATCH_OP,
    )
    got = w.users.get(user.id)
    assert got.active is False
    assert [e.value for e in got.entitlements] == ["allow-cluster-create"]
    assert got.name.family_name == "Builder"

    w.users.patch(user.id, operations=[iam.Patch(op=iam.PatchOp.REMOVE, path='entitlements[value eq "allow-cluster-create"]')], schemas=PATCH_OP)
    assert not w.users.get(user.id).entitlements

    w.users.delete(user.id)
    with pytest.raises(NotFound):
        w.users.get(user.id)
    assert user.id not in {m.value for m in w.groups.get(group.id).members or []}


# ----- Groups ----------------------------------------------------------------------------------


def test_group_membership(w: WorkspaceClient, unique):
    user = w.users.create(user_name=f"member-{unique}@example.com")
    sp = w.service_principals.create(display_name=f"member-sp-{unique}")
    group = w.groups.create(display_name=f"team-{unique}")
    assert group.meta.resource_type == "WorkspaceGroup"
    with pytest.raises(ResourceAlreadyExists, match=f"Group with name team-{unique} already exists"):
        w.groups.create(display_name=f"team-{unique}")

    w.groups.patch(
        group.id,
        operations=[iam.Patch(op=iam.PatchOp.ADD, path="members", value=[{"value": user.id}, {"value": sp.id}])],
        schemas=PATCH_OP,
    )
    members = {m.value: m for m in w.groups.get(group.id).members}
    assert set(members) == {user.id, sp.id}
    assert members[user.id].ref == f"Users/{user.id}" and members[sp.id].ref == f"ServicePrincipals/{sp.id}"
    assert members[sp.id].display == f"member-sp-{unique}"

    parent = w.groups.create(display_name=f"dept-{unique}", members=[iam.ComplexValue(value=group.id)])
    memberships = {g.display: g.type for g in w.users.get(user.id).groups}
    assert memberships == {"users": "direct", f"team-{unique}": "direct", f"dept-{unique}": "indirect"}
    with pytest.raises(InvalidParameterValue, match="cycle"):
        w.groups.patch(group.id, operations=[iam.Patch(op=iam.PatchOp.ADD, path="members", value=[{"value": parent.id}])], schemas=PATCH_OP)

    w.groups.patch(group.id, operations=[iam.Patch(op=iam.PatchOp.REMOVE, path=f'members[value eq "{user.id}"]')], schemas=PATCH_OP)
    assert {m.value for m in w.groups.get(group.id).members} == {sp.id}
    assert {g.display for g in w.users.get(user.id).groups} == {"users"}

    (found,) = list(w.groups.list(filter=f'displayName eq "TEAM-{unique}"'))
    assert found.id == group.id
    assert {g.id for g in w.groups.list(filter=f'members.value eq "{sp.id}"')} >= {group.id}

    w.groups.update(group.id, display_name=f"team-renamed-{unique}", members=[iam.ComplexValue(value=user.id)])
    got = w.groups.get(group.id)
    assert got.display_name == f"team-renamed-{unique}"
    assert [m.value for m in got.members] == [user.id]

    w.groups.delete(parent.id)
    with pytest.raises(NotFound):
        w.groups.get(parent.id)
    with pytest.raises(InvalidParameterValue):
        w.groups.delete(users_group(w).id)


# ----- Service principals ----------------------------------------------------------------------


def test_service_principals(w: WorkspaceClient, unique):
    sp = w.service_principals.create(display_name=f"bot-{unique}")
    assert uuid.UUID(sp.application_id)
    assert sp.active is True
    assert [g.display for g in w.service_principals.get(sp.id).groups] == ["users"]

    chosen = str(uuid.uuid4())
    named = w.service_principals.create(application_id=chosen, display_name=f"bot2-{unique}")
    assert named.application_id == chosen
    with pytest.raises(ResourceAlreadyExists, match=f"Service principal with application ID {chosen} already exists"):
        w.service_principals.create(application_id=chosen)

    (found,) = list(w.service_principals.list(filter=f"applicationId eq '{chosen}'"))
    assert found.id == named.id
    assert {s.id for s in w.service_principals.list(filter=f'displayName sw "bot" and displayName co "{unique}"')} == {sp.id, named.id}

    w.service_principals.patch(sp.id, operations=[iam.Patch(op=iam.PatchOp.REPLACE, path="active", value="False")], schemas=PATCH_OP)
    assert w.service_principals.get(sp.id).active is False
    w.service_principals.update(sp.id, display_name=f"bot-renamed-{unique}", application_id=sp.application_id)
    got = w.service_principals.get(sp.id)
    assert got.display_name == f"bot-renamed-{unique}" and got.active is True

    w.service_principals.delete(sp.id)
    with pytest.raises(NotFound):
        w.service_principals.get(sp.id)


def test_me_as_service_principal(local, w: WorkspaceClient, unique):
    sp = w.service_principals.create(display_name=f"me-{unique}")
    me = local.client(local.token_for(application_id=sp.application_id)).current_user.me()
    assert me.user_name == sp.application_id
    assert me.id == sp.id
    assert [g.display for g in me.groups] == ["users"]


def test_non_admin_cannot_write_identities(local, w: WorkspaceClient, unique):
    user = w.users.create(user_name=f"plain-{unique}@example.com")
    plain = local.client(local.token_for(user_name=user.user_name))
    me = plain.current_user.me()
    assert me.user_name == user.user_name and {g.display for g in me.groups} == {"users"}

    with pytest.raises(PermissionDenied):
        plain.users.create(user_name=f"other-{unique}@example.com")
    with pytest.raises(PermissionDenied):
        plain.groups.create(display_name=f"mine-{unique}")
    with pytest.raises(PermissionDenied):
        plain.service_principals.create(display_name=f"mine-{unique}")
    with pytest.raises(PermissionDenied):
        plain.users.patch(user.id, operations=[iam.Patch(op=iam.PatchOp.ADD, path="entitlements", value=[{"value": "allow-cluster-create"}])], schemas=PATCH_OP)
    with pytest.raises(PermissionDenied):
        plain.groups.delete(users_group(w).id)

    # Non-admins see other identities by name and id only.
    (admin,) = list(plain.users.list(filter=f'userName eq "{ADMIN}"'))
    assert admin.user_name == ADMIN and not admin.emails and not admin.groups
    (users,) = list(plain.groups.list(filter='displayName eq "users"'))
    assert not users.members


# ----- Personal access tokens ------------------------------------------------------------------


def test_tokens_create_list_delete(local, w: WorkspaceClient, unique):
    created = w.tokens.create(comment=f"ci-{unique}", lifetime_seconds=3600)
    info = created.token_info
    assert created.token_value.startswith("dapi")
    assert info.comment == f"ci-{unique}"
    assert info.expiry_time - info.creation_time == 3600 * 1000
    assert info.token_id in {t.token_id for t in w.tokens.list()}
    assert all(getattr(t, "token_value", None) is None for t in w.tokens.list())

    assert local.client(created.token_value).current_user.me().user_name == ADMIN
    w.tokens.delete(info.token_id)
    assert info.token_id not in {t.token_id for t in w.tokens.list()}
    with pytest.raises(Unauthenticated):
        local.client(created.token_value).current_user.me()
    with pytest.raises(NotFound):
        w.tokens.delete(info.token_id)


def test_expired_token_is_rejected(local, w: WorkspaceClient, unique):
    created = w.tokens.create(comment=f"short-{unique}", lifetime_seconds=1)
    time.sleep(1.2)
    with pytest.raises(Unauthenticated):
        local.client(created.token_value).current_user.me()
    assert created.token_info.token_id not in {t.token_id for t in w.tokens.list()}


def test_token_management(local, w: WorkspaceClient, unique):
    user = w.users.create(user_name=f"tokens-{unique}@example.com")
    as_user = local.client(local.token_for(user_name=user.user_name))
    own = as_user.tokens.create(comment="mine")
    assert [t.token_id for t in as_user.tokens.list() if t.comment == "mine"] == [own.token_info.token_id]

    listed = w.token_management.list(created_by_username=user.user_name)
    assert own.token_info.token_id in {t.token_id for t in listed}
    assert all(t.created_by_username == user.user_name and t.created_by_id == int(user.id) for t in listed)
    assert {t.token_id for t in w.token_management.list(created_by_id=int(user.id))} == {t.token_id for t in listed}
    got = w.token_management.get(own.token_info.token_id).token_info
    assert got.owner_id == int(user.id) and got.comment == "mine"

    with pytest.raises(PermissionDenied):
        as_user.token_management.list()

    w.token_management.delete(own.token_info.token_id)
    with pytest.raises(NotFound):
        w.token_management.get(own.token_info.token_id)
    with pytest.raises(Unauthenticated):
        local.client(own.token_value).current_user.me()


def test_token_usage_permission(local, w: WorkspaceClient, unique):
    user = w.users.create(user_name=f"no-tokens-{unique}@example.com")
    as_user = local.client(local.token_for(user_name=user.user_name))
    acl = w.token_management.get_permissions()
    assert acl.object_id == "authorization/tokens"
    assert any(e.group_name == "users" and e.all_permissions[0].permission_level.value == "CAN_USE" for e in acl.access_control_list)
    w.token_management.set_permissions(access_control_list=[])
    try:
        with pytest.raises(PermissionDenied):
            as_user.tokens.create(comment="not allowed")
        assert w.tokens.create(comment=f"admin-{unique}", lifetime_seconds=60).token_value  # admins always may
    finally:
        w.token_management.set_permissions(
            access_control_list=[settings.TokenAccessControlRequest(group_name="users", permission_level=settings.TokenPermissionLevel.CAN_USE)]
        )
    assert as_user.tokens.create(comment="allowed again").token_value


def test_token_on_behalf_of_service_principal(local, w: WorkspaceClient, unique):
    sp = w.service_principals.create(display_name=f"obo-{unique}")
    obo = w.token_management.create_obo_token(application_id=sp.application_id, lifetime_seconds=600, comment="deploy")
    assert obo.token_info.owner_id == int(sp.id)
    assert obo.token_info.created_by_username == ADMIN
    assert local.client(obo.token_value).current_user.me().user_name == sp.application_id
    with pytest.raises(NotFound):
        w.token_management.create_obo_token(application_id=str(uuid.uuid4()))


# ----- OAuth -----------------------------------------------------------------------------------


def test_host_metadata_and_discovery(local):
    meta = requests.get(f"{local.url}/.well-known/databricks-config", timeout=10).json()
    assert meta["oidc_endpoint"] == f"{local.url}/oidc"
    assert meta["cloud"] != "AZURE" and meta["workspace_id"] and meta["account_id"]
    oidc = requests.get(f"{local.url}/oidc/.well-known/oauth-authorization-server", timeout=10).json()
    assert oidc["token_endpoint"] == f"{local.url}/oidc/v1/token"
    assert "client_credentials" in oidc["grant_types_supported"]


def test_oauth_m2m_with_client_secret(local, w: WorkspaceClient, unique):
    sp = w.service_principals.create(display_name=f"m2m-{unique}")
    secret = w.service_principal_secrets_proxy.create(sp.id, lifetime="3600s")
    assert secret.secret and secret.status == "ACTIVE" and secret.expire_time
    listed = list(w.service_principal_secrets_proxy.list(sp.id))
    assert [s.id for s in listed] == [secret.id]
    assert secret.secret not in json.dumps([s.as_dict() for s in listed])

    m2m = WorkspaceClient(host=local.url, client_id=sp.application_id, client_secret=secret.secret, auth_type="oauth-m2m")
    me = m2m.current_user.me()
    assert me.user_name == sp.application_id and me.id == sp.id

    wrong = WorkspaceClient(host=local.url, client_id=sp.application_id, client_secret="dose-wrong", auth_type="oauth-m2m")
    with pytest.raises(Exception, match="invalid_client"):
        wrong.current_user.me()

    # The token endpoint speaks OAuth: form fields work as well as HTTP Basic; errors are OAuth errors.
    form = requests.post(
        f"{local.url}/oidc/v1/token",
        data={"grant_type": "client_credentials", "scope": "all-apis", "client_id": sp.application_id, "client_secret": secret.secret},
        timeout=10,
    )
    assert form.status_code == 200
    body = form.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "all-apis"
    bad = requests.post(
        f"{local.url}/oidc/v1/token", data={"grant_type": "client_credentials"}, auth=(sp.application_id, "nope"), timeout=10
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"

    w.service_principal_secrets_proxy.delete(sp.id, secret.id)
    assert list(w.service_principal_secrets_proxy.list(sp.id)) == []
    again = WorkspaceClient(host=local.url, client_id=sp.application_id, client_secret=secret.secret, auth_type="oauth-m2m")
    with pytest.raises(Exception, match="invalid_client"):
        again.current_user.me()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed_jwt(key: rsa.RSAPrivateKey, claims: dict, kid: str = "k1") -> str:
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64(signature)}"


def _jwks(key: rsa.RSAPrivateKey, kid: str = "k1") -> str:
    numbers = key.public_key().public_numbers()

    def as_b64(n: int) -> str:
        return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return json.dumps({"keys": [{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": as_b64(numbers.n), "e": as_b64(numbers.e)}]})


def test_workload_identity_federation(local, w: WorkspaceClient, unique, monkeypatch):
    sp = w.service_principals.create(display_name=f"wif-{unique}")
    account_id = requests.get(f"{local.url}/.well-known/databricks-config", timeout=10).json()["account_id"]
    a = AccountClient(host=local.url, account_id=account_id, token=local.token, auth_type="pat")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = "https://token.actions.githubusercontent.com"
    subject = f"repo:lakeforge/{unique}:environment:prod"
    policy = a.service_principal_federation_policy.create(
        int(sp.id),
        oauth2.FederationPolicy(
            description="GitHub Actions",
            oidc_policy=oauth2.OidcFederationPolicy(issuer=issuer, subject=subject, audiences=[account_id], jwks_json=_jwks(key)),
        ),
        policy_id=f"gh-{unique}",
    )
    assert policy.policy_id == f"gh-{unique}" and policy.service_principal_id == int(sp.id)
    assert [p.policy_id for p in a.service_principal_federation_policy.list(int(sp.id))] == [f"gh-{unique}"]
    with pytest.raises(ResourceAlreadyExists):
        a.service_principal_federation_policy.create(
            int(sp.id), oauth2.FederationPolicy(oidc_policy=oauth2.OidcFederationPolicy(issuer=issuer, subject=subject)), policy_id=f"gh-{unique}"
        )

    now = int(time.time())
    claims = {"iss": issuer, "sub": subject, "aud": account_id, "iat": now, "exp": now + 300}

    def client_with(token: str) -> WorkspaceClient:
        monkeypatch.setenv("LAKEFORGE_TEST_OIDC_TOKEN", token)
        cfg = Config(host=local.url, client_id=sp.application_id, auth_type="env-oidc", oidc_token_env="LAKEFORGE_TEST_OIDC_TOKEN")
        return WorkspaceClient(config=cfg)

    me = client_with(_signed_jwt(key, claims)).current_user.me()
    assert me.user_name == sp.application_id

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Exception, match="invalid_request"):
        client_with(_signed_jwt(other_key, claims)).current_user.me()  # signature does not verify
    with pytest.raises(Exception, match="invalid_request"):
        client_with(_signed_jwt(key, {**claims, "sub": "repo:someone/else:ref:refs/heads/main"})).current_user.me()
    with pytest.raises(Exception, match="invalid_request"):
        client_with(_signed_jwt(key, {**claims, "exp": now - 10})).current_user.me()

    a.service_principal_federation_policy.delete(int(sp.id), f"gh-{unique}")
    with pytest.raises(NotFound):
        a.service_principal_federation_policy.get(int(sp.id), f"gh-{unique}")
