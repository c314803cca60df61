import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { PlanError, type ProgressEvent } from "../engine/engine.js";
import { hasChanges, type Plan } from "../engine/types.js";
import type { LockInfo, WorkspaceLock } from "../engine/workspace-state.js";
import { UserError } from "../lib/errors.js";
import type { Output } from "./output.js";

/** Options and steps the deploying commands (plan, apply, destroy, deploy, run, infra) share. */

/** Commander's accumulator for a repeatable option. */
export const collect = (value: string, previous: string[]) => [...previous, value];

/** `-C, --config` and `-e, --environment`: which lakeforge.yaml, and which of its environments. */
export function environmentOptions(cmd: Command): Command {
  return cmd
    .option("-C, --config <path>", "lakeforge.yaml or the folder holding it", ".")
    .option("-e, --environment <name>", "environment to work on (default: the one marked default, or the only one)");
}

/** `--var name=value` (repeatable); read it with `parseVars`. */
export function varOption(cmd: Command, description: string): Command {
  return cmd.option("--var <name=value>", description, collect, []);
}

/** `--concurrency <n>`; read it with `parseConcurrency`. */
export function concurrencyOption(cmd: Command): Command {
  return cmd.option("--concurrency <n>", "requests in flight at most", "8");
}

export function jsonOption(cmd: Command): Command {
  return cmd.option("--json", "machine-readable output on stdout");
}

export function parseVars(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UserError(`--var ${item}: expected name=value`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function parseConcurrency(value: string): number {
  const concurrency = Number(value);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UserError(`--concurrency: ${value} is not a positive integer`);
  return concurrency;
}

/** One line per resource as apply goes (none with `--json`); `quiet` addresses get no "done" line. */
export function progressPrinter(out: Output, json: boolean, quiet?: (address: string) => boolean): (e: ProgressEvent) => void {
  const symbol: Record<string, string> = { create: "+", update: "~", recreate: "-/+", delete: "-", skip: " " };
  return (e) => {
    if (json || e.phase === "start") return;
    if (e.phase === "done" && quiet?.(e.address)) return;
    const what = `${symbol[e.action] ?? "?"} ${e.address}`;
    if (e.phase === "done") out.info(`  ${what}: ${e.action === "delete" ? "deleted" : `done${e.id ? ` (id ${e.id})` : ""}`}`);
    else if (e.phase === "failed") out.info(`  ${what}: failed: ${e.error}`);
    else out.info(`  ${what}: skipped (a dependency failed)`);
  };
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} Only 'yes' will be accepted: `);
    return answer.trim() === "yes";
  } finally {
    rl.close();
  }
}

/** True when the plan changes nothing, `--auto-approve` was given, or the user answers yes on a terminal. */
export async function approve(out: Output, plan: Plan, autoApprove: boolean | undefined, verb: string): Promise<boolean> {
  if (!hasChanges(plan) || autoApprove) return true;
  if (!process.stdin.isTTY) {
    throw new UserError(`refusing to ${verb} without confirmation`, "pass --auto-approve, or run on a terminal to confirm");
  }
  const ok = await confirm(`Do you want to ${verb} these changes in ${plan.environment}?`);
  if (!ok) out.info(`${verb[0]?.toUpperCase()}${verb.slice(1)} cancelled.`);
  return ok;
}

/** Says which lock a deploy removed (`--force-unlock`) or took over from a process no longer running. */
export function warnLock(out: Output, e: { removed?: LockInfo; tookOver?: LockInfo }): void {
  if (e.removed) out.warn(`removed the lock held by ${e.removed.holder} since ${e.removed.acquired_at}`);
  if (e.tookOver) {
    out.warn(
      `took over the lock left by ${e.tookOver.holder} since ${e.tookOver.acquired_at} (${e.tookOver.operation}): that process is no longer running`,
    );
  }
}

/** Runs `fn` holding a deploy lock (with `forceUnlock`, after removing the one left). */
export async function locked<T>(
  lock: WorkspaceLock,
  operation: string,
  forceUnlock: boolean | undefined,
  out: Output,
  fn: () => Promise<T>,
): Promise<T> {
  if (forceUnlock) {
    const removed = await lock.forceUnlock();
    if (removed) warnLock(out, { removed });
  }
  const { tookOver } = await lock.acquire(operation);
  if (tookOver) warnLock(out, { tookOver });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** A plan refused by the engine (a cycle, a missing reference) is the user's to fix. */
export function wrapPlanError(e: unknown): never {
  if (e instanceof PlanError) throw new UserError(e.message);
  throw e;
}
