import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { invalid, type JsonObject } from "../http.js";
import { getJob, runAsName as runAsNameOf, type StoredJob } from "../server/jobs.js";
import type { JobRun, ResultState, RunState, TaskRun } from "../server/runs-model.js";
import { isActive } from "../server/runs-model.js";
import type { Collection } from "../store/store.js";
import type { Workspace } from "../workspace.js";
import { LogBuffer, type TaskProcess } from "./process.js";
import { type ReferenceContext, UnresolvedReference } from "./refs.js";
import { executeTask, type TaskOutcome } from "./tasks.js";

/**
 * Executes job runs: queueing under `max_concurrent_runs`, the task graph with `depends_on`,
 * `run_if` and condition outcomes, retries, task and job timeouts, cancellation, repairs. Task
 * processes are started by `tasks.ts`. Every state change is written to the store; logs stay in
 * memory while a task runs and go to the blob store when it ends.
 */

const DEFAULT_LOG_LIMIT = 5 * 1024 * 1024;
const TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600;

type StopReason = "canceled" | "timedout" | "shutdown";

interface ActiveRun {
  abort: AbortController;
  reason?: StopReason;
  token?: string;
  processes: Set<TaskProcess>;
  logs: Map<number, LogBuffer>;
  taskAborts: Map<number, AbortController>;
}

export interface RunPaths {
  root: string;
  cache: string;
}

export class RunEngine {
  readonly runs: Collection<JobRun>;
  private readonly active = new Map<number, ActiveRun>();
  private readonly waiters = new Map<number, (() => void)[]>();
  /** Task run id (current or earlier attempt) → job run id. */
  private readonly taskIndex = new Map<number, number>();
  private pathsValue: RunPaths | undefined;
  private ownsRoot = false;
  private stopping = false;

  constructor(readonly ws: Workspace) {
    this.runs = ws.store.collection<JobRun>("job_runs");
    this.recover();
    ws.onStop(() => this.shutdown());
  }

  get logLimit(): number {
    return this.ws.settings.runs?.logLimitBytes ?? DEFAULT_LOG_LIMIT;
  }

  /** Where runs keep their files: `<data-dir>/runs`, or a temporary folder for an ephemeral workspace. */
  get paths(): RunPaths {
    if (!this.pathsValue) {
      const dataDir = this.ws.store.dataDir;
      let root: string;
      if (dataDir) {
        root = join(dirname(dataDir), "runs");
        mkdirSync(root, { recursive: true });
      } else {
        root = mkdtempSync(join(tmpdir(), "lakeforge-runs-"));
        this.ownsRoot = true;
      }
      const cache = this.ws.settings.runs?.cacheDir ?? (dataDir ? join(root, "cache") : join(tmpdir(), "lakeforge-run-cache"));
      mkdirSync(cache, { recursive: true });
      this.pathsValue = { root, cache };
    }
    return this.pathsValue;
  }

  // -------------------------------------------------------------------------------------------
  // Records

  get(runId: number): JobRun | undefined {
    return this.runs.get(runId);
  }

  /** The job run holding a task run id (current or earlier attempt). */
  parentOfTask(taskRunId: number): { run: JobRun; task: TaskRun } | undefined {
    const parentId = this.taskIndex.get(taskRunId);
    const run = parentId === undefined ? undefined : this.runs.get(parentId);
    if (!run) return undefined;
    const task = run.tasks.find((t) => t.run_id === taskRunId) ?? run.history.find((t) => t.run_id === taskRunId);
    return task ? { run, task } : undefined;
  }

  save(run: JobRun): void {
    if (this.stopping) return;
    this.runs.set(run.run_id, run);
    for (const t of run.tasks) this.taskIndex.set(t.run_id, run.run_id);
    for (const t of run.history) this.taskIndex.set(t.run_id, run.run_id);
  }

  delete(run: JobRun): void {
    for (const t of [...run.tasks, ...run.history]) this.taskIndex.delete(t.run_id);
    this.runs.delete(run.run_id);
  }

  newRunId(): number {
    return this.ws.store.nextId("run_id", 1_000_000_000_000);
  }

