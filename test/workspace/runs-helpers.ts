import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { zip } from "../../src/workspace/server/workspace.js";
import { type RunningWorkspace, startWorkspace, type WorkspaceOptions } from "../../src/workspace/server.js";

/** Helpers for the job-run suites: a workspace whose tasks run on the ML project's Python (pyspark, mlflow, pandas). */

delete process.env.LAKEFORGE_WORKSPACE_TOKEN;

export const RUNTIME_PYTHON = resolve(".cache/venv-project/bin/python");
export const HAVE_RUNTIME = existsSync(RUNTIME_PYTHON);
export const NO_RUNTIME_REASON = `no runtime interpreter at ${RUNTIME_PYTHON} (run npm run setup)`;

// biome-ignore lint/suspicious/noExplicitAny: API responses, checked field by field by the assertions
export type JsonBody = Record<string, any>;

export interface Api {
  ws: RunningWorkspace;
  call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: JsonBody }>;
  ok(method: string, path: string, body?: unknown): Promise<JsonBody>;
}

export async function startRunsWorkspace(options: WorkspaceOptions = {}): Promise<Api> {
  const ws = await startWorkspace({ port: 0, ephemeral: true, ...options, runs: { python: RUNTIME_PYTHON, ...options.runs } });
  const call: Api["call"] = async (method, path, body, token) => {
    const res = await fetch(`${ws.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? ws.token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: JsonBody = {};
    try {
      parsed = JSON.parse(text) as JsonBody;
    } catch {
      parsed = { text };
    }
    return { status: res.status, body: parsed };
  };
  const ok: Api["ok"] = async (method, path, body) => {
    const r = await call(method, path, body);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  return { ws, call, ok };
}

/** Writes a workspace file (or a notebook, when the content starts with the notebook header). */
export async function putFile(api: Api, path: string, content: string | Buffer): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await api.ok("POST", "/api/2.0/workspace/mkdirs", { path: dir });
  await api.ok("POST", "/api/2.0/workspace/import", {
    path,
    format: "AUTO",
    overwrite: true,
    content: Buffer.from(content).toString("base64"),
  });
}

export async function createJob(api: Api, settings: Record<string, unknown>, version = "2.2"): Promise<number> {
  const r = await api.ok("POST", `/api/${version}/jobs/create`, settings);
  return r.job_id as number;
}

const TERMINAL = new Set(["TERMINATED", "SKIPPED", "INTERNAL_ERROR"]);

export async function waitRun(api: Api, runId: number, timeoutMs = 120_000): Promise<JsonBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await api.ok("GET", `/api/2.1/jobs/runs/get?run_id=${runId}`);
    if (TERMINAL.has(run.state.life_cycle_state)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.state.life_cycle_state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runNow(api: Api, jobId: number, body: Record<string, unknown> = {}): Promise<JsonBody> {
  const { run_id } = await api.ok("POST", "/api/2.2/jobs/run-now", { job_id: jobId, ...body });
  return waitRun(api, run_id as number);
}

export function task(run: JsonBody, key: string): JsonBody {
  const t = (run.tasks as JsonBody[]).find((x) => x.task_key === key);
  if (!t) throw new Error(`no task ${key}`);
  return t;
}

export async function output(api: Api, run: JsonBody, key: string): Promise<JsonBody> {
  return api.ok("GET", `/api/2.1/jobs/runs/get-output?run_id=${task(run, key).run_id}`);
}

/** A minimal pure-Python wheel (zip with dist-info), built here so the test needs no build tools. */
export function makeWheel(name: string, version: string, files: Record<string, string>): Buffer {
  const info = `${name}-${version}.dist-info`;
  const all: Record<string, string> = {
    ...files,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`,
    [`${info}/WHEEL`]: "Wheel-Version: 1.0\nGenerator: lakeforge-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    [`${info}/entry_points.txt`]: `[console_scripts]\nrun = ${name}:main\n`,
  };
  all[`${info}/RECORD`] = `${Object.keys(all)
    .map((p) => `${p},,`)
    .join("\n")}\n${info}/RECORD,,\n`;
  return zip(Object.entries(all).map(([n, d]) => ({ name: n, data: Buffer.from(d) })));
}
