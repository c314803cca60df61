import {
  ApiError,
  bool,
  denied,
  int,
  invalid,
  type JsonObject,
  RawResponse,
  type RequestContext,
  type Router,
  str,
} from "../http.js";
import type { Principal } from "../identity.js";
import { RunEngine } from "../runner/engine.js";
import type { Workspace } from "../workspace.js";
import { getJob, jobPermission, prepareRunSettings, type StoredJob } from "./jobs.js";
import { isActive, type JobRun, statusOf, type TaskRun } from "./runs-model.js";

/**
 * Job runs (Jobs API 2.0, 2.1 and 2.2): `jobs/run-now`, `runs/submit`, `runs/get`,
 * `runs/get-output`, `runs/list`, `runs/cancel`, `runs/cancel-all`, `runs/repair`, `runs/delete`, and
 * a plain run page at `run_page_url`. Execution is in `runner/`.
 */

const TASKS_PAGE = 100;
const LIST_LIMIT = 25;
const OUTPUT_RESULT_LIMIT = 5 * 1024 * 1024;
const engines = new WeakMap<Workspace, RunEngine>();

/** The run engine of a workspace (for tests and other services). */
export function runEngine(ws: Workspace): RunEngine {
  let e = engines.get(ws);
  if (!e) {
    e = new RunEngine(ws);
    engines.set(ws, e);
  }
  return e;
}

const missingRun = (id: number) => invalid(`Run ${id} does not exist.`);

