import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { jupyterToSource } from "../server/workspace.js";
import { baseName, notebookHeader, parentOf, parseJupyter, type TreeNode, type WorkspaceTree } from "../tree.js";

/**
 * Workspace files on the local disk, where task processes can run and import them.
 *
 * A task's code lives in the workspace tree (bundle files, Git folders, files imported by hand). The
 * folder that holds a task's code and the modules next to it (its "root": the Git folder, the
 * `files` folder of a bundle deployment, else the file's own folder) is mirrored into
 * `<cache>/files/<hash of the root path>/`, rewriting only what changed since the last run.
 * Notebooks are written as `.py` source files.
 */

/** The folder to mirror for code at `path` (an absolute workspace path without the `/Workspace` prefix). */
export function codeRoot(tree: WorkspaceTree, path: string): string {
  const repo = tree.repoOf(path);
  if (repo) return repo.path;
  for (let p = parentOf(path); p !== undefined && p !== "/"; p = parentOf(p)) {
    if (baseName(p) !== "files") continue;
    const parent = parentOf(p);
    if (parent !== undefined && tree.get(parent === "/" ? "/state" : `${parent}/state`)) return p;
  }
  return parentOf(path) ?? "/";
}

const mirrored = new Map<string, Map<string, string>>();

/** Source text of a notebook node (Jupyter notebooks converted), header included. */
export function notebookText(tree: WorkspaceTree, node: TreeNode): string {
  const language = node.language ?? "PYTHON";
  const content = tree.content(node);
  if (node.notebook_format === "JUPYTER") {
    const doc = parseJupyter(content);
    return doc ? jupyterToSource(doc, language) : `${notebookHeader(language)}\n`;
  }
  return content.toString("utf8");
}

/** Mirrors the workspace folder `root` into a local folder under `cacheDir`; returns that folder. */
export function mirror(tree: WorkspaceTree, root: string, cacheDir: string): string {
  const dest = join(cacheDir, "files", createHash("sha256").update(root).digest("hex").slice(0, 16));
  const previous = mirrored.get(dest) ?? new Map<string, string>();
  const next = new Map<string, string>();
  if (!existsSync(dest)) previous.clear();
  mkdirSync(dest, { recursive: true });
  for (const node of tree.subtree(root)) {
    if (node.object_type !== "FILE" && node.object_type !== "NOTEBOOK") continue;
    const rel = root === "/" ? node.path.slice(1) : node.path.slice(root.length + 1);
    const local = node.object_type === "NOTEBOOK" ? `${rel}.py` : rel;
    const version = `${node.blob ?? ""}:${node.notebook_format ?? ""}`;
    next.set(local, version);
    if (previous.get(local) === version && existsSync(join(dest, local))) continue;
    const target = join(dest, local);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, node.object_type === "NOTEBOOK" ? notebookText(tree, node) : tree.content(node));
  }
  for (const local of previous.keys()) if (!next.has(local)) rmSync(join(dest, local), { force: true });
  mirrored.set(dest, next);
  return dest;
}
