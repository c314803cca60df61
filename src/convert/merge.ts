import { JOB_KEYED_ARRAYS } from "../config/schema/jobs.js";

/**
 * Values of several environments combined into one shared definition plus per-environment
 * overrides, as `lakeforge.yaml` merges them (mappings key by key, job arrays item by item by their
 * key, everything else replaced, `null` removing a field): equal values are shared; scalars that
 * differ become variables (the most common value is the default); anything else keeps the most
 * common value shared and overrides it where it differs.
 */

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
export const isScalarValue = (v: unknown): v is string | number | boolean =>
  typeof v === "string" || typeof v === "number" || typeof v === "boolean";

/** JSON with sorted keys: equal for deep-equal values. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(",")}}`;
  }
  return v === undefined ? "~" : JSON.stringify(v);
}
export const deepEqual = (a: unknown, b: unknown) => canonical(a) === canonical(b);

/** A resource or variable name: letters, digits, `_` and `-`, starting with a letter or `_`. */
export function identifier(raw: string, fallback: string): string {
  let k = raw
    .trim()
    .replace(/[^A-Za-z0-9_-]+/g, "_")
    .replace(/^[_-]+|[_-]+$/g, "");
  if (k === "") k = fallback;
  return /^[A-Za-z_]/.test(k) ? k : `_${k}`;
}

/** Thrown when the environments' values cannot be expressed as one definition plus overrides. */
export class NotShareable extends Error {}

export interface Variable {
  name: string;
  description: string;
  default?: unknown;
  values: Map<string, unknown>;
}

export interface Merged {
  shared?: unknown;
  /** Per environment: the override (`null` removes the field), or undefined for none. */
  overrides: unknown[];
}

export class Merger {
  readonly variables = new Map<string, Variable>();
  private readonly usedNames = new Set<string>();

  constructor(private readonly envs: string[]) {}

  /** The most common value (ties: the earliest environment's). */
  private base(values: unknown[]): unknown {
    const counts = new Map<string, { n: number; first: number }>();
    values.forEach((v, i) => {
      const k = canonical(v);
      const c = counts.get(k) ?? { n: 0, first: i };
      c.n++;
      counts.set(k, c);
    });
    let best: { n: number; first: number } | undefined;
    for (const c of counts.values()) if (!best || c.n > best.n || (c.n === best.n && c.first < best.first)) best = c;
    return values[best?.first ?? 0];
  }

  private variableName(section: string, key: string, path: string[]): string {
    const last = path[path.length - 1] ?? "value";
    const candidates = [`${key}_${last}`, `${key}_${path.join("_")}`, `${section}_${key}_${path.join("_")}`];
    for (const c of candidates) {
      const name = identifier(
        c
          .toLowerCase()
          .replace(/[^a-z0-9_]+/g, "_")
          .replace(/_+/g, "_"),
        "value",
      );
      if (!this.usedNames.has(name)) {
        this.usedNames.add(name);
        return name;
      }
    }
    const base = identifier(candidates[2]?.toLowerCase() ?? "value", "value");
    let n = 2;
    while (this.usedNames.has(`${base}_${n}`)) n++;
    this.usedNames.add(`${base}_${n}`);
    return `${base}_${n}`;
  }

  reserve(name: string): void {
    this.usedNames.add(name);
  }

  /** `base` changed into `value` as an override: mappings merge, so only what differs is written. */
  private delta(base: unknown, value: unknown): unknown {
    if (isObj(base) && isObj(value)) {
      const out: Obj = {};
      for (const k of new Set([...Object.keys(base), ...Object.keys(value)])) {
        if (deepEqual(base[k], value[k])) continue;
        out[k] = value[k] === undefined ? null : this.delta(base[k], value[k]);
      }
      return out;
    }
    return value === undefined ? null : value;
  }

  merge(section: string, key: string, values: unknown[], path: string[] = []): Merged {
    const none = values.map(() => undefined);
    const first = values[0];
    if (values.every((v) => deepEqual(v, first))) return { shared: first, overrides: none };
    const keyField = section === "jobs" && path.length === 1 ? JOB_KEYED_ARRAYS[path[0] as string] : undefined;

    if (values.every(isObj)) {
      const objs = values as Obj[];
      const shared: Obj = {};
      const overrides: Obj[] = values.map(() => ({}));
      const keys = [...new Set(objs.flatMap((o) => Object.keys(o)))];
      for (const k of keys) {
        const r = this.merge(
          section,
          key,
          objs.map((o) => o[k]),
          [...path, k],
        );
        if (r.shared !== undefined) shared[k] = r.shared;
        r.overrides.forEach((o, i) => {
          if (o !== undefined) (overrides[i] as Obj)[k] = o;
        });
      }
      return {
        ...(Object.keys(shared).length > 0 ? { shared } : {}),
        overrides: overrides.map((o) => (Object.keys(o).length > 0 ? o : undefined)),
      };
    }

    if (keyField && values.every(Array.isArray)) {
      const arrays = values as unknown[][];
      const keysOf = (a: unknown[]) => a.map((item) => (isObj(item) ? String(item[keyField]) : "\0"));
      const seq = canonical(keysOf(arrays[0] as unknown[]));
      if (!arrays.every((a) => canonical(keysOf(a)) === seq) || seq.includes("\\u0000")) throw new NotShareable();
      const shared: Obj[] = [];
      const overrides: Obj[][] = values.map(() => []);
      (arrays[0] as Obj[]).forEach((item, j) => {
        const itemKey = item[keyField] as string;
        const r = this.merge(
          section,
          key,
          arrays.map((a) => a[j]),
          [...path, itemKey],
        );
        shared.push({ ...((r.shared as Obj | undefined) ?? {}), [keyField]: itemKey });
        r.overrides.forEach((o, i) => {
          if (o !== undefined) overrides[i]?.push({ [keyField]: itemKey, ...(o as Obj) });
        });
      });
      return { shared, overrides: overrides.map((o) => (o.length > 0 ? o : undefined)) };
    }
    if (keyField && new Set(values.filter(Array.isArray).map(canonical)).size > 1) {
      // Keyed arrays merge item by item: an override could not drop another environment's items.
      throw new NotShareable();
    }

    const secretSource = path.includes("personal_access_token");
    if (!secretSource && values.every(isScalarValue) && new Set(values.map((v) => typeof v)).size === 1) {
      const name = this.variableName(section, key, path);
      const def = this.base(values);
      const v: Variable = {
        name,
        description: `${section}.${key}.${path.join(".")}: differs per environment.`,
        default: def,
        values: new Map(),
      };
      values.forEach((x, i) => {
        if (!deepEqual(x, def)) v.values.set(this.envs[i] as string, x);
      });
      this.variables.set(name, v);
      return { shared: `\${var.${name}}`, overrides: none };
    }

    // Present in some environments only, or of different kinds: the most common value is shared and
    // the others override it.
    const base = this.base(values);
    return {
      ...(base !== undefined ? { shared: base } : {}),
      overrides: values.map((v) => (deepEqual(v, base) ? undefined : base === undefined ? v : this.delta(base, v))),
    };
  }
}
