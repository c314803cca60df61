import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Eta, type TemplateFunction } from "eta";
import { parse as parseYaml } from "yaml";
import { UserError } from "../lib/errors.js";
import { type Expr, evaluate, namesOf, parseExpr } from "./expr.js";
import { globToRegExp } from "./glob.js";
import type { TemplateContext } from "./options.js";

/**
 * Renders a project template: a folder of real files plus `template.yaml`.
 * - A file whose name ends in `.eta` is an Eta template rendered with the options as `it` (the
 *   suffix is dropped); every other file is copied byte for byte.
 * - A path segment `__package__` becomes the Python package name.
 * - `template.yaml` says which files exist for which options (`files: [{paths, when}]`; a file
 *   matched by several entries needs all their conditions) and which files never belong to the
 *   output (`ignore:`).
 * - Files under `_partials/` are not output: `_partials/name.eta` is the partial `@name`, included
 *   with `<%~ include("@name", it) %>` (or `<%~ it.indent(include("@name", it), 8) %>`) on a line of
 *   its own: the partial brings its own line ends.
 * The output is deterministic: files in sorted order, LF line endings in rendered files, nothing
 * taken from the clock or the machine.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The ML project template shipped with Lakeforge. */
export const ML_PROJECT_TEMPLATE = join(ROOT, "templates", "ml-project");

export const TEMPLATE_SUFFIX = ".eta";
export const PACKAGE_SEGMENT = "__package__";
export const PARTIALS_DIR = "_partials";

interface Rule {
  globs: RegExp[];
  patterns: string[];
  when: Expr;
  source: string;
}

interface SourceFile {
  /** Path relative to the template, `/`-separated. */
  path: string;
  mode: number;
  render?: TemplateFunction;
  bytes?: Buffer;
  rules: Rule[];
}

export interface Template {
  eta: Eta;
  dir: string;
  name: string;
  version: string;
  files: SourceFile[];
}

export interface RenderedFile {
  /** Path relative to the project, `/`-separated. */
  path: string;
  content: Buffer;
  /** Unix permission bits (0o644 or 0o755). */
  mode: number;
}

const cache = new Map<string, Template>();

/** An Eta instance for YAML-like text: no HTML escaping, no automatic trimming (see `standaloneTags`). */
const newEta = () => new Eta({ autoEscape: false, autoTrim: false, useWith: false, varName: "it", cache: false });

/**
 * A control tag (`<% if (x) { %>`) or an include (`<%~ include("@p", it) %>`) alone on a line
 * disappears with its line: the line break moves inside the tag, where it is harmless JavaScript,
 * so line numbers in errors stay right.
 */
export function standaloneTags(source: string): string {
  return source.replace(
    /^[ \t]*<%((?![=~])|~(?=(?:(?!%>)[\s\S])*\binclude\())((?:(?!%>)[\s\S])*?)[-_]?%>[ \t]*(\r?\n)/gm,
    (_m, _kind: string, code: string, nl: string) => `<%${_kind}${code}${nl}%>`,
  );
}

/** Loads (once per process) the template in `dir`: its manifest, file list and compiled templates. */
export function loadTemplate(dir: string = ML_PROJECT_TEMPLATE): Template {
  const key = resolve(dir);
  const hit = cache.get(key);
  if (hit) return hit;
  const manifestFile = join(key, "template.yaml");
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(manifestFile, "utf8"));
  } catch (e) {
    throw new UserError(`${manifestFile}: ${(e as Error).message}`);
  }
  const doc = (raw ?? {}) as { name?: unknown; version?: unknown; files?: unknown; ignore?: unknown };
  if (typeof doc.name !== "string" || typeof doc.version !== "string") {
    throw new UserError(`${manifestFile}: needs a name and a version (strings)`);
  }
  const ignore = asStrings(doc.ignore, `${manifestFile} ignore`).map(globToRegExp);
  const rules: Rule[] = [];
  for (const [i, entry] of (Array.isArray(doc.files) ? doc.files : []).entries()) {
    const e = entry as { paths?: unknown; when?: unknown };
    const where = `${manifestFile} files[${i}]`;
    const patterns = asStrings(e.paths, `${where}.paths`);
    if (typeof e.when !== "string") throw new UserError(`${where}.when: expected a condition`);
    let when: Expr;
    try {
      when = parseExpr(e.when);
    } catch (err) {
      throw new UserError(`${where}.when: ${(err as Error).message}`);
    }
    rules.push({ globs: patterns.map(globToRegExp), patterns, when, source: e.when });
  }
  const files: SourceFile[] = [];
  const used = new Set<Rule>();
  const eta = newEta();
  const compile = (abs: string) => {
    try {
      return eta.compile(standaloneTags(readFileSync(abs, "utf8")));
    } catch (err) {
      throw new UserError(`${abs}: ${(err as Error).message.split("\n")[0]}`);
    }
  };
  for (const path of listFiles(key)) {
    if (path === "template.yaml" || ignore.some((g) => g.test(path))) continue;
    if (path.startsWith(`${PARTIALS_DIR}/`)) {
      const name = path.slice(PARTIALS_DIR.length + 1);
      if (!name.endsWith(TEMPLATE_SUFFIX) || name.includes("/")) {
        throw new UserError(`${join(key, path)}: partials are ${PARTIALS_DIR}/<name>.eta files`);
      }
      eta.loadTemplate(`@${name.slice(0, -TEMPLATE_SUFFIX.length)}`, compile(join(key, ...path.split("/"))));
      continue;
    }
    const abs = join(key, ...path.split("/"));
    const mode = statSync(abs).mode & 0o111 ? 0o755 : 0o644;
    const stripped = path.endsWith(TEMPLATE_SUFFIX) ? path.slice(0, -TEMPLATE_SUFFIX.length) : path;
    const matching = rules.filter((r) => r.globs.some((g) => g.test(path) || g.test(stripped)));
    for (const r of matching) used.add(r);
    const file: SourceFile = { path, mode, rules: matching };
    if (path.endsWith(TEMPLATE_SUFFIX)) {
      file.render = compile(abs);
    } else {
      file.bytes = readFileSync(abs);
    }
    files.push(file);
  }
  for (const r of rules) {
    if (!used.has(r)) throw new UserError(`${manifestFile}: no file matches ${r.patterns.join(", ")} (when: ${r.source})`);
  }
  const template: Template = { eta, dir: key, name: doc.name, version: doc.version, files };
  cache.set(key, template);
  return template;
}

