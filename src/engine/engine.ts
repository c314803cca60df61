import { createHash } from "node:crypto";
import { diffSpec, type FieldChange, UNKNOWN } from "./diff.js";
import { topoSort } from "./graph.js";
import type { StateEntry, StateFile } from "./state.js";
import {
  type Address,
  addressOf,
  type DesiredResource,
  type Plan,
  type PlannedAction,
  type Ref,
  type ResourceAdapter,
} from "./types.js";

/**
 * Plan and apply: read the remote objects → compare with the desired specs → actions; then carry the
 * actions out in dependency order with bounded concurrency, recording state after every mutation.
 */

/** How the engine finds references and sensitive values inside specs (supplied by the config layer). */
export interface SpecCodec {
  /** Replaces every reference inside `spec` with `lookup(ref)`. */
  resolveRefs(spec: Record<string, unknown>, lookup: (ref: Ref) => unknown): Record<string, unknown>;
  /**
   * Splits sensitive values out of a spec: returns the spec without them (for state) and the
   * value of each by path (for fingerprinting and for the adapter call).
   */
  sensitive(spec: Record<string, unknown>): { clean: Record<string, unknown>; values: Record<string, string> };
}

export interface EngineOptions<Ctx> {
  adapters: ReadonlyMap<string, ResourceAdapter<Ctx>>;
  ctx: Ctx;
  codec: SpecCodec;
  /** Maximum adapter calls in flight. Default 8. */
  concurrency?: number;
  /** Called after every state change; must persist it (atomically) before resolving. */
  saveState: (state: StateFile) => Promise<void>;
  /** Progress lines (one per resource action) for non-TTY output. */
  progress?: (event: ProgressEvent) => void;
  /** How many find-then-create rounds a create may take after lost responses. Default 3. */
  createAttempts?: number;
}

export interface ProgressEvent {
  address: Address;
  action: PlannedAction["action"];
  phase: "start" | "done" | "failed" | "skipped";
  id?: string;
  error?: string;
}

export class PlanError extends Error {}

export function fingerprint(salt: string, value: string): string {
  return `sha256:${createHash("sha256").update(salt).update("\0").update(value).digest("hex")}`;
}

