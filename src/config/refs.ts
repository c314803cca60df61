import { Secret } from "../lib/secret.js";
import type { Loc } from "./errors.js";

/**
 * Placeholders left in resource specs for the engine: references to values known only once another
 * resource exists (`Ref`), strings built from such values (`Template`), and secrets to be fetched
 * from Azure Key Vault at apply time (`KeyVaultSecret`). Each serialises to its `${...}` form.
 */

/** `${resources.<section>.<name>.<field>}`: an output of another resource, e.g. a cluster's id. */
export class Ref {
  constructor(
    /** The engine's kind of the referenced resource (`databricks.cluster`). */
    readonly kind: string,
    readonly name: string,
    readonly field: string,
    /** The section under `resources:` (`clusters`), for messages. */
    readonly section: string,
  ) {}

  /** The reference as written in the configuration. */
  toString(): string {
    return `\${resources.${this.section}.${this.name}.${this.field}}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * `${azure.<part>.<field>}` in a resource field while the environment's infrastructure is not
 * deployed yet: an output of no resource in state, so plans show it as known after apply. Apply never
 * sees one: the infrastructure is deployed first and its outputs replace the references.
 */
export class AzureOutputRef extends Ref {
  constructor(
    /** The output, `<part>.<field>` (`key_vault.id`). */
    readonly output: string,
  ) {
    super("azure.output", output, "value", "azure");
  }

  override toString(): string {
    return `\${azure.${this.output}}`;
  }
}

/** A string with references inside, e.g. `/Workspace/${resources.repos.app.path}/train`. */
export class Template {
  constructor(readonly parts: readonly (string | Ref)[]) {}

  get refs(): Ref[] {
    return this.parts.filter((p): p is Ref => p instanceof Ref);
  }

  toString(): string {
    return this.parts.map((p) => (typeof p === "string" ? p.replaceAll("${", () => "$${") : p.toString())).join("");
  }

  toJSON(): string {
    return this.toString();
  }
}

/** A secret read from Azure Key Vault when the plan is made; see `replaceKeyVaultSecrets`. */
export class KeyVaultSecret {
  constructor(
    /** Vault name or URL. */
    readonly vault: string,
    readonly secret: string,
    readonly version?: string,
    at?: Loc & { path: string },
  ) {
    // Not enumerable: where a reference is written is not part of what it refers to.
    Object.defineProperty(this, "at", { value: at, enumerable: false });
  }

  /** Where the `azure_key_vault` source is written (file, line, column and field path), for errors. */
  declare readonly at?: Loc & { path: string };

  /** The vault URL, `https://<name>.vault.azure.net/`. */
  get vaultUrl(): string {
    return /^https:\/\//.test(this.vault) ? this.vault.replace(/\/?$/, "/") : `https://${this.vault}.vault.azure.net/`;
  }

  toString(): string {
    return `azure_key_vault(${this.vault}/${this.secret}${this.version ? `/${this.version}` : ""})`;
  }

  toJSON(): string {
    return this.toString();
  }
}

// -------------------------------------------------------------------------------------------------
// The `${...}` syntax

export type Segment = { text: string } | { expr: string; offset: number };

/**
 * Splits a string into literal text and `${...}` expressions. `$${` stands for a literal `${`.
 * Returns an error message for an unterminated or nested expression.
 */
export function splitInterpolation(s: string): { segments: Segment[]; error?: string } {
  const segments: Segment[] = [];
  let text = "";
  let i = 0;
  while (i < s.length) {
    if (s.startsWith("$${", i)) {
      text += "${";
      i += 3;
      continue;
    }
    if (s.startsWith("${", i)) {
      const end = s.indexOf("}", i + 2);
      const inner = end < 0 ? s.slice(i + 2) : s.slice(i + 2, end);
      if (end < 0) return { segments, error: `unterminated reference "${s.slice(i)}"` };
      if (inner.includes("${")) return { segments, error: `references cannot be nested: "${s.slice(i, end + 1)}"` };
      if (text) segments.push({ text });
      text = "";
      segments.push({ expr: inner.trim(), offset: i });
      i = end + 1;
      continue;
    }
    text += s[i];
    i++;
  }
  if (text || segments.length === 0) segments.push({ text });
  return { segments };
}

export const hasInterpolation = (s: string) => s.includes("${");

export type Expression =
  | { type: "var"; name: string }
  | { type: "env"; name: string; fallback?: string }
  | { type: "resource"; section: string; name: string; field: string }
  | { type: "azure"; output: string }
  | { type: "environment" }
  | { type: "project" };

/** Parses the inside of `${...}`; a string is an error message. */
export function parseExpression(expr: string): Expression | string {
  let m = /^var\.([A-Za-z_][A-Za-z0-9_-]*)$/.exec(expr);
  if (m) return { type: "var", name: m[1] as string };
  m = /^env\.([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(expr);
  if (m)
    return m[2] === undefined ? { type: "env", name: m[1] as string } : { type: "env", name: m[1] as string, fallback: m[2] };
  if (expr === "environment.name") return { type: "environment" };
  if (expr === "project.name") return { type: "project" };
  if (expr.startsWith("resources.")) {
    const parts = expr.split(".");
    if (parts.length !== 4 || parts.some((p) => p === "")) {
      return `expected \${resources.<kind>.<name>.<field>}, got "\${${expr}}"`;
    }
    return { type: "resource", section: parts[1] as string, name: parts[2] as string, field: parts[3] as string };
  }
  if (expr.startsWith("azure.")) {
    const parts = expr.split(".");
    if (parts.length !== 3 || parts.some((p) => p === "")) return `expected \${azure.<part>.<field>}, got "\${${expr}}"`;
    return { type: "azure", output: parts.slice(1).join(".") };
  }
  if (expr.startsWith("env.")) return `"\${${expr}}" is not a valid environment variable reference`;
  if (expr.startsWith("var.")) return `"\${${expr}}" is not a valid variable reference`;
  return `unknown reference "\${${expr}}"; use \${var.<name>}, \${env.<NAME>}, \${resources.<kind>.<name>.<field>}, \${azure.<part>.<field>}, \${environment.name} or \${project.name}`;
}

// -------------------------------------------------------------------------------------------------
// Walking specs

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Every `Ref` inside a value (also those inside templates). */
export function collectRefs(value: unknown, out: Ref[] = []): Ref[] {
  if (value instanceof Ref) out.push(value);
  else if (value instanceof Template) out.push(...value.refs);
  else if (Array.isArray(value)) for (const v of value) collectRefs(v, out);
  else if (isPlainObject(value)) for (const v of Object.values(value)) collectRefs(v, out);
  return out;
}

/**
 * Replaces references with `lookup(ref)`. A template becomes a string; when a part's value is not a
 * string, number or boolean (e.g. the engine's "known after apply" marker), the template becomes
 * that value.
 */
export function resolveRefs<T>(value: T, lookup: (ref: Ref) => unknown): T {
  const walk = (v: unknown): unknown => {
    if (v instanceof Ref) return lookup(v);
    if (v instanceof Template) {
      let out = "";
      for (const p of v.parts) {
        const x = typeof p === "string" ? p : lookup(p);
        if (typeof x !== "string" && typeof x !== "number" && typeof x !== "boolean") return x;
        out += String(x);
      }
      return out;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * Splits the secrets out of a spec: the spec without them and each value by dotted path. Throws on a
 * Key Vault secret that has not been fetched yet (`replaceKeyVaultSecrets` first).
 */
export function splitSensitive(spec: Record<string, unknown>): {
  clean: Record<string, unknown>;
  values: Record<string, string>;
} {
  const values: Record<string, string> = {};
  const walk = (v: unknown, path: string): unknown => {
    if (v instanceof Secret) {
      values[path] = v.reveal();
      return undefined;
    }
    if (v instanceof KeyVaultSecret) {
      throw new Error(`${path}: Azure Key Vault secret ${v} has not been fetched (call replaceKeyVaultSecrets first)`);
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, path ? `${path}.${i}` : String(i)));
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const w = walk(x, path ? `${path}.${k}` : k);
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    return v;
  };
  return { clean: walk(spec, "") as Record<string, unknown>, values };
}

/** Replaces every `KeyVaultSecret` in `value` with the `Secret` `fetch` returns for it. */
export async function replaceKeyVaultSecrets<T>(value: T, fetch: (ref: KeyVaultSecret) => Promise<Secret>): Promise<T> {
  const walk = async (v: unknown): Promise<unknown> => {
    if (v instanceof KeyVaultSecret) return Secret.from(await fetch(v));
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (isPlainObject(v)) {
      const entries = await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await walk(x)] as const));
      return Object.fromEntries(entries);
    }
    return v;
  };
  return (await walk(value)) as T;
}

/** The hooks the engine uses to see through specs (structurally the engine's `SpecCodec`). */
export const specCodec = {
  resolveRefs: (spec: Record<string, unknown>, lookup: (ref: Ref) => unknown) => resolveRefs(spec, lookup),
  sensitive: (spec: Record<string, unknown>) => splitSensitive(spec),
};
