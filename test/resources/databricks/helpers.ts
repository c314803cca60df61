import { afterAll, beforeAll, expect } from "vitest";
import { DatabricksClient } from "../../../src/clients/databricks/client.js";
import { splitSensitive } from "../../../src/config/refs.js";
import { diffSpec, type FieldChange } from "../../../src/engine/diff.js";
import type { ResourceAdapter } from "../../../src/engine/types.js";
import type { DatabricksCtx } from "../../../src/resources/databricks/index.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";

type Obj = Record<string, unknown>;

/** A local workspace for the file's tests and a context of the admin. */
export function useWorkspace(): { ws: () => RunningWorkspace; ctx: () => DatabricksCtx } {
  let ws: RunningWorkspace | undefined;
  let ctx: DatabricksCtx | undefined;
  beforeAll(async () => {
    ws = await startWorkspace({ ephemeral: true, port: 0 });
    const token = ws.token;
    const client = new DatabricksClient({
      host: ws.url,
      auth: async () => ({ Authorization: `Bearer ${token}` }),
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    });
    ctx = { client, pollIntervalMs: 10, settleTimeoutMs: 10_000 };
  });
  afterAll(async () => {
    await ws?.stop();
  });
  return { ws: () => ws as RunningWorkspace, ctx: () => ctx as DatabricksCtx };
}

/** The comparison of a spec (as the engine makes it: secrets out) with a remote object. */
export function compare(adapter: ResourceAdapter<DatabricksCtx>, spec: Obj, remote: Obj, previous?: Obj): FieldChange[] {
  const { clean } = splitSensitive(spec);
  const form = (s: Obj) => (adapter.normalizeDesired ? adapter.normalizeDesired(s) : s);
  const prev = previous ? splitSensitive(previous).clean : undefined;
  const normalized = adapter.normalize ? adapter.normalize(remote, prev) : remote;
  return diffSpec(form(clean), normalized, adapter.rules, prev ? form(prev) : undefined);
}

export interface Lifecycle {
  spec: Obj;
  /** The spec with one field changed. */
  changed: Obj;
  /** Checks on the object read after the update. */
  updated?: (remote: Obj) => void;
  /** Expected paths of the plan's changes for the update. */
  changedPaths?: string[];
  /**
   * For objects that outlive their deletion in some form (an access list belongs to its object): checks
   * on what is read after the delete, instead of expecting nothing.
   */
  afterDelete?: (remote: Obj | undefined) => void;
}

/**
 * create → read → find by natural key → no differences → update one field → read shows it → delete →
 * read is undefined. Returns the id the object had.
 */
export async function lifecycle(adapter: ResourceAdapter<DatabricksCtx>, ctx: DatabricksCtx, t: Lifecycle): Promise<string> {
  const created = await adapter.create(ctx, t.spec);
  const id = created.id;
  const remote = await adapter.read(ctx, id);
  expect(remote, `${adapter.kind} read after create`).toBeDefined();

  const found = await adapter.find(ctx, t.spec);
  expect(found?.id, `${adapter.kind} find by natural key`).toBe(id);
  expect(compare(adapter, t.spec, found?.remote as Obj, t.spec)).toEqual([]);
  expect(compare(adapter, t.spec, remote as Obj, t.spec), `${adapter.kind} no drift after create`).toEqual([]);

  const changes = compare(adapter, t.changed, remote as Obj, t.spec);
  expect(changes.length, `${adapter.kind} the change is seen`).toBeGreaterThan(0);
  if (t.changedPaths) expect(changes.map((c) => c.path).sort()).toEqual([...t.changedPaths].sort());
  expect(changes.some((c) => c.forcesRecreate)).toBe(false);
  await adapter.update(ctx, id, t.changed, remote as Obj, changes);
  const after = await adapter.read(ctx, id);
  expect(after, `${adapter.kind} read after update`).toBeDefined();
  expect(compare(adapter, t.changed, after as Obj, t.changed), `${adapter.kind} no drift after update`).toEqual([]);
  t.updated?.(after as Obj);

  await adapter.delete(ctx, id);
  if (t.afterDelete) {
    t.afterDelete(await adapter.read(ctx, id));
  } else {
    expect(await adapter.read(ctx, id), `${adapter.kind} read after delete`).toBeUndefined();
    expect(await adapter.find(ctx, t.spec)).toBeUndefined();
  }
  // Deleting what is gone is not an error.
  await adapter.delete(ctx, id);
  return id;
}
