import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive } from "../support/process.js";
import {
  type Api,
  createJob,
  HAVE_RUNTIME,
  NO_RUNTIME_REASON,
  output,
  putFile,
  runNow,
  startRunsWorkspace,
  task,
  waitFor,
  waitRun,
} from "./runs-helpers.js";

/* Failures, run_if, cancel, retries, timeouts, queueing, repair, secrets, persistence. */

const DIR = "/Workspace/Users/admin@lakeforge.local/ctl";

const py = (key: string, path: string, extra: Record<string, unknown> = {}) => ({
  task_key: key,
  spark_python_task: { python_file: `${DIR}/${path}` },
  ...extra,
});

describe.skipIf(!HAVE_RUNTIME)(`job runs: control ${HAVE_RUNTIME ? "" : `(skipped: ${NO_RUNTIME_REASON})`}`, () => {
  let api: Api;
  beforeAll(async () => {
    api = await startRunsWorkspace({ runs: { logLimitBytes: 4096 } });
    await putFile(api, `${DIR}/ok.py`, "print('ok ran')\n");
    await putFile(
      api,
      `${DIR}/fail.py`,
      "def inner():\n    raise ValueError('the data is bad')\n\nprint('about to fail')\ninner()\n",
    );
    await putFile(
      api,
      `${DIR}/sleep.py`,
      [
        "import os, subprocess, sys, time",
        "child = subprocess.Popen(['sleep', '600'])",
        "print('pids', os.getpid(), child.pid, flush=True)",
        "time.sleep(600)",
      ].join("\n"),
    );
    await putFile(
      api,
      `${DIR}/flaky.py`,
      [
        "import os",
        "marker = 'flaky-' + dbutils.widgets.get('key')",
        "n = int(open(marker).read()) if os.path.exists(marker) else 0",
        "open(marker, 'w').write(str(n + 1))",
        "print('attempt', n)",
        "if n < 2: raise RuntimeError(f'attempt {n} fails')",
      ].join("\n"),
    );
    await putFile(api, `${DIR}/noisy.py`, "for i in range(2000):\n    print(f'line {i:05d}')\n");
  });
  afterAll(async () => api?.ws.stop());

  it("fails the run when a task fails, with the error and trace in get-output, and honours run_if downstream", async () => {
    const jobId = await createJob(api, {
      name: "failing",
      tasks: [
        py("bad", "fail.py"),
        py("good", "ok.py"),
        py("all_success", "ok.py", { depends_on: [{ task_key: "bad" }] }),
        py("all_done", "ok.py", { depends_on: [{ task_key: "bad" }], run_if: "ALL_DONE" }),
        py("one_failed", "ok.py", { depends_on: [{ task_key: "bad" }, { task_key: "good" }], run_if: "AT_LEAST_ONE_FAILED" }),
        py("all_failed", "ok.py", { depends_on: [{ task_key: "bad" }, { task_key: "good" }], run_if: "ALL_FAILED" }),
        py("one_success", "ok.py", { depends_on: [{ task_key: "bad" }, { task_key: "good" }], run_if: "AT_LEAST_ONE_SUCCESS" }),
        py("none_failed", "ok.py", { depends_on: [{ task_key: "good" }], run_if: "NONE_FAILED" }),
      ],
    });
    const run = await runNow(api, jobId);
    expect(run.state).toMatchObject({ life_cycle_state: "TERMINATED", result_state: "FAILED" });
    expect(run.state.state_message).toContain("bad");
    expect(run.status.termination_details).toMatchObject({ code: "RUN_EXECUTION_ERROR" });
    expect(task(run, "bad").state.result_state).toBe("FAILED");
    expect(task(run, "all_success").state.result_state).toBe("UPSTREAM_FAILED");
    expect(task(run, "all_done").state.result_state).toBe("SUCCESS");
    expect(task(run, "one_failed").state.result_state).toBe("SUCCESS");
    expect(task(run, "all_failed").state.result_state).toBe("EXCLUDED");
    expect(task(run, "one_success").state.result_state).toBe("SUCCESS");
    expect(task(run, "none_failed").state.result_state).toBe("SUCCESS");
    const out = await output(api, run, "bad");
    expect(out.error).toBe("ValueError: the data is bad");
    expect(out.error_trace).toContain("in inner");
    expect(out.error_trace).toContain("ValueError: the data is bad");
    expect(out.logs).toContain("about to fail");
    expect(out.metadata.state.result_state).toBe("FAILED");
  });

  it("cancels a running task by killing its process tree", async () => {
    const jobId = await createJob(api, { name: "sleeper", tasks: [py("s", "sleep.py")] });
    const { run_id } = await api.ok("POST", "/api/2.2/jobs/run-now", { job_id: jobId });
    const pids = await waitFor(async () => {
      const run = await api.ok("GET", `/api/2.1/jobs/runs/get?run_id=${run_id}`);
      const t = run.tasks?.[0];
      if (t?.state.life_cycle_state !== "RUNNING") return undefined;
      const out = await api.ok("GET", `/api/2.1/jobs/runs/get-output?run_id=${t.run_id}`);
      const m = /pids (\d+) (\d+)/.exec(String(out.logs ?? ""));
      return m ? [Number(m[1]), Number(m[2])] : undefined;
    });
    expect(pids.every(alive)).toBe(true);
    await api.ok("POST", "/api/2.1/jobs/runs/cancel", { run_id });
    const run = await waitRun(api, run_id as number);
    expect(run.state).toMatchObject({
      life_cycle_state: "TERMINATED",
      result_state: "CANCELED",
      user_cancelled_or_timedout: true,
    });
    expect(task(run, "s").state.result_state).toBe("CANCELED");
    await waitFor(async () => (pids.some(alive) ? undefined : true), 15_000);
  });

  it("retries failed tasks up to max_retries with a new run id and attempt number", async () => {
    const jobId = await createJob(api, {
      name: "flaky",
      parameters: [{ name: "key", default: "a" }],
      tasks: [py("f", "flaky.py", { max_retries: 3, min_retry_interval_millis: 10 })],
    });
    const run = await runNow(api, jobId);
    expect(run.state.result_state).toBe("SUCCESS");
    const t = task(run, "f");
    expect(t.attempt_number).toBe(2);
    expect((await output(api, run, "f")).logs).toContain("attempt 2");

    const limited = await createJob(api, {
      name: "flaky-limited",
      parameters: [{ name: "key", default: "b" }],
      tasks: [py("f", "flaky.py", { max_retries: 1 })],
    });
    const failed = await runNow(api, limited);
    expect(failed.state.result_state).toBe("FAILED");
    expect(task(failed, "f").attempt_number).toBe(1);
    expect((await output(api, failed, "f")).error).toBe("RuntimeError: attempt 1 fails");
  });

  it("times out tasks and jobs", async () => {
    const taskTimeout = await createJob(api, { name: "slow task", tasks: [py("s", "sleep.py", { timeout_seconds: 1 })] });
    const run = await runNow(api, taskTimeout);
    expect(task(run, "s").state.result_state).toBe("TIMEDOUT");
    expect(run.state.result_state).toBe("FAILED");

    const jobTimeout = await createJob(api, { name: "slow job", timeout_seconds: 1, tasks: [py("s", "sleep.py")] });
    const timed = await runNow(api, jobTimeout);
    expect(timed.state).toMatchObject({ result_state: "TIMEDOUT", user_cancelled_or_timedout: true });
  });

  it("queues runs beyond max_concurrent_runs, or skips them when queueing is off", async () => {
    const jobId = await createJob(api, { name: "one at a time", max_concurrent_runs: 1, tasks: [py("s", "sleep.py")] });
    const first = await api.ok("POST", "/api/2.2/jobs/run-now", { job_id: jobId });
    const second = await api.ok("POST", "/api/2.2/jobs/run-now", { job_id: jobId });
    const queued = await api.ok("GET", `/api/2.2/jobs/runs/get?run_id=${second.run_id}`);
    expect(queued.state.life_cycle_state).toBe("QUEUED");
    expect(queued.status).toMatchObject({ state: "QUEUED", queue_details: { code: "ACTIVE_RUNS_LIMIT_REACHED" } });
    const active = await api.ok("GET", `/api/2.2/jobs/runs/list?job_id=${jobId}&active_only=true`);
    expect(active.runs.map((r: { run_id: number }) => r.run_id).sort()).toEqual([first.run_id, second.run_id].sort());
    await api.ok("POST", "/api/2.1/jobs/runs/cancel", { run_id: first.run_id });
    await waitFor(async () => {
      const r = await api.ok("GET", `/api/2.2/jobs/runs/get?run_id=${second.run_id}`);
      return r.state.life_cycle_state === "RUNNING" ? r : undefined;
    });
    await api.ok("POST", "/api/2.1/jobs/runs/cancel-all", { job_id: jobId });
    expect((await waitRun(api, second.run_id as number)).state.result_state).toBe("CANCELED");

    // API 2.1 jobs have no queue unless asked for: a run beyond the limit is skipped.
    const noQueue = await createJob(api, { name: "no queue", max_concurrent_runs: 1, tasks: [py("s", "sleep.py")] }, "2.1");
    const a = await api.ok("POST", "/api/2.1/jobs/run-now", { job_id: noQueue });
    const b = await api.ok("POST", "/api/2.1/jobs/run-now", { job_id: noQueue });
    const skipped = await api.ok("GET", `/api/2.1/jobs/runs/get?run_id=${b.run_id}`);
    expect(skipped.state).toMatchObject({ life_cycle_state: "SKIPPED", result_state: "MAXIMUM_CONCURRENT_RUNS_REACHED" });
    await api.ok("POST", "/api/2.1/jobs/runs/cancel", { run_id: a.run_id });
    await waitRun(api, a.run_id as number);
  });

  it("repairs failed tasks and keeps the repair history; deletes ended runs only", async () => {
    const jobId = await createJob(api, {
      name: "repairable",
      parameters: [{ name: "key", default: "c" }],
      tasks: [py("f", "flaky.py"), py("after", "ok.py", { depends_on: [{ task_key: "f" }] })],
    });
    let run = await runNow(api, jobId);
    expect(run.state.result_state).toBe("FAILED");
    const firstAttempt = task(run, "f").run_id;
    await api.ok("POST", "/api/2.1/jobs/runs/repair", { run_id: run.run_id, rerun_all_failed_tasks: true });
    run = await waitRun(api, run.run_id as number);
    expect(run.state.result_state).toBe("FAILED");
    const { repair_id } = await api.ok("POST", "/api/2.1/jobs/runs/repair", {
      run_id: run.run_id,
      rerun_tasks: ["f"],
      rerun_dependent_tasks: true,
    });
    run = await waitRun(api, run.run_id as number);
    expect(run.state.result_state).toBe("SUCCESS");
    expect(task(run, "after").state.result_state).toBe("SUCCESS");
    expect(run.repair_history.map((h: { type: string }) => h.type)).toEqual(["ORIGINAL", "REPAIR", "REPAIR"]);
    expect(run.repair_history.at(-1).id).toBe(repair_id);
    // Output of the first attempt is still there.
    const old = await api.ok("GET", `/api/2.1/jobs/runs/get-output?run_id=${firstAttempt}`);
    expect(old.error).toBe("RuntimeError: attempt 0 fails");

    expect(
      (await api.call("POST", "/api/2.1/jobs/runs/repair", { run_id: run.run_id, rerun_all_failed_tasks: true })).status,
    ).toBe(400);
    await api.ok("POST", "/api/2.1/jobs/runs/delete", { run_id: run.run_id });
    expect((await api.call("GET", `/api/2.1/jobs/runs/get?run_id=${run.run_id}`)).status).toBe(400);
  });

  it("truncates logs at the limit, keeping the end", async () => {
    const jobId = await createJob(api, { name: "noisy", tasks: [py("n", "noisy.py")] });
    const run = await runNow(api, jobId);
    const out = await output(api, run, "n");
    expect(out.logs_truncated).toBe(true);
    expect(out.logs.length).toBeLessThanOrEqual(4096);
    expect(out.logs).toContain("line 01999");
    expect(out.logs).not.toContain("line 00000");
  });

  it("pages runs/list", async () => {
    const jobId = await createJob(api, {
      name: "many",
      tasks: [{ task_key: "c", condition_task: { op: "EQUAL_TO", left: "1", right: "1" } }],
    });
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await runNow(api, jobId)).run_id as number);
    const page1 = await api.ok("GET", `/api/2.1/jobs/runs/list?job_id=${jobId}&limit=2`);
    expect(page1.runs.map((r: { run_id: number }) => r.run_id)).toEqual([ids[2], ids[1]]);
    expect(page1.has_more).toBe(true);
    expect(page1.runs[0].tasks).toBeUndefined();
    const page2 = await api.ok(
      "GET",
      `/api/2.1/jobs/runs/list?job_id=${jobId}&limit=2&expand_tasks=true&page_token=${page1.next_page_token}`,
    );
    expect(page2.runs.map((r: { run_id: number }) => r.run_id)).toEqual([ids[0]]);
    expect(page2.runs[0].tasks[0].task_key).toBe("c");
    expect(page2.has_more).toBe(false);
    const completed = await api.ok("GET", `/api/2.1/jobs/runs/list?job_id=${jobId}&completed_only=true`);
    expect(completed.runs).toHaveLength(3);
  });

  it("reads secrets through dbutils with the run's token and never prints their values", async () => {
    const canary = "canary-5f1e2d9c-secret";
    await api.ok("POST", "/api/2.0/secrets/scopes/create", { scope: "app" });
    await api.ok("POST", "/api/2.0/secrets/put", { scope: "app", key: "password", string_value: canary });
    await putFile(
      api,
      `${DIR}/secret.py`,
      [
        "value = dbutils.secrets.get('app', 'password')",
        "print('the secret is', value)",
        "print('length', len(value), 'scopes', [s.name for s in dbutils.secrets.listScopes()], [s.key for s in dbutils.secrets.list('app')])",
        "raise RuntimeError('failed with ' + value)",
      ].join("\n"),
    );
    const jobId = await createJob(api, { name: "secrets", tasks: [py("s", "secret.py")] });
    const run = await runNow(api, jobId);
    const out = await output(api, run, "s");
    expect(out.logs).toContain("the secret is [REDACTED]");
    expect(out.logs).toContain(`length ${canary.length} scopes ['app'] ['password']`);
    expect(out.error).toBe("RuntimeError: failed with [REDACTED]");
    expect(JSON.stringify(run) + JSON.stringify(out)).not.toContain(canary);
    // The run's token is revoked once the run ended.
    const tokens = await api.ok("GET", "/api/2.0/token-management/tokens");
    expect(JSON.stringify(tokens)).not.toContain(`job run ${run.run_id}`);
  });

  it("maps dbutils.fs paths to local folders", async () => {
    await putFile(
      api,
      `${DIR}/fs.py`,
      [
        "dbutils.fs.mkdirs('dbfs:/tmp/a')",
        "dbutils.fs.put('dbfs:/tmp/a/x.txt', 'hello fs', overwrite=True)",
        "dbutils.fs.cp('dbfs:/tmp/a/x.txt', '/Volumes/main/default/vol/y.txt')",
        "print('head', dbutils.fs.head('/Volumes/main/default/vol/y.txt'))",
        "print('ls', [f.name for f in dbutils.fs.ls('dbfs:/tmp/a')])",
        "dbutils.fs.rm('dbfs:/tmp/a', recurse=True)",
        "print('gone', [f.name for f in dbutils.fs.ls('dbfs:/tmp')])",
      ].join("\n"),
    );
    const jobId = await createJob(api, { name: "fs", tasks: [py("f", "fs.py")] });
    const run = await runNow(api, jobId);
    const out = await output(api, run, "f");
    expect(run.state.result_state, out.error_trace).toBe("SUCCESS");
    expect(out.logs).toContain("head hello fs");
    expect(out.logs).toContain("ls ['x.txt']");
    expect(out.logs).toContain("gone []");
  });
});

