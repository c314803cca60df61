import { isFinished, JobRuns, type Run, type RunOutput, stateWord, succeeded } from "../bundle/run.js";
import type { DatabricksClient } from "../clients/databricks/index.js";

/**
 * Runs one deployed job of the pipeline and follows it: a line each time a task changes state (with
 * the time since the run started), and for a failed run each failed task's error and trace.
 */

export interface TaskResult {
  task_key: string;
  state: string;
  run_id?: number | string;
  duration_ms?: number;
  output?: RunOutput;
}

export interface JobRunResult {
  job: string;
  job_id: number;
  run_id: number | string;
  url: string;
  state: string;
  success: boolean;
  duration_ms: number;
  tasks: TaskResult[];
}

export async function runJob(
  client: DatabricksClient,
  job: { key: string; id: number },
  opts: { host: string; pollMs: number; progress: (line: string) => void },
): Promise<JobRunResult> {
  const runs = new JobRuns(client);
  const started = Date.now();
  const runId = await runs.runNow(job.id, {});
  let run: Run = await runs.get(runId);
  const url = run.run_page_url ?? `${opts.host}/#job/${job.id}/run/${runId}`;
  opts.progress(`Running ${job.key}: ${url}`);
  const seen = new Map<string, string>();
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`.padStart(5);
  for (;;) {
    for (const t of run.tasks ?? []) {
      const word = stateWord(t);
      if (seen.get(t.task_key) === word) continue;
      // A task still waiting for its dependencies is not news.
      if (!seen.has(t.task_key) && (word === "PENDING" || word === "BLOCKED" || word === "QUEUED")) {
        seen.set(t.task_key, word);
        continue;
      }
      seen.set(t.task_key, word);
      opts.progress(`  ${elapsed()}  ${job.key}.${t.task_key}: ${word}`);
    }
    if (isFinished(run)) break;
    await new Promise((r) => setTimeout(r, opts.pollMs));
    run = await runs.get(runId);
  }
  const ok = succeeded(run);
  const tasks: TaskResult[] = [];
  for (const t of run.tasks ?? []) {
    const raw = t as typeof t & { start_time?: number; end_time?: number };
    const result: TaskResult = {
      task_key: t.task_key,
      state: stateWord(t),
      ...(t.run_id !== undefined ? { run_id: t.run_id } : {}),
      ...(raw.start_time && raw.end_time ? { duration_ms: raw.end_time - raw.start_time } : {}),
    };
    if (t.run_id !== undefined) {
      const output = await runs.output(t.run_id).catch(() => undefined);
      if (output) result.output = output;
    }
    tasks.push(result);
  }
  return {
    job: job.key,
    job_id: job.id,
    run_id: runId,
    url,
    state: stateWord(run),
    success: ok,
    duration_ms: Date.now() - started,
    tasks,
  };
}

/** What a failed task says: its error and trace, else the end of its logs. */
export function failureText(t: TaskResult): string {
  const o = t.output;
  if (!o) return "(no output)";
  const parts: string[] = [];
  if (o.error) parts.push(`error: ${o.error}`);
  if (o.error_trace) parts.push(o.error_trace.trimEnd());
  if (!o.error_trace && o.logs) {
    const lines = o.logs.trimEnd().split("\n");
    parts.push(`last lines of the log:\n${lines.slice(-40).join("\n")}`);
  }
  return parts.join("\n") || "(no output)";
}

/** `appended <n> predictions of version <v> to <table>`, the batch inference step's last log line. */
export function batchInferenceRows(logs: string | undefined): { rows: number; version: string; table: string } | undefined {
  const matches = [...(logs ?? "").matchAll(/appended (\d+) predictions of version (\S+) to (\S+)/g)];
  const m = matches.at(-1);
  return m ? { rows: Number(m[1]), version: m[2] as string, table: m[3] as string } : undefined;
}
