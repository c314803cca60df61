import type { ConfigIssue } from "./errors.js";
import { type Expression, parseExpression, splitInterpolation } from "./refs.js";
import type { VariableType } from "./schema/document.js";
import { didYouMean } from "./suggest.js";
import { issueAt, type LNode, type MapNode, type PathSeg, type ScalarNode, toPlain } from "./tree.js";

/**
 * `${var.*}`, `${env.*}`, `${environment.name}` and `${project.name}` are replaced while the
 * configuration is loaded; `${resources.*}` references are left in place and recorded for the
 * reference checks and the dependency graph.
 */

/** Where a `${resources.<section>.<name>.<field>}` appears. */
export interface RefSite {
  /** Path of the value in the merged resources (`[section, name, ...]`). */
  path: PathSeg[];
  node: ScalarNode;
  section: string;
  name: string;
  field: string;
}

export interface InterpolationContext {
  environment: string;
  project: string;
  /** Process environment for `${env.*}`. */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Strict: a missing environment variable is an error (the selected environment). Otherwise the
   * reference stays as written and its path is recorded in `unresolved`, so other environments can be
   * checked without their secrets and settings.
   */
  strict: boolean;
  variables: Variables;
  issues: ConfigIssue[];
  refs: RefSite[];
  /** Paths (in the tree being interpolated) whose value could not be known here; not type-checked. */
  unresolved: Set<string>;
  /** What `${azure.<part>.<field>}` may use; such references are refused when absent. */
  azure?: AzureReferences;
}

/** The infrastructure outputs `${azure.<part>.<field>}` stands for. */
export interface AzureReferences {
  /** Why references cannot be used here (no `azure:` section, inside the section itself), if so. */
  refused?: string;
  /** Known output values (after the infrastructure was deployed); others stay as written. */
  outputs?: Readonly<Record<string, string>>;
  /** Output names that may be referenced. */
  names: readonly string[];
  /** References left as written because their value is not known yet. */
  pending: Set<string>;
}

export interface Variables {
  names(): string[];
  /**
   * The value of a variable, or undefined with an issue recorded at `site`. `uncertain` values hold
   * environment references that could not be resolved (environments other than the selected one).
   */
  get(name: string, site: ScalarNode): { node: LNode; uncertain: boolean } | undefined;
}

const key = (path: readonly PathSeg[]) => path.join("\u0000");

/**
 * Interpolated strings keep the escaped form of the configuration (a literal `${` is written `$${`)
 * until the final values are built, so that references left for later stay recognisable.
 */
export const escapeRefs = (text: string) => text.replaceAll("${", () => "$${");
export const unescapeRefs = (text: string) => text.replaceAll("$${", () => "${");

export function unescapeDeep(value: unknown): unknown {
  if (typeof value === "string") return value.includes("$${") ? unescapeRefs(value) : value;
  if (Array.isArray(value)) return value.map(unescapeDeep);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unescapeDeep(v)]));
  return value;
}
export const pathKey = key;

/** Interpolates a tree; `path` is the node's path in the merged document (for refs and type checks). */
export function interpolate(node: LNode, ctx: InterpolationContext, path: PathSeg[] = [], allowResources = true): LNode {
  if (node.t === "map") {
    const entries = new Map<string, LNode>();
    for (const [k, v] of node.entries) entries.set(k, interpolate(v, ctx, [...path, k], allowResources));
    return { ...node, entries };
  }
  if (node.t === "seq") return { ...node, items: node.items.map((v, i) => interpolate(v, ctx, [...path, i], allowResources)) };
  if (typeof node.value !== "string" || !node.value.includes("${")) return node;
  return interpolateString(node, ctx, path, allowResources);
}

function interpolateString(node: ScalarNode, ctx: InterpolationContext, path: PathSeg[], allowResources: boolean): LNode {
  const s = node.value as string;
  const { segments, error } = splitInterpolation(s);
  if (error) {
    ctx.issues.push(issueAt(node, error));
    ctx.unresolved.add(key(path));
    return node;
  }
  const whole = segments.length === 1 && "expr" in (segments[0] as object);
  let out = "";
  let keepAsWritten = false;
  for (const seg of segments) {
    if ("text" in seg) {
      // Literal `${` (written `$${`) stays escaped while other references remain in the string.
      out += escapeRefs(seg.text);
      continue;
    }
    const parsed = parseExpression(seg.expr);
    if (typeof parsed === "string") {
      ctx.issues.push(issueAt(node, parsed));
      ctx.unresolved.add(key(path));
      return node;
    }
    const value = evaluate(parsed, node, ctx, path, allowResources);
    if (value === FAILED) {
      ctx.unresolved.add(key(path));
      return node;
    }
    if (value === KEEP) {
      keepAsWritten = true;
      out += `\${${seg.expr}}`;
      continue;
    }
    if (whole) {
      if (value.t !== "scalar") return { ...value, keyLoc: node.keyLoc ?? value.keyLoc };
      return { ...node, value: value.value };
    }
    if (value.t !== "scalar") {
      ctx.issues.push(
        issueAt(node, `\${${seg.expr}} is a ${value.t === "map" ? "mapping" : "list"} and cannot be part of a string`),
      );
      ctx.unresolved.add(key(path));
      return node;
    }
    // Values are in escaped form already (a literal `${` is written `$${`).
    out += value.value === null ? "" : String(value.value);
  }
  if (keepAsWritten && !allowResources) ctx.unresolved.add(key(path));
  return { ...node, value: out };
}

