"""MLflow experiments and the workspace model registry through the official SDK."""

import base64
import io
import zipfile

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound, PermissionDenied, ResourceAlreadyExists
from databricks.sdk.service.ml import (
    ExperimentAccessControlRequest,
    ExperimentPermissionLevel,
    ExperimentTag,
    ModelTag,
    PermissionLevel,
    RegisteredModelAccessControlRequest,
    RegisteredModelPermissionLevel,
    ViewType,
)
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

ADMIN = "admin@lakeforge.local"
HOME = f"/Users/{ADMIN}"


def make_user(w: WorkspaceClient, name: str) -> str:
    w.api_client.do(
        "POST",
        "/api/2.0/preview/scim/v2/Users",
        body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name},
    )
    return name


def test_experiment_create_get(w: WorkspaceClient, unique: str):
    name = f"{HOME}/exp-{unique}"
    me = w.current_user.me()
    exp_id = w.experiments.create_experiment(name, tags=[ExperimentTag(key="team", value="ml")]).experiment_id
    exp = w.experiments.get_experiment(exp_id).experiment
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == f"dbfs:/databricks/mlflow-tracking/{exp_id}"
    assert exp.creation_time and exp.last_update_time
    tags = [(t.key, t.value) for t in exp.tags]
    assert tags[0] == ("team", "ml")
    assert ("mlflow.ownerEmail", ADMIN) in tags
    assert ("mlflow.ownerId", me.id) in tags
    assert ("mlflow.experiment.sourceName", name) in tags
    assert w.experiments.get_by_name(name).experiment.experiment_id == exp_id

    with pytest.raises(ResourceAlreadyExists):
        w.experiments.create_experiment(name)
    # The /Workspace prefix names the same path.
    with pytest.raises(ResourceAlreadyExists):
        w.experiments.create_experiment(f"/Workspace{name}")
    other = w.experiments.create_experiment(f"/Workspace{HOME}/ws-{unique}", artifact_location="s3://bucket/x")
    got = w.experiments.get_experiment(other.experiment_id).experiment
    assert got.name == f"{HOME}/ws-{unique}"
    assert got.artifact_location == "s3://bucket/x"


def test_experiment_errors(w: WorkspaceClient, unique: str):
    with pytest.raises(InvalidParameterValue):
        w.experiments.create_experiment(f"relative-{unique}")
    with pytest.raises(NotFound) as e:
        w.experiments.create_experiment(f"{HOME}/missing-{unique}/exp")
    assert str(e.value) == f"Parent directory {HOME}/missing-{unique} does not exist."
    with pytest.raises(NotFound):
        w.experiments.get_experiment("1")
    with pytest.raises(NotFound):
        w.experiments.get_by_name(f"{HOME}/nothing-{unique}")


def test_search_experiments_paging_and_filters(local, w: WorkspaceClient, unique: str):
    ids = [w.experiments.create_experiment(f"{HOME}/search-{unique}-{i}").experiment_id for i in range(5)]
    start = local.control("GET", "requests?since=0")["last_seq"]
    found = list(w.experiments.search_experiments(filter=f"name LIKE '%search-{unique}-%'", max_results=2))
    assert sorted(e.experiment_id for e in found) == sorted(ids)
    assert len([r for r in local.requests_since(start) if r["path"].endswith("/experiments/search")]) == 3

    by_name = list(w.experiments.search_experiments(filter=f"name LIKE '%search-{unique}-%'", order_by=["name DESC"]))
    assert [e.name for e in by_name] == [f"{HOME}/search-{unique}-{i}" for i in reversed(range(5))]
    exact = list(w.experiments.search_experiments(filter=f"name = '{HOME}/search-{unique}-3'"))
    assert [e.experiment_id for e in exact] == [ids[3]]

    w.experiments.set_experiment_tag(ids[1], "stage", "prod")
    tagged = list(w.experiments.search_experiments(filter=f"tags.stage = 'prod' AND name ILIKE '%SEARCH-{unique}%'"))
    assert [e.experiment_id for e in tagged] == [ids[1]]

    w.experiments.delete_experiment(ids[0])
    active = {e.experiment_id for e in w.experiments.search_experiments(filter=f"name LIKE '%search-{unique}-%'")}
    assert ids[0] not in active
    deleted = {
        e.experiment_id
        for e in w.experiments.search_experiments(filter=f"name LIKE '%search-{unique}-%'", view_type=ViewType.DELETED_ONLY)
    }
    assert deleted == {ids[0]}
    everything = list(w.experiments.search_experiments(filter=f"name LIKE '%search-{unique}-%'", view_type=ViewType.ALL))
    assert len(everything) == 5

    with pytest.raises(InvalidParameterValue):
        list(w.experiments.search_experiments(filter="name LIKE"))
    with pytest.raises(InvalidParameterValue):
        list(w.experiments.search_experiments(max_results=5000))


