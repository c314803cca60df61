import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { UserError } from "../lib/errors.js";
import { unifiedDiff } from "./diff.js";
import { resolveOptions } from "./input.js";
import { type ProjectAnswers, templateContext } from "./options.js";
import { byCodePoint, loadTemplate, ML_PROJECT_TEMPLATE, type RenderedFile, renderTemplate, sha256 } from "./render.js";

/**
 * Rendered projects on disk: `initProject` writes one with its manifest, `planUpdate` compares it
 * with a fresh render from the manifest's options, `applyUpdate` writes what is safe to write.
 *
 * The manifest, `.lakeforge/project.json`, records the template, its version, the options and the
 * sha256 of every file the template wrote ("template-owned" files). A file whose content no longer
 * has the recorded hash was changed by the user: `update` never overwrites it without `force`.
 */

export const MANIFEST_PATH = ".lakeforge/project.json";

export interface Manifest {
  template: string;
  template_version: string;
  options: ProjectAnswers;
  /** sha256 (hex) of each template-owned file, by `/`-separated path, sorted. */
  files: Record<string, string>;
}

/** Renders the project for `answers` in memory. */
export function renderProject(answers: ProjectAnswers, templateDir: string = ML_PROJECT_TEMPLATE): RenderedFile[] {
  const template = loadTemplate(templateDir);
  return renderTemplate(template, templateContext(answers, template.version));
}

export function buildManifest(
  answers: ProjectAnswers,
  files: RenderedFile[],
  templateDir: string = ML_PROJECT_TEMPLATE,
): Manifest {
  const template = loadTemplate(templateDir);
  const hashes: Record<string, string> = {};
  for (const f of [...files].sort((a, b) => byCodePoint(a.path, b.path))) hashes[f.path] = sha256(f.content);
  return { template: template.name, template_version: template.version, options: answers, files: hashes };
}

export const manifestText = (m: Manifest) => `${JSON.stringify(m, null, 2)}\n`;

export function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_PATH);
  if (!existsSync(file)) {
    throw new UserError(
      `${displayDir(dir)} has no ${MANIFEST_PATH}`,
      "run lakeforge update in a project rendered by lakeforge init, or pass --dir",
    );
  }
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(readFileSync(file, "utf8")) as Partial<Manifest>;
  } catch (e) {
    throw new UserError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof m.template !== "string" || typeof m.options !== "object" || typeof m.files !== "object" || m.files === null) {
    throw new UserError(`${file}: not a Lakeforge project manifest (needs template, options and files)`);
  }
  return m as Manifest;
}

function displayDir(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel === "" ? "the current directory" : rel;
}

/** Writes files under `dir`, creating folders, with their modes. */
function writeFiles(dir: string, files: Iterable<{ path: string; content: Buffer | string; mode?: number }>): void {
  for (const f of files) {
    const abs = join(dir, ...f.path.split("/"));
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, f.content);
    if (f.mode !== undefined) chmodSync(abs, f.mode);
  }
}

export interface InitResult {
  dir: string;
  files: RenderedFile[];
  manifest: Manifest;
}

/**
 * Renders the project into `dir`. Refuses a folder that holds anything unless `force` (then files
 * the template writes are overwritten and the others left alone).
 */
export function initProject(
  dir: string,
  answers: ProjectAnswers,
  options: { force?: boolean; templateDir?: string } = {},
): InitResult {
  const abs = resolve(dir);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new UserError(`${dir} exists and is not a folder`);
    const entries = readdirSync(abs);
    if (entries.length > 0 && !options.force) {
      throw new UserError(
        `${dir} is not empty (${entries.length} entr${entries.length === 1 ? "y" : "ies"})`,
        "choose another --dir, or pass --force to render over it (files the template writes are overwritten)",
      );
    }
  }
  const files = renderProject(answers, options.templateDir);
  const manifest = buildManifest(answers, files, options.templateDir);
  mkdirSync(abs, { recursive: true });
  writeFiles(abs, files);
  writeFiles(abs, [{ path: MANIFEST_PATH, content: manifestText(manifest) }]);
  return { dir: abs, files, manifest };
}

// ---------------------------------------------------------------------------------------------
// Update

export type ChangeKind =
  /** A file the new render adds. */
  | "add"
  /** A template-owned file the template changed and the user did not. */
  | "update"
  /** A template-owned file the new render no longer has, unchanged by the user. */
  | "delete"
  /** The template would change a file the user changed (or deleted), or add one where the user has a file. */
  | "conflict";

export interface FileChange {
  path: string;
  kind: ChangeKind;
  /** For conflicts: why. */
  reason?: string;
  /** Current content on disk (undefined when missing). */
  before?: Buffer;
  /** Content the template renders (undefined when the template drops the file). */
  after?: Buffer;
  mode?: number;
}

export interface UpdatePlan {
  dir: string;
  manifest: Manifest;
  /** Answers the new render uses (the manifest's, possibly with changed options). */
  answers: ProjectAnswers;
  templateVersion: string;
  changes: FileChange[];
  /** Template-owned files the user changed that the template leaves as it was: kept, reported for information. */
  modified: string[];
  /** The manifest to write after applying. */
  next: Manifest;
  warnings: string[];
}

export interface UpdateOptions {
  dir: string;
  /** Flags that change options (`--include-serving yes`), applied over the recorded ones. */
  flags?: readonly [string, string | boolean][];
  templateDir?: string;
}