function adapterFor<Ctx>(opts: EngineOptions<Ctx>, kind: string): ResourceAdapter<Ctx> {
  const a = opts.adapters.get(kind);
  if (!a) throw new PlanError(`no adapter for resource kind ${kind}`);
  return a;
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const depAddresses = (r: DesiredResource) => [...new Set(r.dependsOn.map((d) => addressOf(d.kind, d.name)))];

/** Builds a plan. Reads only; changes nothing. */
export async function plan<Ctx>(
  desired: DesiredResource[],
  state: StateFile,
  opts: EngineOptions<Ctx>,
  meta: { environment: string; configFingerprint: string; only?: Set<Address> },
): Promise<Plan> {
  const byAddress = new Map(desired.map((r) => [addressOf(r.kind, r.name), r]));
  for (const r of desired) adapterFor(opts, r.kind);
  topoSort(byAddress.keys(), (a) => depAddresses(byAddress.get(a) as DesiredResource)); // cycles are errors

  const inScope = (a: Address) => !meta.only || meta.only.has(a);
  const concurrency = opts.concurrency ?? 8;
  const recreating = new Set<Address>();

  const planOne = async (r: DesiredResource): Promise<PlannedAction> => {
    const address = addressOf(r.kind, r.name);
    const adapter = adapterFor(opts, r.kind);
    const entry = state.resources[address];
    const lookup = (ref: Ref) => {
      const dep = state.resources[addressOf(ref.kind, ref.name)];
      if (!dep?.id) return UNKNOWN;
      return ref.field === "id" ? dep.id : (dep.outputs[ref.field] ?? UNKNOWN);
    };
    const resolved = opts.codec.resolveRefs(r.spec, lookup);
    const { clean, values } = opts.codec.sensitive(resolved);
    const base = { address, kind: r.kind, name: r.name, dependsOn: depAddresses(r) };

    let id = entry?.id;
    let remote: Record<string, unknown> | undefined;
    let reason: string | undefined;
    if (id) {
      remote = await adapter.read(opts.ctx, id);
      if (!remote) {
        reason = "deleted outside Lakeforge";
        id = undefined;
      }
    }
    if (!id && !hasUnknown(resolved)) {
      const found = await adapter.find(opts.ctx, resolved);
      if (found) {
        id = found.id;
        remote = found.remote;
        reason = entry?.pending ? "found after an interrupted create" : "adopted by natural key";
      }
    }
    if (!id) {
      // What will be created, field by field (secrets by name only).
      const fields: FieldChange[] = [
        ...Object.entries(clean).map(([path, after]) => ({ path, before: undefined, after })),
        ...Object.keys(values).map((path) => ({ path, before: undefined, after: "(sensitive)", sensitive: true })),
      ];
      return { ...base, action: "create", changes: fields, reason: reason ?? "not in state" };
    }

    const fps = {
      desired: Object.fromEntries(Object.entries(values).map(([p, v]) => [p, fingerprint(state.salt, v)])),
      ...(entry ? { previous: entry.fingerprints } : {}),
    };
    const normalized = adapter.normalize
      ? adapter.normalize(remote as Record<string, unknown>, entry?.applied)
      : (remote as Record<string, unknown>);
    const comparable = (spec: Record<string, unknown>) => (adapter.normalizeDesired ? adapter.normalizeDesired(spec) : spec);
    const changes = diffSpec(
      { ...comparable(clean), ...Object.fromEntries(Object.keys(values).map((p) => [p, "(sensitive)"])) },
      normalized,
      { ...adapter.rules, sensitive: [...(adapter.rules.sensitive ?? []), ...Object.keys(values)] },
      entry?.applied ? comparable(entry.applied) : undefined,
      fps,
    );
    const adopted = !entry?.id || entry.id !== id;
    if (changes.some((c) => c.forcesRecreate)) {
      recreating.add(address);
      return { ...base, id, action: "recreate", changes, reason: reason ?? "a change forces replacement" };
    }
    if (changes.length > 0)
      return { ...base, id, action: "update", changes, ...(reason ? { reason } : { reason: "drift or change" }) };
    if (adopted) return { ...base, id, action: "update", changes: [], reason: reason ?? "record in state" };
    return { ...base, id, action: "skip", changes: [] };
  };

  const planned = await mapLimit(
    desired.filter((r) => inScope(addressOf(r.kind, r.name))),
    concurrency,
    planOne,
  );

  const deletes: PlannedAction[] = [];
  for (const [address, entry] of Object.entries(state.resources)) {
    if (byAddress.has(address) || !inScope(address)) continue;
    if (entry.preventDestroy) {
      throw new PlanError(
        `${address} has prevent_destroy set and is no longer in the configuration; remove prevent_destroy first`,
      );
    }
    deletes.push({
      address,
      kind: entry.kind,
      name: entry.name,
      action: "delete",
      ...(entry.id ? { id: entry.id } : {}),
      changes: [],
      reason: "not in the configuration",
      dependsOn: entry.dependsOn,
    });
  }
  for (const a of planned) {
    const r = byAddress.get(a.address);
    if (a.action === "recreate" && r?.preventDestroy) {
      throw new PlanError(
        `${a.address} has prevent_destroy set but ${a.changes.find((c) => c.forcesRecreate)?.path} forces its replacement`,
      );
    }
  }
  return {
    version: 1,
    environment: meta.environment,
    stateSerial: state.serial,
    stateLineage: state.lineage,
    configFingerprint: meta.configFingerprint,
    actions: [...planned, ...deletes],
    createdAt: new Date().toISOString(),
  };
}

/** A plan that destroys everything in state (prevent_destroy refuses). */
export function destroyPlan(
  state: StateFile,
  meta: { environment: string; configFingerprint: string; only?: Set<Address> },
): Plan {
  const actions: PlannedAction[] = [];
  for (const [address, entry] of Object.entries(state.resources)) {
    if (meta.only && !meta.only.has(address)) continue;
    if (entry.preventDestroy) throw new PlanError(`${address} has prevent_destroy set; remove it from the configuration first`);
    actions.push({
      address,
      kind: entry.kind,
      name: entry.name,
      action: "delete",
      ...(entry.id ? { id: entry.id } : {}),
      changes: [],
      reason: "destroy",
      dependsOn: entry.dependsOn,
    });
  }
  return {
    version: 1,
    environment: meta.environment,
    stateSerial: state.serial,
    stateLineage: state.lineage,
    configFingerprint: meta.configFingerprint,
    actions,
    createdAt: new Date().toISOString(),
  };
}

function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v && typeof v === "object") return Object.values(v).some(hasUnknown);
  return false;
}

export interface ApplyResult {
  state: StateFile;
  failed: { address: Address; error: unknown }[];
  done: Address[];
}

/**
 * Carries out a plan. Creates, updates and recreates run in dependency order; deletes afterwards in
 * reverse order. A failed action skips its dependants; independent work continues. State is saved
 * after every mutating call.
 */
