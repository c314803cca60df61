import { type DatabricksClient, isNotFound } from "../../clients/databricks/client.js";
import type { FieldChange } from "../../engine/diff.js";
import { UserError } from "../../lib/errors.js";

/** What every Databricks adapter is called with. */
export interface DatabricksCtx {
  client: DatabricksClient;
  /**
   * How long to wait between reads while an object settles (a cluster that is starting cannot be
   * edited). Default 5,000 ms.
   */
  pollIntervalMs?: number;
  /** Give up waiting for an object to settle after this long. Default 20 minutes. */
  settleTimeoutMs?: number;
}

export type Obj = Record<string, unknown>;

export const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Resolves to undefined when the remote answers that the object does not exist. */
export async function orMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Runs a delete; an object that is already gone counts as deleted. */
export async function deleting(p: Promise<unknown>): Promise<void> {
  await orMissing(p);
}

/** A copy of `o` without the keys whose value is undefined. */
export function compact<T extends Obj>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The listed keys of `o` that are set. */
export function pick(o: Obj, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** `o` without the listed keys. */
export function omit(o: Obj, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k) && v !== undefined) out[k] = v;
  return out;
}

/** JSON with object keys sorted, for order-independent comparison of values. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** A list in a canonical order (by each element's canonical JSON), for comparing lists as sets. */
export function sortedSet<T>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => {
    const x = canonicalJson(a);
    const y = canonicalJson(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Elements of `a` whose canonical JSON is not in `b`. */
export function missingFrom<T>(a: readonly T[], b: readonly unknown[]): T[] {
  const have = new Set(b.map(canonicalJson));
  return a.filter((x) => !have.has(canonicalJson(x)));
}

/**
 * Top-level fields the plan says were removed from the configuration (the change of the whole field
 * has no `after` value). A merge-style API keeps a field that is left out, so the adapter clears it.
 */
export function removedFields(changes: readonly FieldChange[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const c of changes ?? []) if (c.after === undefined && !c.path.includes(".")) out.add(c.path);
  return out;
}

/** Whether any change lies at or below one of `fields` (top-level names). */
export function touches(changes: readonly FieldChange[] | undefined, fields: readonly string[]): boolean {
  if (changes === undefined) return true;
  return changes.some((c) => fields.includes(c.path.split(".")[0] as string));
}

/** The one element of `matches`, undefined for none; several are an error naming how to pick one. */
export function single<T>(matches: readonly T[], what: string, idOf: (m: T) => string): T | undefined {
  if (matches.length <= 1) return matches[0];
  throw new UserError(
    `${matches.length} ${what} exist (ids ${matches.map(idOf).join(", ")}); Lakeforge cannot tell which one to manage`,
    "delete or rename the extra ones, or adopt one with `lakeforge import`",
  );
}

/** A workspace path in the form the Workspace API answers with: without the `/Workspace` prefix. */
export function canonicalWorkspacePath(path: string): string {
  const p = path.replace(/\/+$/, "");
  return /^\/Workspace\//.test(p) ? p.slice("/Workspace".length) : p;
}

export function parentPath(path: string): string | undefined {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i > 0 ? path.slice(0, i) : undefined;
}

/** Creates a workspace folder and its parents (nothing happens if it exists). */
export async function mkdirs(ctx: DatabricksCtx, path: string | undefined): Promise<void> {
  if (!path || path === "/" || path === "/Workspace") return;
  await ctx.client.post("/api/2.0/workspace/mkdirs", { path }, { idempotent: true });
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Lower-cases the named string fields (Unity Catalog names are case-insensitive and stored lower-case). */
export function lowerCased(o: Obj, keys: readonly string[]): Obj {
  const out = { ...o };
  for (const k of keys) if (typeof out[k] === "string") out[k] = (out[k] as string).toLowerCase();
  return out;
}

export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Escapes a value for a double-quoted SCIM filter string. */
export const scimQuote = (v: string) => `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