  /** Live logs of a running task, else the stored ones. */
  logsOf(run: JobRun, task: TaskRun): { text: string; truncated: boolean } | undefined {
    const live = this.active.get(run.run_id)?.logs.get(task.run_id);
    if (live) return { text: live.text(), truncated: live.truncated };
    if (!task.logs) return undefined;
    return { text: this.ws.store.getBlob(task.logs).toString("utf8"), truncated: task.logs_truncated === true };
  }

  /** Resolves when the run has ended (immediately when it is not active). */
  whenDone(runId: number): Promise<void> {
    const run = this.runs.get(runId);
    if (!run || !isActive(run.state)) return Promise.resolve();
    return new Promise((resolvePromise) => {
      const list = this.waiters.get(runId) ?? [];
      list.push(resolvePromise);
      this.waiters.set(runId, list);
    });
  }

  /** Runs that were active when the workspace stopped are failed on start (their processes are gone). */
  private recover(): void {
    for (const run of [...this.runs.values()]) {
      for (const t of [...run.tasks, ...run.history]) this.taskIndex.set(t.run_id, run.run_id);
      if (isActive(run.state)) this.failStopped(run);
    }
  }

  /** Fails a run (and its active tasks) that was active when the workspace stopped. */
  private failStopped(run: JobRun): void {
    const next = structuredClone(run);
    next.state = {
      life_cycle_state: "INTERNAL_ERROR",
      result_state: "FAILED",
      state_message: "The workspace stopped while the run was active.",
      user_cancelled_or_timedout: false,
    };
    next.end_time = Date.now();
    for (const t of next.tasks) {
      if (!isActive(t.state)) continue;
      t.state = { ...next.state };
      t.end_time = next.end_time;
    }
    this.revokeToken(next);
    this.save(next);
  }

