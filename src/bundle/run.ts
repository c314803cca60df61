import type { Output } from "../cli/output.js";
import type { DatabricksClient } from "../clients/databricks/index.js";
import { UserError } from "../lib/errors.js";
import { loadBundleState, type OpenBundle } from "./deploy.js";

/**
 * `lakeforge run <job>`: starts the deployed job (`jobs/run-now`, Jobs API 2.2), follows the run with
 * a line per task state change, prints the run's URL, then each task's output (`runs/get-output`:
 * logs or notebook result, or the error and its trace). Ctrl-C cancels the run. Exit code 0 when the
 * run succeeded, 1 otherwise.
 */

type Obj = Record<string, unknown>;

export interface RunState {
  life_cycle_state?: string;
  result_state?: string;
  state_message?: string;
}

export interface RunTask {
  task_key: string;
  run_id?: number | string;
  state?: RunState;
  status?: { state?: string; termination_details?: { code?: string; message?: string } };
}

export interface Run {
  run_id: number | string;
  run_page_url?: string;
  state?: RunState;
  status?: { state?: string; termination_details?: { code?: string; type?: string; message?: string } };
  tasks?: RunTask[];
}

export interface RunOutput {
  logs?: string;
  logs_truncated?: boolean;
  notebook_output?: { result?: string; truncated?: boolean };
  error?: string;
  error_trace?: string;
}