def test_update_delete_restore_and_tags(w: WorkspaceClient, unique: str):
    name = f"{HOME}/life-{unique}"
    exp_id = w.experiments.create_experiment(name).experiment_id
    w.experiments.update_experiment(exp_id, new_name=f"{name}-renamed")
    exp = w.experiments.get_experiment(exp_id).experiment
    assert exp.name == f"{name}-renamed"
    assert ("mlflow.experiment.sourceName", f"{name}-renamed") in [(t.key, t.value) for t in exp.tags]

    w.experiments.set_experiment_tag(exp_id, "k", "v1")
    w.experiments.set_experiment_tag(exp_id, "k", "v2")
    tags = [(t.key, t.value) for t in w.experiments.get_experiment(exp_id).experiment.tags]
    assert tags.count(("k", "v2")) == 1 and ("k", "v1") not in tags

    w.experiments.delete_experiment(exp_id)
    assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "deleted"
    # A deleted experiment frees its name (it sits in the trash), so the name can be reused.
    again = w.experiments.create_experiment(f"{name}-renamed").experiment_id
    assert again != exp_id
    with pytest.raises(ResourceAlreadyExists):
        w.experiments.restore_experiment(exp_id)
    w.experiments.delete_experiment(again)
    w.experiments.restore_experiment(exp_id)
    assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "active"
    assert w.experiments.get_by_name(f"{name}-renamed").experiment.experiment_id == exp_id


def test_experiment_permissions_are_enforced(local, w: WorkspaceClient, unique: str):
    user = make_user(w, f"scientist-{unique}@example.com")
    u = local.client(token=local.token_for(user_name=user))
    exp_id = w.experiments.create_experiment(f"/Shared/team-{unique}").experiment_id
    admin_only = w.experiments.create_experiment(f"{HOME}/private-{unique}").experiment_id

    with pytest.raises(PermissionDenied):
        u.experiments.get_experiment(admin_only)
    with pytest.raises(PermissionDenied):
        u.experiments.create_experiment(f"{HOME}/intruder-{unique}")
    # /Shared is managed by all users, so the experiment there inherits CAN_MANAGE.
    u.experiments.update_experiment(exp_id, new_name=f"/Shared/team-{unique}-2")

    w.experiments.set_permissions(
        admin_only,
        access_control_list=[ExperimentAccessControlRequest(user_name=user, permission_level=ExperimentPermissionLevel.CAN_READ)],
    )
    assert u.experiments.get_experiment(admin_only).experiment.experiment_id == admin_only
    with pytest.raises(PermissionDenied):
        u.experiments.set_experiment_tag(admin_only, "k", "v")
    with pytest.raises(PermissionDenied):
        u.experiments.delete_experiment(admin_only)
    w.experiments.update_permissions(
        admin_only,
        access_control_list=[ExperimentAccessControlRequest(user_name=user, permission_level=ExperimentPermissionLevel.CAN_MANAGE)],
    )
    u.experiments.delete_experiment(admin_only)

    own = u.experiments.create_experiment(f"/Users/{user}/mine").experiment_id
    perms = w.experiments.get_permissions(own)
    assert perms.object_type == "mlflowExperiment"
    assert perms.object_id == f"/experiments/{own}"


