"""The Workspace API, the workspace-files endpoints the CLI uses, and the Files API, through the official SDK."""

import base64
import io
import json

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    AlreadyExists,
    BadRequest,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceConflict,
    ResourceDoesNotExist,
)
from databricks.sdk.service import catalog, workspace
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

ADMIN = "admin@lakeforge.local"
HOME = f"/Users/{ADMIN}"


@pytest.fixture
def folder(w: WorkspaceClient, unique: str) -> str:
    path = f"{HOME}/t-{unique}"
    w.workspace.mkdirs(path)
    return path


@pytest.fixture(scope="module")
def bob(w: WorkspaceClient, local) -> tuple[str, WorkspaceClient]:
    user = w.users.create(user_name="bob-workspace@example.com")
    return user.user_name, local.client(token=local.token_for(user_name=user.user_name))


def names(objects) -> dict[str, ObjectType]:
    return {o.path.rsplit("/", 1)[-1]: o.object_type for o in objects}


# ----- tree, paths, home folders -----------------------------------------------------------------


def test_root_holds_the_system_folders_and_homes(w: WorkspaceClient):
    assert {"Users", "Shared", "Repos"} <= set(names(w.workspace.list("/")))
    home = w.workspace.get_status(HOME)
    assert home.object_type == ObjectType.DIRECTORY
    assert home.object_id > 0 and home.resource_id == str(home.object_id)
    assert HOME in [o.path for o in w.workspace.list("/Users")]


def test_mkdirs_creates_parents_and_is_idempotent(w: WorkspaceClient, unique: str):
    path = f"{HOME}/deep-{unique}/a/b/c"
    w.workspace.mkdirs(path)
    w.workspace.mkdirs(path)
    assert w.workspace.get_status(path).object_type == ObjectType.DIRECTORY
    assert names(w.workspace.list(f"{HOME}/deep-{unique}/a")) == {"b": ObjectType.DIRECTORY}


def test_mkdirs_through_a_file_is_resource_already_exists(w: WorkspaceClient, folder: str):
    w.workspace.upload(f"{folder}/data.txt", b"x", format=ImportFormat.AUTO)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.mkdirs(f"{folder}/data.txt/sub")


def test_workspace_prefix_is_an_alias(w: WorkspaceClient, folder: str):
    w.workspace.upload(f"/Workspace{folder}/alias.txt", b"via alias", format=ImportFormat.AUTO)
    plain = w.workspace.get_status(f"{folder}/alias.txt")
    prefixed = w.workspace.get_status(f"/Workspace{folder}/alias.txt")
    assert plain.object_id == prefixed.object_id
    assert plain.path == f"{folder}/alias.txt"
    assert prefixed.path == f"/Workspace{folder}/alias.txt"
    assert [o.path for o in w.workspace.list(f"/Workspace{folder}")] == [f"/Workspace{folder}/alias.txt"]


def test_missing_paths_are_resource_does_not_exist(w: WorkspaceClient, unique: str):
    for call in (w.workspace.get_status, lambda p: list(w.workspace.list(p)), w.workspace.delete):
        with pytest.raises(ResourceDoesNotExist) as e:
            call(f"{HOME}/missing-{unique}")
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# ----- import ------------------------------------------------------------------------------------


def test_auto_import_detects_notebooks_and_strips_the_extension(w: WorkspaceClient, folder: str):
    w.workspace.upload(f"{folder}/etl.py", b"# Databricks notebook source\nprint(1)\n", format=ImportFormat.AUTO)
    w.workspace.upload(f"{folder}/report.sql", b"-- Databricks notebook source\nSELECT 1\n", format=ImportFormat.AUTO)
    w.workspace.upload(f"{folder}/Main.scala", b"// Databricks notebook source\nprintln(1)\n", format=ImportFormat.AUTO)
    w.workspace.upload(f"{folder}/helpers.py", b"def f():\n    return 1\n", format=ImportFormat.AUTO)
    listed = {o.path.rsplit("/", 1)[-1]: o for o in w.workspace.list(folder)}
    assert set(listed) == {"etl", "report", "Main", "helpers.py"}
    assert (listed["etl"].object_type, listed["etl"].language) == (ObjectType.NOTEBOOK, Language.PYTHON)
    assert listed["report"].language == Language.SQL
    assert listed["Main"].language == Language.SCALA
    assert listed["helpers.py"].object_type == ObjectType.FILE
    assert listed["helpers.py"].size == len(b"def f():\n    return 1\n")
    assert listed["helpers.py"].language is None


