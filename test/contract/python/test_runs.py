"""Job runs through the official SDK: run_now(...).result(), get_run, get_run_output, cancel_run, submit."""

import base64
import os
import time

import pytest
from conftest import ROOT, LocalWorkspace, start_workspace
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs, workspace

RUNTIME = ROOT / ".cache" / "venv-project" / "bin" / "python"
DIR = "/Workspace/Users/admin@lakeforge.local/sdk-runs"

pytestmark = pytest.mark.skipif(not RUNTIME.exists(), reason=f"no runtime interpreter at {RUNTIME} (run npm run setup)")


@pytest.fixture(scope="module")
def local():
    previous = os.environ.get("LAKEFORGE_RUNTIME_PYTHON")
    os.environ["LAKEFORGE_RUNTIME_PYTHON"] = str(RUNTIME)
    try:
        ws = start_workspace("--ephemeral")
    finally:
        if previous is None:
            del os.environ["LAKEFORGE_RUNTIME_PYTHON"]
        else:
            os.environ["LAKEFORGE_RUNTIME_PYTHON"] = previous
    yield ws
    ws.proc.terminate()
    ws.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def w(local: LocalWorkspace) -> WorkspaceClient:
    client = local.client()
    client.workspace.mkdirs(DIR)
    files = {
        "hello.py": "import sys\nprint('hello', *sys.argv[1:])\ndbutils.jobs.taskValues.set('greeting', 'hi')\n",
        "fail.py": "raise KeyError('missing column')\n",
        "sleep.py": "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n",
    }
    for name, content in files.items():
        client.workspace.import_(
            f"{DIR}/{name}",
            content=base64.b64encode(content.encode()).decode(),
            format=workspace.ImportFormat.AUTO,
            overwrite=True,
        )
    return client


def python_task(key: str, file: str, *, parameters: list[str] | None = None, depends_on: list[str] | None = None) -> jobs.Task:
    return jobs.Task(
        task_key=key,
        spark_python_task=jobs.SparkPythonTask(python_file=f"{DIR}/{file}", parameters=parameters or []),
        depends_on=[jobs.TaskDependency(task_key=d) for d in depends_on or []],
    )


def test_run_now_result_get_run_and_output(w: WorkspaceClient, unique: str):
    job = w.jobs.create(
        name=f"hello-{unique}",
        parameters=[jobs.JobParameterDefinition(name="who", default="world")],
        tasks=[
            python_task("hello", "hello.py", parameters=["{{job.parameters.who}}"]),
            jobs.Task(
                task_key="check",
                depends_on=[jobs.TaskDependency(task_key="hello")],
                condition_task=jobs.ConditionTask(
                    op=jobs.ConditionTaskOp.EQUAL_TO, left="{{tasks.hello.values.greeting}}", right="hi"
                ),
            ),
        ],
    )
    run = w.jobs.run_now(job.job_id, job_parameters={"who": "sdk"}).result()
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.status.state == jobs.RunLifecycleStateV2State.TERMINATED
    assert run.status.termination_details.code == jobs.TerminationCodeCode.SUCCESS
    assert run.run_page_url.startswith(w.config.host)

    again = w.jobs.get_run(run.run_id)
    assert {t.task_key for t in again.tasks} == {"hello", "check"}
    by_key = {t.task_key: t for t in again.tasks}
    assert by_key["check"].condition_task.outcome == "true"
    assert [p.value for p in again.job_parameters] == ["sdk"]

    output = w.jobs.get_run_output(by_key["hello"].run_id)
    assert "hello sdk" in output.logs
    assert output.metadata.run_id == by_key["hello"].run_id

    runs = list(w.jobs.list_runs(job_id=job.job_id))
    assert [r.run_id for r in runs] == [run.run_id]


def test_failed_run_reports_error_and_trace(w: WorkspaceClient, unique: str):
    job = w.jobs.create(name=f"fail-{unique}", tasks=[python_task("bad", "fail.py"), python_task("after", "hello.py", depends_on=["bad"])])
    run = w.jobs.run_now(job.job_id).result()
    assert run.state.result_state == jobs.RunResultState.FAILED
    by_key = {t.task_key: t for t in run.tasks}
    assert by_key["after"].state.result_state == jobs.RunResultState.UPSTREAM_FAILED
    output = w.jobs.get_run_output(by_key["bad"].run_id)
    assert output.error == "KeyError: 'missing column'"
    assert "KeyError" in output.error_trace


def test_cancel_run(w: WorkspaceClient, unique: str):
    job = w.jobs.create(name=f"sleep-{unique}", tasks=[python_task("s", "sleep.py")])
    waiter = w.jobs.run_now(job.job_id)
    deadline = time.time() + 60
    while True:
        run = w.jobs.get_run(waiter.run_id)
        if run.tasks[0].state.life_cycle_state == jobs.RunLifeCycleState.RUNNING:
            break
        assert time.time() < deadline, "the task never started"
        time.sleep(0.2)
    cancelled = w.jobs.cancel_run(waiter.run_id).result()
    assert cancelled.state.result_state == jobs.RunResultState.CANCELED
    assert cancelled.tasks[0].state.result_state == jobs.RunResultState.CANCELED


def test_submit_one_time_run(w: WorkspaceClient, unique: str):
    run = w.jobs.submit(run_name=f"once-{unique}", tasks=[jobs.SubmitTask(
        task_key="t", spark_python_task=jobs.SparkPythonTask(python_file=f"{DIR}/hello.py", parameters=["submitted"])
    )]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.run_type == jobs.RunType.SUBMIT_RUN
    assert "hello submitted" in w.jobs.get_run_output(run.tasks[0].run_id).logs
