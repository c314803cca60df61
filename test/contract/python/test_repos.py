"""Git folders (repos) and Git credentials through the official SDK, with real clones of local repositories."""

import pathlib
import subprocess

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, InvalidState, NotFound, PermissionDenied, ResourceAlreadyExists, ResourceDoesNotExist
from databricks.sdk.service.workspace import ObjectType, RepoAccessControlRequest, RepoPermissionLevel

ADMIN = "admin@lakeforge.local"


def git(cwd: pathlib.Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> dict:
    """A bare repository with `main` (a notebook, a README, a package), a `feature` branch and a tag `v1`."""
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    (work / "etl.py").write_text("# Databricks notebook source\nprint('etl')\n")
    (work / "README.md").write_text("# Project\n")
    (work / "src").mkdir()
    (work / "src" / "util.py").write_text("def f():\n    return 1\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "first")
    v1 = git(work, "rev-parse", "HEAD")
    git(work, "tag", "v1")
    (work / "README.md").write_text("# Project\n\nv2\n")
    git(work, "commit", "--quiet", "-am", "second")
    main = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "--quiet", "-b", "feature")
    (work / "feature.sql").write_text("-- Databricks notebook source\nSELECT 1\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "feature")
    feature = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "--quiet", "main")
    bare = root / "origin.git"
    git(root, "clone", "--quiet", "--bare", str(work), str(bare))
    return {"path": str(bare), "url": bare.as_uri(), "main": main, "feature": feature, "v1": v1}


@pytest.fixture(scope="module")
def bob(w: WorkspaceClient, local) -> tuple[str, WorkspaceClient]:
    user = w.users.create(user_name="bob-repos@example.com")
    return user.user_name, local.client(token=local.token_for(user_name=user.user_name))


def children(w: WorkspaceClient, path: str) -> dict[str, ObjectType]:
    return {o.path.rsplit("/", 1)[-1]: o.object_type for o in w.workspace.list(path)}


def test_clone_of_a_local_repository(w: WorkspaceClient, origin: dict, unique: str):
    path = f"/Repos/{ADMIN}/proj-{unique}"
    repo = w.repos.create(url=origin["url"], provider="gitHub", path=path)
    assert repo.id > 0 and repo.path == path
    assert repo.branch == "main" and repo.head_commit_id == origin["main"]
    assert w.workspace.get_status(path).object_type == ObjectType.REPO
    assert w.workspace.get_status(path).object_id == repo.id
    assert children(w, path) == {"etl": ObjectType.NOTEBOOK, "README.md": ObjectType.FILE, "src": ObjectType.DIRECTORY}
    assert w.workspace.download(f"{path}/README.md").read() == b"# Project\n\nv2\n"
    assert children(w, f"{path}/src") == {"util.py": ObjectType.FILE}
    assert f"/Repos/{ADMIN}/proj-{unique}" in [o.path for o in w.workspace.list(f"/Repos/{ADMIN}") if o.object_type == ObjectType.REPO]

    w.repos.update(repo.id, branch="feature")
    got = w.repos.get(repo.id)
    assert got.branch == "feature" and got.head_commit_id == origin["feature"]
    assert children(w, path)["feature"] == ObjectType.NOTEBOOK

    w.repos.update(repo.id, tag="v1")
    got = w.repos.get(repo.id)
    assert got.branch is None and got.head_commit_id == origin["v1"]
    assert "feature" not in children(w, path)
    assert w.workspace.download(f"{path}/README.md").read() == b"# Project\n"

    with pytest.raises(InvalidParameterValue):
        w.repos.update(repo.id, branch="no-such-branch")


def test_clone_by_plain_path_under_workspace_prefix(w: WorkspaceClient, origin: dict, unique: str):
    w.workspace.mkdirs(f"/Users/{ADMIN}/git-{unique}")
    repo = w.repos.create(url=origin["path"], provider="GITLAB", path=f"/Workspace/Users/{ADMIN}/git-{unique}/proj")
    assert repo.provider == "gitLab"
    assert repo.path == f"/Users/{ADMIN}/git-{unique}/proj"
    status = w.api_client.do(
        "GET", "/api/2.0/workspace/get-status", query={"path": f"{repo.path}/src/util.py", "return_git_info": "true"}
    )
    assert status["git_info"]["id"] == repo.id and status["git_info"]["head_commit_id"] == origin["main"]
    # Deleting the Git folder through the workspace API forgets the repo.
    w.workspace.delete(repo.path, recursive=True)
    with pytest.raises(ResourceDoesNotExist):
        w.repos.get(repo.id)


def test_remote_repository_metadata_and_branches(w: WorkspaceClient, unique: str):
    repo = w.repos.create(url=f"https://github.com/example/svc-{unique}.git", provider="github")
    assert repo.provider == "gitHub"
    assert repo.path == f"/Repos/{ADMIN}/svc-{unique}"
    assert repo.branch == "main" and len(repo.head_commit_id) == 40
    w.repos.update(repo.id, branch="release")
    released = w.repos.get(repo.id)
    assert released.branch == "release" and released.head_commit_id != repo.head_commit_id
    w.repos.update(repo.id, tag="v1.0")
    tagged = w.repos.get(repo.id)
    assert tagged.branch is None
    w.repos.update(repo.id)  # a pull on a detached HEAD stays on the tag
    assert w.repos.get(repo.id).head_commit_id == tagged.head_commit_id
    w.repos.delete(repo.id)
    with pytest.raises(ResourceDoesNotExist):
        w.repos.get(repo.id)
    with pytest.raises(ResourceDoesNotExist):
        w.workspace.get_status(repo.path)


def test_create_errors(w: WorkspaceClient, unique: str):
    url = f"https://github.com/example/err-{unique}.git"
    with pytest.raises(ResourceDoesNotExist) as e:
        w.repos.create(url=url, provider="gitHub", path=f"/Repos/nobody-{unique}/x")
    assert "Parent directory" in str(e.value)
    with pytest.raises(InvalidParameterValue):
        w.repos.create(url=url, provider="gitHub", path=f"/Repos/{ADMIN}/a/b")
    with pytest.raises(InvalidParameterValue):
        w.repos.create(url=url, provider="sourceforge", path=f"/Repos/{ADMIN}/err-{unique}")
    w.repos.create(url=url, provider="gitHub", path=f"/Repos/{ADMIN}/err-{unique}")
    with pytest.raises(ResourceAlreadyExists):
        w.repos.create(url=url, provider="gitHub", path=f"/Repos/{ADMIN}/err-{unique}")
    with pytest.raises(InvalidParameterValue):
        w.repos.create(url="/nonexistent/repository.git", provider="gitHub", path=f"/Repos/{ADMIN}/local-{unique}")


def test_list_pages_and_filters_by_prefix(w: WorkspaceClient, local, unique: str):
    w.workspace.mkdirs(f"/Repos/team-{unique}")
    ids = {
        w.repos.create(url=f"https://github.com/example/r{i}-{unique}.git", provider="gitHub", path=f"/Repos/team-{unique}/r{i:02d}").id
        for i in range(25)
    }
    start = local.control("GET", "requests?since=0")["last_seq"]
    listed = list(w.repos.list(path_prefix=f"/Repos/team-{unique}"))
    assert {r.id for r in listed} == ids
    assert [r.path for r in listed] == sorted(r.path for r in listed)
    assert len([e for e in local.requests_since(start) if e["path"] == "/api/2.0/repos"]) == 2  # 20 + 5
    assert ids <= {r.id for r in w.repos.list()}
    assert list(w.repos.list(path_prefix=f"/Workspace/Repos/team-{unique}/r0")) != []
    assert list(w.repos.list(path_prefix=f"/Repos/team-{unique}-none")) == []


def test_permissions_are_enforced(w: WorkspaceClient, bob, unique: str):
    bob_name, as_bob = bob
    repo = w.repos.create(url=f"https://github.com/example/acl-{unique}.git", provider="gitHub")
    with pytest.raises(PermissionDenied):
        as_bob.repos.update(repo.id, branch="dev")
    with pytest.raises(PermissionDenied):
        as_bob.repos.delete(repo.id)
    assert repo.id not in {r.id for r in as_bob.repos.list()}

    w.repos.set_permissions(
        str(repo.id), access_control_list=[RepoAccessControlRequest(user_name=bob_name, permission_level=RepoPermissionLevel.CAN_EDIT)]
    )
    as_bob.repos.update(repo.id, branch="dev")
    assert as_bob.repos.get(repo.id).branch == "dev"
    with pytest.raises(PermissionDenied):
        as_bob.repos.delete(repo.id)

    w.repos.update_permissions(
        str(repo.id), access_control_list=[RepoAccessControlRequest(user_name=bob_name, permission_level=RepoPermissionLevel.CAN_MANAGE)]
    )
    perms = w.repos.get_permissions(str(repo.id))
    assert perms.object_id == f"/repos/{repo.id}" and perms.object_type == "repo"
    levels = [lv.permission_level.value for lv in w.repos.get_permission_levels(str(repo.id)).permission_levels]
    assert levels == ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"]
    as_bob.repos.delete(repo.id)
    with pytest.raises(NotFound):
        w.repos.get(repo.id)

    # Bob creates Git folders in his own /Repos folder, not in someone else's.
    own = as_bob.repos.create(url=f"https://github.com/example/bob-{unique}.git", provider="gitHub")
    assert own.path == f"/Repos/{bob_name}/bob-{unique}"
    assert own.id in {r.id for r in as_bob.repos.list()}
    with pytest.raises(PermissionDenied):
        as_bob.repos.create(url=f"https://github.com/example/x-{unique}.git", provider="gitHub", path=f"/Repos/{ADMIN}/x-{unique}")


def test_git_credentials(w: WorkspaceClient, bob):
    _, as_bob = bob
    for cred in w.git_credentials.list():
        w.git_credentials.delete(cred.credential_id)
    created = w.git_credentials.create(git_provider="GitHub", git_username="octocat", personal_access_token="ghp_canary_value")
    assert created.credential_id > 0 and created.git_provider == "gitHub"
    assert "ghp_canary_value" not in str(w.api_client.do("GET", "/api/2.0/git-credentials"))
    assert [c.credential_id for c in w.git_credentials.list()] == [created.credential_id]
    got = w.git_credentials.get(created.credential_id)
    assert got.git_username == "octocat"

    with pytest.raises(InvalidState):
        w.git_credentials.create(git_provider="gitHub", git_username="again", personal_access_token="x")
    other = w.git_credentials.create(git_provider="gitLab", git_username="tanuki", personal_access_token="y")

    w.git_credentials.update(created.credential_id, git_provider="gitHub", git_username="octocat2")
    assert w.git_credentials.get(created.credential_id).git_username == "octocat2"

    # Credentials are per user.
    assert list(as_bob.git_credentials.list()) == []
    with pytest.raises(ResourceDoesNotExist):
        as_bob.git_credentials.get(created.credential_id)

    w.git_credentials.delete(created.credential_id)
    w.git_credentials.delete(other.credential_id)
    with pytest.raises(ResourceDoesNotExist):
        w.git_credentials.get(created.credential_id)