  private shutdown(): void {
    for (const [runId, a] of this.active) {
      a.reason = "shutdown";
      a.abort.abort();
      for (const p of a.processes) p.kill(0);
      const run = this.runs.get(runId);
      if (run) this.failStopped(run);
    }
    this.stopping = true;
    this.active.clear();
    if (this.ownsRoot && this.pathsValue) rmSync(this.pathsValue.root, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------
  // Queueing

  private activeOfJob(jobId: number): JobRun[] {
    return this.runs.filter((r) => r.job_id === jobId && isActive(r.state) && r.state.life_cycle_state !== "QUEUED");
  }

  /** Starts a new run, or queues or skips it when the job is at `max_concurrent_runs`. */
  admit(run: JobRun): void {
    const max = typeof run.settings.max_concurrent_runs === "number" ? run.settings.max_concurrent_runs : 1;
    const queueing = (run.settings.queue as JsonObject | undefined)?.enabled === true;
    const busy = run.job_id !== undefined ? this.activeOfJob(run.job_id).length : 0;
    const queuedBefore =
      run.job_id !== undefined ? this.runs.filter((r) => r.job_id === run.job_id && r.state.life_cycle_state === "QUEUED") : [];
    if (run.job_id === undefined || (busy < max && queuedBefore.length === 0)) {
      this.save(run);
      this.launch(run.run_id);
      return;
    }
    if (queueing && max > 0) {
      run.state = {
        life_cycle_state: "QUEUED",
        state_message: `Queued: the job has reached its limit of ${max} concurrent run${max === 1 ? "" : "s"}.`,
        user_cancelled_or_timedout: false,
        queue_reason: `The job has reached its limit of ${max} concurrent run${max === 1 ? "" : "s"}.`,
      };
      this.save(run);
      return;
    }
    const now = Date.now();
    run.state = {
      life_cycle_state: "SKIPPED",
      result_state: "MAXIMUM_CONCURRENT_RUNS_REACHED",
      state_message: `Skipping this run because the limit of ${max} maximum concurrent runs has been reached.`,
      user_cancelled_or_timedout: false,
    };
    run.end_time = now;
    for (const t of run.tasks) {
      t.state = { life_cycle_state: "SKIPPED", state_message: run.state.state_message, user_cancelled_or_timedout: false };
    }
    this.save(run);
  }

  /** Starts queued runs of the job while it has room. */
  private dequeue(jobId: number | undefined): void {
    if (jobId === undefined || this.stopping) return;
    for (;;) {
      const queued = this.runs
        .filter((r) => r.job_id === jobId && r.state.life_cycle_state === "QUEUED")
        .sort((a, b) => a.created_time - b.created_time || a.run_id - b.run_id);
      const next = queued[0];
      if (!next) return;
      const max = typeof next.settings.max_concurrent_runs === "number" ? next.settings.max_concurrent_runs : 1;
      if (this.activeOfJob(jobId).length >= max) return;
      const run = structuredClone(next);
      run.queue_duration = Date.now() - run.created_time;
      run.state = { life_cycle_state: "PENDING", state_message: "", user_cancelled_or_timedout: false };
      this.save(run);
      this.launch(run.run_id);
    }
  }

  private launch(runId: number): void {
    const a: ActiveRun = { abort: new AbortController(), processes: new Set(), logs: new Map(), taskAborts: new Map() };
    this.active.set(runId, a);
    void this.execute(runId, a)
      .catch((e: unknown) => {
        const run = this.runs.get(runId);
        if (!run) return;
        const next = structuredClone(run);
        next.state = {
          life_cycle_state: "INTERNAL_ERROR",
          result_state: "FAILED",
          state_message: `Internal error: ${(e as Error).message}`,
          user_cancelled_or_timedout: false,
        };
        next.end_time = Date.now();
        this.save(next);
      })
      .finally(() => {
        this.active.delete(runId);
        const run = this.runs.get(runId);
        if (run?.token_id) {
          const revoked = structuredClone(run);
          this.revokeToken(revoked);
          this.save(revoked);
        }
        for (const w of this.waiters.get(runId) ?? []) w();
        this.waiters.delete(runId);
        this.dequeue(run?.job_id);
      });
  }

  // -------------------------------------------------------------------------------------------
  // Cancel

  /** Cancels a run: queued or pending runs end at once, running ones are told to stop (tasks killed). */
  cancel(runId: number): void {
    const run = this.runs.get(runId);
    if (!run || !isActive(run.state)) return;
    const a = this.active.get(runId);
    if (!a) {
      const next = structuredClone(run);
      const now = Date.now();
      next.state = {
        life_cycle_state: "TERMINATED",
        result_state: "CANCELED",
        state_message: "Run cancelled.",
        user_cancelled_or_timedout: true,
      };
      next.code = "USER_CANCELED";
      next.end_time = now;
      for (const t of next.tasks) {
        if (!isActive(t.state)) continue;
        t.state = {
          life_cycle_state: "SKIPPED",
          result_state: "CANCELED",
          state_message: "Run cancelled.",
          user_cancelled_or_timedout: true,
        };
      }
      this.save(next);
      for (const w of this.waiters.get(runId) ?? []) w();
      this.waiters.delete(runId);
      return;
    }
    if (a.reason) return;
    a.reason = "canceled";
    const next = structuredClone(run);
    next.state = { ...next.state, life_cycle_state: "TERMINATING", state_message: "Cancelling the run." };
    this.save(next);
    a.abort.abort();
    for (const p of a.processes) p.kill();
    for (const t of run.tasks) if (t.child_run_id !== undefined) this.cancel(t.child_run_id);
  }

  // -------------------------------------------------------------------------------------------
  // Execution

  private update(runId: number, fn: (run: JobRun) => void): JobRun {
    const run = structuredClone(this.runs.get(runId) as JobRun);
    // Once the workspace stops, its store is closed: what tasks do afterwards is not recorded.
    if (this.stopping) return run;
    fn(run);
    this.save(run);
    return run;
  }

  private updateTask(runId: number, taskKey: string, fn: (task: TaskRun, run: JobRun) => void): TaskRun {
    let out: TaskRun | undefined;
    this.update(runId, (run) => {
      const t = run.tasks.find((x) => x.task_key === taskKey) as TaskRun;
      fn(t, run);
      out = t;
    });
    return out as TaskRun;
  }

  private issueToken(run: JobRun, a: ActiveRun): void {
    const { value, record } = this.ws.identity.issueToken(
      { kind: run.run_as.kind, id: run.run_as.id },
      { comment: `job run ${run.run_id}`, lifetimeSeconds: TOKEN_LIFETIME_SECONDS },
    );
    a.token = value;
    this.update(run.run_id, (r) => {
      r.token_id = record.token_id;
    });
  }

  private revokeToken(run: JobRun): void {
    if (!run.token_id) return;
    const found = this.ws.identity.tokenById(run.token_id);
    if (found) this.ws.identity.tokens.delete(found.key);
    delete run.token_id;
  }

  private async execute(runId: number, a: ActiveRun): Promise<void> {
    const started = Date.now();
    let run = this.update(runId, (r) => {
      r.state = { life_cycle_state: "RUNNING", state_message: "", user_cancelled_or_timedout: false };
      if (r.repair_count === 0) r.start_time = started;
    });
    if (!this.ws.identity.principalFor(run.run_as.kind, run.run_as.id)) {
      throw new Error(`the run_as identity ${run.run_as.name} no longer exists`);
    }
    this.issueToken(run, a);
    const jobTimeout = Number(run.settings.timeout_seconds ?? 0);
    let timer: NodeJS.Timeout | undefined;
    if (jobTimeout > 0) {
      timer = setTimeout(() => {
        if (a.reason) return;
        a.reason = "timedout";
        a.abort.abort();
        for (const p of a.processes) p.kill();
      }, jobTimeout * 1000);
      timer.unref();
    }
    try {
      await this.runGraph(runId, a);
    } finally {
      if (timer) clearTimeout(timer);
    }
    run = this.runs.get(runId) as JobRun;
    this.update(runId, (r) => {
      const end = Date.now();
      r.end_time = end;
      r.state = this.finalState(r, a.reason);
      if (a.reason === "canceled") r.code = "USER_CANCELED";
      const last = r.repair_history.at(-1);
      if (last) {
        last.end_time = end;
        last.state = { ...r.state };
        last.status = { state: "TERMINATED" };
      }
    });
  }

  private finalState(run: JobRun, reason: StopReason | undefined): RunState {
    if (reason === "canceled") {
      return {
        life_cycle_state: "TERMINATED",
        result_state: "CANCELED",
        state_message: "Run cancelled.",
        user_cancelled_or_timedout: true,
      };
    }
    if (reason === "timedout") {
      return {
        life_cycle_state: "TERMINATED",
        result_state: "TIMEDOUT",
        state_message: `The run timed out after ${run.settings.timeout_seconds} seconds.`,
        user_cancelled_or_timedout: true,
      };
    }
    const depended = new Set<string>();
    for (const t of run.tasks) for (const d of deps(t)) depended.add(d.task_key);
    const leaves = run.tasks.filter((t) => !depended.has(t.task_key));
    const bad = (t: TaskRun) =>
      ["FAILED", "TIMEDOUT", "UPSTREAM_FAILED", "UPSTREAM_CANCELED", "CANCELED"].includes(t.state.result_state ?? "");
    const failedLeaves = leaves.filter(bad);
    if (failedLeaves.length > 0) {
      const failed = run.tasks.filter((t) => t.state.result_state === "FAILED" || t.state.result_state === "TIMEDOUT");
      const culprits = failed.length > 0 ? failed : failedLeaves;
      const only = culprits.length === 1 ? culprits[0] : undefined;
      const message = only
        ? `Task ${only.task_key} failed with message: ${only.state.state_message || only.state.result_state}. This caused all downstream tasks to get skipped.`
        : `${culprits.length} tasks failed: ${culprits.map((t) => t.task_key).join(", ")}.`;
      return {
        life_cycle_state: "TERMINATED",
        result_state: "FAILED",
        state_message: message,
        user_cancelled_or_timedout: false,
      };
    }
    if (run.tasks.some(bad)) {
      return {
        life_cycle_state: "TERMINATED",
        result_state: "SUCCESS_WITH_FAILURES",
        state_message: "Some tasks failed, but every leaf task succeeded.",
        user_cancelled_or_timedout: false,
      };
    }
    return { life_cycle_state: "TERMINATED", result_state: "SUCCESS", state_message: "", user_cancelled_or_timedout: false };
  }

  /** Runs pending tasks as their dependencies finish, until every task has ended. */
  private async runGraph(runId: number, a: ActiveRun): Promise<void> {
    const running = new Map<string, Promise<void>>();
    for (;;) {
      const run = this.runs.get(runId) as JobRun;
      const byKey = new Map(run.tasks.map((t) => [t.task_key, t]));
      let progressed = false;
      for (const task of run.tasks) {
        if (task.state.life_cycle_state !== "PENDING" || running.has(task.task_key)) continue;
        if (a.reason) {
          this.updateTask(runId, task.task_key, (t) => {
            const canceled = a.reason === "canceled" || a.reason === "shutdown";
            t.state = {
              life_cycle_state: "SKIPPED",
              result_state: canceled ? "CANCELED" : "UPSTREAM_CANCELED",
              state_message: canceled ? "Run cancelled." : "The run timed out.",
              user_cancelled_or_timedout: true,
            };
          });
          progressed = true;
          continue;
        }
        const upstream = deps(task).map((d) => ({ dep: d, run: byKey.get(d.task_key) }));
        if (upstream.some((u) => !u.run || isActive(u.run.state))) continue;
        const decision = decide(task, upstream as { dep: Dep; run: TaskRun }[]);
        progressed = true;
        if (decision.run) {
          const p = this.runTask(runId, task.task_key, a).finally(() => running.delete(task.task_key));
          running.set(task.task_key, p);
        } else {
          this.updateTask(runId, task.task_key, (t) => {
            const now = Date.now();
            t.start_time = t.start_time || now;
            t.end_time = now;
            t.state = decision.state as RunState;
          });
        }
      }
      if (progressed) continue;
      if (running.size === 0) return;
      await Promise.race(running.values());
    }
  }

  /** One task with its retries. */
  private async runTask(runId: number, taskKey: string, a: ActiveRun): Promise<void> {
    for (;;) {
      const taskAbort = new AbortController();
      const task = this.updateTask(runId, taskKey, (t) => {
        t.state = { life_cycle_state: "RUNNING", state_message: "", user_cancelled_or_timedout: false };
        t.start_time = Date.now();
        t.end_time = 0;
      });
      a.taskAborts.set(task.run_id, taskAbort);
      const log = new LogBuffer(this.logLimit);
      a.logs.set(task.run_id, log);
      const timeout = Number(task.settings.timeout_seconds ?? 0);
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      if (timeout > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          taskAbort.abort();
        }, timeout * 1000);
        timer.unref();
      }
      const onRunAbort = () => taskAbort.abort();
      a.abort.signal.addEventListener("abort", onRunAbort);
      let outcome: TaskOutcome;
      const execStart = Date.now();
      try {
        const run = this.runs.get(runId) as JobRun;
        outcome = await executeTask({
          engine: this,
          ws: this.ws,
          run,
          task,
          token: a.token as string,
          log,
          signal: taskAbort.signal,
          track: (p) => {
            a.processes.add(p);
            void p.done.then(() => a.processes.delete(p));
          },
          refs: this.referenceContext(run, task),
        });
      } catch (e) {
        const message = e instanceof UnresolvedReference ? e.message : `Internal error: ${(e as Error).message}`;
        outcome = { result: "FAILED", message, error: message };
      } finally {
        if (timer) clearTimeout(timer);
        a.abort.signal.removeEventListener("abort", onRunAbort);
        a.taskAborts.delete(task.run_id);
      }
      if (taskAbort.signal.aborted) {
        if (timedOut) outcome = { ...outcome, result: "TIMEDOUT", message: `Task timed out after ${timeout} seconds.` };
        else if (a.reason === "timedout") outcome = { ...outcome, result: "TIMEDOUT", message: "The run timed out." };
        else outcome = { ...outcome, result: "CANCELED", message: "Run cancelled." };
      }
      const end = Date.now();
      const logs = log.text();
      a.logs.delete(task.run_id);
      const finished = this.updateTask(runId, taskKey, (t) => {
        t.end_time = end;
        t.execution_duration = end - execStart;
        t.state = {
          life_cycle_state: "TERMINATED",
          result_state: outcome.result,
          state_message: outcome.message ?? "",
          user_cancelled_or_timedout: outcome.result === "CANCELED" || outcome.result === "TIMEDOUT",
        };
        if (logs.length > 0) {
          t.logs = this.ws.store.putBlob(Buffer.from(logs));
          t.logs_truncated = log.truncated;
        }
        if (outcome.values) t.values = outcome.values;
        if (outcome.result_value !== undefined) t.result = outcome.result_value;
        if (outcome.error !== undefined) t.error = outcome.error;
        if (outcome.error_trace !== undefined) t.error_trace = outcome.error_trace;
        if (outcome.condition) t.condition = outcome.condition;
        if (outcome.code) t.code = outcome.code;
      });
      if (!this.shouldRetry(finished, outcome, a)) return;
      const wait = Number(finished.settings.min_retry_interval_millis ?? 0);
      this.update(runId, (r) => {
        const t = r.tasks.find((x) => x.task_key === taskKey) as TaskRun;
        r.history.push(structuredClone(t));
        t.run_id = this.newRunId();
        t.attempt_number += 1;
        t.state = {
          life_cycle_state: "WAITING_FOR_RETRY",
          state_message: `Waiting ${wait} ms before attempt ${t.attempt_number + 1}.`,
          user_cancelled_or_timedout: false,
        };
        for (const k of ["logs", "logs_truncated", "values", "result", "error", "error_trace", "condition", "code"] as const)
          delete t[k];
      });
      if (wait > 0) await sleep(wait, a.abort.signal);
      if (a.reason) {
        this.updateTask(runId, taskKey, (t) => {
          t.state = {
            life_cycle_state: "TERMINATED",
            result_state: "CANCELED",
            state_message: "Run cancelled.",
            user_cancelled_or_timedout: true,
          };
          t.end_time = Date.now();
        });
        return;
      }
    }
  }