function asStrings(v: unknown, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new UserError(`${where}: expected a list of strings`);
  return v as string[];
}

/** Every file under `dir`, as sorted `/`-separated relative paths (code-point order, the same on every machine). */
function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFiles(dir, rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort(byCodePoint);
}

export const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Helpers the templates may call besides the options. */
const helpers = {
  /** A YAML/JSON double-quoted string. */
  q: (v: unknown) => JSON.stringify(String(v)),
  /** `text` with every non-empty line indented by `n` spaces (for partials written at column 0). */
  indent: (text: string, n: number) => text.replace(/^(?=[^\n])/gm, " ".repeat(n)),
};

export type RenderContext = TemplateContext & typeof helpers;

/** Renders `template` with `context` into memory, in sorted path order. */
export function renderTemplate(template: Template, context: TemplateContext): RenderedFile[] {
  const data: RenderContext = { ...context, ...helpers };
  const vars = context as unknown as Record<string, unknown>;
  const out: RenderedFile[] = [];
  const seen = new Map<string, string>();
  for (const f of template.files) {
    if (!f.rules.every((r) => evaluate(r.when, vars))) continue;
    const path = outputPath(f.path, context.package_name);
    const prior = seen.get(path);
    if (prior) throw new UserError(`template ${template.name}: ${prior} and ${f.path} both render ${path}`);
    seen.set(path, f.path);
    let content: Buffer;
    if (f.render) {
      let text: string;
      try {
        text = f.render.call(template.eta, data);
      } catch (err) {
        throw new Error(`rendering ${f.path} of template ${template.name}: ${(err as Error).message}`);
      }
      content = Buffer.from(text.replace(/\r\n?/g, "\n"), "utf8");
    } else {
      content = f.bytes as Buffer;
    }
    out.push({ path, content, mode: f.mode });
  }
  return out.sort((a, b) => byCodePoint(a.path, b.path));
}

/** `src/__package__/train.py.eta` → `src/churn_model/train.py`. */
export function outputPath(source: string, packageName: string): string {
  const stripped = source.endsWith(TEMPLATE_SUFFIX) ? source.slice(0, -TEMPLATE_SUFFIX.length) : source;
  return stripped
    .split("/")
    .map((s) => (s === PACKAGE_SEGMENT ? packageName : s))
    .join("/");
}

/** The options a template's conditions read (for checks that every option is used). */
export function conditionNames(template: Template): string[] {
  const names = new Set<string>();
  for (const f of template.files) for (const r of f.rules) for (const n of namesOf(r.when)) names.add(n);
  return [...names].sort();
}

export const sha256 = (content: Buffer | string) => createHash("sha256").update(content).digest("hex");
