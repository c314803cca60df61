import { createHash } from "node:crypto";
import { diffSpec, type FieldChange, UNKNOWN } from "./diff.js";
import { topoSort } from "./graph.js";
import type { StateEntry, StateFile } from "./state.js";
import {
  type Address,
  addressOf,
  type DesiredResource,
  type Limit,
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
  /**
   * Called after state changes; must persist the state (atomically) before resolving. It is given the
   * live state, which changes again as soon as it yields: it copies or serialises it first, before
   * any `await`. Saves asked for while one runs share the next call.
   */
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

/** A `Limit` allowing at most `max` functions in flight; the others wait in call order. */
export function limiter(max: number): Limit {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <R>(fn: () => Promise<R>): Promise<R> => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      // Hand the slot to the next in line, or free it.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
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
  const limit = limiter(concurrency);
  const recreating = new Set<Address>();
  const scoped = desired.filter((r) => inScope(addressOf(r.kind, r.name)));

  // Objects recorded in state are read per kind with `readMany` where the adapter has it (one paged
  // list instead of a read per object); what it leaves out is read one by one below.
  const idsByKind = new Map<string, string[]>();
  for (const r of scoped) {
    const id = state.resources[addressOf(r.kind, r.name)]?.id;
    if (id && adapterFor(opts, r.kind).readMany) idsByKind.set(r.kind, [...(idsByKind.get(r.kind) ?? []), id]);
  }
  const prefetched = new Map<string, Promise<Map<string, Record<string, unknown> | undefined>>>();
  for (const [kind, ids] of idsByKind) {
    const readMany = adapterFor(opts, kind).readMany as NonNullable<ResourceAdapter<Ctx>["readMany"]>;
    const p = readMany(opts.ctx, [...new Set(ids)], limit);
    p.catch(() => undefined); // awaited (and its error reported) by the resources of the kind
    prefetched.set(kind, p);
  }
  const readRemote = async (adapter: ResourceAdapter<Ctx>, id: string) => {
    const batch = await prefetched.get(adapter.kind);
    if (batch?.has(id)) return batch.get(id);
    return limit(() => adapter.read(opts.ctx, id));
  };

  // Likewise, resources with no id in state are looked for by natural key per kind with `findMany`.
  type Found = { id: string; remote: Record<string, unknown> } | undefined;
  const stateLookup = (ref: Ref) => {
    const dep = state.resources[addressOf(ref.kind, ref.name)];
    if (!dep?.id) return UNKNOWN;
    return ref.field === "id" ? dep.id : (dep.outputs[ref.field] ?? UNKNOWN);
  };
  const specsByKind = new Map<string, Record<string, unknown>[]>();
  for (const r of scoped) {
    if (state.resources[addressOf(r.kind, r.name)]?.id || !adapterFor(opts, r.kind).findMany) continue;
    const resolved = opts.codec.resolveRefs(r.spec, stateLookup);
    if (!hasUnknown(resolved)) specsByKind.set(r.kind, [...(specsByKind.get(r.kind) ?? []), resolved]);
  }
  const prefound = new Map<string, Promise<Map<string, Found>>>();
  for (const [kind, specs] of specsByKind) {
    const findMany = adapterFor(opts, kind).findMany as NonNullable<ResourceAdapter<Ctx>["findMany"]>;
    const p = findMany(opts.ctx, specs, limit);
    p.catch(() => undefined); // awaited (and its error reported) by the resources of the kind
    prefound.set(kind, p);
  }
  const findRemote = async (adapter: ResourceAdapter<Ctx>, resolved: Record<string, unknown>): Promise<Found> => {
    const batch = await prefound.get(adapter.kind);
    const key = adapter.naturalKey(resolved);
    if (batch?.has(key)) return batch.get(key);
    return limit(() => adapter.find(opts.ctx, resolved));
  };

  // A resource is planned once the resources it references are: an output of one about to be created
  // or replaced is known only after apply, whatever state says (a replaced cluster gets a new id).
  const planning = new Map<Address, Promise<PlannedAction>>();
  const replaced = new Set<Address>();
  const planAfterDeps = (r: DesiredResource): Promise<PlannedAction> => {
    const address = addressOf(r.kind, r.name);
    let p = planning.get(address);
    if (!p) {
      const deps = depAddresses(r)
        .filter((d) => d !== address && inScope(d))
        .map((d) => byAddress.get(d))
        .filter((d): d is DesiredResource => d !== undefined);
      p = Promise.all(deps.map(planAfterDeps)).then(() => planOne(r));
      planning.set(address, p);
    }
    return p;
  };

  const planOne = async (r: DesiredResource): Promise<PlannedAction> => {
    const address = addressOf(r.kind, r.name);
    const adapter = adapterFor(opts, r.kind);
    const entry = state.resources[address];
    const lookup = (ref: Ref) => {
      const depAddress = addressOf(ref.kind, ref.name);
      if (replaced.has(depAddress)) return UNKNOWN;
      const dep = state.resources[depAddress];
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
      remote = await readRemote(adapter, id);
      if (!remote) {
        reason = "deleted outside Lakeforge";
        id = undefined;
      }
    }
    if (!id && !hasUnknown(resolved)) {
      const found = await findRemote(adapter, resolved);
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
      if (entry?.id) replaced.add(address);
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
      replaced.add(address);
      return { ...base, id, action: "recreate", changes, reason: reason ?? "a change forces replacement" };
    }
    if (changes.length > 0)
      return { ...base, id, action: "update", changes, ...(reason ? { reason } : { reason: "drift or change" }) };
    if (adopted) return { ...base, id, action: "update", changes: [], reason: reason ?? "record in state" };
    return { ...base, id, action: "skip", changes: [] };
  };

  // Every adapter call takes a slot of `limit`, so planning them all at once keeps the bound.
  const planned = await Promise.all(scoped.map(planAfterDeps));

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

/**
 * A plan that destroys everything in state. `prevent_destroy` refuses: as the configuration says for
 * the resources it still declares (`desired`), as recorded in state for the others.
 */
export function destroyPlan(
  state: StateFile,
  meta: { environment: string; configFingerprint: string; only?: Set<Address> },
  desired: readonly DesiredResource[] = [],
): Plan {
  const configured = new Map(desired.map((r) => [addressOf(r.kind, r.name), r.preventDestroy === true]));
  const actions: PlannedAction[] = [];
  for (const [address, entry] of Object.entries(state.resources)) {
    if (meta.only && !meta.only.has(address)) continue;
    if (configured.get(address) ?? entry.preventDestroy)
      throw new PlanError(`${address} has prevent_destroy set; remove it from the configuration first`);
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
  // Group commit: saves asked for while a write runs share the next write, which snapshots the newest
  // state when it starts. Each caller still resolves only once a write holding its change is done,
  // but a large apply writes its state a few hundred times instead of twice per resource.
  let saving: Promise<void> = Promise.resolve();
  let lastWrite: Promise<void> = Promise.resolve();
  let nextWrite: Promise<void> | undefined;
  const save = () => {
    state.serial++;
    if (nextWrite) return nextWrite;
    const write = lastWrite.then(() => {
      nextWrite = undefined;
      return opts.saveState(state);
    });
    nextWrite = write;
    lastWrite = write.catch(() => undefined);
    saving = write;
    return write;
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

  /**
   * Adopts an object found by natural key instead of creating it: brings it in line with the spec
   * (secrets are sent again, as their remote values cannot be compared), then records it.
   */
  const adopt = async (
    r: DesiredResource,
    adapter: ResourceAdapter<Ctx>,
    resolved: Record<string, unknown>,
    found: { id: string; remote: Record<string, unknown> },
  ) => {
    const { values } = opts.codec.sensitive(resolved);
    const changes: FieldChange[] = [
      ...diffAfterAdopt(adapter, resolved, found.remote, opts.codec),
      ...Object.keys(values).map((path) => ({ path, before: undefined, after: "(sensitive)", sensitive: true })),
    ];
    const after = changes.length > 0 ? await adapter.update(opts.ctx, found.id, resolved, found.remote, changes) : undefined;
    record(r, adapter, found.id, resolved, after ?? found.remote);
    await save();
    return found.id;
  };

  /**
   * Creates an object, never twice: the intent is recorded (`pending`, with the spec to find it by)
   * before the request; after a failure that may have been applied, the object is looked up by its
   * natural key before another attempt. `lookFirst` looks it up before the first attempt too, for
   * creates planned without a look-up (their spec held values known only after apply).
   */
  const createOne = async (
    r: DesiredResource,
    adapter: ResourceAdapter<Ctx>,
    resolved: Record<string, unknown>,
    lookFirst: boolean,
  ) => {
    const address = addressOf(r.kind, r.name);
    const attempts = opts.createAttempts ?? 3;
    const { clean } = opts.codec.sensitive(resolved);
    for (let attempt = 1; ; attempt++) {
      state.resources[address] = {
        kind: r.kind,
        name: r.name,
        naturalKey: adapter.naturalKey(resolved),
        applied: clean,
        fingerprints: {},
        outputs: {},
        dependsOn: depAddresses(r),
        pending: "create",
      };
      await save();
      if (attempt === 1 && lookFirst) {
        const found = await adapter.find(opts.ctx, resolved);
        if (found) return adopt(r, adapter, resolved, found);
      }
      try {
        const created = await adapter.create(opts.ctx, resolved);
        record(r, adapter, created.id, resolved, created.remote);
        await save();
        return created.id;
      } catch (e) {
        // The create may have happened although its response was lost: look before trying again.
        // When the look-up fails too, nothing is known: stop (state keeps the pending create, so the
        // next run looks again) rather than risk a duplicate.
        let found: Awaited<ReturnType<typeof adapter.find>>;
        try {
          found = await adapter.find(opts.ctx, resolved);
        } catch {
          throw e;
        }
        if (found) return adopt(r, adapter, resolved, found);
        if (attempt >= attempts || !isRetryableCreateError(e)) throw e;
      }
    }
  };

  const runOne = async (a: PlannedAction) => {
    const r = byAddress.get(a.address);
    if (!r) return;
    const adapter = adapterFor(opts, r.kind);
    const resolved = resolveFor(r);
    // Replacing what an object belongs to may take the object along (a secret scope its secrets):
    // such an object is looked at again, and made anew when it is gone.
    const parentReplaced = a.dependsOn.some((d) => replacedHere.has(d));
    if (a.action === "skip") {
      // Outputs may be read by dependants; state already has them.
      if (!parentReplaced || !a.id || (await adapter.read(opts.ctx, a.id))) return;
      emit({ address: a.address, action: "create", phase: "start" });
      const id = await createOne(r, adapter, resolved, true);
      emit({ address: a.address, action: "create", phase: "done", id });
      return;
    }
    emit({ address: a.address, action: a.action, phase: "start", ...(a.id ? { id: a.id } : {}) });
    let id: string | undefined = a.id;
    if (a.action === "create") {
      id = await createOne(
        r,
        adapter,
        resolved,
        a.changes.some((c) => hasUnknown(c.after)),
      );
    } else if (a.action === "recreate") {
      if (a.id) await deleteIgnoringMissing(adapter, opts.ctx, a.id);
      delete state.resources[a.address];
      await save();
      id = await createOne(r, adapter, resolved, false);
    } else if (a.action === "update" && a.id) {
      const current = await adapter.read(opts.ctx, a.id);
      if (!current && parentReplaced) {
        id = await createOne(r, adapter, resolved, true);
      } else {
        const remote = current ?? {};
        const after = a.changes.length > 0 ? await adapter.update(opts.ctx, a.id, resolved, remote, a.changes) : remote;
        record(r, adapter, a.id, resolved, after ?? remote);
        await save();
      }
    }
    emit({ address: a.address, action: a.action, phase: "done", ...(id ? { id } : {}) });
  };

  // Phase 1: everything but deletes, in dependency order.
  const replacedHere = new Set(
    thePlan.actions
      .filter((a) => a.action === "recreate" || (a.action === "create" && state.resources[a.address]?.id))
      .map((a) => a.address),
  );
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