def test_jupyter_notebook_round_trip(w: WorkspaceClient, folder: str):
    doc = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": ["x = 1\n", "print(x)"]},
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    w.workspace.upload(f"{folder}/analysis.ipynb", json.dumps(doc).encode(), format=ImportFormat.AUTO)
    nb = w.workspace.get_status(f"{folder}/analysis")
    assert (nb.object_type, nb.language) == (ObjectType.NOTEBOOK, Language.PYTHON)
    exported = json.loads(w.workspace.download(f"{folder}/analysis", format=ExportFormat.JUPYTER).read())
    assert [c["cell_type"] for c in exported["cells"]] == ["markdown", "code"]
    source = w.workspace.download(f"{folder}/analysis", format=ExportFormat.SOURCE).read().decode()
    assert source.startswith("# Databricks notebook source\n")
    assert "# MAGIC %md" in source and "# COMMAND ----------" in source and "print(x)" in source


def test_source_import_needs_a_language_and_keeps_the_path(w: WorkspaceClient, folder: str):
    content = base64.b64encode(b"print('hi')").decode()
    with pytest.raises(InvalidParameterValue):
        w.workspace.import_(f"{folder}/plain", content=content, format=ImportFormat.SOURCE)
    w.workspace.import_(f"{folder}/plain", content=content, format=ImportFormat.SOURCE, language=Language.PYTHON)
    # The SDK's upload picks the language from the extension; SOURCE keeps the name as given.
    w.workspace.upload(f"{folder}/named.py", b"print(2)")
    got = names(w.workspace.list(folder))
    assert got == {"plain": ObjectType.NOTEBOOK, "named.py": ObjectType.NOTEBOOK}
    assert w.workspace.download(f"{folder}/plain").read() == b"# Databricks notebook source\nprint('hi')"


def test_import_conflicts_and_overwrite(w: WorkspaceClient, folder: str):
    w.workspace.upload(f"{folder}/conf.json", b'{"v": 1}', format=ImportFormat.AUTO)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(f"{folder}/conf.json", b'{"v": 2}', format=ImportFormat.AUTO)
    before = w.workspace.get_status(f"{folder}/conf.json")
    w.workspace.upload(f"{folder}/conf.json", b'{"v": 3}', format=ImportFormat.AUTO, overwrite=True)
    after = w.workspace.get_status(f"{folder}/conf.json")
    assert after.object_id == before.object_id
    assert w.workspace.download(f"{folder}/conf.json").read() == b'{"v": 3}'


def test_import_into_a_missing_folder_is_not_found(w: WorkspaceClient, folder: str):
    with pytest.raises(NotFound) as e:
        w.workspace.upload(f"{folder}/nowhere/x.txt", b"x", format=ImportFormat.AUTO)
    assert "parent folder" in str(e.value)


def test_unsupported_import_format_is_invalid(w: WorkspaceClient, folder: str):
    with pytest.raises(InvalidParameterValue):
        w.workspace.import_(f"{folder}/x", content=base64.b64encode(b"<html/>").decode(), format=ImportFormat.HTML)


# ----- export ------------------------------------------------------------------------------------


