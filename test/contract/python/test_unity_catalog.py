"""Unity Catalog through the official SDK: metastore, catalogs, schemas, volumes, models, grants."""

import io

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound, PermissionDenied, ResourceConflict
from databricks.sdk.service.catalog import PermissionsChange, Privilege, VolumeType

ADMIN = "admin@lakeforge.local"


def make_user(w: WorkspaceClient, name: str) -> str:
    w.api_client.do(
        "POST",
        "/api/2.0/preview/scim/v2/Users",
        body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name},
    )
    return name


def new_version(w: WorkspaceClient, full_name: str, source: str = "dbfs:/tmp/model") -> int:
    """Registers a model version the way MLflow clients do for a `databricks-uc` registry."""
    created = w.api_client.do(
        "POST", "/api/2.0/mlflow/unity-catalog/model-versions/create", body={"name": full_name, "source": source}
    )["model_version"]
    assert created["status"] == "PENDING_REGISTRATION"
    done = w.api_client.do(
        "POST",
        "/api/2.0/mlflow/unity-catalog/model-versions/finalize",
        body={"name": full_name, "version": created["version"]},
    )["model_version"]
    assert done["status"] == "READY"
    return int(done["version"])


def test_metastore_and_builtin_catalogs(w: WorkspaceClient):
    current = w.metastores.current()
    assert current.metastore_id
    assert current.default_catalog_name == "main"
    assert current.workspace_id == w.get_workspace_id()
    summary = w.metastores.summary()
    assert summary.metastore_id == current.metastore_id
    assert summary.storage_root.endswith(current.metastore_id)
    names = {c.name for c in w.catalogs.list()}
    assert {"main", "system"} <= names
    assert {s.name for s in w.schemas.list(catalog_name="main")} >= {"default", "information_schema"}


def test_catalog_lifecycle(w: WorkspaceClient, unique: str):
    name = f"Cat_{unique}"
    created = w.catalogs.create(name=name, comment="first", properties={"team": "ml"})
    assert created.name == name.lower()
    assert created.full_name == name.lower()
    assert created.owner == ADMIN
    assert created.catalog_type.value == "MANAGED_CATALOG"
    assert created.metastore_id == w.metastores.current().metastore_id
    # Names are case-insensitive; a new catalog comes with default and information_schema.
    assert w.catalogs.get(name.upper()).comment == "first"
    assert {s.name for s in w.schemas.list(catalog_name=name)} == {"default", "information_schema"}
    with pytest.raises(ResourceConflict) as e:
        w.catalogs.create(name=name.lower())
    assert e.value.error_code == "CATALOG_ALREADY_EXISTS"

    updated = w.catalogs.update(name, comment="second", new_name=f"{name}_renamed")
    assert updated.name == f"{name}_renamed".lower()
    assert updated.comment == "second"
    assert w.schemas.get(f"{name}_renamed.default").full_name == f"{name}_renamed.default".lower()
    with pytest.raises(NotFound) as e:
        w.catalogs.get(name)
    assert e.value.error_code == "CATALOG_DOES_NOT_EXIST"
    assert str(e.value) == f"Catalog '{name.lower()}' does not exist."

    with pytest.raises(BadRequest) as e:
        w.catalogs.delete(f"{name}_renamed")
    assert e.value.error_code == "CATALOG_NOT_EMPTY"
    w.catalogs.delete(f"{name}_renamed", force=True)
    assert f"{name}_renamed".lower() not in {c.name for c in w.catalogs.list()}


def test_invalid_names(w: WorkspaceClient, unique: str):
    with pytest.raises(InvalidParameterValue):
        w.catalogs.create(name=f"has space {unique}")
    with pytest.raises(InvalidParameterValue):
        w.schemas.create(name="a.b", catalog_name="main")