describe.skipIf(!HAVE_RUNTIME)(`job runs: persistence ${HAVE_RUNTIME ? "" : `(skipped: ${NO_RUNTIME_REASON})`}`, () => {
  it("keeps finished runs and their output across a restart, and fails runs the stop interrupted", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lakeforge-runs-persist-"));
    try {
      let api = await startRunsWorkspace({ ephemeral: false, dataDir });
      await putFile(api, `${DIR}/ok.py`, "print('persisted output')\n");
      await putFile(api, `${DIR}/sleep.py`, "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n");
      const jobId = await createJob(api, { name: "kept", tasks: [py("t", "ok.py")] });
      const done = await runNow(api, jobId);
      const sleeper = await createJob(api, { name: "interrupted", tasks: [py("t", "sleep.py")] });
      const { run_id } = await api.ok("POST", "/api/2.2/jobs/run-now", { job_id: sleeper });
      await waitFor(async () => {
        const r = await api.ok("GET", `/api/2.1/jobs/runs/get?run_id=${run_id}`);
        return r.tasks[0].state.life_cycle_state === "RUNNING" ? true : undefined;
      });
      await api.ws.stop();

      api = await startRunsWorkspace({ ephemeral: false, dataDir });
      try {
        const again = await api.ok("GET", `/api/2.1/jobs/runs/get?run_id=${done.run_id}`);
        expect(again.state).toEqual(done.state);
        expect(again.tasks[0].run_id).toBe(done.tasks[0].run_id);
        expect((await output(api, again, "t")).logs).toContain("persisted output");
        const interrupted = await api.ok("GET", `/api/2.1/jobs/runs/get?run_id=${run_id}`);
        expect(interrupted.state).toMatchObject({ life_cycle_state: "INTERNAL_ERROR", result_state: "FAILED" });
        const next = await runNow(api, jobId);
        expect(next.run_id).toBeGreaterThan(run_id as number);
      } finally {
        await api.ws.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
