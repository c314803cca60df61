import type { z } from "zod";
import type { ConfigIssue } from "./errors.js";
import { pathKey } from "./interpolate.js";
import { HINT_SEPARATOR } from "./schema/common.js";
import { closest, didYouMean } from "./suggest.js";
import { descend, type LNode, type PathSeg, pathString } from "./tree.js";

/**
 * Turns schema validation issues into located configuration issues: each points at the text that is
 * wrong (the value, or the key for unknown fields, or the enclosing entry for missing fields) and
 * names the field by its path in the file where it was written.
 */

const MISSING = "\u0000missing";
const KEYS = "\u0000keys:";

type RawIssue = z.core.$ZodRawIssue;

function describeInput(v: unknown): string {
  if (v === null) return "an empty value";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping",
  record: "a mapping",
  map: "a mapping",
  array: "a list",
  tuple: "a list",
};

/** Messages for issues the schemas do not word themselves. */
export function messageFor(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type": {
      if (iss.input === undefined) return MISSING;
      if (iss.expected === "never") return "this field is not allowed here";
      const format = (iss.inst as { _zod?: { def?: { format?: string } } } | undefined)?._zod?.def?.format;
      const want = format?.includes("int") ? "an integer" : (EXPECTED[iss.expected] ?? iss.expected);
      return `expected ${want}, got ${describeInput(iss.input)}`;
    }
    case "invalid_value": {
      const values = iss.values.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
      const got = typeof iss.input === "string" ? didYouMean(iss.input, values as string[]) : "";
      if (values.length === 1) return `expected ${JSON.stringify(iss.values[0])}, got ${describeInput(iss.input)}${got}`;
      return `expected one of ${values.join(", ")}, got ${describeInput(iss.input)}${got}`;
    }
    case "too_small": {
      const min = Number(iss.minimum);
      if (iss.origin === "string") return min <= 1 ? "must not be empty" : `must be at least ${min} characters long`;
      if (iss.origin === "array" || iss.origin === "set") return `needs at least ${min} item${min === 1 ? "" : "s"}`;
      return `must be ${iss.inclusive === false ? "more than" : "at least"} ${min}`;
    }
    case "too_big": {
      const max = Number(iss.maximum);
      if (iss.origin === "string") return `must be at most ${max} characters long`;
      if (iss.origin === "array" || iss.origin === "set") return `may have at most ${max} items`;
      return `must be ${iss.inclusive === false ? "less than" : "at most"} ${max}`;
    }
    case "invalid_format":
      return `does not have the expected format${"pattern" in iss && iss.pattern ? ` (${String(iss.pattern)})` : ""}`;
    case "not_multiple_of":
      return `must be a multiple of ${String(iss.divisor)}`;
    case "unrecognized_keys": {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      return `${KEYS}${JSON.stringify(Object.keys(shape ?? {}))}`;
    }
    case "invalid_union":
      return "does not match any of the accepted forms";
    case "invalid_key":
      return "invalid key";
    default:
      return undefined;
  }
}

export interface ValidationInput {
  schema: z.ZodType;
  /** The plain value of `tree`. */
  data: unknown;
  tree: LNode;
  /** Paths (relative to `tree`, see `pathKey`) not to type-check: values known only later. */
  unresolved?: ReadonlySet<string>;
}

