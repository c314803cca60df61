import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Api,
  createJob,
  HAVE_RUNTIME,
  makeWheel,
  NO_RUNTIME_REASON,
  output,
  putFile,
  runNow,
  startRunsWorkspace,
  task,
} from "./runs-helpers.js";

/* Task types, parameters, references and task values, with real Python processes. */

const DIR = "/Workspace/Users/admin@lakeforge.local/proj";

describe.skipIf(!HAVE_RUNTIME)(`job runs: task types ${HAVE_RUNTIME ? "" : `(skipped: ${NO_RUNTIME_REASON})`}`, () => {
  let api: Api;
  beforeAll(async () => {
    api = await startRunsWorkspace();
    await putFile(api, `${DIR}/lib/helper.py`, "def greet(name):\n    return f'hello {name}'\n");
    await putFile(
      api,
      `${DIR}/lib/main.py`,
      [
        "import os, sys",
        "from helper import greet",
        "print(greet(sys.argv[1]), 'args', sys.argv[1:])",
        "print('token in argv:', any(os.environ['DATABRICKS_TOKEN'] in a for a in sys.argv))",
        "print('host', os.environ['DATABRICKS_HOST'], os.environ['MLFLOW_TRACKING_URI'])",
        "dbutils.jobs.taskValues.set('answer', 42)",
        "dbutils.jobs.taskValues.set('flag', True)",
        "open('shared.txt', 'w').write('from ' + sys.argv[1])",
      ].join("\n"),
    );
    await putFile(
      api,
      `${DIR}/lib/reader.py`,
      [
        "import sys",
        "print('read', open('shared.txt').read())",
        "print('upstream', dbutils.jobs.taskValues.get('first', 'answer'))",
        "print('argv', sys.argv[1:])",
      ].join("\n"),
    );
  });
  afterAll(async () => api?.ws.stop());

  it("runs spark_python_task files from the workspace with parameters, references and task values", async () => {
    const jobId = await createJob(api, {
      name: "python files",
      parameters: [{ name: "who", default: "world" }],
      tasks: [
        {
          task_key: "first",
          spark_python_task: { python_file: `${DIR}/lib/main.py`, parameters: ["{{job.parameters.who}}", "{{task.name}}"] },
        },
        {
          task_key: "second",
          depends_on: [{ task_key: "first" }],
          spark_python_task: {
            python_file: `${DIR}/lib/reader.py`,
            parameters: ["{{tasks.first.values.answer}}", "{{job.id}}", "{{job.run_id}}"],
          },
        },
      ],
    });
    const run = await runNow(api, jobId, { job_parameters: { who: "lakeforge" } });
    expect(run.state).toMatchObject({ life_cycle_state: "TERMINATED", result_state: "SUCCESS" });
    expect(run.status).toMatchObject({ state: "TERMINATED", termination_details: { code: "SUCCESS", type: "SUCCESS" } });
    expect(run.job_parameters).toEqual([{ name: "who", default: "world", value: "lakeforge" }]);
    expect(run.run_page_url).toBe(`${api.ws.url}/jobs/${jobId}/runs/${run.run_id}`);
    expect(task(run, "first").attempt_number).toBe(0);
    expect(task(run, "first").run_id).not.toBe(run.run_id);

    const first = await output(api, run, "first");
    expect(first.logs).toContain("hello lakeforge args ['lakeforge', 'first']");
    expect(first.logs).toContain("token in argv: False");
    expect(first.logs).toContain(`host ${api.ws.url} databricks`);
    expect(first.logs_truncated).toBe(false);
    expect(first.metadata).toMatchObject({ job_id: jobId, task_key: "first", state: { result_state: "SUCCESS" } });
    const second = await output(api, run, "second");
    expect(second.logs).toContain("read from lakeforge");
    expect(second.logs).toContain("upstream 42");
    expect(second.logs).toContain(`argv ['42', '${jobId}', '${run.run_id}']`);

    // The run of a multi-task job has no output of its own.
    const whole = await api.call("GET", `/api/2.1/jobs/runs/get-output?run_id=${run.run_id}`);
    expect(whole.status).toBe(400);
    expect(whole.body.error_code).toBe("INVALID_PARAMETER_VALUE");

    // The run page answers something readable without a token.
    const page = await fetch(run.run_page_url as string);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("python files");
    expect(html).toContain("TERMINATED / SUCCESS");
  });

  it("feeds task values into condition_task and excludes the branch not taken", async () => {
    const jobId = await createJob(api, {
      name: "branches",
      tasks: [
        { task_key: "first", spark_python_task: { python_file: `${DIR}/lib/main.py`, parameters: ["x"] } },
        {
          task_key: "check",
          depends_on: [{ task_key: "first" }],
          condition_task: { op: "GREATER_THAN", left: "{{tasks.first.values.answer}}", right: "40" },
        },
        {
          task_key: "flag",
          depends_on: [{ task_key: "first" }],
          condition_task: { op: "EQUAL_TO", left: "{{tasks.first.values.flag}}", right: "false" },
        },
        {
          task_key: "on_true",
          depends_on: [{ task_key: "check", outcome: "true" }],
          condition_task: { op: "EQUAL_TO", left: "a", right: "a" },
        },
        {
          task_key: "on_false",
          depends_on: [{ task_key: "check", outcome: "false" }],
          condition_task: { op: "EQUAL_TO", left: "a", right: "a" },
        },
        {
          task_key: "flag_true",
          depends_on: [{ task_key: "flag", outcome: "true" }],
          condition_task: { op: "EQUAL_TO", left: "a", right: "a" },
        },
      ],
    });
    const run = await runNow(api, jobId);
    expect(run.state.result_state).toBe("SUCCESS");
    expect(task(run, "check").condition_task).toMatchObject({ left: "42", right: "40", outcome: "true" });
    expect(task(run, "flag").condition_task).toMatchObject({ left: "true", outcome: "false" });
    expect(task(run, "on_true").state.result_state).toBe("SUCCESS");
    expect(task(run, "on_false").state).toMatchObject({ life_cycle_state: "SKIPPED", result_state: "EXCLUDED" });
    expect(task(run, "flag_true").state.result_state).toBe("EXCLUDED");
  });

  it("runs source notebooks: cells, %run includes, widgets from base_parameters and job parameters, notebook.exit", async () => {
    await putFile(
      api,
      `${DIR}/nb/setup.py`,
      "# Databricks notebook source\nSHARED = 'from setup'\n\n# COMMAND ----------\n\ndef twice(x):\n    return x * 2\n",
    );
    await putFile(
      api,
      `${DIR}/nb/main.py`,
      [
        "# Databricks notebook source",
        "# MAGIC %md",
        "# MAGIC # A title",
        "",
        "# COMMAND ----------",
        "",
        "# MAGIC %run ./setup",
        "",
        "# COMMAND ----------",
        "",
        "dbutils.widgets.text('color', 'red')",
        "dbutils.widgets.text('size', 'small')",
        "print(SHARED, twice(21), dbutils.widgets.get('color'), dbutils.widgets.get('size'), dbutils.widgets.get('env'))",
        "",
        "# COMMAND ----------",
        "",
        "dbutils.jobs.taskValues.set('nb', 'done')",
        "dbutils.notebook.exit('result:' + dbutils.widgets.get('color'))",
        "",
        "# COMMAND ----------",
        "",
        "raise RuntimeError('never reached')",
      ].join("\n"),
    );
    const jobId = await createJob(api, {
      name: "notebook",
      parameters: [{ name: "env", default: "dev" }],
      tasks: [
        {
          task_key: "nb",
          notebook_task: { notebook_path: `${DIR}/nb/main`, base_parameters: { color: "blue", size: "{{task.name}}" } },
        },
        {
          task_key: "after",
          depends_on: [{ task_key: "nb" }],
          condition_task: { op: "EQUAL_TO", left: "{{tasks.nb.values.nb}}", right: "done" },
        },
      ],
    });
    const run = await runNow(api, jobId);
    expect(run.state.result_state).toBe("SUCCESS");
    const out = await output(api, run, "nb");
    expect(out.notebook_output).toEqual({ result: "result:blue", truncated: false });
    expect(out.logs).toContain("from setup 42 blue nb dev");
    expect(task(run, "after").condition_task.outcome).toBe("true");
  });

  it("runs python_wheel_task entry points from a wheel in the task's libraries", async () => {
    const wheel = makeWheel("lfdemo", "0.1.0", {
      "lfdemo/__init__.py":
        "import sys\n\ndef main():\n    print('wheel main', sys.argv[1:])\n    dbutils.jobs.taskValues.set('wheel', 'ran')\n",
    });
    await putFile(api, `${DIR}/dist/lfdemo-0.1.0-py3-none-any.whl`, wheel);
    const jobId = await createJob(api, {
      name: "wheel",
      tasks: [
        {
          task_key: "w",
          python_wheel_task: { package_name: "lfdemo", entry_point: "run", named_parameters: { mode: "fast" } },
          libraries: [{ whl: `${DIR}/dist/lfdemo-0.1.0-py3-none-any.whl` }],
        },
      ],
    });
    const run = await runNow(api, jobId);
    const out = await output(api, run, "w");
    expect(run.state.result_state, JSON.stringify(out)).toBe("SUCCESS");
    expect(out.logs).toContain("wheel main ['--mode=fast']");
  });

  it("runs run_job_task: starts the other job and waits for it", async () => {
    const child = await createJob(api, {
      name: "child",
      parameters: [{ name: "who", default: "nobody" }],
      tasks: [
        { task_key: "c", spark_python_task: { python_file: `${DIR}/lib/main.py`, parameters: ["{{job.parameters.who}}"] } },
      ],
    });
    const parent = await createJob(api, {
      name: "parent",
      tasks: [{ task_key: "call", run_job_task: { job_id: child, job_parameters: { who: "{{job.name}}" } } }],
    });
    const run = await runNow(api, parent);
    expect(run.state.result_state).toBe("SUCCESS");
    const out = await output(api, run, "call");
    const childRunId = out.run_job_output.run_id as number;
    const childRun = await api.ok("GET", `/api/2.1/jobs/runs/get?run_id=${childRunId}`);
    expect(childRun).toMatchObject({ job_id: child, trigger: "RUN_JOB_TASK", state: { result_state: "SUCCESS" } });
    const childOut = await output(api, childRun, "c");
    expect(childOut.logs).toContain("hello parent");
  });

  it("runs one-time runs from runs/submit, once per idempotency token", async () => {
    const body = {
      run_name: "one-off",
      idempotency_token: "tok-1",
      tasks: [{ task_key: "t", spark_python_task: { python_file: `${DIR}/lib/main.py`, parameters: ["submit"] } }],
    };
    const a = await api.ok("POST", "/api/2.1/jobs/runs/submit", body);
    const b = await api.ok("POST", "/api/2.1/jobs/runs/submit", body);
    expect(b.run_id).toBe(a.run_id);
    const { waitRun } = await import("./runs-helpers.js");
    const run = await waitRun(api, a.run_id as number);
    expect(run).toMatchObject({ run_type: "SUBMIT_RUN", run_name: "one-off", state: { result_state: "SUCCESS" } });
    expect(run.job_id).toBeUndefined();
    expect((await output(api, run, "t")).logs).toContain("hello submit");
  });

  it("gives tasks a token of the job's run_as identity and checks run permissions", async () => {
    await api.ok("POST", "/api/2.0/preview/scim/v2/Users", {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
      userName: "alice@example.com",
    });
    const whoami = [
      "import json, os, urllib.request",
      "req = urllib.request.Request(os.environ['DATABRICKS_HOST'] + '/api/2.0/preview/scim/v2/Me',",
      "                             headers={'Authorization': 'Bearer ' + os.environ['DATABRICKS_TOKEN']})",
      "print('me', json.load(urllib.request.urlopen(req))['userName'])",
    ].join("\n");
    await putFile(api, `${DIR}/lib/whoami.py`, whoami);
    const jobId = await createJob(api, {
      name: "as alice",
      run_as: { user_name: "alice@example.com" },
      tasks: [{ task_key: "who", spark_python_task: { python_file: `${DIR}/lib/whoami.py` } }],
    });
    // alice cannot read the admin's home folder: the task says so.
    const blocked = await runNow(api, jobId);
    expect((await output(api, blocked, "who")).error).toContain("alice@example.com does not have permission to read");
    await putFile(api, "/Workspace/Shared/whoami.py", whoami);
    await api.ok("POST", "/api/2.2/jobs/update", {
      job_id: jobId,
      new_settings: { tasks: [{ task_key: "who", spark_python_task: { python_file: "/Workspace/Shared/whoami.py" } }] },
    });
    const run = await runNow(api, jobId);
    expect((await output(api, run, "who")).logs).toContain("me alice@example.com");
    expect(run.creator_user_name).toBe("admin@lakeforge.local");

    const { token_value } = await api.ok("POST", "/__lakeforge/tokens", { user_name: "alice@example.com" });
    const denied = await api.call("POST", "/api/2.2/jobs/run-now", { job_id: jobId }, token_value as string);
    expect(denied.status).toBe(403);
    expect(denied.body.error_code).toBe("PERMISSION_DENIED");
    const hidden = await api.call("GET", `/api/2.1/jobs/runs/get?run_id=${run.run_id}`, undefined, token_value as string);
    expect(hidden.status).toBe(403);
  });

  it("answers the documented errors", async () => {
    const missing = await api.call("POST", "/api/2.2/jobs/run-now", { job_id: 12345 });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error_code: "INVALID_PARAMETER_VALUE", message: "Job 12345 does not exist." });
    const noRun = await api.call("GET", "/api/2.1/jobs/runs/get?run_id=999");
    expect(noRun.body).toEqual({ error_code: "INVALID_PARAMETER_VALUE", message: "Run 999 does not exist." });
    const jobId = await createJob(api, {
      name: "p",
      tasks: [{ task_key: "t", condition_task: { op: "EQUAL_TO", left: "1", right: "1" } }],
    });
    const undefinedParam = await api.call("POST", "/api/2.2/jobs/run-now", { job_id: jobId, job_parameters: { nope: "1" } });
    expect(undefinedParam.status).toBe(400);
    expect(undefinedParam.body.message).toContain("nope");
    const both = await api.call("GET", "/api/2.1/jobs/runs/list?active_only=true&completed_only=true");
    expect(both.status).toBe(400);
  });
});
