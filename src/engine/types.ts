import type { FieldChange, FieldRules } from "./diff.js";

/** A reference to another resource's output, e.g. `${resources.clusters.ml.id}`. */
export interface Ref {
  kind: string;
  name: string;
  field: string;
}

/** `<kind>.<name>`, e.g. `databricks.job.nightly`. */
export type Address = string;

export const addressOf = (kind: string, name: string): Address => `${kind}.${name}`;

/** One resource the configuration wants to exist. */
export interface DesiredResource {
  kind: string;
  name: string;
  /** The spec, possibly holding `RefValue` placeholders until the referenced resources exist. */
  spec: Record<string, unknown>;
  dependsOn: Ref[];
  preventDestroy?: boolean;
  /** Where it was declared, for messages. */
  source?: { file: string; line: number; col: number };
}

/** Runs `fn` once one of the engine's concurrency slots is free, and frees it when `fn` settles. */
export type Limit = <R>(fn: () => Promise<R>) => Promise<R>;

/**
 * What every resource adapter implements. The engine knows nothing about jobs or repos; an adapter
 * knows nothing about concurrency, retries or state.
 */
export interface ResourceAdapter<Ctx = unknown, Spec = Record<string, unknown>, Remote = Record<string, unknown>> {
  kind: string;
  /** A stable name to find an existing object by when state is lost or a create's response was lost. */
  naturalKey(spec: Spec): string;
  read(ctx: Ctx, id: string): Promise<Remote | undefined>;
  /**
   * Optional: reads many objects for a plan at once, e.g. from one paged list instead of one read per
   * object. Resolves with what it learnt by id: the object, or `undefined` for one known to be gone. An
   * id left out is read with `read`, so an adapter leaves out what its list may not show (objects the
   * list hides, lists that would cost more than reading one by one). Every request goes through
   * `limit`, which holds the engine's bound on requests in flight (a function given to `limit` must
   * not call `limit` itself).
   */
  readMany?(ctx: Ctx, ids: readonly string[], limit: Limit): Promise<Map<string, Remote | undefined>>;
  find(ctx: Ctx, spec: Spec): Promise<{ id: string; remote: Remote } | undefined>;
  /**
   * Optional: looks for many objects by natural key at once for a plan (resources with no id in
   * state), e.g. in one paged list instead of one search each. Resolves with what it learnt by
   * `naturalKey(spec)`: the object found, or `undefined` when there is certainly none. A key left out
   * is searched for with `find` (so are ambiguous ones, for `find` to report). Requests go through
   * `limit`, as for `readMany`.
   */
  findMany?(ctx: Ctx, specs: readonly Spec[], limit: Limit): Promise<Map<string, { id: string; remote: Remote } | undefined>>;
  create(ctx: Ctx, spec: Spec): Promise<{ id: string; remote?: Remote }>;
  /**
   * Changes the object to match `spec`. `changes` are the differences the plan found (paths in the
   * comparison form); an adapter of a merge-style API uses them to clear fields the configuration no
   * longer sets. Absent when the caller does not know them.
   */
  update(ctx: Ctx, id: string, spec: Spec, remote: Remote, changes?: FieldChange[]): Promise<Remote | undefined>;
  delete(ctx: Ctx, id: string): Promise<void>;
  /**
   * Projects the remote object onto the spec's comparison form. Default: the remote as is.
   * `previous` is the spec applied last time (without secrets), for values the API never returns.
   */
  normalize?(remote: Remote, previous?: Record<string, unknown>): Record<string, unknown>;
  /**
   * The comparison form of a desired spec (secrets already removed), when it differs from the spec:
   * e.g. a local file's content hash instead of its path, or an access list in canonical order.
   * Applied to the desired spec and to the spec applied last time. Default: the spec as is.
   */
  normalizeDesired?(spec: Record<string, unknown>): Record<string, unknown>;
  /** Output fields other resources may reference (`id` is always there). */
  outputs?(id: string, remote: Remote | undefined): Record<string, unknown>;
  rules: FieldRules;
}

export type ActionKind = "create" | "update" | "recreate" | "delete" | "skip";

export interface PlannedAction {
  address: Address;
  kind: string;
  name: string;
  action: ActionKind;
  /** The remote id, when the object exists. */
  id?: string;
  changes: FieldChange[];
  /** Why, in a few words: "not in state", "drift", "adopted by natural key", ... */
  reason?: string;
  dependsOn: Address[];
}

export interface Plan {
  version: 1;
  environment: string;
  /** State serial the plan was made against: a saved plan is stale when the state moved on. */
  stateSerial: number;
  stateLineage: string;
  /** Fingerprint of the configuration inputs: a saved plan is stale when they changed. */
  configFingerprint: string;
  actions: PlannedAction[];
  createdAt: string;
}

export interface PlanSummary {
  create: number;
  update: number;
  recreate: number;
  delete: number;
  skip: number;
}

export function summarize(plan: Pick<Plan, "actions">): PlanSummary {
  const s: PlanSummary = { create: 0, update: 0, recreate: 0, delete: 0, skip: 0 };
  for (const a of plan.actions) s[a.action]++;
  return s;
}

export const hasChanges = (plan: Pick<Plan, "actions">) => plan.actions.some((a) => a.action !== "skip");
