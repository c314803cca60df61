import { type DatabricksClient, isNotFound } from "../../clients/databricks/client.js";
import type { Query } from "../../clients/http.js";
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

/**
 * Looks for the objects `ids` in a paged list (`next_page_token`), page after page, and resolves with
 * the items found, by id. It stops once every id was seen, or once it has read as many pages as ids
 * are still missing: reading those one by one then costs no more than listing on. With fewer than two
 * ids it lists nothing (one read is cheaper). Ids it did not see are left out, for the caller to read.
 */
export async function listByIds(
  ctx: DatabricksCtx,
  path: string,
  query: Query,
  itemsKey: string,
  ids: readonly string[],
  idOf: (item: Obj) => string,
): Promise<Map<string, Obj>> {
  const wanted = new Set(ids);
  const found = new Map<string, Obj>();
  if (wanted.size < 2) return found;
  const tokens = new Set<string>();
  let token: string | undefined;
  let pages = 0;
  do {
    const res = await ctx.client.get<Obj>(path, token ? { ...query, page_token: token } : query);
    pages++;
    for (const item of Array.isArray(res[itemsKey]) ? (res[itemsKey] as unknown[]) : []) {
      if (!isObject(item)) continue;
      const id = idOf(item);
      if (wanted.has(id)) found.set(id, item);
    }
    token = typeof res.next_page_token === "string" && res.next_page_token ? res.next_page_token : undefined;
    if (token && tokens.has(token)) break; // a remote repeating itself
    if (token) tokens.add(token);
  } while (token && found.size < wanted.size && pages < wanted.size - found.size);
  return found;
}

/**
 * Reads a paged list (`next_page_token`) to its end, or until `maxPages` pages were read. Resolves with
 * the items and whether the list was read to its end (only then is an object it does not show absent).
 */
export async function listPages(
  ctx: DatabricksCtx,
  path: string,
  query: Query,
  itemsKey: string,
  maxPages: number,
): Promise<{ items: Obj[]; complete: boolean }> {
  const items: Obj[] = [];
  const tokens = new Set<string>();
  let token: string | undefined;
  for (let pages = 0; pages < maxPages; pages++) {
    const res = await ctx.client.get<Obj>(path, token ? { ...query, page_token: token } : query);
    for (const item of Array.isArray(res[itemsKey]) ? (res[itemsKey] as unknown[]) : []) if (isObject(item)) items.push(item);
    token = typeof res.next_page_token === "string" && res.next_page_token ? res.next_page_token : undefined;
    if (!token || tokens.has(token)) return { items, complete: true };
    tokens.add(token);
  }
  return { items, complete: false };
}

/**
 * The batch form of a search by name: for each of `names`, the one listed item bearing it, or
 * `undefined` when the list (read to its end) has none. Names borne by several items are left out
 * (the single search reports them), and so is everything when the list was not read to its end.
 */
export function matchByName(
  names: ReadonlySet<string>,
  listed: { items: Obj[]; complete: boolean },
  nameOf: (item: Obj) => string | undefined,
): Map<string, Obj | undefined> {
  const out = new Map<string, Obj | undefined>();
  if (!listed.complete) return out;
  const hits = groupBy(
    listed.items.filter((item) => names.has(nameOf(item) ?? "")),
    (item) => nameOf(item) as string,
  );
  for (const name of names) {
    const matches = hits.get(name) ?? [];
    if (matches.length <= 1) out.set(name, matches[0]);
  }
  return out;
}

/** Groups `items` by `keyOf`, keeping their order. */
export function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = out.get(key);
    if (list) list.push(item);
    else out.set(key, [item]);
  }
  return out;
}

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