export function register(r: Router, ws: Workspace): void {
  const engine = runEngine(ws);
  const idempotency = ws.store.collection<number>("run_idempotency");

  const requireJob = (p: Principal, id: number, level: string, what: string): StoredJob => {
    if (!jobPermission(ws, p, id, level)) throw denied(`User ${p.name} does not have ${what} permissions on job ${id}`);
    const job = getJob(ws, id);
    if (!job) throw invalid(`Job ${id} does not exist.`);
    return job;
  };

  /** A job run the caller may see (job runs: CAN_VIEW on the job; one-time runs: their creator or an admin). */
  const visibleRun = (p: Principal, id: number, level = "CAN_VIEW"): JobRun => {
    const run = engine.get(id);
    if (!run) throw missingRun(id);
    if (run.job_id !== undefined && getJob(ws, run.job_id)) {
      if (!jobPermission(ws, p, run.job_id, level)) {
        throw denied(`User ${p.name} does not have ${level === "CAN_VIEW" ? "View" : "Manage Run"} permissions on run ${id}`);
      }
    } else if (!p.admin && run.creator_user_name !== p.name) {
      throw denied(`User ${p.name} does not have permissions on run ${id}`);
    }
    return run;
  };

  const runIdOf = (c: RequestContext) => {
    const id = int(c.input, "run_id");
    if (id === undefined) throw invalid("Missing required field: run_id");
    return id;
  };

  const reuse = (token: string | undefined, scope: string): number | undefined => {
    if (!token) return undefined;
    const id = idempotency.get(`${scope}:${token}`);
    return id !== undefined && engine.get(id) ? id : undefined;
  };

  for (const version of ["2.0", "2.1", "2.2"]) {
    const base = `/api/${version}/jobs`;
    const paged = version === "2.2";

    r.post(`${base}/run-now`, (c) => {
      const id = int(c.input, "job_id");
      if (id === undefined) throw invalid("Missing required field: job_id");
      const job = requireJob(c.principal, id, "CAN_MANAGE_RUN", "Manage Run or Owner or Admin");
      const token = str(c.input, "idempotency_token");
      const existing = reuse(token, `job:${id}`);
      if (existing !== undefined) return { run_id: existing, number_in_job: existing };
      const params = c.input.job_parameters;
      if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) {
        throw invalid("job_parameters must be an object of names to values");
      }
      const overriding: JsonObject = {};
      for (const k of ["python_params", "notebook_params", "python_named_params", "jar_params", "sql_params"]) {
        if (c.input[k] !== undefined) overriding[k] = c.input[k];
      }
      const run = engine.newJobRun(job, c.principal.name, {
        params: Object.fromEntries(Object.entries((params ?? {}) as JsonObject).map(([k, v]) => [k, String(v)])),
        overriding,
      });
      if (Array.isArray(c.input.only)) {
        const only = new Set((c.input.only as unknown[]).map(String));
        for (const k of only) {
          if (!run.tasks.some((t) => t.task_key === k)) throw invalid(`Task ${k} does not exist in job ${id}.`);
        }
        run.tasks = run.tasks.filter((t) => only.has(t.task_key));
        for (const t of run.tasks) {
          const d = (t.settings.depends_on ?? []) as JsonObject[];
          t.settings = { ...t.settings, depends_on: d.filter((x) => only.has(String(x.task_key))) };
        }
      }
      if (token) {
        run.idempotency_token = token;
        idempotency.set(`job:${id}:${token}`, run.run_id);
      }
      engine.admit(run);
      return { run_id: run.run_id, number_in_job: run.run_id };
    });

    r.post(`${base}/runs/submit`, (c) => {
      const token = str(c.input, "idempotency_token");
      const existing = reuse(token, `submit:${c.principal.name}`);
      if (existing !== undefined) return { run_id: existing };
      if (!Array.isArray(c.input.tasks) || c.input.tasks.length === 0) {
        throw invalid("A one-time run needs at least one task in tasks.");
      }
      const settings = prepareRunSettings(ws, c.principal, c.input);
      const runAs = engine.principalNamed(
        String((settings.run_as as JsonObject).user_name ?? (settings.run_as as JsonObject).service_principal_name),
      );
      if (!runAs) throw invalid("The run_as identity does not exist.");
      const run = engine.pendingRun({
        run_name: String(settings.name),
        run_type: "SUBMIT_RUN",
        trigger: "ONE_TIME",
        creator_user_name: c.principal.name,
        run_as: runAs,
        settings,
      });
      if (token) {
        run.idempotency_token = token;
        idempotency.set(`submit:${c.principal.name}:${token}`, run.run_id);
      }
      engine.admit(run);
      return { run_id: run.run_id };
    });

    r.get(`${base}/runs/get`, (c) => {
      const id = runIdOf(c);
      const direct = engine.get(id);
      if (!direct) {
        // A task run id answers the task run, as the service does.
        const parent = engine.parentOfTask(id);
        if (!parent) throw missingRun(id);
        visibleRun(c.principal, parent.run.run_id);
        return renderTaskAsRun(ws, parent.run, parent.task);
      }
      const run = visibleRun(c.principal, id);
      return renderRun(ws, engine, run, { paged, pageToken: str(c.input, "page_token"), withTasks: true });
    });

    r.get(`${base}/runs/get-output`, (c) => {
      const id = runIdOf(c);
      const parent = engine.parentOfTask(id);
      if (!parent) {
        const run = engine.get(id);
        if (!run) throw missingRun(id);
        visibleRun(c.principal, id);
        throw invalid(
          "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.",
        );
      }
      visibleRun(c.principal, parent.run.run_id);
      return renderOutput(ws, engine, parent.run, parent.task);
    });

    r.get(`${base}/runs/list`, (c) => {
      const jobId = int(c.input, "job_id");
      const activeOnly = bool(c.input, "active_only") ?? false;
      const completedOnly = bool(c.input, "completed_only") ?? false;
      if (activeOnly && completedOnly) throw invalid("active_only and completed_only cannot both be true.");
      const limit = int(c.input, "limit") ?? LIST_LIMIT;
      if (limit < 1 || limit > LIST_LIMIT)
        throw invalid(`Invalid limit ${limit}: the limit must be between 1 and ${LIST_LIMIT}.`);
      const runType = str(c.input, "run_type");
      const from = int(c.input, "start_time_from");
      const to = int(c.input, "start_time_to");
      const expand = bool(c.input, "expand_tasks") ?? false;
      if (jobId !== undefined) requireJob(c.principal, jobId, "CAN_VIEW", "View or Admin or Manage Run or Owner");
      const token = str(c.input, "page_token");
      let offset = int(c.input, "offset") ?? 0;
      if (token) {
        const m = /^runs:(\d+)$/.exec(Buffer.from(token, "base64url").toString("utf8"));
        if (!m) throw invalid(`Invalid page_token: ${token}`);
        offset = Number(m[1]);
      }
      const all = [...engine.runs.values()]
        .filter((run) => jobId === undefined || run.job_id === jobId)
        .filter((run) => !activeOnly || isActive(run.state))
        .filter((run) => !completedOnly || !isActive(run.state))
        .filter((run) => runType === undefined || run.run_type === runType)
        .filter((run) => from === undefined || run.start_time >= from)
        .filter((run) => to === undefined || run.start_time <= to)
        .filter((run) => {
          if (run.job_id !== undefined && getJob(ws, run.job_id)) return jobPermission(ws, c.principal, run.job_id, "CAN_VIEW");
          return c.principal.admin || run.creator_user_name === c.principal.name;
        })
        .sort((a, b) => b.run_id - a.run_id);
      const slice = all.slice(offset, offset + limit);
      const out: JsonObject = {};
      if (slice.length > 0) {
        out.runs = slice.map((run) => renderRun(ws, engine, run, { paged, withTasks: expand }));
      }
      out.has_more = offset + slice.length < all.length;
      const enc = (n: number) => Buffer.from(`runs:${n}`).toString("base64url");
      if (out.has_more) out.next_page_token = enc(offset + slice.length);
      if (offset > 0) out.prev_page_token = enc(Math.max(0, offset - limit));
      return out;
    });

    r.post(`${base}/runs/cancel`, (c) => {
      const id = runIdOf(c);
      visibleRun(c.principal, id, "CAN_MANAGE_RUN");
      engine.cancel(id);
      return {};
    });

    r.post(`${base}/runs/cancel-all`, (c) => {
      const jobId = int(c.input, "job_id");
      const allQueued = bool(c.input, "all_queued_runs") ?? false;
      if (jobId === undefined && !allQueued) throw invalid("Specify job_id or set all_queued_runs.");
      if (jobId !== undefined) requireJob(c.principal, jobId, "CAN_MANAGE_RUN", "Manage Run or Owner or Admin");
      const targets = [...engine.runs.values()].filter((run) => {
        if (!isActive(run.state)) return false;
        if (jobId !== undefined) return run.job_id === jobId;
        if (run.state.life_cycle_state !== "QUEUED") return false;
        return (
          run.job_id === undefined || !getJob(ws, run.job_id) || jobPermission(ws, c.principal, run.job_id, "CAN_MANAGE_RUN")
        );
      });
      // Queued runs first, so that cancelling an active one does not start them.
      targets.sort((a, b) => Number(b.state.life_cycle_state === "QUEUED") - Number(a.state.life_cycle_state === "QUEUED"));
      for (const run of targets) engine.cancel(run.run_id);
      return {};
    });

    r.post(`${base}/runs/delete`, (c) => {
      const id = runIdOf(c);
      const run = visibleRun(c.principal, id, "CAN_MANAGE_RUN");
      if (isActive(run.state)) throw invalid(`Run ${id} is still active. Cancel it or wait for it to end before deleting it.`);
      engine.delete(run);
      return {};
    });

    r.post(`${base}/runs/repair`, (c) => {
      const id = runIdOf(c);
      const run = visibleRun(c.principal, id, "CAN_MANAGE_RUN");
      if (isActive(run.state)) throw invalid(`Run ${id} is still active: only runs that have ended can be repaired.`);
      const latest = int(c.input, "latest_repair_id");
      const lastRepair = run.repair_history.filter((h) => h.type === "REPAIR").at(-1);
      if (lastRepair && latest !== undefined && latest !== lastRepair.id) {
        throw invalid(`latest_repair_id ${latest} is not the latest repair of run ${id} (${lastRepair.id}).`);
      }
      const rerunAllFailed = bool(c.input, "rerun_all_failed_tasks") ?? false;
      const rerunDependents = bool(c.input, "rerun_dependent_tasks") ?? false;
      const asked = Array.isArray(c.input.rerun_tasks) ? (c.input.rerun_tasks as unknown[]).map(String) : [];
      if (asked.length === 0 && !rerunAllFailed) throw invalid("Specify rerun_tasks or set rerun_all_failed_tasks.");
      for (const k of asked)
        if (!run.tasks.some((t) => t.task_key === k)) throw invalid(`Task ${k} does not exist in run ${id}.`);
      const failed = (t: TaskRun) => t.state.result_state !== "SUCCESS" && t.state.result_state !== "EXCLUDED";
      const rerun = new Set<string>(rerunAllFailed ? run.tasks.filter(failed).map((t) => t.task_key) : asked);
      if (rerunDependents || rerunAllFailed) {
        let grew = true;
        while (grew) {
          grew = false;
          for (const t of run.tasks) {
            if (rerun.has(t.task_key)) continue;
            const d = (t.settings.depends_on ?? []) as JsonObject[];
            if (d.some((x) => rerun.has(String(x.task_key)))) {
              rerun.add(t.task_key);
              grew = true;
            }
          }
        }
      }
      if (rerun.size === 0) throw invalid(`Run ${id} has no failed tasks to repair.`);
      const next = structuredClone(run);
      const repairId = engine.newRunId();
      const now = Date.now();
      if (next.repair_history.length === 0) {
        next.repair_history.push({
          type: "ORIGINAL",
          id: next.run_id,
          start_time: next.start_time,
          end_time: next.end_time,
          state: { ...next.state },
          status: statusOf(next.state, next.code),
          task_run_ids: next.tasks.map((t) => t.run_id),
        });
      }
      for (const t of next.tasks) {
        if (!rerun.has(t.task_key)) continue;
        next.history.push(structuredClone(t));
        const fresh = engine.newTaskRun(t.settings);
        Object.assign(t, fresh);
      }
      if (c.input.job_parameters && typeof c.input.job_parameters === "object") {
        const given = c.input.job_parameters as JsonObject;
        for (const name of Object.keys(given)) {
          const p = next.job_parameters.find((x) => x.name === name);
          if (!p) throw invalid(`Job parameter '${name}' is not defined in job ${next.job_id}.`);
          p.value = String(given[name]);
        }
      }
      for (const k of ["python_params", "notebook_params", "python_named_params", "jar_params"]) {
        if (c.input[k] !== undefined) next.overriding_parameters = { ...(next.overriding_parameters ?? {}), [k]: c.input[k] };
      }
      next.repair_count += 1;
      next.repair_history.push({
        type: "REPAIR",
        id: repairId,
        start_time: now,
        end_time: 0,
        state: { life_cycle_state: "PENDING", state_message: "", user_cancelled_or_timedout: false },
        status: { state: "PENDING" },
        task_run_ids: next.tasks.filter((t) => rerun.has(t.task_key)).map((t) => t.run_id),
      });
      next.state = { life_cycle_state: "PENDING", state_message: "", user_cancelled_or_timedout: false };
      delete next.code;
      next.end_time = 0;
      engine.admit(next);
      return { repair_id: repairId };
    });
  }

  // The run page (`run_page_url`): states only, nothing a task printed.
  r.get("/jobs/:job/runs/:run", (c) => runPage(engine, Number(c.params.run)), { auth: false });
  r.get("/jobs/runs/:run", (c) => runPage(engine, Number(c.params.run)), { auth: false });
}

