import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { finished } from "../support/process.js";

/**
 * Runs the bundled action (`action/dist/index.js`) as a runner does: a node process with the inputs
 * as `INPUT_<NAME>` variables (the defaults of `action.yml` filled in), `GITHUB_STEP_SUMMARY` and
 * `GITHUB_OUTPUT` files, and nothing inherited from this process but PATH.
 */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ACTION_MAIN = join(ROOT, "action", "dist", "index.js");

interface ActionYaml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
  runs: { using: string; main: string };
}

export const actionYaml = (): ActionYaml => parse(readFileSync(join(ROOT, "action.yml"), "utf8")) as ActionYaml;

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  summary: string;
  outputs: Record<string, string>;
  /** Everything the step produced, for scanning. */
  all: string;
}

/** Parses a `GITHUB_OUTPUT` file (`name<<delimiter` blocks, as @actions/core writes them). */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? "");
    if (!m) continue;
    const [, name, delimiter] = m as unknown as [string, string, string];
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i] ?? "");
    out[name] = value.join("\n");
  }
  return out;
}

let runs = 0;

export async function runAction(
  work: string,
  inputs: Record<string, string>,
  env: Record<string, string> = {},
  main: string = ACTION_MAIN,
): Promise<ActionRun> {
  const n = runs++;
  const files = join(work, `.runner-${n}`);
  mkdirSync(files, { recursive: true });
  const summaryFile = join(files, "summary.md");
  const outputFile = join(files, "output.txt");
  writeFileSync(summaryFile, "");
  writeFileSync(outputFile, "");
  const home = join(work, ".home");
  mkdirSync(home, { recursive: true });
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: home,
    NO_COLOR: "1",
    RUNNER_TEMP: files,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_OUTPUT: outputFile,
    ...env,
  };
  for (const [name, spec] of Object.entries(actionYaml().inputs)) {
    if (spec.default !== undefined) childEnv[`INPUT_${name.toUpperCase()}`] = spec.default;
  }
  for (const [name, value] of Object.entries(inputs)) childEnv[`INPUT_${name.toUpperCase()}`] = value;

  const { code, stdout, stderr } = await finished(
    spawn(process.execPath, [main], { cwd: work, env: childEnv, stdio: ["ignore", "pipe", "pipe"] }),
  );
  const summary = existsSync(summaryFile) ? readFileSync(summaryFile, "utf8") : "";
  const outputText = existsSync(outputFile) ? readFileSync(outputFile, "utf8") : "";
  const outputs = parseOutputs(outputText);
  const declared = Object.keys(actionYaml().outputs);
  const undeclared = Object.keys(outputs).filter((o) => !declared.includes(o));
  if (undeclared.length > 0) throw new Error(`the action set outputs action.yml does not declare: ${undeclared.join(", ")}`);
  return { code, stdout, stderr, summary, outputs, all: [stdout, stderr, summary, outputText].join("\n") };
}

/** The lines of stdout that are not `::add-mask::` commands (which the runner consumes). */
export const printedLines = (stdout: string) => stdout.split("\n").filter((l) => !l.startsWith("::add-mask::"));

/** Every `::add-mask::` command precedes every other line. */
export function masksComeFirst(stdout: string): boolean {
  const lines = stdout.split("\n");
  const lastMask = lines.map((l) => l.startsWith("::add-mask::")).lastIndexOf(true);
  const firstOther = lines.findIndex((l) => l !== "" && !l.startsWith("::add-mask::"));
  return lastMask === -1 || firstOther === -1 || lastMask < firstOther;
}