  private shouldRetry(task: TaskRun, outcome: TaskOutcome, a: ActiveRun): boolean {
    if (a.reason) return false;
    if (outcome.result !== "FAILED" && !(outcome.result === "TIMEDOUT" && task.settings.retry_on_timeout === true)) return false;
    if (outcome.noRetry) return false;
    const max = Number(task.settings.max_retries ?? 0);
    return max === -1 || task.attempt_number < max;
  }

  /**
   * A new run record of a job (not yet admitted). `params` are the `job_parameters` asked for;
   * `overriding` the legacy per-type parameters (`python_params`, `notebook_params`, ...).
   */
  newJobRun(
    job: StoredJob,
    creator: string,
    options: {
      params?: Record<string, string>;
      overriding?: JsonObject;
      trigger?: string;
      runType?: JobRun["run_type"];
      parentRunId?: number;
    },
  ): JobRun {
    const settings = structuredClone(job.settings);
    const defined = ((settings.parameters ?? []) as JsonObject[]).map((p) => ({
      name: String(p.name),
      default: String(p.default ?? ""),
    }));
    const given = options.params ?? {};
    for (const name of Object.keys(given)) {
      if (!defined.some((p) => p.name === name)) {
        throw invalid(`Job parameter '${name}' is not defined in job ${job.job_id}. Define it in the job's parameters first.`);
      }
    }
    const runAsName = runAsNameOf(job);
    const runAs = this.principalNamed(runAsName);
    if (!runAs) throw invalid(`The run_as identity ${runAsName} of job ${job.job_id} does not exist.`);
    return this.pendingRun({
      job_id: job.job_id,
      run_name: String(settings.name ?? "Untitled"),
      run_type: options.runType ?? "JOB_RUN",
      trigger: options.trigger ?? "ONE_TIME",
      creator_user_name: creator,
      run_as: runAs,
      settings,
      job_parameters: defined.map((p) => ({ name: p.name, default: p.default, value: given[p.name] ?? p.default })),
      ...(options.overriding && Object.keys(options.overriding).length > 0 ? { overriding_parameters: options.overriding } : {}),
      ...(options.parentRunId !== undefined ? { parent_run_id: options.parentRunId } : {}),
    });
  }

