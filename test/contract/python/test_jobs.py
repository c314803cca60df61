"""Jobs API 2.1/2.2 through the official SDK: create, get (with 2.2 array paging), list, reset, update, delete, permissions."""

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, PermissionDenied, ResourceDoesNotExist
from databricks.sdk.service import compute, iam, jobs

SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def notebook(key: str, *, depends_on: list[str] | None = None, **extra) -> jobs.Task:
    return jobs.Task(
        task_key=key,
        notebook_task=jobs.NotebookTask(notebook_path=f"/Shared/{key}"),
        depends_on=[jobs.TaskDependency(task_key=d) for d in depends_on or []],
        **extra,
    )


def job_cluster(key: str, workers: int = 1) -> jobs.JobCluster:
    return jobs.JobCluster(
        job_cluster_key=key,
        new_cluster=compute.ClusterSpec(spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=workers),
    )


def make_user(w: WorkspaceClient, name: str) -> str:
    user_name = f"{name}@example.com"
    w.api_client.do("POST", "/api/2.0/preview/scim/v2/Users", body={"schemas": [SCIM_USER], "userName": user_name})
    return user_name


def test_create_with_tasks_and_job_clusters_and_get(w: WorkspaceClient, unique: str):
    created = w.jobs.create(
        name=f"etl-{unique}",
        job_clusters=[job_cluster("small"), job_cluster("large", 4)],
        tasks=[
            notebook("transform", depends_on=["ingest"], job_cluster_key="large"),
            notebook("ingest", job_cluster_key="small"),
            notebook("report", depends_on=["transform", "ingest"], job_cluster_key="small"),
        ],
        tags={"team": "ml"},
    )
    assert created.job_id > 0

    job = w.jobs.get(created.job_id)
    assert job.job_id == created.job_id
    assert job.creator_user_name == "admin@lakeforge.local"
    assert job.run_as_user_name == "admin@lakeforge.local"
    assert job.created_time > 0
    s = job.settings
    assert s.name == f"etl-{unique}"
    assert s.tags == {"team": "ml"}
    # The service returns tasks ordered by task_key and fills in its defaults.
    assert [t.task_key for t in s.tasks] == ["ingest", "report", "transform"]
    assert [c.job_cluster_key for c in s.job_clusters] == ["small", "large"]
    assert s.job_clusters[1].new_cluster.num_workers == 4
    assert s.max_concurrent_runs == 1
    assert s.timeout_seconds == 0
    assert s.format == jobs.Format.MULTI_TASK
    assert s.email_notifications is not None and s.webhook_notifications is not None
    assert s.queue.enabled is True
    assert s.run_as.user_name == "admin@lakeforge.local"
    report = next(t for t in s.tasks if t.task_key == "report")
    assert sorted(d.task_key for d in report.depends_on) == ["ingest", "transform"]
    assert report.run_if == jobs.RunIf.ALL_SUCCESS


def test_get_follows_next_page_token_for_more_than_100_tasks(w: WorkspaceClient, unique: str):
    tasks = [notebook(f"t{i:03d}", depends_on=[f"t{i - 1:03d}"] if i else []) for i in range(250)]
    params = [jobs.JobParameterDefinition(name=f"p{i:03d}", default=str(i)) for i in range(130)]
    job_id = w.jobs.create(name=f"big-{unique}", tasks=tasks, parameters=params).job_id

    first = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id})
    assert len(first["settings"]["tasks"]) == 100
    assert len(first["settings"]["parameters"]) == 100
    assert first["next_page_token"]
    second = w.api_client.do("GET", "/api/2.2/jobs/get", query={"job_id": job_id, "page_token": first["next_page_token"]})
    assert [t["task_key"] for t in second["settings"]["tasks"]][:2] == ["t100", "t101"]
    assert len(second["settings"]["parameters"]) == 30

    job = w.jobs.get(job_id)  # the SDK merges every page
    assert [t.task_key for t in job.settings.tasks] == [f"t{i:03d}" for i in range(250)]
    assert len(job.settings.parameters) == 130
    assert job.next_page_token is None

    # API 2.1 answers everything at once.
    whole = w.api_client.do("GET", "/api/2.1/jobs/get", query={"job_id": job_id})
    assert len(whole["settings"]["tasks"]) == 250 and "next_page_token" not in whole

    # jobs/list with expand_tasks shows 100 tasks and has_more; the SDK completes them with jobs/get.
    raw = w.api_client.do("GET", "/api/2.2/jobs/list", query={"name": f"big-{unique}", "expand_tasks": "true"})
    assert raw["jobs"][0]["has_more"] is True and len(raw["jobs"][0]["settings"]["tasks"]) == 100
    listed = list(w.jobs.list(name=f"big-{unique}", expand_tasks=True))
    assert len(listed) == 1 and len(listed[0].settings.tasks) == 250