// ---------------------------------------------------------------------------------------------
// Rendering

export function runPageUrl(ws: Workspace, jobId: number | undefined, runId: number): string {
  return jobId === undefined ? `${ws.url}/jobs/runs/${runId}` : `${ws.url}/jobs/${jobId}/runs/${runId}`;
}

function durations(t: { start_time: number; end_time: number }, active: boolean): JsonObject {
  const end = t.end_time || (active ? Date.now() : t.start_time);
  return { run_duration: t.start_time ? Math.max(0, end - t.start_time) : 0 };
}

function renderTask(ws: Workspace, run: JobRun, t: TaskRun): JsonObject {
  const out: JsonObject = { ...t.settings };
  delete out.email_notifications;
  Object.assign(out, {
    run_id: t.run_id,
    task_key: t.task_key,
    state: { ...t.state },
    status: statusOf(t.state, t.code),
    start_time: t.start_time,
    end_time: t.end_time,
    setup_duration: t.setup_duration,
    execution_duration: t.execution_duration,
    cleanup_duration: t.cleanup_duration,
    ...durations(t, isActive(t.state)),
    attempt_number: t.attempt_number,
    run_page_url: runPageUrl(ws, run.job_id, t.run_id),
  });
  if (t.condition && out.condition_task && typeof out.condition_task === "object") {
    out.condition_task = {
      ...(out.condition_task as JsonObject),
      left: t.condition.left,
      right: t.condition.right,
      outcome: t.condition.outcome,
    };
  }
  if (t.child_run_id !== undefined && out.run_job_task && typeof out.run_job_task === "object") {
    out.run_job_task = { ...(out.run_job_task as JsonObject) };
  }
  return out;
}