def test_export_json_and_direct_download(w: WorkspaceClient, folder: str):
    w.workspace.upload(f"{folder}/nb.py", b"# Databricks notebook source\nx = 1\n", format=ImportFormat.AUTO)
    w.workspace.upload(f"{folder}/blob.bin", bytes(range(256)), format=ImportFormat.AUTO)
    exported = w.workspace.export(f"{folder}/nb")
    assert base64.b64decode(exported.content) == b"# Databricks notebook source\nx = 1\n"
    assert exported.file_type == "py"
    assert w.workspace.download(f"{folder}/blob.bin").read() == bytes(range(256))
    raw = w.workspace.export(f"{folder}/blob.bin", format=ExportFormat.AUTO)
    assert base64.b64decode(raw.content) == bytes(range(256))
    with pytest.raises(InvalidParameterValue):
        w.workspace.export(f"{folder}/nb", format=ExportFormat.HTML)


def test_export_of_a_folder_is_a_zip_of_sources(w: WorkspaceClient, folder: str):
    import zipfile

    w.workspace.upload(f"{folder}/nb.py", b"# Databricks notebook source\nx = 1\n", format=ImportFormat.AUTO)
    w.workspace.upload(f"{folder}/notes.txt", b"text", format=ImportFormat.AUTO)
    archive = zipfile.ZipFile(io.BytesIO(w.workspace.download(folder, format=ExportFormat.AUTO).read()))
    name = folder.rsplit("/", 1)[-1]
    assert sorted(archive.namelist()) == [f"{name}/nb.py", f"{name}/notes.txt"]
    assert archive.read(f"{name}/notes.txt") == b"text"


# ----- delete ------------------------------------------------------------------------------------


def test_delete_folder_needs_recursive(w: WorkspaceClient, folder: str):
    w.workspace.mkdirs(f"{folder}/sub")
    w.workspace.upload(f"{folder}/sub/f.txt", b"x", format=ImportFormat.AUTO)
    with pytest.raises(BadRequest) as e:
        w.workspace.delete(f"{folder}/sub")
    assert e.value.error_code == "DIRECTORY_NOT_EMPTY"
    w.workspace.delete(f"{folder}/sub", recursive=True)
    with pytest.raises(ResourceDoesNotExist):
        w.workspace.get_status(f"{folder}/sub/f.txt")
    w.workspace.delete(folder)
    with pytest.raises(ResourceDoesNotExist):
        w.workspace.get_status(folder)


# ----- endpoints the Databricks CLI uses ---------------------------------------------------------


def test_cli_import_file_and_read(w: WorkspaceClient, folder: str):
    target = f"/Workspace{folder}/bundle/state.json".lstrip("/")
    with pytest.raises(NotFound):  # the CLI creates the parent and retries on this 404
        w.api_client.do("POST", f"/api/2.0/workspace-files/import-file/{target}", query={"overwrite": "false"}, data=b"{}")
    w.workspace.mkdirs(f"{folder}/bundle")
    w.api_client.do("POST", f"/api/2.0/workspace-files/import-file/{target}", query={"overwrite": "false"}, data=b'{"a": 1}')
    with pytest.raises(ResourceConflict):  # 409 for an existing file without overwrite
        w.api_client.do("POST", f"/api/2.0/workspace-files/import-file/{target}", query={"overwrite": "false"}, data=b"{}")
    w.api_client.do("POST", f"/api/2.0/workspace-files/import-file/{target}", query={"overwrite": "true"}, data=b'{"a": 2}')
    read = w.api_client.do("GET", f"/api/2.0/workspace-files/{target}", raw=True)
    assert read["contents"].read() == b'{"a": 2}'

    nb = f"/Workspace{folder}/bundle/job_nb.py".lstrip("/")
    w.api_client.do("POST", f"/api/2.0/workspace-files/import-file/{nb}", query={"overwrite": "true"}, data=b"# Databricks notebook source\n1")
    status = w.api_client.do(
        "GET", "/api/2.0/workspace/get-status", query={"path": f"{folder}/bundle/job_nb", "return_export_info": "true"}
    )
    assert status["object_type"] == "NOTEBOOK" and status["repos_export_format"] == "SOURCE"


# ----- permissions -------------------------------------------------------------------------------