/** `k=v` pairs into job parameters. */
export function parseParams(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list.flatMap((s) => s.split(/,(?=[^,=]+=)/))) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UserError(`--params ${item}: expected name=value`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** The Jobs API client used by `lakeforge run`: public API shapes only. */
export class JobRuns {
  constructor(private readonly client: DatabricksClient) {}

  async runNow(jobId: number, params: Record<string, string>): Promise<number | string> {
    const res = await this.client.post<{ run_id: number | string }>("/api/2.2/jobs/run-now", {
      job_id: jobId,
      ...(Object.keys(params).length > 0 ? { job_parameters: params } : {}),
    });
    return res.run_id;
  }

  get(runId: number | string): Promise<Run> {
    return this.client.get<Run>("/api/2.2/jobs/runs/get", { run_id: String(runId) });
  }

  output(runId: number | string): Promise<RunOutput> {
    return this.client.get<RunOutput>("/api/2.2/jobs/runs/get-output", { run_id: String(runId) });
  }

  async cancel(runId: number | string): Promise<void> {
    await this.client.post("/api/2.2/jobs/runs/cancel", { run_id: runId }, { idempotent: true });
  }
}

/** A run (or task) state in one word: its result once it has one (SUCCESS, FAILED, CANCELED, ...), else where it is. */
export function stateWord(s: { state?: RunState; status?: RunTask["status"] } | undefined): string {
  if (s?.state?.result_state) return s.state.result_state;
  const code = s?.status?.termination_details?.code;
  if (s?.status?.state === "TERMINATED" && code) return code;
  return s?.status?.state ?? s?.state?.life_cycle_state ?? "PENDING";
}

const TERMINAL = new Set(["TERMINATED", "SKIPPED", "INTERNAL_ERROR"]);

export function isFinished(run: Run): boolean {
  return TERMINAL.has(run.state?.life_cycle_state ?? "") || run.status?.state === "TERMINATED";
}

export function succeeded(run: Run): boolean {
  const code = run.status?.termination_details?.code;
  if (run.status?.state === "TERMINATED" && code) return code === "SUCCESS";
  return run.state?.result_state === "SUCCESS";
}

export interface FollowOptions {
  params: Record<string, string>;
  wait: boolean;
  json: boolean;
  out: Output;
  /** Between two reads of the run. Default 1,000 ms (LAKEFORGE_RUN_POLL_MS). */
  pollMs?: number;
  /** Resolves once the user asks to stop (Ctrl-C); default: SIGINT. */
  interrupt?: (cancel: () => void) => () => void;
}

export async function followRun(b: OpenBundle, jobKey: string, opts: FollowOptions): Promise<number> {
  const { out } = opts;
  if (!b.bundle.resources.some((r) => r.kind === "jobs" && r.key === jobKey)) {
    const jobs = b.bundle.resources.filter((r) => r.kind === "jobs").map((r) => r.key);
    throw new UserError(
      `no job ${jobKey} in ${b.source.name}`,
      jobs.length ? `jobs: ${jobs.join(", ")}` : "the bundle has no jobs",
    );
  }
  const state = await loadBundleState(b);
  const id = state.resources[`databricks.job.${jobKey}`]?.id;
  if (!id)
    throw new UserError(
      `job ${jobKey} is not deployed to ${b.source.target}`,
      `run lakeforge deploy -t ${b.source.target} first`,
    );
  const runs = new JobRuns(b.client);
  const runId = await runs.runNow(Number(id), opts.params);
  let run = await runs.get(runId);
  const url = run.run_page_url ?? `${b.host}/#job/${id}/run/${runId}`;
  if (!opts.json) out.info(`Run ${runId} of ${jobKey}: ${url}`);
  if (!opts.wait) {
    if (opts.json) out.json({ job: jobKey, job_id: Number(id), run_id: runId, run_page_url: url });
    return 0;
  }

  let cancelled = false;
  const onInterrupt =
    opts.interrupt ??
    ((cancel: () => void) => {
      const handler = () => cancel();
      process.once("SIGINT", handler);
      return () => process.removeListener("SIGINT", handler);
    });
  const detach = onInterrupt(() => {
    if (cancelled) return;
    cancelled = true;
    if (!opts.json) out.info("Cancelling the run...");
    runs.cancel(runId).catch((e) => out.error(`could not cancel run ${runId}: ${(e as Error).message}`));
  });
  const pollMs = opts.pollMs ?? (Number(process.env.LAKEFORGE_RUN_POLL_MS) || 1000);
  const seen = new Map<string, string>();
  try {
    for (;;) {
      const words = [
        [jobKey, stateWord(run)] as const,
        ...(run.tasks ?? []).map((t) => [`${jobKey}.${t.task_key}`, stateWord(t)] as const),
      ];
      for (const [key, word] of words) {
        if (seen.get(key) === word) continue;
        seen.set(key, word);
        if (!opts.json && key !== jobKey) out.info(`  ${key.slice(jobKey.length + 1)}: ${word}`);
      }
      if (isFinished(run)) break;
      await new Promise((r) => setTimeout(r, pollMs));
      run = await runs.get(runId);
    }
  } finally {
    detach();
  }

  const outputs: { task_key: string; state: string; output?: RunOutput }[] = [];
  for (const t of run.tasks ?? []) {
    const output = t.run_id === undefined ? undefined : await runs.output(t.run_id).catch(() => undefined);
    outputs.push({ task_key: t.task_key, state: stateWord(t), ...(output ? { output } : {}) });
  }
  if (!run.tasks?.length) {
    const output = await runs.output(runId).catch(() => undefined);
    if (output) outputs.push({ task_key: jobKey, state: stateWord(run), output });
  }
  const ok = succeeded(run);
  if (opts.json) {
    out.json({
      job: jobKey,
      job_id: Number(id),
      run_id: runId,
      run_page_url: url,
      state: stateWord(run),
      success: ok,
      tasks: outputs,
    });
  } else {
    for (const o of outputs) {
      const text = describeOutput(o.output);
      if (!text) continue;
      out.info(`--- ${o.task_key} (${o.state})`);
      out.info(text.trimEnd());
    }
    const message = run.status?.termination_details?.message ?? run.state?.state_message;
    out.info(`Run ${runId} ${ok ? "succeeded" : `ended: ${stateWord(run)}`}${!ok && message ? ` (${message})` : ""}: ${url}`);
  }
  return ok ? 0 : 1;
}

function describeOutput(o: RunOutput | undefined): string {
  if (!o) return "";
  const parts: string[] = [];
  if (o.logs) parts.push(o.logs + (o.logs_truncated ? "\n[logs truncated]" : ""));
  if (o.notebook_output?.result !== undefined) parts.push(`result: ${o.notebook_output.result}`);
  if (o.error) parts.push(`error: ${o.error}`);
  // A Python task's trace is usually in its logs (stderr) already.
  if (o.error_trace && !o.logs?.includes(o.error_trace.trim())) parts.push(o.error_trace);
  return parts.join("\n");
}

export type { Obj };