export function renderRun(
  ws: Workspace,
  _engine: RunEngine,
  run: JobRun,
  o: { paged: boolean; pageToken?: string | undefined; withTasks: boolean },
): JsonObject {
  const out: JsonObject = {
    ...(run.job_id !== undefined ? { job_id: run.job_id } : {}),
    run_id: run.run_id,
    number_in_job: run.run_id,
    original_attempt_run_id: run.run_id,
    creator_user_name: run.creator_user_name,
    run_as_user_name: run.run_as.name,
    state: { ...run.state },
    status: statusOf(run.state, run.code),
    start_time: run.start_time,
    setup_duration: 0,
    execution_duration: 0,
    cleanup_duration: 0,
    end_time: run.end_time,
    ...durations(run, isActive(run.state)),
    trigger: run.trigger,
    run_name: run.run_name,
    run_page_url: runPageUrl(ws, run.job_id, run.run_id),
    run_type: run.run_type,
    attempt_number: 0,
    format: "MULTI_TASK",
  };
  if (run.queue_duration !== undefined) out.queue_duration = run.queue_duration;
  if (run.job_parameters.length > 0) out.job_parameters = run.job_parameters.map((p) => ({ ...p }));
  if (run.overriding_parameters) out.overriding_parameters = run.overriding_parameters;
  if (run.repair_history.length > 0) out.repair_history = run.repair_history;
  if (Array.isArray(run.settings.job_clusters)) out.job_clusters = run.settings.job_clusters;
  if (Array.isArray(run.settings.environments) && o.withTasks) out.environments = run.settings.environments;
  if (run.settings.git_source) out.git_source = run.settings.git_source;
  if (o.withTasks) {
    let index = 0;
    if (o.pageToken) {
      const m = /^tasks:(\d+)$/.exec(Buffer.from(o.pageToken, "base64url").toString("utf8"));
      if (!m) throw invalid(`Invalid page_token: ${o.pageToken}`);
      index = Number(m[1]);
    }
    const tasks = run.tasks.map((t) => renderTask(ws, run, t));
    if (o.paged) {
      out.tasks = tasks.slice(index * TASKS_PAGE, (index + 1) * TASKS_PAGE);
      if (tasks.length > (index + 1) * TASKS_PAGE) {
        out.next_page_token = Buffer.from(`tasks:${index + 1}`).toString("base64url");
        out.has_more = true;
      }
      if (index > 0) out.prev_page_token = Buffer.from(`tasks:${index - 1}`).toString("base64url");
    } else {
      out.tasks = tasks;
    }
  }
  return out;
}

