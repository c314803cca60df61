/**
 * Dynamic value references in task settings: `{{job.id}}`, `{{job.name}}`, `{{job.run_id}}`,
 * `{{job.repair_count}}`, `{{job.start_time.iso_date}}` (and the other `start_time` forms),
 * `{{job.trigger.type}}`, `{{job.parameters.<name>}}`, `{{task.name}}`, `{{task.run_id}}`,
 * `{{task.execution_count}}`, `{{task.notebook_path}}`, `{{tasks.<task>.values.<key>}}`,
 * `{{tasks.<task>.result_state}}`, `{{tasks.<task>.run_id}}`, `{{tasks.<task>.error_code}}`,
 * `{{tasks.<task>.execution_count}}`, `{{workspace.id}}`, `{{workspace.url}}`, and the deprecated
 * `{{job_id}}`, `{{run_id}}`, `{{parent_run_id}}`, `{{task_key}}`.
 */

export interface ReferenceContext {
  jobId?: number;
  jobName: string;
  runId: number;
  repairCount: number;
  startTime: number;
  triggerType: string;
  parameters: Record<string, string>;
  task: { key: string; runId: number; executionCount: number; notebookPath?: string };
  tasks: Record<
    string,
    { values?: Record<string, unknown>; resultState?: string; runId?: number; errorCode?: string; executionCount: number }
  >;
  workspaceId: string;
  workspaceUrl: string;
}

export class UnresolvedReference extends Error {}

const REF = /\{\{\s*([^{}]+?)\s*\}\}/g;

function stringify(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function startTime(ms: number, part: string): string | undefined {
  const d = new Date(ms);
  const iso = d.toISOString();
  switch (part) {
    case "iso_date":
      return iso.slice(0, 10);
    case "iso_datetime":
      return iso.slice(0, 19);
    case "timestamp_ms":
      return String(ms);
    case "year":
      return String(d.getUTCFullYear());
    case "month":
      return String(d.getUTCMonth() + 1);
    case "day":
      return String(d.getUTCDate());
    case "hour":
      return String(d.getUTCHours());
    case "minute":
      return String(d.getUTCMinutes());
    case "second":
      return String(d.getUTCSeconds());
    case "iso_weekday":
      return String(d.getUTCDay() === 0 ? 7 : d.getUTCDay());
    case "is_weekday":
      return String(d.getUTCDay() !== 0 && d.getUTCDay() !== 6);
    default:
      return undefined;
  }
}

function lookup(name: string, c: ReferenceContext): string | undefined {
  const parts = name.split(".");
  const [head, second, third, ...rest] = parts;
  switch (head) {
    case "job_id":
      return c.jobId === undefined ? "" : String(c.jobId);
    case "run_id":
      return String(c.task.runId);
    case "parent_run_id":
      return String(c.runId);
    case "task_key":
      return c.task.key;
    case "job":
      if (second === "id") return c.jobId === undefined ? "" : String(c.jobId);
      if (second === "name") return c.jobName;
      if (second === "run_id") return String(c.runId);
      if (second === "repair_count") return String(c.repairCount);
      if (second === "start_time" && third) return startTime(c.startTime, third);
      if (second === "trigger" && third === "type") return c.triggerType;
      if (second === "trigger" && third === "time" && rest[0]) return startTime(c.startTime, rest[0]);
      if (second === "parameters" && third !== undefined) {
        const key = [third, ...rest].join(".");
        if (!(key in c.parameters)) throw new UnresolvedReference(`Job parameter '${key}' is not defined (in {{${name}}})`);
        return c.parameters[key];
      }
      return undefined;
    case "task":
      if (second === "name") return c.task.key;
      if (second === "run_id") return String(c.task.runId);
      if (second === "execution_count") return String(c.task.executionCount);
      if (second === "notebook_path") return c.task.notebookPath ?? "";
      return undefined;
    case "tasks": {
      if (!second) return undefined;
      const t = c.tasks[second];
      if (!t) throw new UnresolvedReference(`Task '${second}' referenced in {{${name}}} is not an upstream task of this task`);
      if (third === "values" && rest.length > 0) {
        const key = rest.join(".");
        if (!t.values || !(key in t.values)) {
          throw new UnresolvedReference(`Task '${second}' did not set the task value '${key}' (referenced in {{${name}}})`);
        }
        return stringify(t.values[key]);
      }
      if (third === "result_state") return (t.resultState ?? "").toLowerCase();
      if (third === "run_id") return t.runId === undefined ? "" : String(t.runId);
      if (third === "error_code") return t.errorCode ?? "";
      if (third === "execution_count") return String(t.executionCount);
      return undefined;
    }
    case "workspace":
      if (second === "id") return c.workspaceId;
      if (second === "url") return c.workspaceUrl;
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Replaces the references in `text`. A reference the workspace does not know (such as
 * `{{secrets/scope/key}}`, which is resolved elsewhere or not at all) is left as written; a known
 * one that cannot be resolved (a task value never set) throws.
 */
export function resolveReferences(text: string, c: ReferenceContext): string {
  return text.replace(REF, (whole, name: string) => lookup(name, c) ?? whole);
}

/** Resolves references in every string of a JSON value. */
export function resolveDeep<T>(value: T, c: ReferenceContext): T {
  if (typeof value === "string") return resolveReferences(value, c) as T;
  if (Array.isArray(value)) return value.map((v) => resolveDeep(v, c)) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveDeep(v, c);
    return out as T;
  }
  return value;
}
