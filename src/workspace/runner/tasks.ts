import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { JsonObject } from "../http.js";
import type { JobRun, ResultState, TaskRun } from "../server/runs-model.js";
import { resolveWorkspacePath, volumeTree, workspaceTree } from "../tree.js";
import type { Workspace } from "../workspace.js";
import type { RunEngine } from "./engine.js";
import { defaultRuntimePython, EnvironmentError, pythonFor, runtimeShimDir } from "./env.js";
import { codeRoot, mirror, notebookText } from "./files.js";
import { NotebookError, notebookProgram } from "./notebook.js";
import { type LogBuffer, startTaskProcess, type TaskProcess } from "./process.js";
import { type ReferenceContext, resolveDeep, resolveReferences } from "./refs.js";

/** How each kind of task runs: condition and run-job tasks in the workspace, the others in a Python process. */

export interface TaskOutcome {
  result: ResultState;
  message?: string;
  code?: string;
  values?: Record<string, unknown>;
  result_value?: string;
  error?: string;
  error_trace?: string;
  condition?: { left: string; right: string; outcome: string };
  /** A failure that retrying cannot fix (bad configuration). */
  noRetry?: boolean;
}

export interface TaskContext {
  engine: RunEngine;
  ws: Workspace;
  run: JobRun;
  task: TaskRun;
  token: string;
  log: LogBuffer;
  signal: AbortSignal;
  track: (p: TaskProcess) => void;
  refs: ReferenceContext;
}

class ConfigError extends Error {}

const TASK_TYPES = ["notebook_task", "spark_python_task", "python_wheel_task", "condition_task", "run_job_task"];