export async function apply<Ctx>(
  thePlan: Plan,
  desired: DesiredResource[],
  state: StateFile,
  opts: EngineOptions<Ctx>,
): Promise<ApplyResult> {
  const byAddress = new Map(desired.map((r) => [addressOf(r.kind, r.name), r]));
  const actions = new Map(thePlan.actions.map((a) => [a.address, a]));
  const failed: ApplyResult["failed"] = [];
  const done: Address[] = [];
  const concurrency = opts.concurrency ?? 8;
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    state.serial++;
    const snapshot = structuredClone(state);
    saving = saving.then(() => opts.saveState(snapshot));
    return saving;
  };
  const emit = (e: ProgressEvent) => opts.progress?.(e);

  const record = (
    r: DesiredResource,
    adapter: ResourceAdapter<Ctx>,
    id: string,
    resolved: Record<string, unknown>,
    remote: Record<string, unknown> | undefined,
  ) => {
    const { clean, values } = opts.codec.sensitive(resolved);
    const entry: StateEntry = {
      kind: r.kind,
      name: r.name,
      id,
      naturalKey: adapter.naturalKey(resolved),
      applied: clean,
      fingerprints: Object.fromEntries(Object.entries(values).map(([p, v]) => [p, fingerprint(state.salt, v)])),
      outputs: adapter.outputs ? adapter.outputs(id, remote) : {},
      dependsOn: depAddresses(r),
      ...(r.preventDestroy ? { preventDestroy: true } : {}),
    };
    state.resources[addressOf(r.kind, r.name)] = entry;
  };

  const resolveFor = (r: DesiredResource) =>
    opts.codec.resolveRefs(r.spec, (ref) => {
      const dep = state.resources[addressOf(ref.kind, ref.name)];
      if (!dep?.id)
        throw new Error(`${addressOf(r.kind, r.name)} references ${addressOf(ref.kind, ref.name)}, which has no id yet`);
      return ref.field === "id" ? dep.id : dep.outputs[ref.field];
    });

  const createOne = async (r: DesiredResource, adapter: ResourceAdapter<Ctx>, resolved: Record<string, unknown>) => {
    const address = addressOf(r.kind, r.name);
    const attempts = opts.createAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      state.resources[address] = {
        kind: r.kind,
        name: r.name,
        naturalKey: adapter.naturalKey(resolved),
        applied: {},
        fingerprints: {},
        outputs: {},
        dependsOn: depAddresses(r),
        pending: "create",
      };
      await save();
      try {
        const created = await adapter.create(opts.ctx, resolved);
        record(r, adapter, created.id, resolved, created.remote);
        await save();
        return created.id;
      } catch (e) {
        // The create may have happened although its response was lost: look before trying again.
        const found = await adapter.find(opts.ctx, resolved).catch(() => undefined);
        if (found) {
          record(r, adapter, found.id, resolved, found.remote);
          await save();
          const changes = diffAfterAdopt(adapter, resolved, found.remote, opts.codec);
          if (changes.length > 0) await adapter.update(opts.ctx, found.id, resolved, found.remote, changes);
          return found.id;
        }
        if (attempt >= attempts || !isRetryableCreateError(e)) throw e;
      }
    }
  };

  const runOne = async (a: PlannedAction) => {
    const r = byAddress.get(a.address);
    if (!r) return;
    const adapter = adapterFor(opts, r.kind);
    const resolved = resolveFor(r);
    if (a.action === "skip") {
      // Outputs may be read by dependants; state already has them.
      return;
    }
    emit({ address: a.address, action: a.action, phase: "start", ...(a.id ? { id: a.id } : {}) });
    let id: string | undefined = a.id;
    if (a.action === "create") {
      id = await createOne(r, adapter, resolved);
    } else if (a.action === "recreate") {
      if (a.id) await deleteIgnoringMissing(adapter, opts.ctx, a.id);
      delete state.resources[a.address];
      await save();
      id = await createOne(r, adapter, resolved);
    } else if (a.action === "update" && a.id) {
      const remote = (await adapter.read(opts.ctx, a.id)) ?? {};
      const after = a.changes.length > 0 ? await adapter.update(opts.ctx, a.id, resolved, remote, a.changes) : remote;
      record(r, adapter, a.id, resolved, after ?? remote);
      await save();
    }
    emit({ address: a.address, action: a.action, phase: "done", ...(id ? { id } : {}) });
  };

  // Phase 1: everything but deletes, in dependency order.
  const forward = thePlan.actions.filter((a) => a.action !== "delete");
  const forwardSet = new Set(forward.map((a) => a.address));
  const order = topoSort(forwardSet, (addr) => actions.get(addr)?.dependsOn ?? []);
  await runGraph(
    order,
    (addr) => (actions.get(addr)?.dependsOn ?? []).filter((d) => forwardSet.has(d)),
    concurrency,
    async (addr) => {
      const a = actions.get(addr) as PlannedAction;
      try {
        await runOne(a);
        done.push(addr);
        return true;
      } catch (error) {
        failed.push({ address: addr, error });
        emit({ address: addr, action: a.action, phase: "failed", error: (error as Error).message });
        return false;
      }
    },
    (addr) => {
      const a = actions.get(addr) as PlannedAction;
      emit({ address: addr, action: a.action, phase: "skipped" });
      failed.push({ address: addr, error: new Error("skipped: a dependency failed") });
    },
  );

  // Phase 2: deletes, dependants first.
  const deletes = thePlan.actions.filter((a) => a.action === "delete");
  const deleteSet = new Set(deletes.map((a) => a.address));
  const dependantsOf = new Map<Address, Address[]>();
  for (const d of deletes)
    for (const dep of d.dependsOn) if (deleteSet.has(dep)) dependantsOf.set(dep, [...(dependantsOf.get(dep) ?? []), d.address]);
  await runGraph(
    [...deleteSet],
    (addr) => dependantsOf.get(addr) ?? [],
    concurrency,
    async (addr) => {
      const a = actions.get(addr) as PlannedAction;
      const entry = state.resources[addr];
      emit({ address: addr, action: "delete", phase: "start", ...(a.id ? { id: a.id } : {}) });
      try {
        const adapter = adapterFor(opts, a.kind);
        let id = entry?.id;
        if (!id && entry?.pending) {
          // An interrupted create: it may exist under its natural key.
          const found = await adapter.find(opts.ctx, entry.applied).catch(() => undefined);
          id = found?.id;
        }
        if (id) await deleteIgnoringMissing(adapter, opts.ctx, id);
        delete state.resources[addr];
        await save();
        done.push(addr);
        emit({ address: addr, action: "delete", phase: "done" });
        return true;
      } catch (error) {
        failed.push({ address: addr, error });
        emit({ address: addr, action: "delete", phase: "failed", error: (error as Error).message });
        return false;
      }
    },
    (addr) => {
      emit({ address: addr, action: "delete", phase: "skipped" });
      failed.push({ address: addr, error: new Error("skipped: a dependant could not be deleted") });
    },
  );

  await saving;
  return { state, failed, done };
}