def test_schema_lifecycle(w: WorkspaceClient, unique: str):
    name = f"Sch_{unique}"
    created = w.schemas.create(name=name, catalog_name="main", comment="c1")
    assert created.full_name == f"main.{name.lower()}"
    assert created.catalog_name == "main"
    assert created.owner == ADMIN
    assert created.schema_id
    with pytest.raises(ResourceConflict) as e:
        w.schemas.create(name=name, catalog_name="main")
    assert e.value.error_code == "SCHEMA_ALREADY_EXISTS"
    with pytest.raises(NotFound) as e:
        w.schemas.create(name=name, catalog_name=f"nocat_{unique}")
    assert e.value.error_code == "CATALOG_DOES_NOT_EXIST"

    assert w.schemas.update(f"main.{name}", comment="c2", properties={"a": "b"}).comment == "c2"
    assert w.schemas.get(f"main.{name}").properties == {"a": "b"}

    w.volumes.create(catalog_name="main", schema_name=name, name="vol", volume_type=VolumeType.MANAGED)
    with pytest.raises(BadRequest) as e:
        w.schemas.delete(f"main.{name}")
    assert e.value.error_code == "SCHEMA_NOT_EMPTY"
    w.schemas.delete(f"main.{name}", force=True)
    with pytest.raises(NotFound) as e:
        w.schemas.get(f"main.{name}")
    assert e.value.error_code == "SCHEMA_DOES_NOT_EXIST"
    assert str(e.value) == f"Schema 'main.{name.lower()}' does not exist."


def test_volumes(w: WorkspaceClient, unique: str):
    schema = w.schemas.create(name=f"vols_{unique}", catalog_name="main").name
    metastore_id = w.metastores.current().metastore_id
    managed = w.volumes.create(catalog_name="main", schema_name=schema, name="Managed", volume_type=VolumeType.MANAGED)
    assert managed.full_name == f"main.{schema}.managed"
    assert managed.volume_type == VolumeType.MANAGED
    assert managed.storage_location.endswith(f"{metastore_id}/volumes/{managed.volume_id}")

    external = w.volumes.create(
        catalog_name="main",
        schema_name=schema,
        name="ext",
        volume_type=VolumeType.EXTERNAL,
        storage_location=f"s3://bucket/{unique}/ext/",
        comment="external",
    )
    assert external.storage_location == f"s3://bucket/{unique}/ext"
    with pytest.raises(InvalidParameterValue):
        w.volumes.create(
            catalog_name="main",
            schema_name=schema,
            name="inner",
            volume_type=VolumeType.EXTERNAL,
            storage_location=f"s3://bucket/{unique}/ext/inner",
        )
    with pytest.raises(InvalidParameterValue):
        w.volumes.create(
            catalog_name="main",
            schema_name=schema,
            name="bad",
            volume_type=VolumeType.MANAGED,
            storage_location="s3://bucket/x",
        )
    with pytest.raises(ResourceConflict):
        w.volumes.create(catalog_name="main", schema_name=schema, name="managed", volume_type=VolumeType.MANAGED)

    assert sorted(v.name for v in w.volumes.list(catalog_name="main", schema_name=schema)) == ["ext", "managed"]
    assert w.volumes.read(f"main.{schema}.ext").comment == "external"
    renamed = w.volumes.update(f"main.{schema}.ext", new_name="ext2", comment="moved")
    assert renamed.full_name == f"main.{schema}.ext2"
    w.volumes.delete(f"main.{schema}.ext2")
    with pytest.raises(NotFound) as e:
        w.volumes.read(f"main.{schema}.ext2")
    assert str(e.value) == f"Volume 'main.{schema}.ext2' does not exist."
    with pytest.raises(NotFound) as e:
        w.volumes.read(f"main.nosuch_{unique}.v")
    assert e.value.error_code == "SCHEMA_DOES_NOT_EXIST"