const FAILED = Symbol("failed");
const KEEP = Symbol("keep");

function evaluate(
  e: Expression,
  node: ScalarNode,
  ctx: InterpolationContext,
  path: PathSeg[],
  allowResources: boolean,
): LNode | typeof FAILED | typeof KEEP {
  // Text from outside the configuration is escaped: a `${` in it is not a reference.
  const scalar = (value: string): ScalarNode => ({ ...node, value: escapeRefs(value) });
  switch (e.type) {
    case "environment":
      return scalar(ctx.environment);
    case "project":
      return scalar(ctx.project);
    case "env": {
      const v = ctx.env[e.name];
      if (e.fallback !== undefined && (v === undefined || v === "")) return scalar(e.fallback);
      if (v !== undefined) return scalar(v);
      if (!ctx.strict) {
        ctx.unresolved.add(key(path));
        return KEEP;
      }
      ctx.issues.push(
        issueAt(node, `environment variable ${e.name} is not set`, `set ${e.name}, or give a default: \${env.${e.name}:-value}`),
      );
      return FAILED;
    }
    case "var": {
      const v = ctx.variables.get(e.name, node);
      if (!v) return FAILED;
      if (v.uncertain) ctx.unresolved.add(key(path));
      return v.node;
    }
    case "azure": {
      const az = ctx.azure;
      const text = `\${azure.${e.output}}`;
      if (!az || az.refused) {
        ctx.issues.push(issueAt(node, `${text}: ${az?.refused ?? "Azure outputs cannot be used here"}`));
        return FAILED;
      }
      if (!az.names.includes(e.output)) {
        ctx.issues.push(issueAt(node, `${text}: unknown Azure output "${e.output}"${didYouMean(e.output, az.names)}`));
        return FAILED;
      }
      const value = az.outputs?.[e.output];
      if (value !== undefined) return scalar(value);
      az.pending.add(e.output);
      ctx.unresolved.add(key(path));
      return KEEP;
    }
    case "resource": {
      if (!allowResources) {
        ctx.issues.push(
          issueAt(
            node,
            "variables and workspace settings cannot refer to resources",
            "write the reference where the value is used",
          ),
        );
        return FAILED;
      }
      ctx.refs.push({ path, node, section: e.section, name: e.name, field: e.field });
      ctx.unresolved.add(key(path));
      return KEEP;
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Variables

export interface VariableSources {
  /** Declarations (`variables:` at the top level). */
  declarations: MapNode | undefined;
  /** The environment's values (`environments.<env>.variables`). */
  values: MapNode | undefined;
  /** Values given on the command line (`--var name=value`); they win over everything. */
  overrides: Readonly<Record<string, string>>;
  /** Process environment: `LAKEFORGE_VAR_<name>` sets a variable too. */
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * Resolves variables lazily: a variable's value (command line, `LAKEFORGE_VAR_<name>`, the
 * environment's value, then the default) is interpolated and checked against its type when first
 * used. A variable with no value is an error only where it is used; `checkAll` resolves every
 * variable that has a value, to report bad values even when nothing uses them.
 */
export function createVariables(
  src: VariableSources,
  base: Omit<InterpolationContext, "variables" | "refs" | "unresolved">,
): Variables & { checkAll(): void; plain(): Record<string, unknown> } {
  const decls = src.declarations?.entries ?? new Map<string, LNode>();
  const resolved = new Map<string, { node: LNode; uncertain: boolean } | null>();
  const resolving: string[] = [];

  for (const [name, v] of src.values?.entries ?? []) {
    if (!decls.has(name)) {
      base.issues.push(
        issueAt(
          v,
          `variable "${name}" is not declared${didYouMean(name, decls.keys())}`,
          "declare it under the top-level `variables:`",
          true,
        ),
      );
    }
  }
  for (const name of Object.keys(src.overrides)) {
    const where = src.declarations ?? src.values;
    if (!decls.has(name) && where) {
      base.issues.push({
        ...issueAt(where, `--var ${name}: variable "${name}" is not declared${didYouMean(name, decls.keys())}`, undefined, true),
        path: "variables",
      });
    }
  }

  const declaredType = (decl: LNode): VariableType | undefined => {
    if (decl.t !== "map") return undefined;
    const t = decl.entries.get("type");
    if (t?.t === "scalar" && typeof t.value === "string") return t.value as VariableType;
    const d = decl.entries.get("default");
    if (!d) return undefined;
    if (d.t !== "scalar") return "complex";
    if (typeof d.value === "boolean") return "boolean";
    if (typeof d.value === "number") return Number.isInteger(d.value) ? "integer" : "number";
    if (typeof d.value === "string" && !d.value.includes("${")) return "string";
    return undefined;
  };

  const sourceOf = (name: string, decl: LNode): { node: LNode; origin: string } | undefined => {
    const loc = decl.keyLoc ?? decl.loc;
    const given = src.overrides[name];
    if (given !== undefined)
      return { node: { t: "scalar", value: escapeRefs(given), loc, path: decl.path }, origin: `--var ${name}` };
    const fromEnv = src.env[`LAKEFORGE_VAR_${name}`];
    if (fromEnv !== undefined) {
      return { node: { t: "scalar", value: escapeRefs(fromEnv), loc, path: decl.path }, origin: `LAKEFORGE_VAR_${name}` };
    }
    const v = src.values?.entries.get(name);
    if (v) return { node: v, origin: "value" };
    const d = decl.t === "map" ? decl.entries.get("default") : undefined;
    if (d) return { node: d, origin: "default" };
    return undefined;
  };

  const get = (name: string, site: ScalarNode): { node: LNode; uncertain: boolean } | undefined => {
    const decl = decls.get(name);
    if (!decl) {
      base.issues.push(issueAt(site, `variable "${name}" is not declared${didYouMean(name, decls.keys())}`));
      return undefined;
    }
    if (resolving.includes(name)) {
      base.issues.push(issueAt(site, `variables refer to each other in a cycle: ${[...resolving, name].join(" -> ")}`));
      return undefined;
    }
    const known = resolved.get(name);
    if (known !== undefined) return known ?? undefined;
    const raw = sourceOf(name, decl);
    if (raw === undefined) {
      base.issues.push(
        issueAt(
          site,
          `variable "${name}" has no value in environment ${base.environment}`,
          `set environments.${base.environment}.variables.${name}, give it a default, or pass --var ${name}=...`,
        ),
      );
      return undefined;
    }
    resolving.push(name);
    const unresolved = new Set<string>();
    const before = base.issues.length;
    const value = interpolate(raw.node, { ...base, variables: api, refs: [], unresolved }, [], false);
    resolving.pop();
    if (base.issues.length > before) {
      resolved.set(name, null);
      return undefined;
    }
    const uncertain = unresolved.size > 0;
    const typed = uncertain ? value : coerce(value, declaredType(decl), name, raw.origin, base.issues);
    const result = typed === undefined ? null : { node: typed, uncertain };
    resolved.set(name, result);
    return result ?? undefined;
  };

  const api = {
    names: () => [...decls.keys()],
    get,
    checkAll() {
      for (const [name, decl] of decls) {
        const d = decl.t === "map" ? decl.entries.get("default") : undefined;
        const t = declaredType(decl);
        if (d && t && !(d.t === "scalar" && typeof d.value === "string" && d.value.includes("${"))) {
          coerce(d, t, name, "default", base.issues);
        }
        const raw = sourceOf(name, decl);
        if (raw && raw.node.t === "scalar") get(name, raw.node);
        else if (raw) get(name, { t: "scalar", value: null, loc: raw.node.loc, path: raw.node.path });
      }
    },
    plain() {
      const out: Record<string, unknown> = {};
      for (const [name, v] of resolved) if (v) out[name] = unescapeDeep(toPlain(v.node));
      return out;
    },
  };
  return api;
}

const TYPE_WORDS: Record<VariableType, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  complex: "a mapping or list",
};

/** Checks a variable's value against its type; strings from the command line or environment are converted. */
function coerce(
  value: LNode,
  type: VariableType | undefined,
  name: string,
  origin: string,
  issues: ConfigIssue[],
): LNode | undefined {
  if (type === undefined) return value;
  const fail = () => {
    const from = origin === "value" || origin === "default" ? "" : ` (from ${origin})`;
    issues.push(issueAt(value, `expected ${TYPE_WORDS[type]} for variable "${name}" of type ${type}${from}`));
    return undefined;
  };
  if (type === "complex") return value.t === "scalar" ? fail() : value;
  if (value.t !== "scalar" || value.value === null) return fail();
  const v = value.value;
  switch (type) {
    case "string":
      return typeof v === "string" ? value : { ...value, value: String(v) };
    case "boolean":
      if (typeof v === "boolean") return value;
      if (v === "true" || v === "false") return { ...value, value: v === "true" };
      return fail();
    case "integer":
    case "number": {
      const n =
        typeof v === "number"
          ? v
          : typeof v === "string" && /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/.test(v)
            ? Number(v)
            : Number.NaN;
      if (Number.isNaN(n) || (type === "integer" && !Number.isInteger(n))) return fail();
      return { ...value, value: n };
    }
  }
}
