import { createHash } from "node:crypto";

/**
 * Resource names from the naming pattern (`{project}-{env}-{kind}` by default): deterministic, and
 * shaped to each resource type's rules (length, characters, case). A name that does not fit is cut
 * and ends with a short hash of the full name, so two long names stay distinct and stable.
 */

export const DEFAULT_NAMING = "{project}-{env}-{kind}";

export type NamedKind =
  | "resource_group"
  | "databricks"
  | "managed_resource_group"
  | "access_connector"
  | "key_vault"
  | "storage"
  | "log_analytics"
  | "app_insights"
  | "identity"
  | "vnet"
  | "nsg"
  | "public_subnet"
  | "private_subnet";

interface NameRule {
  /** The `{kind}` abbreviation (Cloud Adoption Framework style). */
  abbreviation: string;
  min: number;
  max: number;
  /** Characters a name may hold. */
  allowed: RegExp;
  /** Lowercase letters and digits only (storage accounts). */
  alphanumericLower?: boolean;
  /** Must start with a letter (Key Vault). */
  startsWithLetter?: boolean;
  /** No two hyphens in a row (Key Vault). */
  noDoubleHyphen?: boolean;
  /** Human description of the rule, for errors. */
  rule: string;
}

export const NAME_RULES: Record<NamedKind, NameRule> = {
  resource_group: {
    abbreviation: "rg",
    min: 1,
    max: 90,
    allowed: /^[A-Za-z0-9_.()-]+$/,
    rule: "1-90 letters, digits, _ . ( ) -",
  },
  managed_resource_group: {
    abbreviation: "dbw-managed",
    min: 1,
    max: 90,
    allowed: /^[A-Za-z0-9_.()-]+$/,
    rule: "1-90 letters, digits, _ . ( ) -",
  },
  databricks: { abbreviation: "dbw", min: 3, max: 64, allowed: /^[A-Za-z0-9_-]+$/, rule: "3-64 letters, digits, _ and -" },
  access_connector: { abbreviation: "dbac", min: 3, max: 64, allowed: /^[A-Za-z0-9_.-]+$/, rule: "3-64 letters, digits, _ . -" },
  key_vault: {
    abbreviation: "kv",
    min: 3,
    max: 24,
    allowed: /^[A-Za-z0-9-]+$/,
    startsWithLetter: true,
    noDoubleHyphen: true,
    rule: "3-24 letters, digits and single hyphens, starting with a letter",
  },
  storage: {
    abbreviation: "st",
    min: 3,
    max: 24,
    allowed: /^[a-z0-9]+$/,
    alphanumericLower: true,
    rule: "3-24 lowercase letters and digits",
  },
  log_analytics: { abbreviation: "log", min: 4, max: 63, allowed: /^[A-Za-z0-9-]+$/, rule: "4-63 letters, digits and -" },
  app_insights: {
    abbreviation: "appi",
    min: 1,
    max: 255,
    allowed: /^[A-Za-z0-9_.()-]+$/,
    rule: "1-255 letters, digits, _ . ( ) -",
  },
  identity: { abbreviation: "id", min: 3, max: 128, allowed: /^[A-Za-z0-9_-]+$/, rule: "3-128 letters, digits, _ and -" },
  vnet: { abbreviation: "vnet", min: 2, max: 64, allowed: /^[A-Za-z0-9_.-]+$/, rule: "2-64 letters, digits, _ . -" },
  nsg: { abbreviation: "nsg", min: 1, max: 80, allowed: /^[A-Za-z0-9_.-]+$/, rule: "1-80 letters, digits, _ . -" },
  public_subnet: {
    abbreviation: "snet-public",
    min: 1,
    max: 80,
    allowed: /^[A-Za-z0-9_.-]+$/,
    rule: "1-80 letters, digits, _ . -",
  },
  private_subnet: {
    abbreviation: "snet-private",
    min: 1,
    max: 80,
    allowed: /^[A-Za-z0-9_.-]+$/,
    rule: "1-80 letters, digits, _ . -",
  },
};

/** Why `name` breaks the rules of `kind`, or undefined when it is valid. */
export function checkName(kind: NamedKind, name: string): string | undefined {
  const r = NAME_RULES[kind];
  const ok =
    name.length >= r.min &&
    name.length <= r.max &&
    r.allowed.test(name) &&
    (!r.startsWithLetter || /^[A-Za-z]/.test(name)) &&
    (!r.noDoubleHyphen || !name.includes("--")) &&
    !/[-.]$/.test(name);
  return ok ? undefined : `"${name}" is not a valid ${kind.replaceAll("_", " ")} name: ${r.rule}`;
}

export interface NamingContext {
  pattern: string;
  project: string;
  environment: string;
  location: string;
}

const shortHash = (s: string, n: number) => createHash("sha256").update(s).digest("hex").slice(0, n);

/** The name of a resource of `kind` under the naming pattern, always valid for its type. */
export function resourceName(kind: NamedKind, ctx: NamingContext): string {
  const r = NAME_RULES[kind];
  const raw = ctx.pattern
    .replaceAll("{project}", ctx.project)
    .replaceAll("{env}", ctx.environment)
    .replaceAll("{location}", ctx.location)
    .replaceAll("{kind}", r.abbreviation);
  let name: string;
  if (r.alphanumericLower) name = raw.toLowerCase().replace(/[^a-z0-9]/g, "");
  else {
    name = raw.replace(/[^A-Za-z0-9_.()-]/g, "-");
    name = [...name].map((c) => (r.allowed.test(c) ? c : "-")).join("");
    if (r.noDoubleHyphen) name = name.replace(/-{2,}/g, "-");
    if (r.startsWithLetter) name = name.replace(/^[^A-Za-z]+/, "");
    name = name.replace(/[-.]+$/, "");
  }
  if (name.length > r.max) {
    const hash = shortHash(raw, 4);
    const sep = r.alphanumericLower ? "" : "-";
    name = name.slice(0, r.max - hash.length - sep.length).replace(/[-.]+$/, "") + sep + hash;
  }
  while (name.length < r.min) name += shortHash(`${raw}${name}`, 1);
  return name;
}
