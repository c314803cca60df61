import { BUILTIN_ROLES, isPrivilegedRole, roleDefinitionGuid } from "../azure/roles.js";
import type { ConfigIssue } from "./errors.js";
import { type InterpolationContext, interpolate, unescapeDeep } from "./interpolate.js";
import { validate } from "./issues.js";
import { type AzureSettings, azureSection } from "./schema/azure.js";
import { didYouMean } from "./suggest.js";
import { getMap, issueAt, type LNode, type MapNode, overrideMerge, toPlain } from "./tree.js";

/**
 * The `azure:` section of one environment: the shared section with the environment's overrides
 * merged in (mappings key by key, lists replaced, `null` removing a field), interpolated, validated
 * and checked against the role policy.
 */
export function resolveAzure(
  doc: MapNode,
  envNode: MapNode | undefined,
  ctx: InterpolationContext,
): { settings?: AzureSettings; declared: boolean; issues: ConfigIssue[] } {
  const shared = getMap(doc, "azure");
  const over = envNode ? getMap(envNode, "azure") : undefined;
  let merged: LNode | undefined = shared ?? over;
  if (shared && over) merged = overrideMerge(shared, over, () => undefined);
  if (merged?.t !== "map") return { declared: false, issues: [] };
  const tree = interpolate(merged, ctx, [], false);
  const plain = toPlain(tree);
  const issues = validate({ schema: azureSection, data: plain, tree, unresolved: ctx.unresolved });
  if (issues.length > 0 || ctx.unresolved.size > 0) return { declared: true, issues };
  const settings = unescapeDeep(plain) as AzureSettings;
  issues.push(...checkRoles(tree as MapNode, settings));
  return issues.length > 0 ? { declared: true, issues } : { declared: true, settings, issues };
}

const ROLE_NAMES = Object.keys(BUILTIN_ROLES);

/**
 * Every role must be a known built-in name or a definition GUID, and no role assignment may grant
 * Owner or User Access Administrator on the whole subscription unless the section says
 * `allow_privileged_subscription_roles: true`.
 */
function checkRoles(tree: MapNode, s: AzureSettings): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const check = (list: LNode | undefined, items: { role: string; scope?: string }[] | undefined) => {
    (items ?? []).forEach((item, i) => {
      const node = list?.t === "seq" ? list.items[i] : undefined;
      const roleNode = node?.t === "map" ? (node.entries.get("role") ?? node) : (node ?? tree);
      if (roleDefinitionGuid(item.role) === undefined) {
        issues.push(
          issueAt(
            roleNode,
            `unknown role "${item.role}"${didYouMean(item.role, ROLE_NAMES)}`,
            "use a built-in role name Lakeforge knows (see docs/azure.md) or the role definition GUID",
          ),
        );
        return;
      }
      if (item.scope === "subscription" && isPrivilegedRole(item.role) && s.allow_privileged_subscription_roles !== true) {
        issues.push(
          issueAt(
            roleNode,
            `${item.role} at subscription scope is refused: it can grant anyone anything in the subscription`,
            "grant a narrower role or scope (Contributor on the resource group), or set `allow_privileged_subscription_roles: true`",
          ),
        );
      }
    });
  };
  check(tree.entries.get("role_assignments"), s.role_assignments);
  const fed = getMap(tree, "federated_credentials");
  check(fed?.entries.get("roles"), s.federated_credentials?.roles);
  return issues;
}
