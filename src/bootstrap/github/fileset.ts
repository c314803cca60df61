import { createHash } from "node:crypto";

/**
 * The files of an initial commit, with the git ids they will have: blob ids, and the id of the root
 * tree built from them (git's own hashing, so it equals the tree id GitHub reports for a commit of
 * exactly these files). State and plans keep only the tree id and the file count (`toJSON`).
 */

export const FILE_MODE = "100644";

const gitHash = (type: string, body: Buffer) =>
  createHash("sha1")
    .update(Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]))
    .digest("hex");

export const blobSha = (content: Buffer) => gitHash("blob", content);

interface Entry {
  name: string;
  mode: string;
  sha: string;
  dir: boolean;
}

/** The id of the root tree holding `files` (path → blob id), all regular files. */
export function treeSha(files: ReadonlyMap<string, string>): string {
  const write = (prefix: string): string => {
    const entries: Entry[] = [];
    const dirs = new Set<string>();
    for (const [path, sha] of files) {
      if (prefix && !path.startsWith(`${prefix}/`)) continue;
      const rest = prefix ? path.slice(prefix.length + 1) : path;
      const slash = rest.indexOf("/");
      if (slash < 0) entries.push({ name: rest, mode: FILE_MODE, sha, dir: false });
      else dirs.add(rest.slice(0, slash));
    }
    for (const d of dirs) entries.push({ name: d, mode: "40000", sha: write(prefix ? `${prefix}/${d}` : d), dir: true });
    // Git orders entries by name, a directory's name compared as if it ended in "/".
    const key = (e: Entry) => Buffer.from(e.dir ? `${e.name}/` : e.name);
    entries.sort((a, b) => Buffer.compare(key(a), key(b)));
    const body = Buffer.concat(entries.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.sha, "hex")]));
    return gitHash("tree", body);
  };
  return write("");
}

/** Normalises a relative path: forward slashes, no leading "./" or "/", no empty, "." or ".." segments. */
export function normalizePath(path: string): string {
  const parts = path
    .replace(/\\/g, "/")
    .split("/")
    .filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..")) throw new Error(`not a relative file path inside the repository: ${path}`);
  return parts.join("/");
}

export class FileSet {
  readonly files: ReadonlyMap<string, Buffer>;
  readonly blobs: ReadonlyMap<string, string>;
  readonly tree: string;

  constructor(files: ReadonlyMap<string, Buffer>) {
    const normalized = new Map<string, Buffer>();
    for (const [p, content] of files) normalized.set(normalizePath(p), content);
    this.files = normalized;
    this.blobs = new Map([...normalized].map(([p, c]) => [p, blobSha(c)]));
    this.tree = treeSha(this.blobs);
  }

  get size(): number {
    return this.files.size;
  }

  toJSON(): { tree: string; files: number } {
    return { tree: this.tree, files: this.files.size };
  }
}

/** The tree id of a `FileSet`, or of its serialised form `{ tree }` read back from state. */
export function treeOf(v: unknown): string | undefined {
  if (v instanceof FileSet) return v.tree;
  if (v && typeof v === "object" && typeof (v as { tree?: unknown }).tree === "string") return (v as { tree: string }).tree;
  return undefined;
}
