/**
 * Field-level comparison of a desired spec with what the remote holds.
 *
 * Only fields the configuration manages are compared: those in the desired spec, plus those that were
 * in the last applied spec and have since been removed from the configuration. Fields the server fills
 * in on its own (defaults, output-only fields) are therefore never reported as drift, and removing a
 * field from the configuration is a change. Arrays of objects with a key field (tasks by `task_key`,
 * ...) are compared by key so that reordering them is not a change.
 */

export interface FieldRules {
  /** Paths (dot-separated, `*` for any map key or array key) whose change forces delete + create. */
  recreateOn?: string[];
  /** Paths never compared (output-only or server-managed fields the spec may still carry). */
  ignore?: string[];
  /** Arrays compared as maps keyed by this field, by path (`*` wildcards allowed). */
  keyedArrays?: Record<string, string>;
  /** Paths compared by fingerprint rather than value (secret values the remote never returns). */
  sensitive?: string[];
}

export interface FieldChange {
  path: string;
  before: unknown;
  after: unknown;
  /** Values are hidden in every rendering. */
  sensitive?: boolean;
  /** The change alone forces a recreate. */
  forcesRecreate?: boolean;
}

/** A value known only after apply (an unresolved reference to another resource's output). */
export const UNKNOWN: unique symbol = Symbol.for("lakeforge.unknown");
export type Unknown = typeof UNKNOWN;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

function compilePattern(pattern: string): RegExp {
  const source = pattern
    .split(".")
    .map((seg) => (seg === "*" ? "[^.]+" : seg.replace(/[.+?^${}()|[\]\\]/g, "\\$&")))
    .join("\\.");
  return new RegExp(`^${source}$`);
}

class Rules {
  private readonly recreate: RegExp[];
  private readonly ignored: RegExp[];
  private readonly keyed: [RegExp, string][];
  private readonly sensitive: RegExp[];

  constructor(rules: FieldRules) {
    this.recreate = (rules.recreateOn ?? []).map(compilePattern);
    this.ignored = (rules.ignore ?? []).map(compilePattern);
    this.keyed = Object.entries(rules.keyedArrays ?? {}).map(([p, k]) => [compilePattern(p), k]);
    this.sensitive = (rules.sensitive ?? []).map(compilePattern);
  }

  isIgnored(path: string) {
    return this.ignored.some((r) => r.test(path));
  }
  forcesRecreate(path: string) {
    // A change below a recreate-on path forces a recreate too.
    return this.recreate.some((r) => {
      const parts = path.split(".");
      for (let i = parts.length; i > 0; i--) if (r.test(parts.slice(0, i).join("."))) return true;
      return false;
    });
  }
  keyOf(path: string): string | undefined {
    for (const [r, k] of this.keyed) if (r.test(path)) return k;
    return undefined;
  }
  isSensitive(path: string) {
    return this.sensitive.some((r) => r.test(path));
  }
}

function keyedMap(list: unknown[], key: string): Map<string, unknown> | undefined {
  const out = new Map<string, unknown>();
  for (const item of list) {
    if (!isPlainObject(item) || typeof item[key] !== "string") return undefined;
    out.set(item[key] as string, item);
  }
  return out;
}

/**
 * Compares `desired` with `remote`, limited to managed fields (see the module comment).
 * `previous` is the spec applied last time (from state), used to detect removed fields.
 * Sensitive fields compare `desiredFingerprints` with `previousFingerprints` (from state).
 */
export function diffSpec(
  desired: Record<string, unknown>,
  remote: Record<string, unknown> | undefined,
  rules: FieldRules = {},
  previous?: Record<string, unknown>,
  fingerprints?: { desired: Record<string, string>; previous?: Record<string, string> },
): FieldChange[] {
  const r = new Rules(rules);
  const changes: FieldChange[] = [];

  const walk = (path: string, want: unknown, have: unknown, prev: unknown) => {
    if (path && r.isIgnored(path)) return;
    if (path && r.isSensitive(path)) {
      const a = fingerprints?.desired[path];
      const b = fingerprints?.previous?.[path];
      if (a !== b)
        changes.push({
          path,
          before: b === undefined ? undefined : "(sensitive)",
          after: "(sensitive)",
          sensitive: true,
          forcesRecreate: r.forcesRecreate(path),
        });
      return;
    }
    if (want === UNKNOWN) {
      changes.push({ path, before: have, after: UNKNOWN, forcesRecreate: r.forcesRecreate(path) });
      return;
    }
    if (want === undefined) {
      // Managed before, removed from the configuration now: a change if the remote still has it.
      if (prev !== undefined && have !== undefined && !equalLoose(have, defaultOf(have))) {
        changes.push({ path, before: have, after: undefined, forcesRecreate: r.forcesRecreate(path) });
      }
      return;
    }
    if (isPlainObject(want)) {
      const haveObj = isPlainObject(have) ? have : {};
      const prevObj = isPlainObject(prev) ? prev : {};
      if (!isPlainObject(have) && have !== undefined) {
        changes.push({ path, before: have, after: want, forcesRecreate: r.forcesRecreate(path) });
        return;
      }
      const keys = new Set([...Object.keys(want), ...Object.keys(prevObj)]);
      for (const k of keys) walk(path ? `${path}.${k}` : k, want[k], haveObj[k], prevObj[k]);
      return;
    }
    if (Array.isArray(want)) {
      const key = r.keyOf(path);
      if (key && Array.isArray(have)) {
        const w = keyedMap(want, key);
        const h = keyedMap(have, key);
        const p = Array.isArray(prev) ? keyedMap(prev, key) : undefined;
        if (w && h) {
          for (const [k, item] of w) walk(`${path}.${k}`, item, h.get(k), p?.get(k));
          for (const [k, item] of h) {
            if (!w.has(k))
              changes.push({ path: `${path}.${k}`, before: item, after: undefined, forcesRecreate: r.forcesRecreate(path) });
          }
          return;
        }
      }
      if (!equalLoose(want, have)) changes.push({ path, before: have, after: want, forcesRecreate: r.forcesRecreate(path) });
      return;
    }
    if (!equalLoose(want, have)) changes.push({ path, before: have, after: want, forcesRecreate: r.forcesRecreate(path) });
  };

  walk("", desired, remote ?? {}, previous ?? {});
  return changes;
}

/** The "empty" value of a type: removing a field whose remote value is empty is not a change. */
function defaultOf(v: unknown): unknown {
  if (Array.isArray(v)) return [];
  if (isPlainObject(v)) return {};
  if (typeof v === "string") return "";
  if (typeof v === "boolean") return false;
  return undefined;
}

/** Deep equality where numbers and numeric strings compare equal (query-string round trips) and key order is ignored. */
export function equalLoose(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if ((typeof a === "number" && typeof b === "string") || (typeof a === "string" && typeof b === "number")) {
    return String(a) === String(b);
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equalLoose(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => equalLoose(a[k], b[k]));
  }
  return false;
}