/** Validates `data` and returns the located issues (none when valid). */
export function validate({ schema, data, tree, unresolved }: ValidationInput): ConfigIssue[] {
  const result = schema.safeParse(data, { error: messageFor, reportInput: true });
  if (result.success) return [];
  const flat: Flat[] = [];
  for (const i of result.error.issues) flatten(i, [], flat);
  const skip = (path: readonly PathSeg[]) => {
    if (!unresolved || unresolved.size === 0) return false;
    for (let n = path.length; n >= 0; n--) if (unresolved.has(pathKey(path.slice(0, n)))) return true;
    return false;
  };
  // An unknown key that looks like a typo of a missing field explains both issues: report the typo.
  const typoFor = new Set<string>();
  for (const f of flat) if (f.suggestion) typoFor.add(pathKey([...f.path.slice(0, -1), f.suggestion]));
  const explainedByTypo = (f: Flat) =>
    (f.missing && typoFor.has(pathKey(f.path))) || (f.oneOf ?? []).some((k) => typoFor.has(pathKey([...f.path, k])));
  const out: ConfigIssue[] = [];
  for (const f of flat) {
    if (!f.atKey && skip(f.path)) continue;
    if (explainedByTypo(f)) continue;
    out.push(locate(tree, f));
  }
  return out;
}

interface Flat {
  path: PathSeg[];
  message: string;
  hint?: string;
  /** The issue is about the key itself (unknown field, bad name). */
  atKey?: boolean;
  missing?: boolean;
  suggestion?: string;
  /** "Needs one of these fields" issues. */
  oneOf?: string[];
}

function splitHint(message: string): { message: string; hint?: string } {
  const i = message.indexOf(HINT_SEPARATOR);
  return i < 0 ? { message } : { message: message.slice(0, i), hint: message.slice(i + 1) };
}

type Issue = z.core.$ZodIssue;

function flatten(issue: Issue, prefix: PathSeg[], out: Flat[]): void {
  const path = [...prefix, ...(issue.path as PathSeg[])];
  const params = (issue as { params?: { hint?: string; oneOf?: string[] } }).params;
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    const best = bestBranch(issue.errors);
    if (best) {
      for (const i of best) flatten(i, path, out);
      return;
    }
  }
  if (issue.code === "unrecognized_keys") {
    const allowed = issue.message.startsWith(KEYS) ? (JSON.parse(issue.message.slice(KEYS.length)) as string[]) : [];
    for (const k of issue.keys) {
      const suggestion = closest(k, allowed);
      const message = suggestion
        ? `unknown field "${k}"; did you mean "${suggestion}"?`
        : `unknown field "${k}"${allowed.length > 0 && allowed.length <= 12 ? `; expected one of ${allowed.join(", ")}` : ""}`;
      out.push({ path: [...path, k], message, atKey: true, suggestion });
    }
    return;
  }
  if (issue.code === "invalid_key") {
    for (const inner of issue.issues) {
      const { message, hint } = splitHint(inner.message);
      out.push({ path, message: `invalid name "${String(path[path.length - 1])}": ${message}`, hint, atKey: true });
    }
    return;
  }
  if (issue.message === MISSING) {
    out.push({ path, message: `missing required field "${String(path[path.length - 1])}"`, missing: true });
    return;
  }
  const { message, hint } = splitHint(issue.message);
  out.push({ path, message, hint: hint ?? params?.hint, oneOf: params?.oneOf });
}

/** The union branch the input was most likely meant to match: one that got past the type check. */
function bestBranch(branches: Issue[][]): Issue[] | undefined {
  const rootMismatch = (issues: Issue[]) =>
    issues.some((i) => i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_value"));
  const candidates = branches.filter((b) => !rootMismatch(b));
  if (candidates.length === 0) return undefined;
  return candidates.reduce((a, b) => (b.length < a.length ? b : a));
}

function locate(tree: LNode, f: Flat): ConfigIssue {
  const { node, rest } = descend(tree, f.path);
  if (rest.length === 0) {
    const loc = f.atKey ? (node.keyLoc ?? node.loc) : node.loc;
    return { loc, path: pathString(node.path), message: f.message, hint: f.hint };
  }
  if (f.missing && rest.length === 1) {
    return { loc: node.keyLoc ?? node.loc, path: pathString(node.path), message: f.message, hint: f.hint };
  }
  return { loc: node.keyLoc ?? node.loc, path: pathString([...node.path, ...rest]), message: f.message, hint: f.hint };
}
