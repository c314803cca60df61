import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll } from "vitest";
import { stringify } from "yaml";
import { DatabricksClient } from "../../src/clients/databricks/client.js";
import { openEnvironment, planEnvironment } from "../../src/deploy/environment.js";
import type { Plan } from "../../src/engine/types.js";
import { type RunningWorkspace, startWorkspace, type WorkspaceOptions } from "../../src/workspace/server.js";

/**
 * End-to-end helpers: a local workspace in this process, project folders holding a `lakeforge.yaml`
 * that targets it by host, the built CLI run as a child process, and listings of what exists in the
 * workspace.
 */

export type Obj = Record<string, unknown>;

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = join(ROOT, "bin/lakeforge.js");
const RECORDER = pathToFileURL(join(ROOT, "test/e2e/fixtures/record-requests.mjs")).href;

/**
 * The suites run the built CLI (`npm test` builds first). A build older than the sources would test
 * old code: that is said on stderr (not an error, as sources may change while a build runs).
 */
export function requireBuild(): void {
  const built = join(ROOT, "dist/cli/main.js");
  if (!existsSync(built)) throw new Error("the end-to-end tests run the built CLI: run `npm run build` first");
  const builtAt = statSync(built).mtimeMs;
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  if (newest(join(ROOT, "src")) > builtAt) {
    process.stderr.write("warning: dist/ is older than src/; the end-to-end tests run dist/ (npm run build)\n");
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A temporary folder removed after the file's tests. */
export function tempDir(prefix = "lakeforge-e2e-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface LogEntry {
  seq: number;
  method: string;
  path: string;
  status: number;
  fault?: string;
}

export interface TestWorkspace {
  url: string;
  token: string;
  running: RunningWorkspace;
  /** The admin's client, for checks and for changes made behind Lakeforge's back. */
  api: DatabricksClient;
  /** The request log's last sequence number. */
  lastSeq(): Promise<number>;
  /** Requests logged after `seq` (the control API's own requests are not logged). */
  requestsSince(seq: number): Promise<LogEntry[]>;
  addFault(rule: Obj): Promise<void>;
  clearFaults(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a local workspace (in memory unless `dataDir` is given), stopped after the file's tests. */
export async function startTestWorkspace(options: WorkspaceOptions = {}): Promise<TestWorkspace> {
  const running = await startWorkspace({ port: 0, ...(options.dataDir ? {} : { ephemeral: true }), ...options });
  const token = running.token;
  const auth = async () => ({ Authorization: `Bearer ${token}` });
  const api = new DatabricksClient({ host: running.url, auth, retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 50 } });
  const control = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${running.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  };
  let stopped = false;
  const ws: TestWorkspace = {
    url: running.url,
    token,
    running,
    api,
    lastSeq: async () => (await control<{ last_seq: number }>("GET", "/__lakeforge/requests?since=0")).last_seq,
    requestsSince: async (seq) => (await control<{ requests: LogEntry[] }>("GET", `/__lakeforge/requests?since=${seq}`)).requests,
    addFault: async (rule) => {
      await control("POST", "/__lakeforge/faults", rule);
    },
    clearFaults: async () => {
      await control("DELETE", "/__lakeforge/faults");
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await running.stop();
    },
  };
  cleanups.push(() => ws.stop());
  return ws;
}

/** A `lakeforge.yaml` document with one environment, `test`, deploying to the workspace at `url`. */
export function projectDocument(url: string, resources: Obj, extra: Obj = {}): Obj {
  return {
    project: { name: "e2e" },
    ...extra,
    environments: { test: { default: true, workspace: { host: url } } },
    resources,
  };
}

/** A project folder: `files` by relative path; objects are written as YAML. */
export function makeProject(files: Record<string, string | Obj>, dir = tempDir()): string {
  writeProject(dir, files);
  return dir;
}

export function writeProject(dir: string, files: Record<string, string | Obj>): void {
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, typeof content === "string" ? content : stringify(content, { lineWidth: 0 }));
  }
}

/** Plans the project's default environment in this process (no CLI start-up), as `plan` would. */
export async function planHere(dir: string, env: Record<string, string>): Promise<Plan> {
  const opened = await openEnvironment({ target: dir, env });
  try {
    return (await planEnvironment(opened)).plan;
  } finally {
    await opened.close();
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  /** The child's whole environment besides PATH, HOME and NO_COLOR (nothing is inherited). */
  env?: Record<string, string>;
  /** Records every request the CLI sends (method, full URL) as JSON lines in this file. */
  recordTo?: string;
}

/** The child's environment: a clean one, with an empty home so no `~/.databrickscfg` is read. */
function childEnv(o: CliOptions): Record<string, string> {
  const home = join(o.cwd, ".home");
  mkdirSync(home, { recursive: true });
  if (o.recordTo) mkdirSync(dirname(o.recordTo), { recursive: true });
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    NO_COLOR: "1",
    ...(o.recordTo ? { LAKEFORGE_E2E_REQUEST_LOG: o.recordTo, NODE_OPTIONS: `--import=${RECORDER}` } : {}),
    ...o.env,
  };
}

/** Starts the CLI; `done` resolves when it exits. */
export function spawnCli(args: string[], o: CliOptions): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd, env: childEnv(o), stdio: ["ignore", "pipe", "pipe"] });
  // A test that fails half-way leaves no CLI running.
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<CliResult>((resolveDone, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolveDone({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runCli(args: string[], o: CliOptions): Promise<CliResult> {
  return spawnCli(args, o).done;
}

/** Formats a CLI result for an assertion message. */
export const show = (r: CliResult) =>
  `exit ${r.code}${r.signal ? ` (${r.signal})` : ""}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

export interface RecordedRequest {
  method: string;
  url: string;
  target?: string;
}

export function readRecorded(file: string): RecordedRequest[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RecordedRequest);
}

export const isWrite = (method: string) => method !== "GET" && method !== "HEAD";

/** The plan as `plan --json` prints it. */
export interface JsonPlan {
  environment: string;
  actions: {
    address: string;
    action: string;
    id?: string;
    reason?: string;
    changes: { path: string; before?: unknown; after?: unknown }[];
  }[];
}

/** The actions of a JSON plan that change something, as `action address` strings. */
export const changing = (p: JsonPlan) => p.actions.filter((a) => a.action !== "skip").map((a) => `${a.action} ${a.address}`);

/** A small deterministic random generator (mulberry32): the same seed gives the same sequence. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for a randomised suite: `LAKEFORGE_E2E_SEED` to replay one, else a fresh one. */
export function suiteSeed(): number {
  const fromEnv = Number(process.env.LAKEFORGE_E2E_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 1 + Math.floor(Math.random() * 2 ** 31);
}

/**
 * What exists in the workspace, by kind, as sorted names (a duplicate shows as a repeated name).
 * Notebooks are listed below `notebookRoot`; built-in objects (the `admins` and `users` groups, the
 * `main` and `system` catalogs, `default` and `information_schema` schemas, the creator's MANAGE on
 * each scope) are left out.
 */
export interface Inventory {
  jobs: string[];
  clusters: string[];
  cluster_policies: string[];
  secret_scopes: string[];
  secrets: string[];
  secret_acls: string[];
  notebooks: string[];
  catalogs: string[];
  schemas: string[];
  grants: string[];
  experiments: string[];
  groups: string[];
  service_principals: string[];
  /**
   * Direct access control entries of jobs, clusters, experiments and notebooks (`<type>/<object name>: <principal>
   * <level>`); owners, the admins group and the admin user (the creator) left out.
   */
  permissions: string[];
}

const BUILTIN_GROUPS = new Set(["admins", "users"]);
const BUILTIN_CATALOGS = new Set(["main", "system", "hive_metastore", "samples"]);
const BUILTIN_SCHEMAS = new Set(["default", "information_schema"]);
const ADMIN = "admin@lakeforge.local";

export async function inventory(api: DatabricksClient, notebookRoot: string): Promise<Inventory> {
  const sorted = (a: string[]) => [...a].sort();
  const jobs = await api.listAll<Obj>("/api/2.2/jobs/list", { limit: 100 }, "jobs");
  const clusters = (await api.listAll<Obj>("/api/2.1/clusters/list", { page_size: 100 }, "clusters")).filter(
    (c) => c.cluster_source !== "JOB",
  );
  const policies = (await api.get<{ policies?: Obj[] }>("/api/2.0/policies/clusters/list")).policies ?? [];
  const scopes = (await api.get<{ scopes?: Obj[] }>("/api/2.0/secrets/scopes/list")).scopes ?? [];
  const secrets: string[] = [];
  const acls: string[] = [];
  for (const s of scopes) {
    const name = String(s.name);
    for (const k of (await api.get<{ secrets?: Obj[] }>("/api/2.0/secrets/list", { scope: name })).secrets ?? [])
      secrets.push(`${name}/${String(k.key)}`);
    for (const a of (await api.get<{ items?: Obj[] }>("/api/2.0/secrets/acls/list", { scope: name })).items ?? []) {
      if (!(a.principal === ADMIN && a.permission === "MANAGE"))
        acls.push(`${name}/${String(a.principal)}:${String(a.permission)}`);
    }
  }
  const notebooks: string[] = [];
  const notebookIds = new Map<string, string>();
  const walk = async (path: string) => {
    const res = await api.get<{ objects?: Obj[] }>("/api/2.0/workspace/list", { path }).catch(() => ({ objects: [] as Obj[] }));
    for (const o of res.objects ?? []) {
      if (o.object_type === "DIRECTORY") await walk(String(o.path));
      else if (o.object_type === "NOTEBOOK") {
        notebooks.push(String(o.path));
        notebookIds.set(String(o.path), String(o.object_id));
      }
    }
  };
  await walk(notebookRoot);
  const catalogs = (await api.listAll<Obj>("/api/2.1/unity-catalog/catalogs", {}, "catalogs")).filter(
    (c) => !BUILTIN_CATALOGS.has(String(c.name)),
  );
  const schemas: string[] = [];
  const grants: string[] = [];
  const grantsOf = async (type: string, name: string) => {
    const res = await api.get<{ privilege_assignments?: Obj[] }>(
      `/api/2.1/unity-catalog/permissions/${type}/${encodeURIComponent(name)}`,
    );
    for (const g of res.privilege_assignments ?? []) {
      const privileges = (Array.isArray(g.privileges) ? g.privileges : []).map(String).sort();
      if (privileges.length > 0) grants.push(`${type}/${name}/${String(g.principal)}:${privileges.join(",")}`);
    }
  };
  for (const c of catalogs) {
    await grantsOf("catalog", String(c.name));
    for (const s of await api.listAll<Obj>("/api/2.1/unity-catalog/schemas", { catalog_name: String(c.name) }, "schemas")) {
      if (BUILTIN_SCHEMAS.has(String(s.name))) continue;
      schemas.push(String(s.full_name));
      await grantsOf("schema", String(s.full_name));
    }
  }
  const experiments = (
    await api.listAll<Obj>("/api/2.0/mlflow/experiments/search", { max_results: 1000 }, "experiments", { method: "POST" })
  ).filter((e) => e.lifecycle_stage !== "deleted");
  const groups = (
    await api.listAll<Obj>("/api/2.0/preview/scim/v2/Groups", { attributes: "id,displayName" }, "Resources")
  ).filter((g) => !BUILTIN_GROUPS.has(String(g.displayName)));
  const sps = await api.listAll<Obj>("/api/2.0/preview/scim/v2/ServicePrincipals", {}, "Resources");

  const permissions: string[] = [];
  const aclOf = async (type: string, id: string, label: string) => {
    const res = await api.get<{ access_control_list?: Obj[] }>(`/api/2.0/permissions/${type}/${encodeURIComponent(id)}`);
    for (const row of res.access_control_list ?? []) {
      const who = String(row.user_name ?? row.group_name ?? row.service_principal_name);
      // The admins group keeps its access; the creator (the admin user) holds what the service gave it.
      if (who === "admins" || who === ADMIN) continue;
      for (const p of (Array.isArray(row.all_permissions) ? row.all_permissions : []) as Obj[]) {
        if (p.inherited === true || p.permission_level === "IS_OWNER") continue;
        permissions.push(`${type}/${label}: ${who} ${String(p.permission_level)}`);
      }
    }
  };
  for (const j of jobs) await aclOf("jobs", String(j.job_id), String((j.settings as Obj).name));
  for (const c of clusters) await aclOf("clusters", String(c.cluster_id), String(c.cluster_name));
  for (const e of experiments) await aclOf("experiments", String(e.experiment_id), String(e.name));
  for (const [path, id] of notebookIds) await aclOf("notebooks", id, path);

  return {
    jobs: sorted(jobs.map((j) => String((j.settings as Obj).name))),
    clusters: sorted(clusters.map((c) => String(c.cluster_name))),
    cluster_policies: sorted(policies.map((p) => String(p.name))),
    secret_scopes: sorted(scopes.map((s) => String(s.name))),
    secrets: sorted(secrets),
    secret_acls: sorted(acls),
    notebooks: sorted(notebooks),
    catalogs: sorted(catalogs.map((c) => String(c.name))),
    schemas: sorted(schemas),
    grants: sorted(grants),
    experiments: sorted(experiments.map((e) => String(e.name))),
    groups: sorted(groups.map((g) => String(g.displayName))),
    service_principals: sorted(sps.map((s) => String(s.displayName))),
    permissions: sorted(permissions),
  };
}