/** `runs/get` with a task run id: the task run in the shape of a run. */
function renderTaskAsRun(ws: Workspace, run: JobRun, t: TaskRun): JsonObject {
  const task = renderTask(ws, run, t);
  return {
    ...task,
    ...(run.job_id !== undefined ? { job_id: run.job_id } : {}),
    run_name: t.task_key,
    creator_user_name: run.creator_user_name,
    number_in_job: t.run_id,
    original_attempt_run_id: t.run_id,
    parent_run_id: run.run_id,
    run_type: run.run_type === "SUBMIT_RUN" ? "SUBMIT_RUN" : "JOB_RUN",
    trigger: run.trigger,
    format: "SINGLE_TASK",
    tasks: [task],
  };
}

function renderOutput(ws: Workspace, engine: RunEngine, run: JobRun, t: TaskRun): JsonObject {
  const out: JsonObject = { metadata: renderTaskAsRun(ws, run, t) };
  const logs = engine.logsOf(run, t);
  const isNotebook = t.settings.notebook_task !== undefined;
  if (
    logs !== undefined ||
    t.settings.spark_python_task !== undefined ||
    t.settings.python_wheel_task !== undefined ||
    isNotebook
  ) {
    out.logs = logs?.text ?? "";
    out.logs_truncated = logs?.truncated ?? false;
  }
  if (isNotebook) {
    const result = t.result;
    out.notebook_output =
      result === undefined
        ? {}
        : result.length > OUTPUT_RESULT_LIMIT
          ? { result: result.slice(0, OUTPUT_RESULT_LIMIT), truncated: true }
          : { result, truncated: false };
  }
  if (t.child_run_id !== undefined) out.run_job_output = { run_id: t.child_run_id };
  if (t.error !== undefined) out.error = t.error;
  if (t.error_trace !== undefined) out.error_trace = t.error_trace;
  return out;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch] as string);