function diffAfterAdopt<Ctx>(
  adapter: ResourceAdapter<Ctx>,
  resolved: Record<string, unknown>,
  remote: Record<string, unknown>,
  codec: SpecCodec,
): FieldChange[] {
  const { clean } = codec.sensitive(resolved);
  const normalized = adapter.normalize ? adapter.normalize(remote) : remote;
  return diffSpec(adapter.normalizeDesired ? adapter.normalizeDesired(clean) : clean, normalized, adapter.rules);
}

async function deleteIgnoringMissing<Ctx>(adapter: ResourceAdapter<Ctx>, ctx: Ctx, id: string): Promise<void> {
  try {
    await adapter.delete(ctx, id);
  } catch (e) {
    const status = (e as { status?: number }).status;
    const code = (e as { code?: string }).code;
    if (status === 404 || code === "RESOURCE_DOES_NOT_EXIST") return;
    if (status === 400 && code === "INVALID_PARAMETER_VALUE" && /does not exist/i.test((e as Error).message)) return;
    throw e;
  }
}

function isRetryableCreateError(e: unknown): boolean {
  const err = e as { status?: number; maybeApplied?: boolean; retryable?: boolean };
  return err.maybeApplied === true || err.retryable === true || (err.status !== undefined && err.status >= 500);
}

/**
 * Runs `fn` for each node once all of `deps(node)` succeeded, with at most `limit` in flight.
 * A node whose dependency failed is passed to `onSkip` instead.
 */
async function runGraph(
  nodes: Address[],
  deps: (node: Address) => Address[],
  limit: number,
  fn: (node: Address) => Promise<boolean>,
  onSkip: (node: Address) => void,
): Promise<void> {
  const status = new Map<Address, "ok" | "failed" | "skipped">();
  const nodeSet = new Set(nodes);
  const depsIn = new Map(nodes.map((n) => [n, deps(n).filter((d) => nodeSet.has(d) && d !== n)]));
  const pending = new Set(nodes);
  let running = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      let progressed = true;
      while (progressed) {
        progressed = false;
        for (const n of pending) {
          const ds = depsIn.get(n) ?? [];
          if (ds.some((d) => status.get(d) === "failed" || status.get(d) === "skipped")) {
            pending.delete(n);
            status.set(n, "skipped");
            onSkip(n);
            progressed = true;
            continue;
          }
          if (running >= limit) continue;
          if (!ds.every((d) => status.get(d) === "ok")) continue;
          pending.delete(n);
          running++;
          progressed = true;
          fn(n).then(
            (ok) => {
              running--;
              status.set(n, ok ? "ok" : "failed");
              pump();
            },
            () => {
              running--;
              status.set(n, "failed");
              pump();
            },
          );
        }
      }
      if (pending.size === 0 && running === 0) resolve();
    };
    pump();
  });
}
