import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { ConfigIssue, Loc } from "./errors.js";

/**
 * A YAML document as a tree whose every node remembers where it was written: the file, line and
 * column, and the path of the field in that file. Merging files and environment overrides moves
 * nodes around but never loses their origin, so any error found later points at the right text.
 */
export type LNode = MapNode | SeqNode | ScalarNode;

export type Scalar = string | number | boolean | null;
export type PathSeg = string | number;

interface Base {
  /** Where the value starts. */
  loc: Loc;
  /** Where the key of the entry holding this value starts (maps only). */
  keyLoc?: Loc;
  /** Field path as written in its file (`environments.uat.resources.clusters.ml`). */
  path: PathSeg[];
}

export interface MapNode extends Base {
  t: "map";
  entries: Map<string, LNode>;
}

export interface SeqNode extends Base {
  t: "seq";
  items: LNode[];
}

export interface ScalarNode extends Base {
  t: "scalar";
  value: Scalar;
}

export const pathString = (path: readonly PathSeg[]): string => path.join(".");

export function issueAt(node: LNode, message: string, hint?: string, atKey = false): ConfigIssue {
  return { loc: atKey ? (node.keyLoc ?? node.loc) : node.loc, path: pathString(node.path), message, hint };
}

/** Parses one YAML file into a located tree. Syntax errors come back as issues (and no tree). */
export function parseYamlFile(file: string, text: string, prefix: PathSeg[] = []): { tree?: MapNode; issues: ConfigIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true, keepSourceTokens: false });
  const at = (offset: number): Loc => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  const issues: ConfigIssue[] = [];
  const lines = text.split(/\r?\n/);
  for (const e of [...doc.errors, ...doc.warnings]) {
    const loc = at(e.pos[0]);
    const line = lines[loc.line - 1] ?? "";
    const hint = /[[{][^\n]*\$\{|\$\{[^\n]*[\]}]/.test(line)
      ? `inside [ ] and { }, quote values holding references: ["\${var.name}"]`
      : undefined;
    issues.push({ loc, path: "", message: yamlMessage(e.code, e.message), hint });
  }
  if (issues.length > 0) return { issues };
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    return { tree: { t: "map", entries: new Map(), loc: { file, line: 1, col: 1 }, path: prefix }, issues };
  }
  const converter = new Converter(doc, at, issues);
  const tree = converter.convert(root, prefix, undefined);
  if (tree.t !== "map") {
    issues.push({ loc: tree.loc, path: pathString(prefix), message: "expected a mapping of fields at the top of the file" });
    return { issues };
  }
  return { tree, issues };
}

function yamlMessage(code: string, message: string): string {
  if (code === "DUPLICATE_KEY") return "this key appears twice in the same mapping";
  if (code === "MULTIPLE_DOCS") return "only one YAML document per file is supported (remove the `---` separator)";
  if (code === "TAB_AS_INDENT") return "tabs are not allowed for indentation; use spaces";
  return `YAML syntax error: ${message.replace(/\s+at line \d+, column \d+:?[\s\S]*$/, "")}`;
}

class Converter {
  constructor(
    private readonly doc: Document,
    private readonly at: (offset: number) => Loc,
    private readonly issues: ConfigIssue[],
  ) {}

  private locOf(node: Node | null | undefined, fallback: Loc): Loc {
    const r = node?.range;
    return r ? this.at(r[0]) : fallback;
  }

  convert(node: unknown, path: PathSeg[], keyLoc: Loc | undefined, depth = 0): LNode {
    const fallback = keyLoc ?? this.at(0);
    if (depth > 64) {
      this.issues.push({ loc: fallback, path: pathString(path), message: "the document is nested too deeply" });
      return { t: "scalar", value: null, loc: fallback, keyLoc, path };
    }
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      const converted = this.convert(target, path, keyLoc, depth + 1);
      return { ...converted, loc: this.locOf(node, fallback) };
    }
    if (isMap(node)) {
      const loc = this.locOf(node, fallback);
      const entries = new Map<string, LNode>();
      const merged: LNode[] = [];
      for (const pair of node.items) {
        const kLoc = isScalar(pair.key) || isMap(pair.key) || isSeq(pair.key) ? this.locOf(pair.key as Node, loc) : loc;
        if (isScalar(pair.key) && typeof pair.key.value === "symbol") {
          // `<<: *anchor` (or a list of anchors): the referenced mappings' entries, under the explicit ones.
          const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
          for (const s of sources) merged.push(this.convert(s, path, kLoc, depth + 1));
          continue;
        }
        if (!isScalar(pair.key) || pair.key.value === null || typeof pair.key.value === "object") {
          this.issues.push({ loc: kLoc, path: pathString(path), message: "mapping keys must be plain strings" });
          continue;
        }
        const key = String(pair.key.value);
        const childPath = [...path, key];
        const value = pair.value as Node | null;
        if (value === null || value === undefined) {
          entries.set(key, { t: "scalar", value: null, loc: kLoc, keyLoc: kLoc, path: childPath });
        } else {
          entries.set(key, this.convert(value, childPath, kLoc, depth + 1));
        }
      }
      for (const m of merged) {
        if (m.t !== "map") {
          this.issues.push({ loc: m.loc, path: pathString(path), message: "`<<` must refer to a mapping" });
          continue;
        }
        for (const [k, v] of m.entries) if (!entries.has(k)) entries.set(k, v);
      }
      return { t: "map", entries, loc, keyLoc, path };
    }
    if (isSeq(node)) {
      const loc = this.locOf(node, fallback);
      const items = node.items.map((item, i) => {
        const childPath = [...path, i];
        if (item === null || item === undefined) return { t: "scalar", value: null, loc, path: childPath } as ScalarNode;
        return this.convert(item, childPath, undefined, depth + 1);
      });
      return { t: "seq", items, loc, keyLoc, path };
    }
    if (isScalar(node)) {
      const loc = this.locOf(node, fallback);
      const v = node.value;
      let value: Scalar;
      if (v === null || v === undefined) value = null;
      else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") value = v;
      else if (typeof v === "bigint") value = Number(v);
      else if (v instanceof Date) value = v.toISOString();
      else value = String(v);
      return { t: "scalar", value, loc, keyLoc, path };
    }
    this.issues.push({ loc: fallback, path: pathString(path), message: "unsupported YAML value" });
    return { t: "scalar", value: null, loc: fallback, keyLoc, path };
  }
}