def test_registered_models_versions_and_aliases(w: WorkspaceClient, unique: str):
    schema = w.schemas.create(name=f"models_{unique}", catalog_name="main").name
    model = w.registered_models.create(catalog_name="main", schema_name=schema, name="My-Model", comment="first")
    full = f"main.{schema}.my-model"
    assert model.full_name == full
    assert model.owner == ADMIN
    assert model.storage_location
    with pytest.raises(ResourceConflict):
        w.registered_models.create(catalog_name="main", schema_name=schema, name="my-model")

    assert [m.full_name for m in w.registered_models.list(catalog_name="main", schema_name=schema)] == [full]
    assert full in {m.full_name for m in w.registered_models.list(catalog_name="main")}
    assert "aliases" not in w.api_client.do("GET", f"/api/2.1/unity-catalog/models/{full}")  # only with include_aliases

    v1 = new_version(w, full)
    v2 = new_version(w, full, source="dbfs:/tmp/model2")
    assert (v1, v2) == (1, 2)
    versions = list(w.model_versions.list(full))
    assert [v.version for v in versions] == [2, 1]
    assert w.model_versions.get(full, 2).source == "dbfs:/tmp/model2"

    alias = w.registered_models.set_alias(full, "champion", 1)
    assert (alias.alias_name, alias.version_num) == ("champion", 1)
    got = w.registered_models.get(full, include_aliases=True)
    assert [(a.alias_name, a.version_num) for a in got.aliases] == [("champion", 1)]
    assert w.model_versions.get_by_alias(full, "champion").version == 1
    w.registered_models.set_alias(full, "champion", 2)  # moves the alias
    assert w.model_versions.get_by_alias(full, "champion").version == 2
    with pytest.raises(NotFound):
        w.registered_models.set_alias(full, "challenger", 99)
    with pytest.raises(InvalidParameterValue):
        w.registered_models.set_alias(full, "latest", 1)
    w.registered_models.delete_alias(full, "champion")
    assert w.registered_models.get(full, include_aliases=True).aliases == []

    updated = w.registered_models.update(full, comment="second", new_name="renamed")
    assert updated.full_name == f"main.{schema}.renamed"
    assert updated.comment == "second"
    assert [v.version for v in w.model_versions.list(f"main.{schema}.renamed")] == [2, 1]
    w.registered_models.delete(f"main.{schema}.renamed")
    with pytest.raises(NotFound) as e:
        w.registered_models.get(f"main.{schema}.renamed")
    assert str(e.value) == f"Routine or Model 'main.{schema}.renamed' does not exist."


def test_grants(w: WorkspaceClient, unique: str):
    user = make_user(w, f"grantee-{unique}@example.com")
    cat = w.catalogs.create(name=f"grants_{unique}").name
    res = w.grants.update(
        "catalog",
        cat,
        changes=[PermissionsChange(principal=user, add=[Privilege.USE_CATALOG, Privilege.CREATE_SCHEMA])],
    )
    assert [(a.principal, a.privileges) for a in res.privilege_assignments] == [
        (user, [Privilege.CREATE_SCHEMA, Privilege.USE_CATALOG])
    ]
    got = w.grants.get("catalog", cat)
    assert [(a.principal, a.privileges) for a in got.privilege_assignments] == [
        (user, [Privilege.CREATE_SCHEMA, Privilege.USE_CATALOG])
    ]
    # Removing ALL_PRIVILEGES clears the principal before the additions apply (what bundle deploys send).
    w.grants.update(
        "catalog",
        cat,
        changes=[PermissionsChange(principal=user, add=[Privilege.USE_CATALOG], remove=[Privilege.ALL_PRIVILEGES])],
    )
    assert [(a.principal, a.privileges) for a in w.grants.get("catalog", cat).privilege_assignments] == [
        (user, [Privilege.USE_CATALOG])
    ]

    with pytest.raises(InvalidParameterValue) as e:
        w.grants.update("schema", f"{cat}.default", changes=[PermissionsChange(principal=user, add=[Privilege.USE_CATALOG])])
    assert "is not applicable to this entity" in str(e.value)
    with pytest.raises(InvalidParameterValue):
        w.grants.update(
            "catalog",
            cat,
            changes=[PermissionsChange(principal=user, add=[Privilege.SELECT], remove=[Privilege.SELECT])],
        )
    with pytest.raises(NotFound) as e:
        w.grants.update(
            "catalog", cat, changes=[PermissionsChange(principal=f"ghost-{unique}", add=[Privilege.USE_CATALOG])]
        )
    assert e.value.error_code == "PRINCIPAL_DOES_NOT_EXIST"

    # Registered models are FUNCTION securables; volumes have their own privileges.
    schema = w.schemas.create(name="s", catalog_name=cat).name
    model = w.registered_models.create(catalog_name=cat, schema_name=schema, name="m")
    w.grants.update("function", model.full_name, changes=[PermissionsChange(principal=user, add=[Privilege.EXECUTE])])
    assert w.grants.get("function", model.full_name).privilege_assignments[0].privileges == [Privilege.EXECUTE]
    vol = w.volumes.create(catalog_name=cat, schema_name=schema, name="v", volume_type=VolumeType.MANAGED)
    w.grants.update("volume", vol.full_name, changes=[PermissionsChange(principal=user, add=[Privilege.READ_VOLUME])])
    assert w.grants.get("volume", vol.full_name, principal=user).privilege_assignments[0].principal == user
    with pytest.raises(NotFound):
        w.grants.get("table", f"{cat}.{schema}.no_table")

    effective = w.grants.get_effective("volume", vol.full_name, principal=user)
    privileges = {(p.privilege, p.inherited_from_name) for p in effective.privilege_assignments[0].privileges}
    assert (Privilege.READ_VOLUME, None) in privileges
    w.catalogs.delete(cat, force=True)