function runPage(engine: RunEngine, id: number): RawResponse {
  const run = Number.isSafeInteger(id) ? (engine.get(id) ?? engine.parentOfTask(id)?.run) : undefined;
  if (!run) throw new ApiError(404, "RESOURCE_DOES_NOT_EXIST", `Run ${id} does not exist.`);
  const state = (s: TaskRun["state"]) => `${s.life_cycle_state}${s.result_state ? ` / ${s.result_state}` : ""}`;
  const time = (ms: number) => (ms ? new Date(ms).toISOString() : "");
  const rows = run.tasks
    .map(
      (t) =>
        `<tr><td>${escapeHtml(t.task_key)}</td><td>${t.run_id}</td><td>${escapeHtml(state(t.state))}</td><td>${t.attempt_number}</td><td>${time(t.start_time)}</td><td>${time(t.end_time)}</td><td>${escapeHtml(t.state.state_message)}</td></tr>`,
    )
    .join("\n");
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(run.run_name)} · run ${run.run_id}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head>
<body>
<h1>${escapeHtml(run.run_name)}</h1>
<p>Run ${run.run_id}${run.job_id !== undefined ? ` of job ${run.job_id}` : ""} · ${escapeHtml(state(run.state))}</p>
<p>${escapeHtml(run.state.state_message)}</p>
<p>Started ${time(run.start_time)}${run.end_time ? ` · ended ${time(run.end_time)}` : ""}</p>
<table><tr><th>task</th><th>run id</th><th>state</th><th>attempt</th><th>started</th><th>ended</th><th>message</th></tr>
${rows}
</table>
<p>Output and errors: <code>GET /api/2.1/jobs/runs/get-output?run_id=&lt;task run id&gt;</code></p>
</body></html>
`;
  return new RawResponse(200, html, { "content-type": "text/html; charset=utf-8" });
}
