import { bool, denied, int, invalid, type JsonObject, type RequestContext, type Router, str } from "../http.js";
import type { Principal } from "../identity.js";
import type { AclEntry } from "../permissions.js";
import type { Workspace } from "../workspace.js";

/**
 * Jobs API 2.0, 2.1 and 2.2: create, get, list, reset, update, delete (runs live in runs.ts).
 *
 * Settings are stored with the defaults the real service fills in (so a client that diffs its
 * configuration against a read-back sees no change), tasks sorted by `task_key` as the service
 * returns them. API 2.2 pages the arrays `tasks`, `job_clusters`, `parameters` and `environments`
 * 100 elements per `jobs/get` response, with a `next_page_token` while any array has more; 2.0 and
 * 2.1 answer everything at once.
 */

export interface StoredJob {
  job_id: number;
  created_time: number;
  creator_user_name: string;
  settings: JsonObject;
}

/** Arrays of job settings whose elements are identified by a key (used by `jobs/update` and paging). */
const KEYED_ARRAYS = {
  tasks: "task_key",
  job_clusters: "job_cluster_key",
  parameters: "name",
  environments: "environment_key",
} as const;
type KeyedArray = keyof typeof KEYED_ARRAYS;
const KEYED_NAMES = Object.keys(KEYED_ARRAYS) as KeyedArray[];

const ARRAY_PAGE_SIZE = 100;
const MAX_TASKS = 1000;
const JOB_ID_START = 700_000_000_000_000;
const LEVELS = ["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"];
const GIT_PROVIDER_MESSAGE =
  "git_source.git_provider must be one of: github,gitlab,bitbucketcloud,gitlabenterpriseedition,bitbucketserver,azuredevopsservices,githubenterprise,awscodecommit";

const jobsOf = (ws: Workspace) => ws.store.collection<StoredJob>("jobs");

/** The stored job, or undefined. For services that run jobs. */
export function getJob(ws: Workspace, jobId: number | string): StoredJob | undefined {
  return jobsOf(ws).get(jobId);
}

/** The name a job's runs execute as: its `run_as` principal, else its creator. */
export function runAsName(job: StoredJob): string {
  const runAs = (job.settings.run_as ?? {}) as JsonObject;
  return (runAs.user_name ?? runAs.service_principal_name ?? job.creator_user_name) as string;
}

/**
 * The settings of a one-time run (`runs/submit`), checked and filled in like a job's: task keys,
 * task types, dependencies, environments, `run_as`. Throws the error the service answers.
 */
export function prepareRunSettings(ws: Workspace, caller: Principal, input: JsonObject): JsonObject {
  const settings = structuredClone(input);
  for (const key of ["access_control_list", "idempotency_token", "job_id"]) delete settings[key];
  settings.name = typeof settings.run_name === "string" ? settings.run_name : "Untitled";
  delete settings.run_name;
  normalize(settings, caller, false, undefined);
  validate(ws, caller, settings, undefined);
  return settings;
}

/** Whether a principal holds a permission level on a job (for the runs endpoints). */
export function jobPermission(ws: Workspace, p: Principal, jobId: number, level: string): boolean {
  return ws.permissions.has(p, "jobs", String(jobId), level);
}