  /** A new PENDING run (of a job, or a one-time submit), with a PENDING task run for each of its tasks. */
  pendingRun(
    fields: Pick<JobRun, "run_name" | "run_type" | "trigger" | "creator_user_name" | "run_as" | "settings"> &
      Partial<Pick<JobRun, "job_id" | "job_parameters" | "overriding_parameters" | "parent_run_id">>,
  ): JobRun {
    const now = Date.now();
    const run: JobRun = {
      run_id: this.newRunId(),
      state: { life_cycle_state: "PENDING", state_message: "", user_cancelled_or_timedout: false },
      created_time: now,
      start_time: now,
      end_time: 0,
      job_parameters: [],
      tasks: [],
      history: [],
      repair_history: [],
      repair_count: 0,
      ...fields,
    };
    run.tasks = ((fields.settings.tasks ?? []) as JsonObject[]).map((t) => this.newTaskRun(t));
    return run;
  }

  newTaskRun(settings: JsonObject): TaskRun {
    return {
      run_id: this.newRunId(),
      task_key: String(settings.task_key),
      attempt_number: 0,
      settings,
      state: { life_cycle_state: "PENDING", state_message: "", user_cancelled_or_timedout: false },
      start_time: 0,
      end_time: 0,
      setup_duration: 0,
      execution_duration: 0,
      cleanup_duration: 0,
    };
  }

