import { z } from "zod";
import { didYouMean } from "../suggest.js";

/**
 * Building blocks shared by the resource schemas. Every object is strict (unknown keys are errors)
 * and no schema fills in defaults or transforms values: a resource's spec is exactly what the
 * configuration says, so the engine compares only what the user manages.
 */

export type Ctx = z.core.$RefinementCtx<Record<string, unknown>>;

/** Separates a message from its hint inside schema-level error strings. */
export const HINT_SEPARATOR = "\u001f";
export const withHint = (message: string, hint: string) => `${message}${HINT_SEPARATOR}${hint}`;

export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
export const NAME_RULE = "a name may hold letters, digits, `_` and `-`, and must start with a letter or `_`";

/** Keys of resources, environments and variables. */
export const identifier = () => z.string().regex(NAME_PATTERN, { error: NAME_RULE });

export const str = () => z.string();
export const nonEmpty = () => z.string().min(1, { error: "must not be empty" });
export const int = () => z.int();
export const nonNegInt = () => z.int().min(0, { error: "must be 0 or more" });
export const posInt = () => z.int().min(1, { error: "must be 1 or more" });
export const bool = () => z.boolean();
export const strList = () => z.array(z.string());
export const strMap = () =>
  z.record(
    z.string(),
    z.string({ error: withHint("expected a string", 'quote numbers and booleans in string maps, e.g. "200" or "true"') }),
  );

/** An absolute workspace path. */
export const workspacePath = () => z.string().regex(/^\/\S/, { error: "expected an absolute workspace path starting with /" });

/** A Unity Catalog identifier (one part of a dotted name). */
export const ucName = () =>
  z.string().regex(/^[^.\s/]+$/, { error: "Unity Catalog names may not contain dots, spaces or slashes" });

export const describeKeys = (keys: readonly string[]) => keys.map((k) => `\`${k}\``).join(", ");

const present = (v: Record<string, unknown>, k: string) => v[k] !== undefined;

/**
 * Refinement: exactly one (or, with `optional`, at most one) of `keys` may be set. A missing choice is
 * reported on the object, a second choice on its own key.
 */
export function exactlyOne(keys: readonly string[], what: string, optional = false) {
  return (v: Record<string, unknown>, ctx: Ctx) => {
    const set = keys.filter((k) => present(v, k));
    if (set.length === 0 && !optional) {
      ctx.addIssue({
        code: "custom",
        message: `${what} needs one of ${describeKeys(keys)}`,
        path: [],
        params: { oneOf: [...keys] },
      });
    }
    if (set.length > 1) {
      ctx.addIssue({
        code: "custom",
        message: `only one of ${describeKeys(keys)} may be set (\`${set[0]}\` is set too)`,
        path: [set[1] as string],
      });
    }
  };
}

/** Refinement: no two items of an array share the value `keyOf` returns. */
export function uniqueBy<T>(keyOf: (item: T) => string | undefined, field: string, what: string) {
  return (items: T[], ctx: z.core.$RefinementCtx<T[]>) => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const k = keyOf(item);
      if (k === undefined) return;
      const first = seen.get(k);
      if (first !== undefined) {
        ctx.addIssue({ code: "custom", message: `${what} "${k}" is already used by item ${first}`, path: [i, field] });
      } else seen.set(k, i);
    });
  };
}

/** An issue pointing at a field, suggesting the closest of `known` when `value` is not one of them. */
export function unknownName(ctx: Ctx, path: (string | number)[], what: string, value: string, known: Iterable<string>) {
  ctx.addIssue({ code: "custom", message: `${what} "${value}" does not exist${didYouMean(value, known)}`, path });
}

// ---------------------------------------------------------------------------------------------
// Principals, permissions, secret sources

export const PRINCIPAL_KEYS = ["user_name", "group_name", "service_principal_name"] as const;

const principalFields = {
  user_name: z.string().min(1).optional().describe("A user's e-mail address."),
  group_name: z.string().min(1).optional().describe("A group's display name."),
  service_principal_name: z.string().min(1).optional().describe("A service principal's application id."),
};

export const principalKey = (p: { user_name?: string; group_name?: string; service_principal_name?: string }) =>
  p.user_name ?? p.group_name ?? p.service_principal_name;

/** `[{user_name | group_name | service_principal_name, level}]`, as in bundles. */
export function permissions<L extends readonly [string, ...string[]]>(levels: L) {
  const entry = z
    .strictObject({ ...principalFields, level: z.enum(levels).describe(`Permission level: ${levels.join(", ")}.`) })
    .superRefine(exactlyOne(PRINCIPAL_KEYS, "a permission"));
  return z
    .array(entry)
    .superRefine(uniqueBy(principalKey, "level", "principal"))
    .describe("Who may do what with this object (the whole access control list Lakeforge manages).");
}

/** A member of a group: a user, a group or a service principal. */
export const principal = () => z.strictObject({ ...principalFields }).superRefine(exactlyOne(PRINCIPAL_KEYS, "a member"));

export const SECRET_SOURCE_KEYS = ["from_env", "from_file", "azure_key_vault"] as const;

/**
 * Where a secret value comes from. Literal values are refused: configuration files end up in git.
 */
const secretSourceSchema = z
  .strictObject({
    from_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" })
      .optional()
      .describe("Name of the environment variable holding the value."),
    from_file: nonEmpty().optional().describe("File holding the value, relative to the configuration file."),
    azure_key_vault: z
      .strictObject({
        vault: nonEmpty().describe("Key Vault name or URL (https://<name>.vault.azure.net/)."),
        secret: nonEmpty().describe("Name of the secret in the vault."),
        version: nonEmpty().optional().describe("Secret version; the latest when omitted."),
      })
      .optional()
      .describe("A secret read from Azure Key Vault at apply time."),
    value: z
      .never({
        error: withHint(
          "literal secret values are not accepted",
          "read the value from the environment (`from_env: NAME`) or a file (`from_file: path`)",
        ),
      })
      .optional(),
  })
  .superRefine(exactlyOne(SECRET_SOURCE_KEYS, "a secret"))
  .meta({ id: "secret_source", description: "A secret value: `from_env`, `from_file` or `azure_key_vault`." });

export const secretSource = () => secretSourceSchema;

export type SecretSourceInput = z.input<typeof secretSourceSchema>;

/** Fields every resource takes. */
export const lifecycle = {
  prevent_destroy: z
    .boolean()
    .optional()
    .describe("Refuse to delete this object (destroy and removal from the configuration fail)."),
};
