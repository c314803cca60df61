import { relative, sep } from "node:path";
import { UserError } from "../lib/errors.js";

/** A position in a configuration file: 1-based line and column. */
export interface Loc {
  /** Absolute path of the file. */
  file: string;
  line: number;
  col: number;
}

/** One problem found in the configuration, located in the file where the offending text is. */
export interface ConfigIssue {
  loc: Loc;
  /** Dotted path of the field as written in that file, e.g. `environments.uat.resources.clusters.ml.num_workers`. */
  path: string;
  message: string;
  hint?: string;
}

/** `file:line:col path: message`, with the file relative to `relativeTo` (the current directory by default). */
export function formatIssue(issue: ConfigIssue, relativeTo: string = process.cwd()): string {
  const where = `${displayPath(issue.loc.file, relativeTo)}:${issue.loc.line}:${issue.loc.col}`;
  return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where} ${issue.message}`;
}

export function displayPath(file: string, relativeTo: string): string {
  const rel = relative(relativeTo, file);
  if (rel === "" || rel.startsWith(`..${sep}..${sep}..`)) return file;
  return sep === "/" ? rel : rel.split(sep).join("/");
}

/** Orders issues by file, line and column, dropping exact duplicates. */
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  const out: ConfigIssue[] = [];
  for (const i of issues) {
    const key = `${i.loc.file}\0${i.loc.line}\0${i.loc.col}\0${i.path}\0${i.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(i);
  }
  return out.sort(
    (a, b) =>
      a.loc.file.localeCompare(b.loc.file) || a.loc.line - b.loc.line || a.loc.col - b.loc.col || a.path.localeCompare(b.path),
  );
}

/**
 * Everything wrong with a configuration, found before any request is sent. The message lists every
 * issue on its own line (`file:line:col field.path: message`); with a single issue its hint becomes
 * the error's hint.
 */
export class ConfigError extends UserError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: ConfigIssue[], relativeTo: string = process.cwd()) {
    const sorted = sortIssues(issues);
    const only = sorted.length === 1 ? sorted[0] : undefined;
    const message = only
      ? formatIssue(only, relativeTo)
      : [
          `${sorted.length} problems in the configuration:`,
          ...sorted.map((i) => `  ${formatIssue(i, relativeTo)}${i.hint ? `\n    hint: ${i.hint}` : ""}`),
        ].join("\n");
    super(message, only?.hint);
    this.name = "ConfigError";
    this.issues = sorted;
  }
}