def test_list_filters_by_exact_name_expands_tasks_and_pages(w: WorkspaceClient, unique: str):
    ids = [w.jobs.create(name=f"list-{unique}-{i}", tasks=[notebook("only")]).job_id for i in range(5)]
    w.jobs.create(name=f"list-{unique}-1-suffix", tasks=[notebook("only")])

    by_name = list(w.jobs.list(name=f"LIST-{unique}-1"))  # exact, case-insensitive
    assert [j.job_id for j in by_name] == [ids[1]]
    assert by_name[0].settings.name == f"list-{unique}-1"
    assert not by_name[0].settings.tasks  # tasks only with expand_tasks
    assert "tasks" not in w.api_client.do("GET", "/api/2.2/jobs/list", query={"name": f"list-{unique}-1"})["jobs"][0]["settings"]

    expanded = list(w.jobs.list(name=f"list-{unique}-2", expand_tasks=True))
    assert [t.task_key for t in expanded[0].settings.tasks] == ["only"]

    page = w.api_client.do("GET", "/api/2.2/jobs/list", query={"limit": 2})
    assert len(page["jobs"]) == 2 and page["has_more"] is True and page["next_page_token"]
    following = w.api_client.do("GET", "/api/2.2/jobs/list", query={"limit": 2, "page_token": page["next_page_token"]})
    assert following["prev_page_token"]
    assert not {j["job_id"] for j in page["jobs"]} & {j["job_id"] for j in following["jobs"]}

    seen = [j.job_id for j in w.jobs.list(limit=2)]  # the SDK follows next_page_token
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    newest_first = [i for i in seen if i in ids]
    assert newest_first == sorted(ids, reverse=True)

    with pytest.raises(InvalidParameterValue):
        w.api_client.do("GET", "/api/2.2/jobs/list", query={"limit": 101})


def test_reset_replaces_all_settings(w: WorkspaceClient, unique: str):
    job_id = w.jobs.create(
        name=f"reset-{unique}", tasks=[notebook("a"), notebook("b")], schedule=jobs.CronSchedule(quartz_cron_expression="0 0 * * * ?", timezone_id="UTC")
    ).job_id
    w.jobs.reset(job_id, new_settings=jobs.JobSettings(name=f"reset-{unique}-v2", tasks=[notebook("c")], max_concurrent_runs=3))
    s = w.jobs.get(job_id).settings
    assert s.name == f"reset-{unique}-v2"
    assert [t.task_key for t in s.tasks] == ["c"]
    assert s.schedule is None
    assert s.max_concurrent_runs == 3
    assert s.run_as.user_name == "admin@lakeforge.local"  # kept although left out


def test_update_merges_arrays_by_key_and_removes_fields(w: WorkspaceClient, unique: str):
    job_id = w.jobs.create(
        name=f"update-{unique}",
        job_clusters=[job_cluster("small"), job_cluster("large", 4)],
        tasks=[notebook("a", job_cluster_key="small"), notebook("b", depends_on=["a"], job_cluster_key="large"), notebook("c")],
        parameters=[jobs.JobParameterDefinition(name="env", default="dev")],
        tags={"team": "ml"},
        timeout_seconds=600,
    ).job_id

    w.jobs.update(
        job_id,
        new_settings=jobs.JobSettings(
            description="nightly",
            tasks=[notebook("a", job_cluster_key="small", max_retries=2), notebook("d", depends_on=["a"])],
            parameters=[jobs.JobParameterDefinition(name="region", default="eu")],
        ),
        fields_to_remove=["tags", "tasks/c", "tasks/b", "job_clusters/large"],
    )
    s = w.jobs.get(job_id).settings
    assert s.name == f"update-{unique}"  # untouched top-level fields stay
    assert s.timeout_seconds == 600
    assert s.description == "nightly"
    assert s.tags is None
    assert [t.task_key for t in s.tasks] == ["a", "d"]
    assert s.tasks[0].max_retries == 2  # replaced by key
    assert [c.job_cluster_key for c in s.job_clusters] == ["small"]
    assert sorted(p.name for p in s.parameters) == ["env", "region"]

    # Removing a job cluster still used by a task is rejected and changes nothing.
    with pytest.raises(InvalidParameterValue):
        w.jobs.update(job_id, fields_to_remove=["job_clusters/small"])
    assert [c.job_cluster_key for c in w.jobs.get(job_id).settings.job_clusters] == ["small"]


def test_delete_and_missing_job(w: WorkspaceClient, unique: str):
    job_id = w.jobs.create(name=f"delete-{unique}", tasks=[notebook("a")]).job_id
    w.jobs.delete(job_id)
    # The service answers 400 INVALID_PARAMETER_VALUE; the SDK turns it into ResourceDoesNotExist on jobs/get.
    with pytest.raises(ResourceDoesNotExist, match=f"Job {job_id} does not exist."):
        w.jobs.get(job_id)
    with pytest.raises(InvalidParameterValue, match=f"Job {job_id} does not exist."):
        w.jobs.update(job_id, new_settings=jobs.JobSettings(name="x"))
    with pytest.raises(InvalidParameterValue):
        w.jobs.delete(job_id)
    with pytest.raises(InvalidParameterValue):
        w.jobs.reset(job_id, new_settings=jobs.JobSettings(name="x"))
    assert not list(w.jobs.list(name=f"delete-{unique}"))


