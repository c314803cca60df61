import { Secret } from "../lib/secret.js";
import type { JsonPath } from "./json.js";
import { isObj, type Obj } from "./merge.js";

/**
 * Secret values in parameter files are never copied: they are dropped (and registered, so the
 * output layer masks them should they reach it), and their places are reported.
 */

const SENSITIVE_KEY = [
  "token",
  "secret",
  "password",
  "passwd",
  "apikey",
  "api_key",
  "access_key",
  "accesskey",
  "account.key",
  "private_key",
  ".sas.",
  "credential",
];
const SENSITIVE_VALUE = [
  /dapi[0-9a-f]{32}/,
  /gh[pousr]_[A-Za-z0-9]{30,}/,
  /github_pat_[A-Za-z0-9_]{20,}/,
  /glpat-[A-Za-z0-9_-]{20,}/,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
];
/** Keys that name where a secret is, rather than holding one. */
const REFERENCE_KEY = /(_env|_env_var|_variable|_name|_scope)$/i;
/** A value that names an environment variable or secret: `$(PAT)`, `${PAT}`, `$PAT`, `${{ secrets.PAT }}`. */
const ENV_REFERENCE =
  /^\s*(?:\$\(\s*([A-Za-z_]\w*)\s*\)|\$\{\s*([A-Za-z_]\w*)\s*\}|\$([A-Za-z_]\w*)|\$\{\{\s*(?:secrets|env|vars)\.([A-Za-z_]\w*)\s*\}\})\s*$/;
/** A Databricks secret reference (`{{secrets/scope/key}}`): safe to copy. */
export const SECRET_REFERENCE = /^\{\{secrets\/[^/]+\/[^}]+\}\}$/;

export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase();
  if (REFERENCE_KEY.test(k)) return false;
  return k === "pat" || k.startsWith("pat_") || k.endsWith("_pat") || SENSITIVE_KEY.some((s) => k.includes(s));
}

/** The environment variable a value names, when it is written as a reference to one. */
export function envReference(value: string): string | undefined {
  const m = ENV_REFERENCE.exec(value);
  return m ? (m[1] ?? m[2] ?? m[3] ?? m[4]) : undefined;
}

export interface DroppedSecret {
  path: JsonPath;
}

/**
 * A copy of `value` without secret values: strings under keys that name a secret (`token`,
 * `password`, ...) and strings that look like tokens. Dropped values are registered so the output
 * layer masks them should they ever reach it.
 */
export function scrubSecrets(value: unknown, path: JsonPath, dropped: DroppedSecret[]): unknown {
  if (typeof value === "string") {
    if (SENSITIVE_VALUE.some((re) => re.test(value))) {
      Secret.from(value);
      dropped.push({ path });
      return undefined;
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => scrubSecrets(v, [...path, i], dropped));
  if (isObj(value)) {
    const out: Obj = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "string" && v !== "" && isSensitiveKey(k) && !SECRET_REFERENCE.test(v) && !envReference(v)) {
        Secret.from(v);
        dropped.push({ path: [...path, k] });
        continue;
      }
      const s = scrubSecrets(v, [...path, k], dropped);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return value;
}
