import { existsSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { globToRegExp } from "../template/glob.js";
import { isNotebookFile } from "./resolve.js";
import { listFiles } from "./source.js";

/**
 * Which files of the bundle folder are synchronised to `workspace.file_path`, as the Databricks CLI
 * chooses them: every file not ignored by git (`.gitignore` files at any depth, `.git/info/exclude`),
 * minus `sync.exclude`, plus `sync.include` (even ignored ones). `.git` and `.databricks` never go.
 */

export interface SyncedFile {
  /** `/`-separated path relative to the bundle folder. */
  rel: string;
  /** Absolute local path. */
  abs: string;
  /** Source notebooks (marked by their first line) and Jupyter notebooks become notebooks. */
  notebook: boolean;
  /** Where it lands in the workspace (a notebook without its extension). */
  remote: string;
}

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
  /** The folder of the .gitignore holding it, `/`-terminated ("" for the root). */
  base: string;
}

/** Parses the lines of one ignore file found in folder `base`. */
export function parseIgnore(text: string, base: string): Rule[] {
  const rules: Rule[] = [];
  for (let line of text.split(/\r?\n/)) {
    if (!line || line.startsWith("#")) continue;
    line = line.replace(/(?<!\\)\s+$/, "");
    if (!line) continue;
    let negate = false;
    if (line.startsWith("!")) {
      negate = true;
      line = line.slice(1);
    }
    line = line.replace(/^\\([#!])/, "$1");
    let dirOnly = false;
    if (line.endsWith("/")) {
      dirOnly = true;
      line = line.slice(0, -1);
    }
    const anchored = line.includes("/");
    if (line.startsWith("/")) line = line.slice(1);
    const glob = anchored ? line : `**/${line}`;
    rules.push({ re: ignoreGlob(glob), negate, dirOnly, base });
  }
  return rules;
}

/** A gitignore glob as a regular expression: `*`, `?`, `[...]` within a segment, `**` across segments. */
export function ignoreGlob(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === "*" && glob[i + 1] === "*" && (i === 0 || glob[i - 1] === "/")) {
      if (glob[i + 2] === "/") {
        re += "(?:[^/]*/)*";
        i += 2;
      } else {
        re += ".*";
        i += 1;
      }
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        re += `[${body}]`;
        i = end;
      }
    } else if (ch === "\\" && i + 1 < glob.length) {
      re += (glob[i + 1] as string).replace(/[.+^$()|[\]{}*?\\/]/g, "\\$&");
      i++;
    } else re += ch.replace(/[.+^$()|[\]{}\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Whether `rel` (a file) is ignored by `rules`: a rule matching the file or any folder above it. */
export function isIgnored(rel: string, rules: readonly Rule[]): boolean {
  const parts = rel.split("/");
  // A file inside an ignored folder stays ignored (git does not look inside it).
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join("/");
    if (matchLast(dir, rules, true) === true) return true;
  }
  return matchLast(rel, rules, false) === true;
}

function matchLast(path: string, rules: readonly Rule[], isDir: boolean): boolean | undefined {
  let result: boolean | undefined;
  for (const r of rules) {
    if (r.dirOnly && !isDir) continue;
    if (r.base && !path.startsWith(r.base)) continue;
    const local = path.slice(r.base.length);
    if (r.re.test(local)) result = !r.negate;
  }
  return result;
}

export function syncedFiles(root: string, filePath: string, sync: { include: string[]; exclude: string[] }): SyncedFile[] {
  const all = listFiles(root);
  const rules: Rule[] = [];
  const exclude = join(root, ".git", "info", "exclude");
  if (existsSync(exclude)) rules.push(...parseIgnore(readFileSync(exclude, "utf8"), ""));
  for (const f of all.filter((f) => f === ".gitignore" || f.endsWith("/.gitignore"))) {
    rules.push(...parseIgnore(readFileSync(join(root, f), "utf8"), f.slice(0, -".gitignore".length)));
  }
  const toRe = (g: string) => globToRegExp(g.replace(/^\.\//, "").replace(/\/$/, "/**"));
  const includes = sync.include.map(toRe);
  const excludes = sync.exclude.map(toRe);
  const out: SyncedFile[] = [];
  for (const rel of all) {
    const included = includes.some((re) => re.test(rel));
    if (!included && isIgnored(rel, rules)) continue;
    if (excludes.some((re) => re.test(rel))) continue;
    const abs = join(root, rel);
    const notebook = isNotebookFile(abs);
    const remoteRel = notebook ? rel.slice(0, rel.length - extname(rel).length) : rel;
    out.push({ rel, abs, notebook, remote: `${filePath}/${remoteRel}` });
  }
  return out;
}
