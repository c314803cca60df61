import { createHash } from "node:crypto";
import { specCodec } from "../config/refs.js";
import { apply, destroyPlan, type EngineOptions, type ProgressEvent, plan } from "../engine/engine.js";
import { renderPlan } from "../engine/render.js";
import { emptyState, type StateBackend, type StateFile } from "../engine/state.js";
import { addressOf, hasChanges, type Plan, type PlanSummary, summarize } from "../engine/types.js";
import { UserError } from "../lib/errors.js";
import type { BootstrapRequest, ForgeProvider, PreflightIssue } from "./types.js";

/**
 * Runs a use-case bootstrap through the engine: pre-flight (no writes on any issue), plan, and
 * unless `dryRun`, apply. A failure after writes rolls back what this run created, so that a
 * repository is never left half made (for instance holding secrets but no project).
 */

/** A state backend that can also remove its state (after a rollback that left nothing). */
export interface BootstrapStateBackend extends StateBackend {
  remove?(): Promise<void>;
}

export interface BootstrapOptions {
  /** Plan only: nothing is written, not even state. */
  dryRun?: boolean;
  /**
   * On failure after writes, delete what this run created (dependants first). Default: on when the
   * bootstrap starts from nothing (a brand-new repository), off otherwise.
   */
  rollback?: boolean;
  /** Where the state lives. Default: the provider's `stateBackend`. */
  state?: BootstrapStateBackend;
  progress?: (event: ProgressEvent) => void;
  /** Adapter calls in flight. Default 4. */
  concurrency?: number;
}

export interface BootstrapResult {
  plan: Plan;
  /** The plan for humans (secrets by name only). */
  rendered: string;
  summary: PlanSummary;
  /** False for a dry run; true when the plan was carried out (or had nothing to do). */
  applied: boolean;
}

/** Pre-flight found problems; nothing was written. */
export class PreflightError extends UserError {
  constructor(readonly issues: PreflightIssue[]) {
    super(
      `pre-flight found ${issues.length} problem${issues.length === 1 ? "" : "s"}; nothing was written: ${issues
        .map((i) => i.message)
        .join("; ")}`,
      issues
        .map((i) => i.hint)
        .filter(Boolean)
        .join("; ") || undefined,
    );
    this.name = "PreflightError";
  }
}

/** The apply failed; says what failed and whether what this run created was rolled back. */
export class BootstrapError extends UserError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly failed: { address: string; error: unknown }[],
    readonly rolledBack: boolean,
  ) {
    super(message, hint);
    this.name = "BootstrapError";
  }
}

export async function bootstrap<Ctx>(
  provider: ForgeProvider<Ctx>,
  ctx: Ctx,
  request: BootstrapRequest,
  options: BootstrapOptions = {},
): Promise<BootstrapResult> {
  const issues = await provider.preflight(ctx, request);
  if (issues.length > 0) throw new PreflightError(issues);

  const backend: BootstrapStateBackend | undefined = options.state ?? provider.stateBackend?.(ctx, request);
  if (!backend) throw new Error(`the ${provider.name} forge has no default state backend: pass options.state`);
  const environment = `${provider.name}:${request.owner ? `${request.owner}/` : ""}${request.name}`;
  const loaded = await backend.load();
  const state: StateFile = loaded ?? emptyState(environment);

  const desired = provider.desired(request);
  const engine: EngineOptions<Ctx> = {
    adapters: provider.adapters(),
    ctx,
    codec: specCodec,
    concurrency: options.concurrency ?? 4,
    saveState: (s) => backend.save(s),
    ...(options.progress ? { progress: options.progress } : {}),
  };
  const fingerprint = createHash("sha256");
  for (const r of desired)
    fingerprint.update(`${addressOf(r.kind, r.name)}\0${JSON.stringify(specCodec.sensitive(r.spec).clean)}\n`);
  const meta = { environment, configFingerprint: `sha256:${fingerprint.digest("hex")}` };

  const thePlan = await plan(desired, state, engine, meta);
  const result: BootstrapResult = { plan: thePlan, rendered: renderPlan(thePlan), summary: summarize(thePlan), applied: false };
  if (options.dryRun) return result;
  if (!hasChanges(thePlan)) return { ...result, applied: true };

  const existedBefore = new Set(
    Object.entries(state.resources)
      .filter(([, e]) => e.id !== undefined)
      .map(([a]) => a),
  );
  const brandNew = existedBefore.size === 0;
  let failed: { address: string; error: unknown }[];
  try {
    failed = (await apply(thePlan, desired, state, engine)).failed;
  } catch (error) {
    failed = [{ address: "(apply)", error }];
  }
  if (failed.length === 0) return { ...result, applied: true };

  const first = failed.find((f) => !/^skipped: /.test((f.error as Error)?.message ?? "")) ?? failed[0];
  const what = `${first?.address}: ${(first?.error as Error)?.message ?? String(first?.error)}`;
  if (!(options.rollback ?? brandNew)) {
    throw new BootstrapError(
      `bootstrap of ${request.name} failed at ${what}; what was created is kept`,
      "fix the cause and run the same command again: it continues where it stopped",
      failed,
      false,
    );
  }

  // Roll back what this run created (including creates it may have sent without an answer).
  const created = new Set(Object.keys(state.resources).filter((a) => !existedBefore.has(a)));
  let rollbackFailed: { address: string; error: unknown }[] = [];
  try {
    rollbackFailed = (await apply(destroyPlan(state, { ...meta, only: created }), [], state, engine)).failed;
  } catch (error) {
    rollbackFailed = [{ address: "(rollback)", error }];
  }
  if (rollbackFailed.length > 0) {
    const r = rollbackFailed[0];
    throw new BootstrapError(
      `bootstrap of ${request.name} failed at ${what}; rolling back failed too at ${r?.address}: ${(r?.error as Error)?.message ?? String(r?.error)}`,
      `state (${backend.description}) records what is left; run the same command again to finish it, or remove it by hand`,
      failed,
      false,
    );
  }
  if (!loaded && Object.keys(state.resources).length === 0 && backend.remove) await backend.remove();
  throw new BootstrapError(
    `bootstrap of ${request.name} failed at ${what}; rolled back the ${created.size} resource${created.size === 1 ? "" : "s"} this run created`,
    "fix the cause and run the same command again",
    failed,
    true,
  );
}
