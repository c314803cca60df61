import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
import { globSync, isDynamicPattern } from "tinyglobby";
import { UserError } from "../lib/errors.js";
import { type ConfigIssue, displayPath } from "./errors.js";
import { validate } from "./issues.js";
import { NAME_PATTERN, NAME_RULE } from "./schema/common.js";
import { documentStructure, INCLUDED_FILE_KEYS } from "./schema/document.js";
import { combine, emptyMap, getMap, issueAt, type LNode, type MapNode, parseYamlFile, toPlain } from "./tree.js";

/** The configuration files of a project read and combined into one located document. */
export interface ProjectDocument {
  /** The main file (`lakeforge.yaml`). */
  file: string;
  /** Its directory. */
  root: string;
  /** Every configuration file read, main file first. */
  files: string[];
  doc: MapNode;
  /** Environment names in the order they are defined. */
  environments: string[];
}

export const MAIN_FILE_NAMES = ["lakeforge.yaml", "lakeforge.yml"] as const;

/** The main configuration file for a path that is the file itself or its directory. */
export function findConfigFile(target: string): string {
  const abs = resolve(target);
  if (!existsSync(abs))
    throw new UserError(`${target}: no such file or directory`, "pass lakeforge.yaml or the folder holding it");
  if (statSync(abs).isFile()) return abs;
  for (const name of MAIN_FILE_NAMES) {
    const f = join(abs, name);
    if (existsSync(f)) return f;
  }
  throw new UserError(`no lakeforge.yaml in ${target}`, "create one (see docs/configuration.md) or pass the path of the file");
}

/** Top-level keys starting with `x-` are free for YAML anchors (`x-defaults: &defaults ...`) and ignored. */
export const EXTENSION_KEY = /^x-/;

function withoutExtensions(tree: MapNode): MapNode {
  const entries = new Map([...tree.entries].filter(([k]) => !EXTENSION_KEY.test(k)));
  return entries.size === tree.entries.size ? tree : { ...tree, entries };
}

function readYaml(file: string, prefix: string[], issues: ConfigIssue[]): MapNode | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    issues.push({ loc: { file, line: 1, col: 1 }, path: "", message: `cannot read the file: ${(e as Error).message}` });
    return undefined;
  }
  const { tree, issues: found } = parseYamlFile(file, text, prefix);
  issues.push(...found);
  return tree && prefix.length === 0 ? withoutExtensions(tree) : tree;
}

const describeAt = (relativeTo: string) => (n: LNode) => {
  const loc = n.keyLoc ?? n.loc;
  return `${displayPath(loc.file, relativeTo)}:${loc.line}:${loc.col}`;
};

/** A resource or a variable comes from one file; environments and sections merge across files. */
const atomic = (rel: readonly string[]) =>
  (rel[0] === "resources" && rel.length === 3) || (rel[0] === "variables" && rel.length === 2);

/**
 * Reads the main file, the files its `include:` globs match and `environments/<env>.yaml`, combines
 * them and checks the document's structure. Syntax errors stop here; other issues are collected.
 */
export function readProject(target: string, relativeTo: string, issues: ConfigIssue[]): ProjectDocument | undefined {
  const file = findConfigFile(target);
  const root = dirname(file);
  const files = [file];
  const main = readYaml(file, [], issues);
  if (!main) return undefined;
  let doc = main;
  let syntaxOk = true;
  const describe = describeAt(relativeTo);

  // include: globs relative to the main file.
  const include = main.entries.get("include");
  if (include?.t === "seq") {
    const seen = new Set<string>([file]);
    for (const item of include.items) {
      if (item.t !== "scalar" || typeof item.value !== "string" || item.value === "") continue;
      const pattern = item.value;
      const matches = isDynamicPattern(pattern)
        ? globSync(pattern, { cwd: root, absolute: true, onlyFiles: true, expandDirectories: false }).sort()
        : [isAbsolute(pattern) ? pattern : join(root, pattern)];
      if (!isDynamicPattern(pattern) && !existsSync(matches[0] as string)) {
        issues.push(issueAt(item, `included file ${pattern} does not exist`));
        continue;
      }
      for (const m of matches) {
        const abs = resolve(m);
        if (seen.has(abs)) continue;
        seen.add(abs);
        files.push(abs);
        const tree = readYaml(abs, [], issues);
        if (!tree) {
          syntaxOk = false;
          continue;
        }
        for (const [k, v] of tree.entries) {
          if (!(INCLUDED_FILE_KEYS as readonly string[]).includes(k)) {
            const message =
              k === "include" || k === "project"
                ? `\`${k}\` may only be set in ${basename(file)}`
                : `unknown field "${k}"; an included file holds ${INCLUDED_FILE_KEYS.join(", ")}`;
            issues.push(issueAt(v, message, undefined, true));
            tree.entries.delete(k);
          }
        }
        doc = combine(doc, tree, issues, describe, atomic);
      }
    }
  }

  // environments/<env>.yaml next to the main file.
  const envDir = join(root, "environments");
  if (existsSync(envDir) && statSync(envDir).isDirectory()) {
    const names = readdirSync(envDir)
      .filter((f) => [".yaml", ".yml"].includes(extname(f)))
      .sort();
    for (const f of names) {
      const abs = join(envDir, f);
      const env = basename(f, extname(f));
      files.push(abs);
      if (!NAME_PATTERN.test(env)) {
        issues.push({ loc: { file: abs, line: 1, col: 1 }, path: "", message: `environment file name "${env}": ${NAME_RULE}` });
        continue;
      }
      const tree = readYaml(abs, ["environments", env], issues);
      if (!tree) {
        syntaxOk = false;
        continue;
      }
      const environments = getMap(doc, "environments") ?? emptyMap(tree.loc, ["environments"]);
      const existing = getMap(environments, env);
      const merged = existing ? combine(existing, tree, issues, describe, atomic) : tree;
      const envs: MapNode = { ...environments, entries: new Map(environments.entries).set(env, merged) };
      doc = { ...doc, entries: new Map(doc.entries).set("environments", envs) };
    }
  }
  if (!syntaxOk) return undefined;

  issues.push(...validate({ schema: documentStructure, data: toPlain(doc), tree: doc }));
  const envs = getMap(doc, "environments");
  return { file, root, files, doc, environments: envs ? [...envs.entries.keys()] : [] };
}