def test_privileges_are_enforced_for_non_admins(local, w: WorkspaceClient, unique: str):
    user = make_user(w, f"analyst-{unique}@example.com")
    u = local.client(token=local.token_for(user_name=user))
    cat = w.catalogs.create(name=f"private_{unique}").name

    with pytest.raises(PermissionDenied):
        u.catalogs.create(name=f"mine_{unique}")
    with pytest.raises(PermissionDenied):
        u.catalogs.get(cat)
    assert cat not in {c.name for c in u.catalogs.list()}
    with pytest.raises(PermissionDenied):
        u.schemas.create(name="s", catalog_name=cat)

    w.grants.update(
        "catalog", cat, changes=[PermissionsChange(principal=user, add=[Privilege.USE_CATALOG, Privilege.CREATE_SCHEMA])]
    )
    assert u.catalogs.get(cat).name == cat
    schema = u.schemas.create(name="s", catalog_name=cat)
    assert schema.owner == user
    model = u.registered_models.create(catalog_name=cat, schema_name="s", name="m")  # owner of the schema
    u.registered_models.update(model.full_name, comment="mine")
    with pytest.raises(PermissionDenied):
        u.catalogs.update(cat, comment="not mine")
    with pytest.raises(PermissionDenied):
        u.grants.update("catalog", cat, changes=[PermissionsChange(principal=user, add=[Privilege.BROWSE])])
    with pytest.raises(PermissionDenied):
        u.volumes.create(catalog_name=cat, schema_name="default", name="v", volume_type=VolumeType.MANAGED)

    # Everyone may use main.default, as in a new workspace.
    vol = u.volumes.create(catalog_name="main", schema_name="default", name=f"v_{unique}", volume_type=VolumeType.MANAGED)
    assert vol.owner == user
    w.catalogs.delete(cat, force=True)


def test_volume_files_follow_the_volume(local, w: WorkspaceClient, unique: str):
    schema = w.schemas.create(name=f"files_{unique}", catalog_name="main").name
    w.volumes.create(catalog_name="main", schema_name=schema, name="raw", volume_type=VolumeType.MANAGED)
    w.files.upload(f"/Volumes/main/{schema}/raw/data/a.txt", io.BytesIO(b"hello"), overwrite=True)
    with pytest.raises(NotFound):
        w.files.upload(f"/Volumes/main/{schema}/nosuch/a.txt", io.BytesIO(b"x"), overwrite=True)

    # Renaming the volume keeps its files under the new name.
    w.volumes.update(f"main.{schema}.raw", new_name="landing")
    assert w.files.download(f"/Volumes/main/{schema}/landing/data/a.txt").contents.read() == b"hello"

    user = make_user(w, f"reader-{unique}@example.com")
    u = local.client(token=local.token_for(user_name=user))
    with pytest.raises(PermissionDenied):
        u.files.download(f"/Volumes/main/{schema}/landing/data/a.txt")
    w.grants.update(
        "schema", f"main.{schema}", changes=[PermissionsChange(principal=user, add=[Privilege.USE_SCHEMA, Privilege.READ_VOLUME])]
    )
    assert u.files.download(f"/Volumes/main/{schema}/landing/data/a.txt").contents.read() == b"hello"
    with pytest.raises(PermissionDenied):
        u.files.upload(f"/Volumes/main/{schema}/landing/b.txt", io.BytesIO(b"x"), overwrite=True)

    # Deleting the volume deletes its files.
    w.volumes.delete(f"main.{schema}.landing")
    w.volumes.create(catalog_name="main", schema_name=schema, name="landing", volume_type=VolumeType.MANAGED)
    with pytest.raises(NotFound):
        w.files.download(f"/Volumes/main/{schema}/landing/data/a.txt")
