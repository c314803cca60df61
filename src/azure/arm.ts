/**
 * ARM template building blocks: the resource envelope, API versions, ids and deterministic GUIDs.
 * Builders write resource models in the shape of the `@azure/arm-*` SDK models and `toArm` turns a
 * model into the template's JSON (envelope fields at the top, the rest under `properties`, with the
 * wire names where the SDK renamed a property).
 */

import { createHash } from "node:crypto";

/** API versions of the resource types Lakeforge emits (those of the SDK models the builders use). */
export const API_VERSIONS = {
  "Microsoft.Resources/resourceGroups": "2025-04-01",
  "Microsoft.Resources/deployments": "2025-04-01",
  "Microsoft.Databricks/workspaces": "2023-02-01",
  "Microsoft.Databricks/accessConnectors": "2023-05-01",
  "Microsoft.KeyVault/vaults": "2025-05-01",
  "Microsoft.Storage/storageAccounts": "2025-08-01",
  "Microsoft.Storage/storageAccounts/blobServices/containers": "2025-08-01",
  "Microsoft.OperationalInsights/workspaces": "2022-10-01",
  "Microsoft.Insights/components": "2020-02-02",
  "Microsoft.Insights/diagnosticSettings": "2021-05-01-preview",
  "Microsoft.Authorization/roleAssignments": "2022-04-01",
  "Microsoft.ManagedIdentity/userAssignedIdentities": "2024-11-30",
  "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials": "2024-11-30",
  "Microsoft.Network/networkSecurityGroups": "2024-05-01",
  "Microsoft.Network/virtualNetworks": "2024-05-01",
} as const;

export type ResourceType = keyof typeof API_VERSIONS;

export const SUBSCRIPTION_TEMPLATE_SCHEMA =
  "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#";
export const RESOURCE_GROUP_TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

/** One resource of an ARM template. */
export interface ArmResource {
  type: ResourceType;
  apiVersion: string;
  name: string;
  scope?: string;
  location?: string;
  tags?: Record<string, string>;
  sku?: unknown;
  kind?: string;
  identity?: unknown;
  resourceGroup?: string;
  dependsOn?: string[];
  properties?: Record<string, unknown>;
}

export interface ArmOutput {
  type: "string";
  value: string;
}

export interface ArmTemplate {
  $schema: string;
  contentVersion: "1.0.0.0";
  resources: ArmResource[];
  outputs?: Record<string, ArmOutput>;
}

const ENVELOPE = ["location", "tags", "sku", "kind", "identity"] as const;
type Envelope = (typeof ENVELOPE)[number];

/** Fields servers fill in, never sent. */
const SERVER_FIELDS = new Set(["id", "name", "type", "systemData", "etag", "provisioningState"]);

/**
 * A template resource from an SDK model: envelope fields (location, tags, sku, kind, identity) stay at
 * the top, `inProperties` envelope names go under `properties` instead (Log Analytics keeps its sku
 * there), everything else goes under `properties`, renamed by `rename` where the wire name differs.
 */
export function toArm<M extends object>(
  type: ResourceType,
  name: string,
  model: M,
  options: {
    inProperties?: readonly Envelope[];
    rename?: Partial<Record<keyof M & string, string>>;
    dependsOn?: string[];
    scope?: string;
  } = {},
): ArmResource {
  const out: ArmResource = { type, apiVersion: API_VERSIONS[type], name };
  if (options.scope) out.scope = options.scope;
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(model)) {
    if (v === undefined || SERVER_FIELDS.has(k)) continue;
    const envelope = (ENVELOPE as readonly string[]).includes(k) && !options.inProperties?.includes(k as Envelope);
    if (envelope) (out as unknown as Record<string, unknown>)[k] = v;
    else properties[(options.rename as Record<string, string> | undefined)?.[k] ?? k] = v;
  }
  out.properties = properties;
  if (options.dependsOn && options.dependsOn.length > 0) out.dependsOn = [...options.dependsOn];
  return out;
}

/** A name-based GUID (RFC 4122 version 5 layout over SHA-1), like ARM's `guid()`: same input, same GUID. */
export function deterministicGuid(...parts: string[]): string {
  const h = createHash("sha1").update(parts.join("|").toLowerCase()).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export const subscriptionId = (sub: string) => `/subscriptions/${sub}`;
export const resourceGroupId = (sub: string, rg: string) => `/subscriptions/${sub}/resourceGroups/${rg}`;
export const resourceId = (sub: string, rg: string, type: string, ...names: string[]) => {
  const [ns, ...types] = type.split("/");
  const segments = types.map((t, i) => `${t}/${names[i]}`).join("/");
  return `${resourceGroupId(sub, rg)}/providers/${ns}/${segments}`;
};
export const roleDefinitionId = (sub: string, guid: string) =>
  `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

/** `[reference('<id>', '<apiVersion>'[, 'Full']).<path>]`: a runtime value of a resource in the same deployment. */
export function reference(id: string, type: ResourceType, path: string, full = false): string {
  return `[reference('${id}', '${API_VERSIONS[type]}'${full ? ", 'Full'" : ""}).${path}]`;
}