export function register(r: Router, ws: Workspace): void {
  const jobs = jobsOf(ws);

  ws.permissions.register("jobs", {
    levels: LEVELS,
    objectType: "job",
    idPrefix: "/jobs/",
    exists: (id) => jobs.has(id),
    missing: (id) => `Job ${id} does not exist.`,
  });

  const mustExist = (id: number): StoredJob => {
    const job = jobs.get(id);
    if (!job) throw invalid(`Job ${id} does not exist.`);
    return job;
  };

  // The service checks permissions before existence: a caller without access to a job id learns
  // nothing about whether it exists.
  const requireLevel = (p: Principal, id: number, level: string, what: string) => {
    if (!ws.permissions.has(p, "jobs", String(id), level)) {
      throw denied(`User ${p.name} does not have ${what} permissions on job ${id}`);
    }
  };
  const canView = (p: Principal, id: number) => requireLevel(p, id, "CAN_VIEW", "View or Admin or Manage Run or Owner");
  const canManage = (p: Principal, id: number) => requireLevel(p, id, "CAN_MANAGE", "Admin or Manage or Owner");

  for (const version of ["2.0", "2.1", "2.2"]) {
    const base = `/api/${version}/jobs`;
    const paged = version === "2.2";

    r.post(`${base}/create`, (c) => {
      const settings = structuredClone(c.input);
      const acl = parseAcl(ws, settings.access_control_list);
      delete settings.access_control_list;
      delete settings.job_id;
      normalize(settings, c.principal, paged, undefined);
      validate(ws, c.principal, settings, undefined);
      const id = ws.store.nextId("job_id", JOB_ID_START);
      jobs.set(id, { job_id: id, created_time: Date.now(), creator_user_name: c.principal.name, settings });
      ws.permissions.grantCreator("jobs", String(id), c.principal);
      if (acl.length > 0) ws.permissions.write("jobs", String(id), acl, "merge");
      return { job_id: id };
    });

    r.get(`${base}/get`, (c) => {
      const id = jobId(c);
      canView(c.principal, id);
      const job = mustExist(id);
      return paged ? renderPage(job, pageIndex(str(c.input, "page_token"))) : render(job, job.settings);
    });

    r.get(`${base}/list`, (c) => list(c, version));

    r.post(`${base}/reset`, (c) => {
      const id = jobId(c);
      const next = c.input.new_settings;
      if (!isObject(next)) throw invalid("Missing required field: new_settings");
      canManage(c.principal, id);
      const job = mustExist(id);
      const settings = structuredClone(next);
      // A reset that leaves out run_as keeps the job's current identity.
      normalize(settings, c.principal, paged, job.settings.run_as as JsonObject | undefined);
      validate(ws, c.principal, settings, job.settings);
      jobs.set(id, { ...job, settings });
      return {};
    });

    r.post(`${base}/update`, (c) => {
      const id = jobId(c);
      const next = c.input.new_settings ?? {};
      if (!isObject(next)) throw invalid("new_settings must be an object");
      const remove = c.input.fields_to_remove ?? [];
      if (!Array.isArray(remove) || remove.some((f) => typeof f !== "string")) {
        throw invalid("fields_to_remove must be a list of field names");
      }
      canManage(c.principal, id);
      const job = mustExist(id);
      const settings = merge(job.settings, structuredClone(next), remove as string[]);
      normalize(settings, c.principal, paged, job.settings.run_as as JsonObject | undefined);
      validate(ws, c.principal, settings, job.settings);
      jobs.set(id, { ...job, settings });
      return {};
    });

    r.post(`${base}/delete`, (c) => {
      const id = jobId(c);
      requireLevel(c.principal, id, "CAN_MANAGE", "Admin or Owner");
      mustExist(id);
      jobs.delete(id);
      ws.permissions.drop("jobs", String(id));
      return {};
    });
  }

  function list(c: RequestContext, version: string) {
    const paged = version === "2.2";
    const limitGiven = int(c.input, "limit");
    // API 2.0 answers every job when no limit is asked for; 2.1 and later page 20 at a time.
    const limit = limitGiven ?? (version === "2.0" ? Number.MAX_SAFE_INTEGER : 20);
    if (limitGiven !== undefined && (limitGiven < 1 || limitGiven > 100)) {
      throw invalid(`Invalid limit ${limitGiven}: the limit must be between 1 and 100.`);
    }
    const token = str(c.input, "page_token");
    const offset = token ? decodeOffset(token) : (int(c.input, "offset") ?? 0);
    if (offset < 0) throw invalid("offset must be a non-negative number");
    const name = str(c.input, "name")?.toLowerCase();
    const expand = bool(c.input, "expand_tasks") ?? false;

    // Most recently created first: `offset` counts from the newest job.
    const visible = [...jobs.values()]
      .filter((j) => name === undefined || String(j.settings.name ?? "").toLowerCase() === name)
      .filter((j) => ws.permissions.has(c.principal, "jobs", String(j.job_id), "CAN_VIEW"))
      .sort((a, b) => b.created_time - a.created_time || b.job_id - a.job_id);
    const slice = visible.slice(offset, offset + limit);
    const hasMore = offset + slice.length < visible.length;
    const out: JsonObject = {};
    if (slice.length > 0) out.jobs = slice.map((j) => listEntry(j, expand, paged));
    out.has_more = hasMore;
    if (hasMore) out.next_page_token = encodeOffset(offset + slice.length);
    if (offset > 0) out.prev_page_token = encodeOffset(Math.max(0, offset - limit));
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

function render(job: StoredJob, settings: JsonObject): JsonObject {
  const out: JsonObject = {
    job_id: job.job_id,
    creator_user_name: job.creator_user_name,
    run_as_user_name: runAsName(job),
    created_time: job.created_time,
    settings,
  };
  if (typeof job.settings.budget_policy_id === "string") out.effective_budget_policy_id = job.settings.budget_policy_id;
  if (typeof job.settings.usage_policy_id === "string") out.effective_usage_policy_id = job.settings.usage_policy_id;
  return out;
}

/** Page `index` of a job's keyed arrays; every page carries the other settings in full. */
function renderPage(job: StoredJob, index: number): JsonObject {
  const settings: JsonObject = { ...job.settings };
  let more = false;
  for (const key of KEYED_NAMES) {
    const all = job.settings[key] as unknown[] | undefined;
    if (!all) continue;
    settings[key] = all.slice(index * ARRAY_PAGE_SIZE, (index + 1) * ARRAY_PAGE_SIZE);
    if (all.length > (index + 1) * ARRAY_PAGE_SIZE) more = true;
  }
  const out = render(job, settings);
  if (more) out.next_page_token = Buffer.from(`page:${index + 1}`).toString("base64url");
  return out;
}

function pageIndex(token: string | undefined): number {
  if (!token) return 0;
  const m = /^page:(\d+)$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!m) throw invalid(`Invalid page_token: ${token}`);
  return Number(m[1]);
}

function listEntry(job: StoredJob, expand: boolean, paged: boolean): JsonObject {
  const settings: JsonObject = { ...job.settings };
  const entry: JsonObject = {
    job_id: job.job_id,
    creator_user_name: job.creator_user_name,
    created_time: job.created_time,
    settings,
  };
  if (typeof job.settings.budget_policy_id === "string") entry.effective_budget_policy_id = job.settings.budget_policy_id;
  if (!expand) {
    delete settings.tasks;
    delete settings.job_clusters;
    return entry;
  }
  if (paged) {
    // API 2.2 lists only the first 100 elements of each array and flags the job with has_more.
    let more = false;
    for (const key of KEYED_NAMES) {
      const all = job.settings[key] as unknown[] | undefined;
      if (!all) continue;
      settings[key] = all.slice(0, ARRAY_PAGE_SIZE);
      if (all.length > ARRAY_PAGE_SIZE) more = true;
    }
    entry.has_more = more;
  }
  return entry;
}

const encodeOffset = (offset: number) => Buffer.from(`offset:${offset}`).toString("base64url");

function decodeOffset(token: string): number {
  const m = /^offset:(\d+)$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!m) throw invalid(`Invalid page_token: ${token}`);
  return Number(m[1]);
}

