import { createHash } from "node:crypto";

/** Git object storage for the fake: content-addressed blobs, trees and commits, hashed as git does. */

export type GitObject =
  | { type: "blob"; data: Buffer }
  | { type: "tree"; entries: TreeEntry[] }
  | { type: "commit"; tree: string; parents: string[]; message: string; author: Person; committer: Person };

export interface TreeEntry {
  name: string;
  mode: string;
  type: "blob" | "tree" | "commit";
  sha: string;
}

export interface Person {
  name: string;
  email: string;
  date: string;
}

const hashObject = (type: string, body: Buffer) =>
  createHash("sha1")
    .update(Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]))
    .digest("hex");

// Git orders tree entries by name, a directory's name compared as if it ended in "/".
const sortKey = (e: TreeEntry) => (e.type === "tree" ? `${e.name}/` : e.name);

function serialize(o: GitObject): Buffer {
  if (o.type === "blob") return o.data;
  if (o.type === "tree") {
    const entries = [...o.entries].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
    return Buffer.concat(
      entries.flatMap((e) => [Buffer.from(`${e.mode === "040000" ? "40000" : e.mode} ${e.name}\0`), Buffer.from(e.sha, "hex")]),
    );
  }
  const stamp = (p: Person) => `${p.name} <${p.email}> ${Math.floor(Date.parse(p.date) / 1000)} +0000`;
  const lines = [
    `tree ${o.tree}`,
    ...o.parents.map((p) => `parent ${p}`),
    `author ${stamp(o.author)}`,
    `committer ${stamp(o.committer)}`,
  ];
  return Buffer.from(`${lines.join("\n")}\n\n${o.message}`);
}

export class GitStore {
  readonly objects = new Map<string, GitObject>();
  readonly refs = new Map<string, string>();

  put(o: GitObject): string {
    const sha = hashObject(o.type, serialize(o));
    this.objects.set(sha, o);
    return sha;
  }

  get<T extends GitObject["type"]>(sha: string, type: T): Extract<GitObject, { type: T }> | undefined {
    const o = this.objects.get(sha);
    return o?.type === type ? (o as Extract<GitObject, { type: T }>) : undefined;
  }

  /** Every file of a tree by path. */
  flatten(treeSha: string, prefix = ""): Map<string, { mode: string; type: TreeEntry["type"]; sha: string }> {
    const out = new Map<string, { mode: string; type: TreeEntry["type"]; sha: string }>();
    const tree = this.get(treeSha, "tree");
    for (const e of tree?.entries ?? []) {
      const path = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.type === "tree") for (const [p, v] of this.flatten(e.sha, path)) out.set(p, v);
      else out.set(path, { mode: e.mode, type: e.type, sha: e.sha });
    }
    return out;
  }

  /** Writes the trees for a set of files by path; returns the root tree's sha. */
  writeTree(files: Map<string, { mode: string; type: TreeEntry["type"]; sha: string }>): string {
    const write = (prefix: string): string => {
      const entries: TreeEntry[] = [];
      const dirs = new Set<string>();
      for (const [path, f] of files) {
        if (prefix && !path.startsWith(`${prefix}/`)) continue;
        const rest = prefix ? path.slice(prefix.length + 1) : path;
        const slash = rest.indexOf("/");
        if (slash < 0) entries.push({ name: rest, ...f });
        else dirs.add(rest.slice(0, slash));
      }
      for (const d of dirs) entries.push({ name: d, mode: "040000", type: "tree", sha: write(prefix ? `${prefix}/${d}` : d) });
      return this.put({ type: "tree", entries });
    };
    return write("");
  }

  /** The content of a file at a ref, or undefined. */
  file(ref: string, path: string): Buffer | undefined {
    const head = this.refs.get(ref);
    const commit = head ? this.get(head, "commit") : undefined;
    if (!commit) return undefined;
    const entry = this.flatten(commit.tree).get(path);
    return entry ? this.get(entry.sha, "blob")?.data : undefined;
  }
}