const read = (abs: string): Buffer | undefined => (existsSync(abs) && statSync(abs).isFile() ? readFileSync(abs) : undefined);

/** Re-renders the project in memory from its manifest and compares it with the files on disk. */
export function planUpdate(options: UpdateOptions): UpdatePlan {
  const dir = resolve(options.dir);
  const manifest = readManifest(dir);
  const template = loadTemplate(options.templateDir);
  if (manifest.template !== template.name) {
    throw new UserError(`${MANIFEST_PATH}: the project was rendered from template ${manifest.template}, not ${template.name}`);
  }
  const resolved = resolveOptions({ recorded: { file: MANIFEST_PATH, answers: manifest.options }, flags: options.flags ?? [] });
  const answers = resolved.answers;
  const files = renderTemplate(template, templateContext(answers, template.version));
  const rendered = new Map(files.map((f) => [f.path, f]));
  const paths = [...new Set([...Object.keys(manifest.files), ...rendered.keys()])].sort(byCodePoint);
  const changes: FileChange[] = [];
  const modified: string[] = [];
  const nextHashes: Record<string, string> = {};
  for (const path of paths) {
    const recorded = manifest.files[path];
    const next = rendered.get(path);
    const before = read(join(dir, ...path.split("/")));
    const diskHash = before === undefined ? undefined : sha256(before);
    const nextHash = next ? sha256(next.content) : undefined;
    const userChanged = recorded !== undefined && diskHash !== recorded;
    const base = { path, before, after: next?.content, mode: next?.mode };
    if (next && nextHash) nextHashes[path] = nextHash;
    if (diskHash === nextHash) continue; // Already what the template renders (or gone from both).
    if (recorded === undefined) {
      // New in the template.
      if (before === undefined) changes.push({ ...base, kind: "add" });
      else {
        changes.push({ ...base, kind: "conflict", reason: "the template adds this file but one is already there" });
      }
      continue;
    }
    if (nextHash === recorded) {
      // The template did not change it; the user did: theirs to keep.
      modified.push(path);
      continue;
    }
    if (!userChanged) {
      changes.push({ ...base, kind: next ? "update" : "delete" });
      continue;
    }
    const reason =
      before === undefined
        ? "deleted locally; the template changed it"
        : next
          ? "changed locally; the template changed it too"
          : "changed locally; the template no longer has it";
    changes.push({ ...base, kind: "conflict", reason });
  }
  // A conflict that is not resolved keeps the recorded hash, so the next update still sees the local change.
  for (const c of changes) {
    if (c.kind === "conflict") {
      const recorded = manifest.files[c.path];
      if (recorded !== undefined) nextHashes[c.path] = recorded;
      else delete nextHashes[c.path];
    }
  }
  for (const path of modified) {
    const recorded = manifest.files[path];
    if (recorded !== undefined) nextHashes[path] = recorded;
  }
  const sortedHashes: Record<string, string> = {};
  for (const k of Object.keys(nextHashes).sort(byCodePoint)) sortedHashes[k] = nextHashes[k] as string;
  return {
    dir,
    manifest,
    answers,
    templateVersion: template.version,
    changes,
    modified,
    next: { template: template.name, template_version: template.version, options: answers, files: sortedHashes },
    warnings: resolved.warnings,
  };
}

export interface ApplyResult {
  written: string[];
  deleted: string[];
  /** Conflicts left as they are (without force). */
  conflicts: FileChange[];
}

/** Writes the safe changes of a plan (all of them with `force`) and the new manifest. */
export function applyUpdate(plan: UpdatePlan, options: { force?: boolean } = {}): ApplyResult {
  const written: string[] = [];
  const deleted: string[] = [];
  const conflicts: FileChange[] = [];
  const hashes = { ...plan.next.files };
  for (const c of plan.changes) {
    if (c.kind === "conflict" && !options.force) {
      conflicts.push(c);
      continue;
    }
    const abs = join(plan.dir, ...c.path.split("/"));
    if (c.after) {
      writeFiles(plan.dir, [{ path: c.path, content: c.after, mode: c.mode }]);
      hashes[c.path] = sha256(c.after);
      written.push(c.path);
    } else {
      if (existsSync(abs)) rmSync(abs);
      delete hashes[c.path];
      deleted.push(c.path);
    }
  }
  const files: Record<string, string> = {};
  for (const k of Object.keys(hashes).sort(byCodePoint)) files[k] = hashes[k] as string;
  const manifest = { ...plan.next, files };
  writeFiles(plan.dir, [{ path: MANIFEST_PATH, content: manifestText(manifest) }]);
  return { written, deleted, conflicts };
}

const isText = (b: Buffer | undefined) => b === undefined || !b.subarray(0, 8000).includes(0);

/** The unified diff of one change (disk → template). */
export function changeDiff(c: FileChange): string {
  if (!isText(c.before) || !isText(c.after)) return `Binary file ${c.path} differs\n`;
  return unifiedDiff(c.path, c.before?.toString("utf8"), c.after?.toString("utf8"));
}

/** Whether the options differ from the recorded ones (the manifest changes even when no file does). */
export function optionsChanged(plan: UpdatePlan): boolean {
  return (
    JSON.stringify(plan.answers) !== JSON.stringify(plan.manifest.options) ||
    plan.templateVersion !== plan.manifest.template_version
  );
}