/** The plain JavaScript value of a located tree. */
export function toPlain(node: LNode): unknown {
  if (node.t === "scalar") return node.value;
  if (node.t === "seq") return node.items.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [k, v] of node.entries) out[k] = toPlain(v);
  return out;
}

/** Follows `path` from `node` as far as it exists: the deepest node reached and the rest of the path. */
export function descend(node: LNode, path: readonly PathSeg[]): { node: LNode; rest: PathSeg[] } {
  let cur = node;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as PathSeg;
    let next: LNode | undefined;
    if (cur.t === "map") next = cur.entries.get(String(seg));
    else if (cur.t === "seq" && typeof seg === "number") next = cur.items[seg];
    if (!next) return { node: cur, rest: path.slice(i) };
    cur = next;
  }
  return { node: cur, rest: [] };
}

export function getMap(node: MapNode, key: string): MapNode | undefined {
  const v = node.entries.get(key);
  return v?.t === "map" ? v : undefined;
}

export function emptyMap(loc: Loc, path: PathSeg[]): MapNode {
  return { t: "map", entries: new Map(), loc, path };
}

/** Where the keyed-array merge takes its key from, per array path (relative to a resource). */
export type KeyedArrays = (path: readonly PathSeg[]) => string | undefined;

/**
 * An environment override applied on top of a shared definition, like bundle targets: mappings merge
 * key by key, arrays of keyed items (tasks by `task_key`, ...) merge item by item, every other value
 * (scalars, other arrays) is replaced, and `null` removes the field.
 */
export function overrideMerge(base: LNode, over: LNode, keyed: KeyedArrays, rel: PathSeg[] = []): LNode | undefined {
  if (over.t === "scalar" && over.value === null) return undefined;
  if (base.t === "map" && over.t === "map") {
    const entries = new Map(base.entries);
    for (const [k, v] of over.entries) {
      const b = entries.get(k);
      const merged = b ? overrideMerge(b, v, keyed, [...rel, k]) : v.t === "scalar" && v.value === null ? undefined : v;
      if (merged === undefined) entries.delete(k);
      else entries.set(k, merged);
    }
    return { ...base, entries };
  }
  if (base.t === "seq" && over.t === "seq") {
    const key = keyed(rel);
    if (key === undefined) return over;
    const keyOf = (n: LNode) => {
      const k = n.t === "map" ? n.entries.get(key) : undefined;
      return k?.t === "scalar" && k.value !== null ? String(k.value) : undefined;
    };
    const items = [...base.items];
    for (const item of over.items) {
      const k = keyOf(item);
      const idx = k === undefined ? -1 : items.findIndex((b) => keyOf(b) === k);
      if (idx < 0) {
        items.push(item);
        continue;
      }
      const merged = overrideMerge(items[idx] as LNode, item, keyed, [...rel, "*"]);
      if (merged === undefined) items.splice(idx, 1);
      else items[idx] = merged;
    }
    return { ...base, items };
  }
  return over;
}

/**
 * Files combined into one configuration (the main file, includes, environment files): mappings merge,
 * but the same field defined in two places is an error naming both places. `atomic(path)` marks the
 * paths (relative to `into`) whose values must come from a single file even when both are mappings,
 * such as one resource definition.
 */
export function combine(
  into: MapNode,
  from: MapNode,
  issues: ConfigIssue[],
  describe: (n: LNode) => string,
  atomic: (rel: readonly string[]) => boolean = () => false,
  rel: string[] = [],
): MapNode {
  const entries = new Map(into.entries);
  for (const [k, v] of from.entries) {
    const existing = entries.get(k);
    if (!existing) {
      entries.set(k, v);
      continue;
    }
    const childRel = [...rel, k];
    if (existing.t === "map" && v.t === "map" && !atomic(childRel)) {
      entries.set(k, combine(existing, v, issues, describe, atomic, childRel));
      continue;
    }
    issues.push(issueAt(v, `is already defined at ${describe(existing)}`, "define it in one file only", true));
  }
  return { ...into, entries };
}