def test_model_registry(w: WorkspaceClient, unique: str):
    name = f"model-{unique}"
    created = w.model_registry.create_model(name, description="first", tags=[ModelTag(key="k", value="v")]).registered_model
    assert created.name == name
    assert created.user_id == ADMIN
    with pytest.raises(ResourceAlreadyExists):
        w.model_registry.create_model(name)
    with pytest.raises(InvalidParameterValue):
        w.model_registry.create_model("")

    got = w.model_registry.get_model(name).registered_model_databricks
    assert got.id and got.name == name and got.description == "first"
    assert got.permission_level == PermissionLevel.CAN_MANAGE
    assert [(t.key, t.value) for t in got.tags] == [("k", "v")]

    w.model_registry.update_model(name, description="second")
    assert w.model_registry.get_model(name).registered_model_databricks.description == "second"

    for i in range(3):
        w.model_registry.create_model(f"search-{unique}-{i}")
    found = list(w.model_registry.search_models(filter=f"name LIKE 'search-{unique}'", max_results=2))
    assert sorted(m.name for m in found) == [f"search-{unique}-{i}" for i in range(3)]
    exact = list(w.model_registry.search_models(filter=f"name = 'search-{unique}-1'"))
    assert [m.name for m in exact] == [f"search-{unique}-1"]
    ordered = list(w.model_registry.search_models(filter=f"name LIKE 'search-{unique}-%'", order_by=["name DESC"]))
    assert [m.name for m in ordered] == [f"search-{unique}-{i}" for i in reversed(range(3))]

    renamed = w.model_registry.rename_model(name, new_name=f"{name}-renamed").registered_model
    assert renamed.name == f"{name}-renamed"
    assert w.model_registry.get_model(f"{name}-renamed").registered_model_databricks.id == got.id
    w.model_registry.delete_model(f"{name}-renamed")
    with pytest.raises(NotFound):
        w.model_registry.get_model(f"{name}-renamed")
    with pytest.raises(NotFound):
        w.model_registry.delete_model(f"{name}-renamed")


def test_model_permissions_are_enforced(local, w: WorkspaceClient, unique: str):
    user = make_user(w, f"modeler-{unique}@example.com")
    u = local.client(token=local.token_for(user_name=user))
    name = f"guarded-{unique}"
    w.model_registry.create_model(name)
    model_id = w.model_registry.get_model(name).registered_model_databricks.id

    with pytest.raises(PermissionDenied):
        u.model_registry.get_model(name)
    assert name not in {m.name for m in u.model_registry.search_models(filter=f"name = '{name}'")}

    w.model_registry.set_permissions(
        model_id,
        access_control_list=[
            RegisteredModelAccessControlRequest(user_name=user, permission_level=RegisteredModelPermissionLevel.CAN_EDIT)
        ],
    )
    assert u.model_registry.get_model(name).registered_model_databricks.permission_level == PermissionLevel.CAN_EDIT
    u.model_registry.update_model(name, description="edited")
    with pytest.raises(PermissionDenied):
        u.model_registry.delete_model(name)
    with pytest.raises(PermissionDenied):
        u.model_registry.rename_model(name, new_name=f"{name}-x")

    perms = w.model_registry.get_permissions(model_id)
    assert perms.object_type == "registered-model"
    levels = {acl.user_name: acl.all_permissions[0].permission_level.value for acl in perms.access_control_list if acl.user_name}
    assert levels == {user: "CAN_EDIT"}  # PUT replaced the creator's entry; admins keep access through their group

    mine = u.model_registry.create_model(f"users-own-{unique}").registered_model
    u.model_registry.delete_model(mine.name)


# ----- experiments are workspace objects ---------------------------------------------------------


def raw_status(w: WorkspaceClient, path: str) -> dict:
    """get-status as sent: the SDK's ObjectType enum has no MLFLOW_EXPERIMENT (it parses it as None)."""
    return w.api_client.do("GET", "/api/2.0/workspace/get-status", query={"path": path})


