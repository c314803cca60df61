import { renderPlan } from "../engine/render.js";
import { type Plan, type PlannedAction, type PlanSummary, summarize } from "../engine/types.js";

/**
 * The job summary of the action, as Markdown: what the plan does (resources and actions; secrets by
 * name, never a value), links to the repository and its environments, and the plan as the CLI shows it.
 * Everything here is built from plans, which hold no secret values; the caller still passes the text
 * through `redact` before it is written.
 */

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const cell = (s: string) => escapeHtml(s).replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

/** A plan around planned actions (for a bootstrap's actions, which come without the plan's bookkeeping). */
export function planOf(environment: string, actions: PlannedAction[]): Plan {
  return { version: 1, environment, stateSerial: 0, stateLineage: "", configFingerprint: "", actions, createdAt: "" };
}

export function summaryLine(s: PlanSummary): string {
  return `${s.create} to create, ${s.update} to update, ${s.recreate} to recreate, ${s.delete} to delete, ${s.skip} unchanged`;
}

/** Names of the secrets a plan writes (`prod/DATABRICKS_CLIENT_SECRET`), never their values. */
export function secretNames(actions: readonly PlannedAction[]): string[] {
  const names = new Set<string>();
  for (const a of actions) {
    if (a.action === "skip" || a.action === "delete") continue;
    if (/_secret$/.test(a.kind)) names.add(a.name);
    else for (const ch of a.changes) if (ch.sensitive) names.add(`${a.name}: ${ch.path}`);
  }
  return [...names].sort();
}

function planSection(plan: Plan): string[] {
  const lines: string[] = [];
  const changing = plan.actions.filter((a) => a.action !== "skip");
  const s = summarize(plan);
  lines.push(`**Plan:** ${summaryLine(s)}.`, "");
  if (changing.length > 0) {
    lines.push("| resource | action | why |", "| --- | --- | --- |");
    for (const a of changing) lines.push(`| \`${cell(a.address)}\` | ${a.action} | ${cell(a.reason ?? "")} |`);
    lines.push("");
  }
  const secrets = secretNames(plan.actions);
  if (secrets.length > 0) {
    lines.push(`**Secrets written** (by name): ${secrets.map((n) => `\`${cell(n)}\``).join(", ")}`, "");
  }
  lines.push(
    "<details><summary>The plan as the CLI prints it</summary>",
    "",
    `<pre>${escapeHtml(renderPlan(plan).trimEnd())}</pre>`,
    "",
    "</details>",
    "",
  );
  return lines;
}

export interface InitSummaryInput {
  projectName: string;
  dir: string;
  templateVersion: string;
  forge?: {
    name: string;
    repository: string;
    url?: string;
    dryRun: boolean;
    applied: boolean;
    actions?: PlannedAction[];
    summary?: PlanSummary;
  };
}

/** The web address of a repository on the GitHub an API root belongs to. */
export function githubRepositoryUrl(apiUrl: string, repository: string): string {
  const u = new URL(apiUrl);
  let origin = `${u.protocol}//${u.host}`;
  let path = u.pathname.replace(/\/+$/, "");
  if (u.hostname.toLowerCase() === "api.github.com") origin = "https://github.com";
  else if (/^api\.[^.]+\.ghe\.com$/i.test(u.hostname)) origin = `${u.protocol}//${u.host.slice(4)}`;
  if (/\/api\/v3$/.test(path)) path = path.slice(0, -"/api/v3".length);
  return `${origin}${path}/${repository}`;
}

export function initSummary(input: InitSummaryInput): string {
  const f = input.forge;
  const lines: string[] = [];
  const what = f ? `${f.repository}${f.dryRun ? " (dry run)" : ""}` : input.projectName;
  lines.push(`## Lakeforge init: ${cell(what)}`, "");
  lines.push(`Project \`${cell(input.projectName)}\` rendered from the ml-project template ${cell(input.templateVersion)}.`, "");
  if (!f) return `${lines.join("\n")}\n`;
  const repo = f.url ? `<a href="${escapeHtml(f.url)}">${escapeHtml(f.repository)}</a>` : `\`${cell(f.repository)}\``;
  lines.push(`- Repository (${cell(f.name)}): ${repo}`);
  const environments = (f.actions ?? []).filter((a) => /\.environment$/.test(a.kind) && a.action !== "delete").map((a) => a.name);
  if (environments.length > 0) {
    const list = environments.map((e) => `\`${cell(e)}\``).join(", ");
    lines.push(
      f.url && f.name === "github"
        ? `- Environments: <a href="${escapeHtml(`${f.url}/settings/environments`)}">${list}</a>`
        : `- Environments: ${list}`,
    );
  }
  lines.push(
    `- ${f.dryRun ? "Dry run: nothing was written." : f.applied ? "Applied: the repository matches the plan." : "Not applied."}`,
    "",
  );
  if (f.actions) lines.push(...planSection(planOf(`${f.name}:${f.repository}`, f.actions)));
  else if (f.summary) lines.push(`**Plan:** ${summaryLine(f.summary)}.`, "");
  return `${lines.join("\n")}\n`;
}

export interface EnvironmentSummaryInput {
  command: "plan" | "apply";
  plan: Plan;
  /** For apply: what was done and what failed. */
  result?: { done: string[]; failed: { address: string; error: string }[] };
  /** For apply: not applied because it was not approved. */
  notApproved?: boolean;
}

export function environmentSummary(input: EnvironmentSummaryInput): string {
  const lines = [`## Lakeforge ${input.command}: ${cell(input.plan.environment)}`, ""];
  lines.push(...planSection(input.plan));
  if (input.notApproved) lines.push("Not applied: the plan has changes and `auto_approve` is not `true`.", "");
  if (input.result) {
    const { done, failed } = input.result;
    lines.push(failed.length === 0 ? `Applied: ${done.length} change(s) made.` : `Applied with ${failed.length} failure(s):`, "");
    for (const f of failed) lines.push(`- \`${cell(f.address)}\`: ${cell(f.error)}`);
    if (failed.length > 0) lines.push("");
  }
  return `${lines.join("\n")}\n`;
}

export function failureSummary(command: string, message: string): string {
  return `## Lakeforge ${cell(command)} failed\n\n<pre>${escapeHtml(message)}</pre>\n`;
}