function jobId(c: RequestContext): number {
  const id = int(c.input, "job_id");
  if (id === undefined) throw invalid("Missing required field: job_id");
  return id;
}

// ---------------------------------------------------------------------------------------------
// Settings: defaults, update merging, validation

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

function runAsOf(p: Principal): JsonObject {
  return p.kind === "user" ? { user_name: p.name } : { service_principal_name: p.name };
}

/** Fills in what the service fills in when a field is left out. Mutates `s`. */
function normalize(s: JsonObject, caller: Principal, paged: boolean, previousRunAs: JsonObject | undefined): void {
  s.name ??= "Untitled";
  s.email_notifications ??= {};
  s.webhook_notifications ??= {};
  s.timeout_seconds ??= 0;
  s.max_concurrent_runs ??= 1;
  s.format ??= "MULTI_TASK";
  // Queueing is on by default from API 2.2.
  if (paged) s.queue ??= { enabled: true };
  s.run_as ??= previousRunAs ?? runAsOf(caller);
  for (const key of ["schedule", "trigger", "continuous"]) {
    const block = s[key];
    if (isObject(block)) block.pause_status ??= "UNPAUSED";
  }
  if (Array.isArray(s.tasks)) {
    for (const t of s.tasks) {
      if (!isObject(t)) continue;
      t.run_if ??= "ALL_SUCCESS";
      t.timeout_seconds ??= 0;
      t.email_notifications ??= {};
      // Accepted on input but never returned by the service.
      if (isObject(t.new_cluster)) delete t.new_cluster.apply_policy_default_values;
      const inner = isObject(t.for_each_task) ? t.for_each_task.task : undefined;
      if (isObject(inner) && isObject(inner.new_cluster)) delete inner.new_cluster.apply_policy_default_values;
    }
    s.tasks = [...s.tasks].sort((a, b) => {
      const ka = isObject(a) ? String(a.task_key ?? "") : "";
      const kb = isObject(b) ? String(b.task_key ?? "") : "";
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }
  if (Array.isArray(s.job_clusters)) {
    for (const jc of s.job_clusters) {
      if (isObject(jc) && isObject(jc.new_cluster)) delete jc.new_cluster.apply_policy_default_values;
    }
  }
}

/**
 * `jobs/update`: removes `fieldsToRemove` (top-level names, or `tasks/<task_key>`,
 * `job_clusters/<key>`, `parameters/<name>`, `environments/<key>`), then applies `next`:
 * top-level fields replace the current ones, elements of the keyed arrays replace the element with
 * the same key or are appended.
 */
function merge(current: JsonObject, next: JsonObject, fieldsToRemove: string[]): JsonObject {
  const s = structuredClone(current);
  for (const field of fieldsToRemove) {
    const slash = field.indexOf("/");
    if (slash === -1) {
      delete s[field];
      continue;
    }
    const array = field.slice(0, slash);
    const key = field.slice(slash + 1);
    if (!(array in KEYED_ARRAYS))
      throw invalid(`Cannot remove ${field}: only tasks, job_clusters, parameters and environments elements can be removed`);
    const keyField = KEYED_ARRAYS[array as KeyedArray];
    const items = Array.isArray(s[array]) ? (s[array] as JsonObject[]) : [];
    const kept = items.filter((e) => e[keyField] !== key);
    if (kept.length === items.length) throw invalid(`Cannot remove ${field}: no element with ${keyField} '${key}' exists`);
    s[array] = kept;
  }
  for (const [field, value] of Object.entries(next)) {
    if (field in KEYED_ARRAYS && Array.isArray(value)) {
      const keyField = KEYED_ARRAYS[field as KeyedArray];
      const items = Array.isArray(s[field]) ? [...(s[field] as JsonObject[])] : [];
      for (const element of value) {
        if (!isObject(element)) throw invalid(`Each element of ${field} must be an object`);
        const at = items.findIndex((e) => e[keyField] === element[keyField]);
        if (at === -1) items.push(element);
        else items[at] = element;
      }
      s[field] = items;
    } else {
      s[field] = value;
    }
  }
  return s;
}

/** The checks the service makes on job settings. `previous` is the job's settings before a change. */
function validate(ws: Workspace, caller: Principal, s: JsonObject, previous: JsonObject | undefined): void {
  for (const key of KEYED_NAMES) {
    if (s[key] !== undefined && !Array.isArray(s[key])) throw invalid(`${key} must be an array`);
  }
  if (typeof s.name !== "string") throw invalid("name must be a string");
  if (s.name.length > 4096) throw invalid("The job name must be at most 4096 characters long.");
  const maxRuns = s.max_concurrent_runs;
  if (typeof maxRuns !== "number" || !Number.isInteger(maxRuns) || maxRuns < 0 || maxRuns > 1000) {
    throw invalid("max_concurrent_runs must be between 0 and 1000.");
  }
  if (isObject(s.git_source) && !s.git_source.git_provider) throw invalid(GIT_PROVIDER_MESSAGE);

  const jobClusterKeys = uniqueKeys(s.job_clusters, "job_cluster_key", "Job cluster");
  for (const jc of (s.job_clusters ?? []) as JsonObject[]) {
    if (!isObject(jc.new_cluster)) throw invalid(`Job cluster '${jc.job_cluster_key}' must have a new_cluster specification.`);
  }
  uniqueKeys(s.parameters, "name", "Job parameter");
  const environmentKeys = uniqueKeys(s.environments, "environment_key", "Environment");

  const tasks = (s.tasks ?? []) as unknown[];
  if (tasks.length > MAX_TASKS) throw invalid(`A job can have at most ${MAX_TASKS} tasks, got ${tasks.length}.`);
  const taskKeys = new Set<string>();
  for (const t of tasks) {
    if (!isObject(t)) throw invalid("Each task must be an object");
    const key = t.task_key;
    if (typeof key !== "string" || key === "") throw invalid("Missing required field: task_key");
    if (key.length > 100 || !/^[\w-]+$/.test(key)) {
      throw invalid(
        `Invalid task_key '${key}': it must be at most 100 characters long and contain only letters, digits, hyphens and underscores.`,
      );
    }
    if (taskKeys.has(key)) throw invalid(`Task key '${key}' is not unique: task keys must be unique within a job.`);
    taskKeys.add(key);
  }
  for (const t of tasks as JsonObject[]) {
    const key = t.task_key as string;
    const types = Object.keys(t).filter((k) => k.endsWith("_task") && t[k] !== null && t[k] !== undefined);
    if (types.length !== 1) {
      throw invalid(
        types.length === 0
          ? `Task ${key} must specify a task type, such as notebook_task, spark_python_task or python_wheel_task.`
          : `Task ${key} must specify exactly one task type, got ${types.join(", ")}.`,
      );
    }
    const compute = ["existing_cluster_id", "new_cluster", "job_cluster_key"].filter((k) => t[k] !== undefined && t[k] !== null);
    if (compute.length > 1) throw invalid(`Task ${key} can use only one of ${compute.join(", ")}.`);
    if (typeof t.job_cluster_key === "string" && !jobClusterKeys.has(t.job_cluster_key)) {
      throw invalid(`Task ${key} refers to job cluster '${t.job_cluster_key}', which is not defined in job_clusters.`);
    }
    if (typeof t.environment_key === "string" && !environmentKeys.has(t.environment_key)) {
      throw invalid(`Task ${key} refers to environment '${t.environment_key}', which is not defined in environments.`);
    }
    const deps = t.depends_on ?? [];
    if (!Array.isArray(deps)) throw invalid(`depends_on of task ${key} must be an array`);
    for (const d of deps) {
      const dep = isObject(d) ? d.task_key : undefined;
      if (typeof dep !== "string") throw invalid(`Each depends_on entry of task ${key} needs a task_key`);
      if (dep === key) throw invalid(`Invalid dependency graph, task '${key}' can not reference itself.`);
      if (!taskKeys.has(dep))
        throw invalid(`Invalid dependency graph, task '${key}' can not reference non-existent task '${dep}'.`);
    }
  }
  const cyclic = findCycle(tasks as JsonObject[]);
  if (cyclic) throw invalid(`Invalid dependency graph, cyclic dependency involving task '${cyclic}'.`);

  validateRunAs(ws, caller, s.run_as, previous?.run_as);
}

function uniqueKeys(items: unknown, keyField: string, what: string): Set<string> {
  const keys = new Set<string>();
  for (const e of (items ?? []) as unknown[]) {
    if (!isObject(e)) throw invalid(`${what} entries must be objects`);
    const key = e[keyField];
    if (typeof key !== "string" || key === "") throw invalid(`Missing required field: ${keyField}`);
    if (keys.has(key)) throw invalid(`${what} key '${key}' is not unique: ${keyField} must be unique within a job.`);
    keys.add(key);
  }
  return keys;
}

/** A task on a dependency cycle, if there is one. */
function findCycle(tasks: JsonObject[]): string | undefined {
  const deps = new Map<string, string[]>();
  for (const t of tasks) {
    deps.set(
      t.task_key as string,
      ((t.depends_on ?? []) as JsonObject[]).map((d) => d.task_key as string),
    );
  }
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  for (const start of deps.keys()) {
    if (state.has(start)) continue;
    const stack: { key: string; next: number }[] = [{ key: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { key: string; next: number };
      const children = deps.get(top.key) ?? [];
      if (top.next >= children.length) {
        state.set(top.key, 2);
        stack.pop();
        continue;
      }
      const child = children[top.next++] as string;
      const seen = state.get(child);
      if (seen === 1) return child;
      if (seen === undefined) {
        state.set(child, 1);
        stack.push({ key: child, next: 0 });
      }
    }
  }
  return undefined;
}

function validateRunAs(ws: Workspace, caller: Principal, runAs: unknown, previous: unknown): void {
  if (!isObject(runAs)) throw invalid("run_as must be an object");
  const names = ["user_name", "service_principal_name"].filter((k) => typeof runAs[k] === "string" && runAs[k] !== "");
  if (runAs.group_name !== undefined) throw invalid("run_as can not be a group: set user_name or service_principal_name.");
  if (names.length !== 1) throw invalid("run_as must set exactly one of user_name or service_principal_name.");
  if (JSON.stringify(runAs) === JSON.stringify(previous)) return;
  if (typeof runAs.user_name === "string") {
    if (!ws.identity.userByName(runAs.user_name)) throw invalid(`User ${runAs.user_name} does not exist.`);
    if (!caller.admin && (caller.kind !== "user" || caller.name.toLowerCase() !== runAs.user_name.toLowerCase())) {
      throw denied(
        `User ${caller.name} can not set run_as to ${runAs.user_name}: only workspace admins can run jobs as another user.`,
      );
    }
    return;
  }
  const app = runAs.service_principal_name as string;
  if (!ws.identity.servicePrincipalByAppId(app)) throw invalid(`Service principal ${app} does not exist.`);
}

function parseAcl(ws: Workspace, raw: unknown): AclEntry[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalid("access_control_list must be an array");
  return raw.map((e) => {
    if (!isObject(e) || typeof e.permission_level !== "string") {
      throw invalid("Each access control entry needs a permission_level");
    }
    if (!LEVELS.includes(e.permission_level)) {
      throw invalid(`Permission ${e.permission_level} is not supported for job; use one of ${LEVELS.join(", ")}`);
    }
    const out: AclEntry = { permission_level: e.permission_level };
    if (typeof e.user_name === "string") {
      if (!ws.identity.userByName(e.user_name)) throw invalid(`Principal: UserName(${e.user_name}) does not exist`);
      out.user_name = e.user_name;
    } else if (typeof e.group_name === "string") {
      if (!ws.identity.groupByName(e.group_name)) throw invalid(`Principal: GroupName(${e.group_name}) does not exist`);
      out.group_name = e.group_name;
    } else if (typeof e.service_principal_name === "string") {
      if (!ws.identity.servicePrincipalByAppId(e.service_principal_name)) {
        throw invalid(`Principal: ServicePrincipalName(${e.service_principal_name}) does not exist`);
      }
      out.service_principal_name = e.service_principal_name;
    } else {
      throw invalid("Each access control entry needs one of user_name, group_name, service_principal_name");
    }
    return out;
  });
}
