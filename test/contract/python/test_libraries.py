"""Libraries API through the official SDK: install, status, uninstall on restart."""

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, PermissionDenied
from databricks.sdk.service.compute import Library, LibraryInstallStatus, PythonPyPiLibrary


def _cluster(w: WorkspaceClient, unique: str) -> str:
    version = w.clusters.select_spark_version(long_term_support=True)
    node = w.clusters.select_node_type(local_disk=True)
    return w.clusters.create_and_wait(
        cluster_name=f"libs-{unique}", spark_version=version, node_type_id=node, num_workers=1
    ).cluster_id


def _statuses(w: WorkspaceClient, cluster_id: str) -> dict[str, LibraryInstallStatus]:
    return {s.library.pypi.package: s.status for s in w.libraries.cluster_status(cluster_id)}


def test_install_on_a_running_cluster_is_installed(w: WorkspaceClient, unique: str):
    cid = _cluster(w, unique)
    w.libraries.install(cid, [Library(pypi=PythonPyPiLibrary(package="lightgbm==4.5.0")), Library(whl="/Volumes/a/b/c/x.whl")])
    statuses = list(w.libraries.cluster_status(cid))
    assert {(s.library.pypi.package if s.library.pypi else s.library.whl) for s in statuses} == {"lightgbm==4.5.0", "/Volumes/a/b/c/x.whl"}
    assert all(s.status == LibraryInstallStatus.INSTALLED for s in statuses)
    # Installing the same library again does not duplicate it.
    w.libraries.install(cid, [Library(pypi=PythonPyPiLibrary(package="lightgbm==4.5.0"))])
    assert len(list(w.libraries.cluster_status(cid))) == 2


def test_uninstall_takes_effect_on_restart(w: WorkspaceClient, unique: str):
    cid = _cluster(w, unique)
    lib = Library(pypi=PythonPyPiLibrary(package="mlflow==3.1.0"))
    w.libraries.install(cid, [lib])
    w.libraries.uninstall(cid, [lib])
    assert _statuses(w, cid) == {"mlflow==3.1.0": LibraryInstallStatus.UNINSTALL_ON_RESTART}
    w.clusters.restart_and_wait(cid)
    assert _statuses(w, cid) == {}


def test_install_on_a_stopped_cluster_is_pending_until_it_starts(w: WorkspaceClient, unique: str):
    cid = _cluster(w, unique)
    w.clusters.delete_and_wait(cid)
    w.libraries.install(cid, [Library(pypi=PythonPyPiLibrary(package="scikit-learn==1.5.2"))])
    assert _statuses(w, cid) == {"scikit-learn==1.5.2": LibraryInstallStatus.PENDING}
    w.clusters.start_and_wait(cid)
    assert _statuses(w, cid) == {"scikit-learn==1.5.2": LibraryInstallStatus.INSTALLED}
    assert any(s.cluster_id == cid for s in w.libraries.all_cluster_statuses())


def test_errors(local, w: WorkspaceClient, unique: str):
    with pytest.raises(InvalidParameterValue):
        w.libraries.install("0000-000000-nothere", [Library(whl="/x.whl")])
    cid = _cluster(w, unique)
    user = f"lib-{unique}@example.com"
    w.users.create(user_name=user)
    other = local.client(token=local.token_for(user_name=user))
    with pytest.raises(PermissionDenied):
        other.libraries.install(cid, [Library(whl="/x.whl")])