def test_creator_can_manage_and_permissions_inherit(w: WorkspaceClient, folder: str, bob):
    bob_name, _ = bob
    w.workspace.upload(f"{folder}/nb.py", b"# Databricks notebook source\n1", format=ImportFormat.AUTO)
    dir_id = str(w.workspace.get_status(folder).object_id)
    nb_id = str(w.workspace.get_status(f"{folder}/nb").object_id)
    w.workspace.set_permissions(
        "directories",
        dir_id,
        access_control_list=[
            workspace.WorkspaceObjectAccessControlRequest(user_name=bob_name, permission_level=workspace.WorkspaceObjectPermissionLevel.CAN_READ)
        ],
    )
    perms = w.workspace.get_permissions("notebooks", nb_id)
    assert perms.object_id == f"/notebooks/{nb_id}" and perms.object_type == "notebook"
    by_name = {(a.user_name or a.group_name): a.all_permissions for a in perms.access_control_list}
    assert any(p.permission_level.value == "CAN_MANAGE" and not p.inherited for p in by_name[ADMIN])
    assert any(p.permission_level.value == "CAN_READ" and p.inherited for p in by_name[bob_name])
    generic = w.permissions.get("directories", dir_id)
    assert any(a.user_name == bob_name for a in generic.access_control_list)
    levels = w.workspace.get_permission_levels("directories", dir_id).permission_levels
    assert [lv.permission_level.value for lv in levels] == ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"]


def test_non_admin_needs_edit_to_write(w: WorkspaceClient, folder: str, bob):
    bob_name, as_bob = bob
    w.workspace.upload(f"{folder}/shared.txt", b"v1", format=ImportFormat.AUTO)
    # Nothing granted yet: bob cannot even read the admin's folder.
    with pytest.raises(PermissionDenied):
        list(as_bob.workspace.list(folder))
    dir_id = str(w.workspace.get_status(folder).object_id)
    level = workspace.WorkspaceObjectPermissionLevel
    grant = lambda lv: w.workspace.update_permissions(  # noqa: E731
        "directories", dir_id, access_control_list=[workspace.WorkspaceObjectAccessControlRequest(user_name=bob_name, permission_level=lv)]
    )
    grant(level.CAN_READ)
    assert as_bob.workspace.download(f"{folder}/shared.txt").read() == b"v1"
    assert "shared.txt" in names(as_bob.workspace.list(folder))
    with pytest.raises(PermissionDenied):
        as_bob.workspace.upload(f"{folder}/shared.txt", b"v2", format=ImportFormat.AUTO, overwrite=True)
    with pytest.raises(PermissionDenied):
        as_bob.workspace.delete(f"{folder}/shared.txt")
    grant(level.CAN_EDIT)
    as_bob.workspace.upload(f"{folder}/shared.txt", b"v2", format=ImportFormat.AUTO, overwrite=True)
    as_bob.workspace.upload(f"{folder}/bobs.txt", b"new", format=ImportFormat.AUTO)
    assert w.workspace.download(f"{folder}/shared.txt").read() == b"v2"


def test_users_own_their_home_and_share_shared(w: WorkspaceClient, unique: str, bob):
    bob_name, as_bob = bob
    bob_home = f"/Users/{bob_name}"
    as_bob.workspace.mkdirs(f"{bob_home}/proj-{unique}")
    as_bob.workspace.upload(f"/Workspace{bob_home}/proj-{unique}/a.txt", b"a", format=ImportFormat.AUTO)
    assert [o.path for o in as_bob.workspace.list("/Users")] == [bob_home]
    with pytest.raises(PermissionDenied):
        as_bob.workspace.mkdirs(f"{HOME}/bob-was-here-{unique}")
    as_bob.workspace.mkdirs(f"/Shared/from-bob-{unique}")
    assert w.workspace.get_status(f"/Shared/from-bob-{unique}").object_type == ObjectType.DIRECTORY
    with pytest.raises(PermissionDenied):
        as_bob.workspace.delete(bob_home, recursive=True)
    assert names(w.workspace.list(f"{bob_home}/proj-{unique}")) == {"a.txt": ObjectType.FILE}