  principalNamed(name: string): JobRun["run_as"] | undefined {
    const user = this.ws.identity.userByName(name);
    if (user) return { kind: "user", id: user.id, name: user.userName };
    const sp = this.ws.identity.servicePrincipalByAppId(name);
    if (sp) return { kind: "service_principal", id: sp.id, name: sp.applicationId };
    return undefined;
  }

  /** Starts the run of another job for a `run_job_task` (references already resolved). */
  startChildRun(parent: JobRun, task: TaskRun, jobId: number, spec: JsonObject): JobRun {
    const job = getJob(this.ws, jobId);
    if (!job) throw new Error(`Job ${jobId} does not exist.`);
    const overriding: JsonObject = {};
    for (const k of ["python_params", "notebook_params", "python_named_params", "jar_params", "sql_params"]) {
      if (spec[k] !== undefined) overriding[k] = spec[k];
    }
    const params =
      spec.job_parameters && typeof spec.job_parameters === "object" ? (spec.job_parameters as Record<string, string>) : {};
    const child = this.newJobRun(job, parent.creator_user_name, {
      params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
      overriding,
      trigger: "RUN_JOB_TASK",
      parentRunId: parent.run_id,
    });
    this.update(parent.run_id, (r) => {
      const t = r.tasks.find((x) => x.task_key === task.task_key);
      if (t) t.child_run_id = child.run_id;
    });
    this.admit(child);
    return child;
  }