def test_experiment_is_a_workspace_object(w: WorkspaceClient, unique: str):
    folder = f"{HOME}/exps-{unique}"
    w.workspace.mkdirs(folder)
    name = f"{folder}/exp"
    exp_id = w.experiments.create_experiment(name).experiment_id

    status = raw_status(w, name)
    assert status["object_type"] == "MLFLOW_EXPERIMENT"
    assert status["path"] == name
    assert status["object_id"] == int(exp_id)
    assert status["resource_id"] == exp_id
    assert raw_status(w, f"/Workspace{name}")["path"] == f"/Workspace{name}"
    info = w.workspace.get_status(name)
    assert info.object_id == int(exp_id) and info.path == name

    listed = {o.path: o.object_id for o in w.workspace.list(folder)}
    assert listed == {name: int(exp_id)}
    raw_list = w.api_client.do("GET", "/api/2.0/workspace/list", query={"path": folder})["objects"]
    assert [(o["path"], o["object_type"]) for o in raw_list] == [(name, "MLFLOW_EXPERIMENT")]
    # Listing the experiment itself answers the object, as for a notebook.
    assert [o.object_id for o in w.workspace.list(name)] == [int(exp_id)]


def test_experiment_path_cannot_be_taken(w: WorkspaceClient, unique: str):
    name = f"{HOME}/taken-{unique}"
    exp_id = w.experiments.create_experiment(name).experiment_id
    source = b"# Databricks notebook source\nx = 1\n"

    with pytest.raises(ResourceAlreadyExists):
        w.workspace.mkdirs(name)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.mkdirs(f"{name}/sub")
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(name, source, format=ImportFormat.SOURCE, language=Language.PYTHON)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(name, source, format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(f"{name}.py", source, format=ImportFormat.AUTO, overwrite=True)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(name, b"plain", format=ImportFormat.RAW, overwrite=True)
    with pytest.raises(InvalidParameterValue):
        w.workspace.export(name)

    # Nothing replaced it.
    assert raw_status(w, name)["object_type"] == "MLFLOW_EXPERIMENT"
    assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "active"


def test_folder_delete_deletes_its_experiments(w: WorkspaceClient, unique: str):
    folder = f"{HOME}/proj-{unique}"
    w.workspace.mkdirs(f"{folder}/nested")
    top = w.experiments.create_experiment(f"{folder}/top").experiment_id
    deep = w.experiments.create_experiment(f"{folder}/nested/deep").experiment_id
    w.workspace.upload(f"{folder}/nb.py", b"# Databricks notebook source\nx = 1\n", format=ImportFormat.AUTO)

    # A folder export holds notebooks and files; experiments are left out.
    archive = zipfile.ZipFile(io.BytesIO(w.workspace.download(folder, format=ExportFormat.AUTO).read()))
    assert archive.namelist() == [f"proj-{unique}/nb.py"]

    with pytest.raises(BadRequest) as e:
        w.workspace.delete(f"{folder}/nested")
    assert e.value.error_code == "DIRECTORY_NOT_EMPTY"
    assert w.experiments.get_experiment(deep).experiment.lifecycle_stage == "active"

    w.workspace.delete(folder, recursive=True)
    for exp_id in (top, deep):
        assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "deleted"
    with pytest.raises(NotFound):
        w.workspace.get_status(f"{folder}/nested/deep")
    deleted = {e.experiment_id for e in w.experiments.search_experiments(view_type=ViewType.DELETED_ONLY)}
    assert {top, deep} <= deleted
    active = {e.experiment_id for e in w.experiments.search_experiments()}
    assert not {top, deep} & active

    # Restoring needs the experiment's folder back.
    with pytest.raises(NotFound):
        w.experiments.restore_experiment(top)
    w.workspace.mkdirs(folder)
    w.experiments.restore_experiment(top)
    assert w.experiments.get_experiment(top).experiment.lifecycle_stage == "active"
    assert raw_status(w, f"{folder}/top")["object_id"] == int(top)


def test_workspace_delete_of_the_experiment_path(w: WorkspaceClient, unique: str):
    name = f"{HOME}/gone-{unique}"
    exp_id = w.experiments.create_experiment(name).experiment_id
    w.workspace.delete(name)
    assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "deleted"
    with pytest.raises(NotFound):
        w.workspace.get_status(name)
    with pytest.raises(NotFound):
        w.workspace.delete(name)

    # The name is free again: a new experiment takes the path, and the old one cannot come back there.
    again = w.experiments.create_experiment(name).experiment_id
    assert raw_status(w, name)["object_id"] == int(again)
    with pytest.raises(ResourceAlreadyExists):
        w.experiments.restore_experiment(exp_id)


def test_rename_moves_the_workspace_object(w: WorkspaceClient, unique: str):
    w.workspace.mkdirs(f"{HOME}/moved-{unique}")
    name = f"{HOME}/before-{unique}"
    exp_id = w.experiments.create_experiment(name).experiment_id
    created = raw_status(w, name)
    w.experiments.update_experiment(exp_id, new_name=f"{HOME}/moved-{unique}/after")

    with pytest.raises(NotFound):
        w.workspace.get_status(name)
    moved = raw_status(w, f"{HOME}/moved-{unique}/after")
    assert (moved["object_type"], moved["object_id"]) == ("MLFLOW_EXPERIMENT", created["object_id"])
    assert [o.path for o in w.workspace.list(f"{HOME}/moved-{unique}")] == [f"{HOME}/moved-{unique}/after"]
    # The old path is free for a notebook.
    w.workspace.upload(name, b"# Databricks notebook source\n", format=ImportFormat.SOURCE, language=Language.PYTHON)
    assert w.workspace.get_status(name).object_type == ObjectType.NOTEBOOK

    # A rename onto a taken path is refused and leaves the object where it is.
    with pytest.raises(ResourceAlreadyExists):
        w.experiments.update_experiment(exp_id, new_name=name)
    assert raw_status(w, f"{HOME}/moved-{unique}/after")["object_id"] == int(exp_id)


def test_deleted_experiment_leaves_the_tree_and_restore_brings_it_back(w: WorkspaceClient, unique: str):
    name = f"{HOME}/trash-{unique}"
    exp_id = w.experiments.create_experiment(name).experiment_id
    w.experiments.delete_experiment(exp_id)
    with pytest.raises(NotFound):
        w.workspace.get_status(name)
    assert name not in {o.path for o in w.workspace.list(HOME)}

    # While the path is taken by a notebook, the experiment cannot be restored.
    w.workspace.upload(name, b"# Databricks notebook source\n", format=ImportFormat.SOURCE, language=Language.PYTHON)
    with pytest.raises(ResourceAlreadyExists):
        w.experiments.restore_experiment(exp_id)
    assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "deleted"
    w.workspace.delete(name)

    w.experiments.restore_experiment(exp_id)
    assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "active"
    assert raw_status(w, name)["object_id"] == int(exp_id)
    assert name in {o.path for o in w.workspace.list(HOME)}


def test_experiment_objects_follow_experiment_permissions(local, w: WorkspaceClient, unique: str):
    user = make_user(w, f"tree-{unique}@example.com")
    u = local.client(token=local.token_for(user_name=user))
    name = f"{HOME}/guarded-{unique}"
    exp_id = w.experiments.create_experiment(name).experiment_id

    with pytest.raises(PermissionDenied):
        u.workspace.get_status(name)
    w.experiments.set_permissions(
        exp_id,
        access_control_list=[ExperimentAccessControlRequest(user_name=user, permission_level=ExperimentPermissionLevel.CAN_READ)],
    )
    assert u.workspace.get_status(name).object_id == int(exp_id)
    # Deleting through the Workspace API needs what deleting the experiment needs: CAN_MANAGE.
    with pytest.raises(PermissionDenied):
        u.workspace.delete(name)
    w.experiments.update_permissions(
        exp_id,
        access_control_list=[ExperimentAccessControlRequest(user_name=user, permission_level=ExperimentPermissionLevel.CAN_MANAGE)],
    )
    u.workspace.delete(name)
    assert w.experiments.get_experiment(exp_id).experiment.lifecycle_stage == "deleted"
    # The experiment keeps its permissions in the trash: restored, the user still manages it.
    w.experiments.restore_experiment(exp_id)
    assert u.workspace.get_status(name).object_id == int(exp_id)