# ----- Files API (volumes) -----------------------------------------------------------------------


@pytest.fixture
def volume(w: WorkspaceClient, unique: str) -> str:
    w.volumes.create(catalog_name="main", schema_name="default", name=f"vol_{unique}", volume_type=catalog.VolumeType.MANAGED)
    return f"/Volumes/main/default/vol_{unique}"


def test_files_upload_download_metadata_delete(w: WorkspaceClient, volume: str, local):
    base = volume
    w.files.upload(f"{base}/in/data.csv", io.BytesIO(b"a,b\n1,2\n"))
    start = local.control("GET", "requests?since=0")["last_seq"]
    got = w.files.download(f"{base}/in/data.csv")
    assert got.contents.read() == b"a,b\n1,2\n"
    assert got.content_length == 8
    meta = w.files.get_metadata(f"{base}/in/data.csv")
    assert meta.content_length == 8 and meta.last_modified
    # The SDK fetched a download URL and read the bytes from it without a token.
    paths = [e["path"] for e in local.requests_since(start)]
    assert "/api/2.0/fs/create-download-url" in paths and any(p.startswith("/storage/downloads/") for p in paths)

    with pytest.raises(AlreadyExists):
        w.files.upload(f"{base}/in/data.csv", io.BytesIO(b"x"), overwrite=False)
    w.files.upload(f"{base}/in/data.csv", io.BytesIO(b"replaced"), overwrite=True)
    assert w.files.download(f"{base}/in/data.csv").contents.read() == b"replaced"

    ranged = w.api_client.do("GET", f"/api/2.0/fs/files{base}/in/data.csv", headers={"Range": "bytes=2-4"}, raw=True)
    assert ranged["contents"].read() == b"pla"

    w.files.delete(f"{base}/in/data.csv")
    with pytest.raises(NotFound):
        w.files.get_metadata(f"{base}/in/data.csv")
    with pytest.raises(NotFound):
        w.files.delete(f"{base}/in/data.csv")


def test_files_directories(w: WorkspaceClient, volume: str):
    base = volume
    w.files.get_directory_metadata(base)  # a volume's root always exists
    w.files.create_directory(f"{base}/a/b")
    w.files.create_directory(f"{base}/a/b")
    w.files.upload(f"{base}/a/file.txt", io.BytesIO(b"123"))
    entries = {e.name: e for e in w.files.list_directory_contents(f"{base}/a")}
    assert entries["b"].is_directory and not entries["file.txt"].is_directory
    assert entries["file.txt"].file_size == 3
    assert [e.path for e in w.files.list_directory_contents(f"{base}/a", page_size=1)] == [f"{base}/a/b", f"{base}/a/file.txt"]
    with pytest.raises(BadRequest):
        w.files.delete_directory(f"{base}/a")
    w.files.delete_directory(f"{base}/a/b")
    with pytest.raises(NotFound):
        w.files.get_directory_metadata(f"{base}/a/b")
    with pytest.raises(NotFound):
        list(w.files.list_directory_contents(f"{base}/missing"))


def test_files_multipart_upload(local, volume: str):
    client = local.client()
    # Small thresholds so a few hundred KiB go through initiate / part URLs / complete.
    client.files._config.files_ext_multipart_upload_min_stream_size = 64 * 1024
    data = bytes(i % 251 for i in range(300 * 1024))
    path = f"{volume}/big.bin"
    start = local.control("GET", "requests?since=0")["last_seq"]
    client.files.upload(path, io.BytesIO(data), part_size=100 * 1024)
    assert client.files.download(path).contents.read() == data
    paths = [e["path"] for e in local.requests_since(start)]
    assert "/api/2.0/fs/create-upload-part-urls" in paths
    assert sum(1 for p in paths if p.startswith("/storage/uploads/")) == 3