export async function executeTask(c: TaskContext): Promise<TaskOutcome> {
  const s = c.task.settings;
  const type = Object.keys(s).find((k) => k.endsWith("_task") && s[k] !== null && s[k] !== undefined);
  try {
    switch (type) {
      case "condition_task":
        return condition(c, s.condition_task as JsonObject);
      case "run_job_task":
        return await runJob(c, s.run_job_task as JsonObject);
      case "notebook_task":
      case "spark_python_task":
      case "python_wheel_task":
        return await processTask(c, type);
      default: {
        const message = `${type ?? "This task type"} cannot run in the local workspace; supported: ${TASK_TYPES.join(", ")}.`;
        return { result: "FAILED", message, error: message, noRetry: true, code: "INVALID_RUN_CONFIGURATION" };
      }
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof NotebookError) {
      return { result: "FAILED", message: e.message, error: e.message, noRetry: true, code: "INVALID_RUN_CONFIGURATION" };
    }
    if (e instanceof EnvironmentError) {
      c.log.append(e.log);
      return { result: "FAILED", message: e.message, error: e.message, code: "LIBRARY_INSTALLATION_ERROR" };
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// condition_task

function condition(c: TaskContext, spec: JsonObject): TaskOutcome {
  const left = resolveReferences(String(spec.left ?? ""), c.refs);
  const right = resolveReferences(String(spec.right ?? ""), c.refs);
  const op = String(spec.op ?? "");
  let value: boolean;
  if (op === "EQUAL_TO") value = left === right;
  else if (op === "NOT_EQUAL") value = left !== right;
  else {
    const l = Number(left);
    const r = Number(right);
    if (left.trim() === "" || right.trim() === "" || Number.isNaN(l) || Number.isNaN(r)) {
      const message = `Condition ${op} compares numbers, got '${left}' and '${right}'.`;
      return { result: "FAILED", message, error: message, noRetry: true };
    }
    if (op === "GREATER_THAN") value = l > r;
    else if (op === "GREATER_THAN_OR_EQUAL") value = l >= r;
    else if (op === "LESS_THAN") value = l < r;
    else if (op === "LESS_THAN_OR_EQUAL") value = l <= r;
    else {
      const message = `Unknown condition operator ${op}.`;
      return { result: "FAILED", message, error: message, noRetry: true };
    }
  }
  const outcome = String(value);
  return { result: "SUCCESS", message: `Condition evaluated to ${outcome}.`, condition: { left, right, outcome } };
}

// ---------------------------------------------------------------------------------------------
// run_job_task

async function runJob(c: TaskContext, spec: JsonObject): Promise<TaskOutcome> {
  const resolved = resolveDeep(spec, c.refs);
  const jobId = Number(resolved.job_id);
  let child: JobRun;
  try {
    child = c.engine.startChildRun(c.run, c.task, jobId, resolved);
  } catch (e) {
    const message = `Could not start job ${resolved.job_id}: ${(e as Error).message}`;
    return { result: "FAILED", message, error: message, noRetry: true, code: "INVALID_RUN_CONFIGURATION" };
  }
  // A cancelled or timed-out task cancels the run it started.
  const onAbort = () => c.engine.cancel(child.run_id);
  c.signal.addEventListener("abort", onAbort);
  try {
    await c.engine.whenDone(child.run_id);
  } finally {
    c.signal.removeEventListener("abort", onAbort);
  }
  const done = c.engine.get(child.run_id);
  const r = done?.state.result_state;
  if (r === "SUCCESS" || r === "SUCCESS_WITH_FAILURES") {
    return { result: "SUCCESS", message: `Run ${child.run_id} of job ${jobId} succeeded.` };
  }
  const message =
    `Run ${child.run_id} of job ${jobId} ended ${r ?? done?.state.life_cycle_state}: ${done?.state.state_message ?? ""}`.trim();
  return { result: r === "CANCELED" ? "CANCELED" : "FAILED", message, error: message };
}

// ---------------------------------------------------------------------------------------------
// Tasks in a Python process

interface Spec extends JsonObject {
  kind: "python_file" | "notebook" | "wheel";
}

function sanitize(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "root";
}

/** The folder shared by the runs of a job (or of every job of a bundle deployment). */
function workingDir(c: TaskContext): string {
  const deployment = c.run.settings.deployment as JsonObject | undefined;
  const meta = typeof deployment?.metadata_file_path === "string" ? deployment.metadata_file_path : undefined;
  let key: string;
  if (meta) key = `bundle-${sanitize(meta.replace(/\/state\/metadata\.json$/, ""))}`;
  else if (c.run.job_id !== undefined) key = `job-${c.run.job_id}`;
  else key = `run-${c.run.run_id}`;
  const dir = join(c.engine.paths.root, "work", key);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A workspace, volume or DBFS path as a local file (workspace files are mirrored with their folder). */
function localPath(c: TaskContext, raw: string, what: string): { local: string; mirrorDir?: string } {
  const paths = c.engine.paths;
  if (raw.startsWith("dbfs:/")) {
    const local = join(paths.root, "dbfs", raw.slice("dbfs:/".length));
    if (!existsSync(local)) throw new ConfigError(`${what} ${raw} does not exist.`);
    return { local };
  }
  if (raw.startsWith("/Volumes/")) {
    const vt = volumeTree(c.ws);
    const node = vt.get(raw);
    if (node?.object_type !== "FILE") throw new ConfigError(`${what} ${raw} does not exist.`);
    const local = join(paths.cache, "volumes", node.blob ?? "empty", basename(raw));
    if (!existsSync(local)) {
      mkdirSync(join(local, ".."), { recursive: true });
      writeFileSync(local, vt.content(node));
    }
    return { local };
  }
  if (!raw.startsWith("/")) {
    throw new ConfigError(`${what} ${raw} is not an absolute workspace path; Git sources cannot run in the local workspace.`);
  }
  const tree = workspaceTree(c.ws);
  const { path } = resolveWorkspacePath(raw);
  const node = tree.get(path);
  if (!node || (node.object_type !== "FILE" && node.object_type !== "NOTEBOOK")) {
    throw new ConfigError(`${what} ${raw} does not exist.`);
  }
  const principal = c.ws.identity.principalFor(c.run.run_as.kind, c.run.run_as.id);
  if (!principal || !tree.has(principal, node, "CAN_READ")) {
    throw new ConfigError(`${c.run.run_as.name} does not have permission to read ${raw}.`);
  }
  const root = codeRoot(tree, path);
  const mirrorDir = mirror(tree, root, join(paths.root, "mirror"));
  const rel = root === "/" ? path.slice(1) : path.slice(root.length + 1);
  return { local: join(mirrorDir, node.object_type === "NOTEBOOK" ? `${rel}.py` : rel), mirrorDir };
}

/** Requirement lines of the task: libraries, its serverless environment, `%pip` cells. */
function requirements(c: TaskContext, extra: string[]): string[] {
  const out: string[] = [];
  const file = (raw: string, what: string) => localPath(c, raw, what).local;
  for (const lib of (c.task.settings.libraries ?? []) as JsonObject[]) {
    if (lib.pypi && typeof (lib.pypi as JsonObject).package === "string") {
      const pypi = lib.pypi as JsonObject;
      out.push(String(pypi.package));
      if (typeof pypi.repo === "string") out.push(`--extra-index-url ${pypi.repo}`);
    } else if (typeof lib.whl === "string") out.push(file(lib.whl, "Library"));
    else if (typeof lib.egg === "string") throw new ConfigError("Egg libraries are not supported; use a wheel.");
    else if (typeof lib.requirements === "string") out.push(`-r ${file(lib.requirements, "Requirements file")}`);
    // jar, maven and cran libraries have no meaning for a local Python process: ignored.
  }
  const envKey = c.task.settings.environment_key;
  if (typeof envKey === "string") {
    const env = ((c.run.settings.environments ?? []) as JsonObject[]).find((e) => e.environment_key === envKey);
    const specDeps = ((env?.spec as JsonObject | undefined)?.dependencies ?? []) as unknown[];
    for (const d of specDeps) out.push(...dependencyLine(c, String(d)));
  }
  for (const line of extra) out.push(...dependencyLine(c, line));
  return out;
}

function dependencyLine(c: TaskContext, raw: string): string[] {
  const line = raw.trim();
  const m = /^(-r|--requirement)\s+(\S+)$/.exec(line);
  if (m) {
    const target = m[2] as string;
    return [
      target.startsWith("/") || target.startsWith("dbfs:") ? `-r ${localPath(c, target, "Requirements file").local}` : line,
    ];
  }
  if ((line.startsWith("/") || line.startsWith("dbfs:")) && /\.(whl|tar\.gz|zip)$/.test(line)) {
    return [localPath(c, line, "Library").local];
  }
  const e = /^(-e|--editable)\s+(\S+)$/.exec(line);
  if (e && (e[2] as string).startsWith("/")) {
    const target = localPath(c, `${(e[2] as string).replace(/\/$/, "")}/pyproject.toml`, "Editable project");
    return [`-e ${join(target.local, "..")}`];
  }
  return line ? [line] : [];
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConfigError(`${what} must be a list of strings.`);
  return v.map(String);
}

function stringMap(v: unknown): Record<string, string> {
  if (!v || typeof v !== "object") return {};
  return Object.fromEntries(Object.entries(v as JsonObject).map(([k, x]) => [k, String(x)]));
}

async function processTask(
  c: TaskContext,
  type: "notebook_task" | "spark_python_task" | "python_wheel_task",
): Promise<TaskOutcome> {
  const s = c.task.settings;
  const overriding = (c.run.overriding_parameters ?? {}) as JsonObject;
  const jobParams = Object.fromEntries(c.run.job_parameters.map((p) => [p.name, p.value]));
  const sysPath: string[] = [];
  let spec: Spec;
  let pip: string[] = [];
  let widgets: Record<string, string> = { ...jobParams };
  if (type === "spark_python_task") {
    const t = s.spark_python_task as JsonObject;
    if (t.source === "GIT") throw new ConfigError("Git sources cannot run in the local workspace.");
    const file = localPath(c, String(t.python_file ?? ""), "Python file");
    const params =
      overriding.python_params !== undefined
        ? stringList(overriding.python_params, "python_params")
        : stringList(t.parameters, "parameters");
    spec = { kind: "python_file", python_file: file.local, argv: params.map((p) => resolveReferences(p, c.refs)) };
  } else if (type === "notebook_task") {
    const t = s.notebook_task as JsonObject;
    if (t.source === "GIT") throw new ConfigError("Git sources cannot run in the local workspace.");
    const raw = String(t.notebook_path ?? "");
    if (!raw.startsWith("/")) throw new ConfigError(`Notebook path ${raw} must be an absolute workspace path.`);
    const tree = workspaceTree(c.ws);
    const start = resolveWorkspacePath(raw).path;
    const program = notebookProgram(start, (p) => {
      const node = tree.get(p);
      if (node?.object_type !== "NOTEBOOK") return undefined;
      return { source: notebookText(tree, node), language: node.language ?? "PYTHON" };
    });
    const located = localPath(c, raw, "Notebook");
    sysPath.push(join(located.local, ".."));
    pip = program.pip;
    const base = resolveDeep(stringMap(t.base_parameters), c.refs);
    widgets = { ...base, ...stringMap(overriding.notebook_params), ...jobParams };
    spec = { kind: "notebook", notebook_path: raw, cells: program.cells as unknown as JsonObject[] };
  } else {
    const t = s.python_wheel_task as JsonObject;
    const named = overriding.python_named_params ?? t.named_parameters;
    let argv: string[];
    if (named && typeof named === "object" && Object.keys(named).length > 0) {
      argv = Object.entries(stringMap(named)).map(([k, v]) => `--${k}=${resolveReferences(v, c.refs)}`);
    } else {
      const params = overriding.python_params !== undefined ? overriding.python_params : t.parameters;
      argv = stringList(params, "parameters").map((p) => resolveReferences(p, c.refs));
    }
    if (typeof t.package_name !== "string" || typeof t.entry_point !== "string") {
      throw new ConfigError("python_wheel_task needs package_name and entry_point.");
    }
    spec = { kind: "wheel", package_name: t.package_name, entry_point: t.entry_point, argv };
  }

  const runDir = join(c.engine.paths.root, "task-runs", String(c.task.run_id));
  mkdirSync(runDir, { recursive: true });
  const runtime = defaultRuntimePython(c.ws.settings.runs?.python);
  const reqs = requirements(c, pip);
  const python = await pythonFor(runtime, reqs, c.engine.paths.cache, (text) => c.log.append(text));
  if (c.signal.aborted) return { result: "CANCELED", message: "Run cancelled." };

  const upstreamValues: Record<string, Record<string, unknown>> = {};
  for (const [key, t] of Object.entries(c.refs.tasks)) if (t.values) upstreamValues[key] = t.values;
  const full = {
    ...spec,
    task_key: c.task.task_key,
    widgets,
    task_values: upstreamValues,
    sys_path: sysPath,
    dbfs_root: join(c.engine.paths.root, "dbfs"),
    volumes_root: join(c.engine.paths.root, "volumes"),
  };
  mkdirSync(full.dbfs_root, { recursive: true });
  mkdirSync(full.volumes_root, { recursive: true });
  const specFile = join(runDir, "task.json");
  writeFileSync(specFile, JSON.stringify(full));

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("DATABRICKS_") || k.startsWith("LAKEFORGE_") || k.startsWith("MLFLOW_") || k === "PYTHONPATH") continue;
    env[k] = v;
  }
  Object.assign(env, {
    LAKEFORGE_TASK_SPEC: specFile,
    PYTHONPATH: runtimeShimDir(),
    PYTHONUNBUFFERED: "1",
    // Bytecode goes to the cache, not next to the shipped runtime package or the mirrored files.
    PYTHONPYCACHEPREFIX: join(c.engine.paths.cache, "pycache"),
    DATABRICKS_HOST: c.ws.url,
    DATABRICKS_TOKEN: c.token,
    DATABRICKS_AUTH_TYPE: "pat",
    MLFLOW_TRACKING_URI: "databricks",
    MLFLOW_REGISTRY_URI: "databricks-uc",
  });
  const proc = startTaskProcess({ python, cwd: workingDir(c), env, log: c.log });
  c.track(proc);
  const onAbort = () => proc.kill();
  c.signal.addEventListener("abort", onAbort);
  const exit = await proc.done;
  c.signal.removeEventListener("abort", onAbort);

  const read = (name: string): JsonObject | undefined => {
    const f = join(runDir, name);
    if (!existsSync(f)) return undefined;
    try {
      return JSON.parse(readFileSync(f, "utf8")) as JsonObject;
    } catch {
      return undefined;
    }
  };
  const values = read("values.json") as Record<string, unknown> | undefined;
  const result = read("result.json");
  const error = read("error.json");
  const base: TaskOutcome = { result: "SUCCESS" };
  if (values) base.values = values;
  if (typeof result?.result === "string") base.result_value = result.result;
  if (exit.spawnError) {
    const message = `Could not start the runtime interpreter ${python}: ${exit.spawnError}`;
    return { ...base, result: "FAILED", message, error: message, noRetry: true };
  }
  if (exit.code === 0) return base;
  const message =
    typeof error?.error === "string"
      ? error.error
      : exit.signal
        ? `The task process was killed by ${exit.signal}.`
        : `The task process exited with status ${exit.code}.`;
  return {
    ...base,
    result: "FAILED",
    message,
    error: message,
    ...(typeof error?.error_trace === "string" ? { error_trace: error.error_trace } : {}),
  };
}
