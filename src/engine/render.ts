import { UNKNOWN } from "./diff.js";
import { type Plan, type PlannedAction, summarize } from "./types.js";

export interface RenderStyle {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
}

export const plainStyle: RenderStyle = { bold: (s) => s, dim: (s) => s, green: (s) => s, yellow: (s) => s, red: (s) => s };

const SYMBOL: Record<PlannedAction["action"], string> = { create: "+", update: "~", recreate: "-/+", delete: "-", skip: " " };

/** A value for humans: secrets and unknowns by name, strings quoted, objects as compact JSON. */
export function formatValue(v: unknown): string {
  if (v === UNKNOWN) return "(known after apply)";
  if (v === undefined) return "(none)";
  if (v === "(sensitive)") return "(sensitive)";
  const text = JSON.stringify(v, (_k, x) => (x === UNKNOWN ? "(known after apply)" : x));
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** The human plan: one block per changing resource, then a summary line. */
export function renderPlan(plan: Plan, style: RenderStyle = plainStyle): string {
  const lines: string[] = [];
  const colour = (a: PlannedAction["action"]) =>
    a === "create" ? style.green : a === "delete" ? style.red : a === "skip" ? style.dim : style.yellow;
  const changing = plan.actions.filter((a) => a.action !== "skip");
  if (changing.length === 0) {
    lines.push(`No changes: ${plan.environment} matches the configuration.`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(`Lakeforge will make these changes in ${style.bold(plan.environment)}:`, "");
  for (const a of changing) {
    const c = colour(a.action);
    const detail = [a.action, a.id ? `id ${a.id}` : undefined, a.reason].filter(Boolean).join(", ");
    lines.push(`  ${c(SYMBOL[a.action].padEnd(3))} ${style.bold(a.address)} ${style.dim(`(${detail})`)}`);
    for (const ch of a.changes) {
      const mark = ch.after === undefined ? style.red("-") : ch.before === undefined ? style.green("+") : style.yellow("~");
      const value = ch.sensitive
        ? "(sensitive)"
        : ch.after === undefined
          ? formatValue(ch.before)
          : ch.before === undefined
            ? formatValue(ch.after)
            : `${formatValue(ch.before)} → ${formatValue(ch.after)}`;
      lines.push(`        ${mark} ${ch.path}: ${value}${ch.forcesRecreate ? style.red("  # forces replacement") : ""}`);
    }
  }
  const s = summarize(plan);
  lines.push(
    "",
    `Plan: ${s.create} to create, ${s.update} to update, ${s.recreate} to recreate, ${s.delete} to delete, ${s.skip} unchanged.`,
  );
  return `${lines.join("\n")}\n`;
}

/** The plan as JSON (unknown values spelled out), for `--json` and saved plan files. */
export function planToJson(plan: Plan): string {
  return JSON.stringify(plan, (_k, v) => (v === UNKNOWN ? { $unknown: true } : v));
}

export function planFromJson(text: string): Plan {
  return JSON.parse(text, (_k, v) => (v && typeof v === "object" && v.$unknown === true ? UNKNOWN : v)) as Plan;
}