  referenceContext(run: JobRun, task: TaskRun): ReferenceContext {
    const tasks: ReferenceContext["tasks"] = {};
    const upstream = upstreamOf(run, task.task_key);
    for (const t of run.tasks) {
      if (!upstream.has(t.task_key)) continue;
      tasks[t.task_key] = {
        ...(t.values ? { values: t.values } : {}),
        ...(t.state.result_state ? { resultState: t.state.result_state } : {}),
        runId: t.run_id,
        ...(t.error ? { errorCode: t.state.result_state === "FAILED" ? "RunExecutionError" : "" } : {}),
        executionCount: t.attempt_number + 1,
      };
    }
    const notebookPath = (task.settings.notebook_task as JsonObject | undefined)?.notebook_path;
    return {
      ...(run.job_id !== undefined ? { jobId: run.job_id } : {}),
      jobName: run.run_name,
      runId: run.run_id,
      repairCount: run.repair_count,
      startTime: run.start_time || run.created_time,
      triggerType: run.trigger === "ONE_TIME" ? "one_time" : run.trigger.toLowerCase(),
      parameters: Object.fromEntries(run.job_parameters.map((p) => [p.name, p.value])),
      task: {
        key: task.task_key,
        runId: task.run_id,
        executionCount: task.attempt_number + 1,
        ...(typeof notebookPath === "string" ? { notebookPath } : {}),
      },
      tasks,
      workspaceId: this.ws.workspaceId,
      workspaceUrl: this.ws.url,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The task graph

export interface Dep {
  task_key: string;
  outcome?: string;
}

export function deps(task: TaskRun): Dep[] {
  const raw = task.settings.depends_on;
  return Array.isArray(raw) ? (raw as Dep[]) : [];
}

/** Every task `key` depends on, directly or not. */
export function upstreamOf(run: JobRun, key: string): Set<string> {
  const byKey = new Map(run.tasks.map((t) => [t.task_key, t]));
  const out = new Set<string>();
  const stack = [key];
  while (stack.length > 0) {
    const k = stack.pop() as string;
    const t = byKey.get(k);
    if (!t) continue;
    for (const d of deps(t)) {
      if (out.has(d.task_key)) continue;
      out.add(d.task_key);
      stack.push(d.task_key);
    }
  }
  return out;
}

type Effective = "success" | "failed" | "canceled" | "excluded";

function effective(dep: Dep, run: TaskRun): Effective {
  const r = run.state.result_state;
  if (r === "SUCCESS" || r === "SUCCESS_WITH_FAILURES") {
    if (dep.outcome !== undefined && run.condition && run.condition.outcome !== dep.outcome) return "excluded";
    return "success";
  }
  if (r === "EXCLUDED") return "excluded";
  if (r === "CANCELED" || r === "UPSTREAM_CANCELED") return "canceled";
  return "failed";
}

/** Whether a task whose dependencies have all ended runs, and the state it ends in when it does not. */
export function decide(task: TaskRun, upstream: { dep: Dep; run: TaskRun }[]): { run: boolean; state?: RunState } {
  if (upstream.length === 0) return { run: true };
  const e = upstream.map((u) => effective(u.dep, u.run));
  const count = (k: Effective) => e.filter((x) => x === k).length;
  const runIf = String(task.settings.run_if ?? "ALL_SUCCESS");
  const skip = (result: ResultState, message: string): { run: boolean; state: RunState } => ({
    run: false,
    state: {
      life_cycle_state: result === "EXCLUDED" ? "SKIPPED" : "TERMINATED",
      result_state: result,
      state_message: message,
      user_cancelled_or_timedout: false,
    },
  });
  const notMet = () => {
    if (count("failed") > 0) return skip("UPSTREAM_FAILED", "Upstream task(s) failed.");
    if (count("canceled") > 0) return skip("UPSTREAM_CANCELED", "Upstream task(s) were cancelled.");
    return skip("EXCLUDED", "The task was excluded: its dependencies did not meet its run_if condition.");
  };
  const allExcluded = count("excluded") === e.length;
  switch (runIf) {
    case "ALL_SUCCESS":
      return count("success") === e.length ? { run: true } : notMet();
    case "AT_LEAST_ONE_SUCCESS":
      return count("success") > 0 ? { run: true } : notMet();
    case "NONE_FAILED":
      if (count("failed") > 0 || count("canceled") > 0) return notMet();
      return allExcluded ? notMet() : { run: true };
    case "ALL_DONE":
      return allExcluded ? notMet() : { run: true };
    case "AT_LEAST_ONE_FAILED":
      return count("failed") > 0
        ? { run: true }
        : skip("EXCLUDED", "The task was excluded: no upstream task failed (run_if AT_LEAST_ONE_FAILED).");
    case "ALL_FAILED":
      return count("failed") === e.length
        ? { run: true }
        : skip("EXCLUDED", "The task was excluded: not every upstream task failed (run_if ALL_FAILED).");
    default:
      return notMet();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolvePromise) => {
    if (signal.aborted) return resolvePromise();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolvePromise();
    }
    signal.addEventListener("abort", done);
  });
}