@pytest.mark.parametrize(
    "tasks, message",
    [
        ([notebook("a"), notebook("a")], "not unique"),
        ([notebook("a", depends_on=["missing"])], "non-existent task 'missing'"),
        ([notebook("a", depends_on=["a"])], "can not reference itself"),
        ([notebook("a", depends_on=["b"]), notebook("b", depends_on=["a"])], "cyclic"),
        ([jobs.Task(task_key="a")], "task type"),
        ([notebook("a", spark_python_task=jobs.SparkPythonTask(python_file="x.py"))], "exactly one task type"),
        ([jobs.Task(task_key="", notebook_task=jobs.NotebookTask(notebook_path="/x"))], "task_key"),
        ([notebook("a", job_cluster_key="nope")], "job cluster 'nope'"),
    ],
)
def test_invalid_settings_are_rejected(w: WorkspaceClient, unique: str, tasks, message):
    with pytest.raises(InvalidParameterValue, match=message):
        w.jobs.create(name=f"invalid-{unique}", tasks=tasks)
    assert not list(w.jobs.list(name=f"invalid-{unique}"))


def test_git_source_needs_a_provider(w: WorkspaceClient):
    with pytest.raises(InvalidParameterValue, match="git_source.git_provider"):
        w.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "g", "git_source": {"git_url": "https://github.com/a/b"}})


def test_permissions_are_enforced_for_other_users(local, w: WorkspaceClient, unique: str):
    user = make_user(w, f"jobs-{unique}")
    other = local.client(local.token_for(user_name=user))
    job_id = w.jobs.create(name=f"private-{unique}", tasks=[notebook("a")]).job_id

    with pytest.raises(PermissionDenied, match=f"User {user} does not have View .* permissions on job {job_id}"):
        other.jobs.get(job_id)
    assert all(j.job_id != job_id for j in other.jobs.list())

    levels = {
        a.group_name or a.user_name: [p.permission_level for p in a.all_permissions]
        for a in w.jobs.get_permissions(str(job_id)).access_control_list
    }
    assert levels["admin@lakeforge.local"] == [jobs.JobPermissionLevel.IS_OWNER]
    assert levels["admins"] == [jobs.JobPermissionLevel.CAN_MANAGE]

    w.jobs.set_permissions(
        str(job_id), access_control_list=[jobs.JobAccessControlRequest(user_name=user, permission_level=jobs.JobPermissionLevel.CAN_VIEW)]
    )
    assert other.jobs.get(job_id).settings.name == f"private-{unique}"
    assert [j.job_id for j in other.jobs.list(name=f"private-{unique}")] == [job_id]
    with pytest.raises(PermissionDenied):
        other.jobs.reset(job_id, new_settings=jobs.JobSettings(name="hijacked", tasks=[notebook("a")]))
    with pytest.raises(PermissionDenied):
        other.jobs.delete(job_id)

    w.permissions.update(
        "jobs", str(job_id), access_control_list=[iam.AccessControlRequest(user_name=user, permission_level=iam.PermissionLevel.CAN_MANAGE)]
    )
    other.jobs.update(job_id, new_settings=jobs.JobSettings(description="edited by a manager"))
    assert w.jobs.get(job_id).settings.description == "edited by a manager"
    assert w.jobs.get(job_id).run_as_user_name == "admin@lakeforge.local"  # still runs as the owner

    # A missing job answers 403 to someone without access, 400 to an admin.
    with pytest.raises(PermissionDenied):
        other.jobs.get(1)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get(1)


def test_non_admin_creator_owns_the_job_and_runs_it_as_self(local, w: WorkspaceClient, unique: str):
    user = make_user(w, f"owner-{unique}")
    other = local.client(local.token_for(user_name=user))
    job_id = other.jobs.create(name=f"mine-{unique}", tasks=[notebook("a")]).job_id
    job = other.jobs.get(job_id)
    assert job.creator_user_name == user and job.run_as_user_name == user
    owners = [
        a.user_name
        for a in other.jobs.get_permissions(str(job_id)).access_control_list
        if any(p.permission_level == jobs.JobPermissionLevel.IS_OWNER for p in a.all_permissions)
    ]
    assert owners == [user]
    with pytest.raises(PermissionDenied):
        other.jobs.update(job_id, new_settings=jobs.JobSettings(run_as=jobs.JobRunAs(user_name="admin@lakeforge.local")))
    other.jobs.delete(job_id)


def test_admin_can_set_run_as_to_another_user(w: WorkspaceClient, unique: str):
    user = make_user(w, f"runas-{unique}")
    job_id = w.jobs.create(name=f"runas-{unique}", tasks=[notebook("a")], run_as=jobs.JobRunAs(user_name=user)).job_id
    assert w.jobs.get(job_id).run_as_user_name == user
    with pytest.raises(InvalidParameterValue):
        w.jobs.create(name=f"runas-{unique}", tasks=[notebook("a")], run_as=jobs.JobRunAs(user_name=f"ghost-{unique}@example.com"))

