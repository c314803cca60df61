import type { ApplicationInsightsManagementModels } from "@azure/arm-appinsights";
import type { RoleAssignmentCreateParameters } from "@azure/arm-authorization";
import type { AccessConnector, Workspace as DatabricksWorkspace } from "@azure/arm-databricks";
import type { Vault } from "@azure/arm-keyvault";
import type { DiagnosticSettingsResource } from "@azure/arm-monitor";
import type { FederatedIdentityCredential, Identity } from "@azure/arm-msi";
import type { Workspace as LogAnalyticsWorkspace } from "@azure/arm-operationalinsights";
import type { BlobContainer, StorageAccountCreateParameters } from "@azure/arm-storage";
import type { AzureScope, AzureSettings } from "../config/schema/azure.js";
import {
  API_VERSIONS,
  type ArmOutput,
  type ArmResource,
  type ArmTemplate,
  deterministicGuid,
  RESOURCE_GROUP_TEMPLATE_SCHEMA,
  reference,
  resourceGroupId,
  resourceId,
  roleDefinitionId,
  SUBSCRIPTION_TEMPLATE_SCHEMA,
  subscriptionId,
  toArm,
} from "./arm.js";
import { DEFAULT_NAMING, type NamedKind, resourceName } from "./naming.js";
import { roleDefinitionGuid } from "./roles.js";

/**
 * The Azure infrastructure of one environment as one subscription-scope ARM deployment: the resource
 * group, a nested deployment holding every resource of the group (with their dependencies and
 * outputs), and role assignments at subscription scope. Names are computed here, so the template
 * holds literal names and ids and only runtime values (workspace URL, principal ids) are expressions.
 */

export const MANAGED_BY_TAG = "managed-by";
export const MANAGED_BY_VALUE = "lakeforge";

export interface InfraInput {
  project: string;
  environment: string;
  settings: AzureSettings;
}

export interface InfraNames {
  resourceGroup: string;
  databricks: string;
  managedResourceGroup: string;
  accessConnector: string;
  keyVault: string;
  storage: string;
  logAnalytics: string;
  appInsights: string;
  identity: string;
  vnet: string;
  nsg: string;
  publicSubnet: string;
  privateSubnet: string;
}

/** A role assignment the template makes, for review and the policy check. */
export interface PlannedRoleAssignment {
  name: string;
  scope: string;
  scopeKind: AzureScope;
  roleDefinitionId: string;
  principal: string;
  principalType: "User" | "Group" | "ServicePrincipal";
}

export interface InfraTemplate {
  /** The subscription-scope deployment's name. */
  deploymentName: string;
  location: string;
  subscriptionId: string;
  names: InfraNames;
  template: ArmTemplate;
  roleAssignments: PlannedRoleAssignment[];
  /** Resource ids of what the template creates (the resource group first). */
  resourceIds: string[];
}

export function infraNames(input: InfraInput): InfraNames {
  const s = input.settings;
  const ctx = {
    pattern: s.naming ?? DEFAULT_NAMING,
    project: input.project,
    environment: input.environment,
    location: s.location,
  };
  const n = (kind: NamedKind) => resourceName(kind, ctx);
  return {
    resourceGroup: s.resource_group ?? n("resource_group"),
    databricks: s.databricks?.name ?? n("databricks"),
    managedResourceGroup: s.databricks?.managed_resource_group ?? n("managed_resource_group"),
    accessConnector: n("access_connector"),
    keyVault: s.key_vault?.name ?? n("key_vault"),
    storage: s.storage?.name ?? n("storage"),
    logAnalytics: s.log_analytics?.name ?? n("log_analytics"),
    appInsights: s.app_insights?.name ?? n("app_insights"),
    identity: s.federated_credentials?.identity ?? n("identity"),
    vnet: n("vnet"),
    nsg: n("nsg"),
    publicSubnet: s.databricks?.vnet?.public_subnet.name ?? n("public_subnet"),
    privateSubnet: s.databricks?.vnet?.private_subnet.name ?? n("private_subnet"),
  };
}

/** Diagnostic log categories sent to Log Analytics. */
const DATABRICKS_LOG_CATEGORIES = [
  "accounts",
  "clusters",
  "dbfs",
  "instancePools",
  "jobs",
  "notebook",
  "secrets",
  "sqlPermissions",
  "unityCatalog",
  "workspace",
];
const KEY_VAULT_LOG_CATEGORIES = ["AuditEvent"];

const DEFAULT_CONTAINERS = ["bronze", "silver", "gold"];
const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";
const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";

/** SDK model without the fields ARM fills in (id, name, type, system data, read-only state). */
type Writable<T> = Omit<T, "id" | "name" | "type" | "systemData" | "etag" | "provisioningState">;

/** What the nested deployment outputs, and what `${azure.<part>.<field>}` each becomes. */
export const OUTPUTS: Record<string, string> = {
  resourceGroupName: "resource_group.name",
  resourceGroupId: "resource_group.id",
  databricksHost: "databricks.url",
  databricksId: "databricks.id",
  databricksWorkspaceId: "databricks.workspace_id",
  keyVaultUri: "key_vault.uri",
  keyVaultId: "key_vault.id",
  keyVaultName: "key_vault.name",
  storageName: "storage.name",
  storageId: "storage.id",
  storageDfsEndpoint: "storage.dfs_endpoint",
  storageBlobEndpoint: "storage.blob_endpoint",
  accessConnectorId: "access_connector.id",
  identityClientId: "identity.client_id",
  identityPrincipalId: "identity.principal_id",
  logAnalyticsId: "log_analytics.id",
};

export function buildInfraTemplate(input: InfraInput): InfraTemplate {
  const s = input.settings;
  const sub = s.subscription_id;
  const names = infraNames(input);
  const rg = names.resourceGroup;
  const id = (type: string, ...n: string[]) => resourceId(sub, rg, type, ...n);
  const tags: Record<string, string> = {
    ...(s.tags ?? {}),
    [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
    "lakeforge-project": input.project,
    "lakeforge-environment": input.environment,
  };
  const location = s.location;
  const resources: ArmResource[] = [];
  const ids = {
    rg: resourceGroupId(sub, rg),
    logAnalytics: id("Microsoft.OperationalInsights/workspaces", names.logAnalytics),
    appInsights: id("Microsoft.Insights/components", names.appInsights),
    storage: id("Microsoft.Storage/storageAccounts", names.storage),
    keyVault: id("Microsoft.KeyVault/vaults", names.keyVault),
    databricks: id("Microsoft.Databricks/workspaces", names.databricks),
    accessConnector: id("Microsoft.Databricks/accessConnectors", names.accessConnector),
    identity: id("Microsoft.ManagedIdentity/userAssignedIdentities", names.identity),
    vnet: id("Microsoft.Network/virtualNetworks", names.vnet),
    nsg: id("Microsoft.Network/networkSecurityGroups", names.nsg),
  };
  const scopeId = (scope: AzureScope | undefined): string => {
    switch (scope ?? "resource_group") {
      case "subscription":
        return subscriptionId(sub);
      case "resource_group":
        return ids.rg;
      case "databricks":
        return ids.databricks;
      case "key_vault":
        return ids.keyVault;
      case "storage":
        return ids.storage;
    }
  };

  // Log Analytics and Application Insights.
  const logAnalytics: Writable<LogAnalyticsWorkspace> = {
    location,
    tags,
    sku: { name: "PerGB2018" },
    retentionInDays: s.log_analytics?.retention_days ?? 30,
  };
  resources.push(toArm("Microsoft.OperationalInsights/workspaces", names.logAnalytics, logAnalytics, { inProperties: ["sku"] }));
  if (s.app_insights) {
    // The SDK's component model predates workspace-based components: the workspace id is added here.
    const component: Writable<ApplicationInsightsManagementModels.ApplicationInsightsComponent> & {
      workspaceResourceId: string;
    } = {
      location,
      tags,
      kind: "web",
      applicationType: "web",
      ingestionMode: "LogAnalytics",
      workspaceResourceId: ids.logAnalytics,
    };
    resources.push(
      toArm("Microsoft.Insights/components", names.appInsights, component, {
        rename: {
          applicationType: "Application_Type",
          ingestionMode: "IngestionMode",
          workspaceResourceId: "WorkspaceResourceId",
        },
        dependsOn: [ids.logAnalytics],
      }),
    );
  }

  // ADLS Gen2 storage and its containers.
  const storage: StorageAccountCreateParameters = {
    location,
    tags,
    sku: { name: s.storage?.sku ?? "Standard_LRS" },
    kind: "StorageV2",
    isHnsEnabled: true,
    minimumTlsVersion: "TLS1_2",
    allowBlobPublicAccess: false,
    enableHttpsTrafficOnly: true,
    allowSharedKeyAccess: false,
    accessTier: "Hot",
  };
  resources.push(
    toArm("Microsoft.Storage/storageAccounts", names.storage, storage, {
      rename: { enableHttpsTrafficOnly: "supportsHttpsTrafficOnly" },
    }),
  );
  for (const c of s.storage?.containers ?? DEFAULT_CONTAINERS) {
    const container: Writable<BlobContainer> = { publicAccess: "None" };
    resources.push(
      toArm("Microsoft.Storage/storageAccounts/blobServices/containers", `${names.storage}/default/${c}`, container, {
        dependsOn: [ids.storage],
      }),
    );
  }

  // Key Vault: RBAC authorization, soft delete, purge protection.
  const vault: Writable<Vault> = {
    location,
    tags,
    properties: {
      tenantId: s.tenant_id ?? "[subscription().tenantId]",
      sku: { family: "A", name: s.key_vault?.sku ?? "standard" },
      enableRbacAuthorization: true,
      enableSoftDelete: true,
      softDeleteRetentionInDays: s.key_vault?.soft_delete_retention_days ?? 90,
      ...((s.key_vault?.purge_protection ?? true) ? { enablePurgeProtection: true } : {}),
      publicNetworkAccess: (s.key_vault?.public_network_access ?? true) ? "Enabled" : "Disabled",
      accessPolicies: [],
    },
  };
  resources.push({
    ...toArm("Microsoft.KeyVault/vaults", names.keyVault, { location, tags }),
    properties: { ...vault.properties },
  });

  // Network (VNet injection).
  const db = s.databricks ?? {};
  const dbDepends: string[] = [];
  if (db.vnet) {
    resources.push({
      type: "Microsoft.Network/networkSecurityGroups",
      apiVersion: API_VERSIONS["Microsoft.Network/networkSecurityGroups"],
      name: names.nsg,
      location,
      tags,
      properties: { securityRules: [] },
    });
    const delegation = [{ name: "databricks", properties: { serviceName: "Microsoft.Databricks/workspaces" } }];
    const subnet = (name: string, prefix: string) => ({
      name,
      properties: { addressPrefix: prefix, networkSecurityGroup: { id: ids.nsg }, delegations: delegation },
    });
    resources.push({
      type: "Microsoft.Network/virtualNetworks",
      apiVersion: API_VERSIONS["Microsoft.Network/virtualNetworks"],
      name: names.vnet,
      location,
      tags,
      dependsOn: [ids.nsg],
      properties: {
        addressSpace: { addressPrefixes: [db.vnet.address_space] },
        subnets: [
          subnet(names.publicSubnet, db.vnet.public_subnet.address_prefix),
          subnet(names.privateSubnet, db.vnet.private_subnet.address_prefix),
        ],
      },
    });
    dbDepends.push(ids.vnet);
  }

  // Databricks workspace (premium) and its access connector for Unity Catalog.
  const workspace: Writable<DatabricksWorkspace> = {
    location,
    tags,
    sku: { name: db.sku ?? "premium" },
    managedResourceGroupId: resourceGroupId(sub, names.managedResourceGroup),
    parameters: {
      enableNoPublicIp: { value: db.no_public_ip ?? true },
      ...(db.vnet
        ? {
            customVirtualNetworkId: { value: ids.vnet },
            customPublicSubnetName: { value: names.publicSubnet },
            customPrivateSubnetName: { value: names.privateSubnet },
          }
        : {}),
    },
    publicNetworkAccess: (db.public_network_access ?? true) ? "Enabled" : "Disabled",
    ...(db.vnet ? { requiredNsgRules: (db.public_network_access ?? true) ? "AllRules" : "NoAzureDatabricksRules" } : {}),
  };
  resources.push(toArm("Microsoft.Databricks/workspaces", names.databricks, workspace, { dependsOn: dbDepends }));
  const roleAssignments: PlannedRoleAssignment[] = [];
  const rgRoleResources: ArmResource[] = [];
  const subRoleResources: ArmResource[] = [];
  const assign = (
    scopeKind: AzureScope,
    role: string,
    principal: { id: string; key: string; type: "User" | "Group" | "ServicePrincipal" },
    dependsOn: string[],
    description?: string,
  ) => {
    const scope = scopeId(scopeKind);
    const guid = roleDefinitionGuid(role);
    if (!guid) throw new Error(`unknown role ${role}`);
    const name = deterministicGuid(scope, principal.key, guid);
    const def = roleDefinitionId(sub, guid);
    roleAssignments.push({
      name,
      scope,
      scopeKind,
      roleDefinitionId: def,
      principal: principal.key,
      principalType: principal.type,
    });
    const params: Writable<RoleAssignmentCreateParameters> = {
      roleDefinitionId: def,
      principalId: principal.id,
      principalType: principal.type,
      ...(description ? { description } : {}),
    };
    const scoped = scopeKind !== "subscription" && scopeKind !== "resource_group";
    const res = toArm("Microsoft.Authorization/roleAssignments", name, params, {
      ...(scoped ? { scope } : {}),
      dependsOn: scopeKind === "subscription" ? [] : [...(scoped ? [scope] : []), ...dependsOn],
    });
    (scopeKind === "subscription" ? subRoleResources : rgRoleResources).push(res);
  };
  if (db.access_connector ?? true) {
    const connector: Writable<AccessConnector> = { location, tags, identity: { type: "SystemAssigned" }, properties: {} };
    resources.push({
      ...toArm("Microsoft.Databricks/accessConnectors", names.accessConnector, { location, tags, identity: connector.identity }),
      properties: {},
    });
    assign(
      "storage",
      "Storage Blob Data Contributor",
      {
        id: reference(ids.accessConnector, "Microsoft.Databricks/accessConnectors", "identity.principalId", true),
        key: ids.accessConnector,
        type: "ServicePrincipal",
      },
      [ids.accessConnector],
      "Unity Catalog access connector: read and write the lake",
    );
  }

  // Diagnostic settings: the workspace's and the vault's logs to Log Analytics.
  const diagnostics = (target: string, categories: string[], metrics: boolean): ArmResource => {
    const setting: Writable<DiagnosticSettingsResource> = {
      workspaceId: ids.logAnalytics,
      logs: categories.map((category) => ({ category, enabled: true })),
      ...(metrics ? { metrics: [{ category: "AllMetrics", enabled: true }] } : {}),
    };
    return toArm("Microsoft.Insights/diagnosticSettings", "lakeforge-to-log-analytics", setting, {
      scope: target,
      dependsOn: [target, ids.logAnalytics],
    });
  };
  resources.push(diagnostics(ids.databricks, DATABRICKS_LOG_CATEGORIES, false));
  resources.push(diagnostics(ids.keyVault, KEY_VAULT_LOG_CATEGORIES, true));

  // Federated credentials: a user-assigned identity trusted by GitHub Actions or Azure DevOps.
  const fed = s.federated_credentials;
  if (fed) {
    const identity: Writable<Identity> = { location, tags };
    resources.push(toArm("Microsoft.ManagedIdentity/userAssignedIdentities", names.identity, identity));
    const creds: { name: string; issuer: string; subject: string }[] = [];
    for (const subject of fed.github?.subjects ?? []) {
      const full = `repo:${fed.github?.repository}:${subject}`;
      creds.push({ name: credentialName("github", subject), issuer: GITHUB_ISSUER, subject: full });
    }
    if (fed.azure_devops) {
      const a = fed.azure_devops;
      for (const conn of a.service_connections) {
        creds.push({
          name: credentialName("ado", conn),
          issuer: `https://vstoken.dev.azure.com/${a.organization_id}`,
          subject: `sc://${a.organization}/${a.project}/${conn}`,
        });
      }
    }
    // Federated credentials of one identity must be written one at a time.
    let previous: string | undefined;
    for (const c of creds) {
      const cred: Writable<FederatedIdentityCredential> = {
        issuer: c.issuer,
        subject: c.subject,
        audiences: [TOKEN_EXCHANGE_AUDIENCE],
      };
      const credId = id("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials", names.identity, c.name);
      resources.push(
        toArm(
          "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
          `${names.identity}/${c.name}`,
          cred,
          {
            dependsOn: [ids.identity, ...(previous ? [previous] : [])],
          },
        ),
      );
      previous = credId;
    }
    const principal = {
      id: reference(ids.identity, "Microsoft.ManagedIdentity/userAssignedIdentities", "principalId"),
      key: ids.identity,
      type: "ServicePrincipal" as const,
    };
    for (const r of fed.roles ?? [{ role: "Contributor", scope: "resource_group" as const }]) {
      assign(
        r.scope ?? "resource_group",
        r.role,
        principal,
        [ids.identity],
        `Deployments of ${input.project} ${input.environment}`,
      );
    }
  }

  for (const r of s.role_assignments ?? []) {
    assign(
      r.scope ?? "resource_group",
      r.role,
      { id: r.principal_id, key: r.principal_id, type: r.principal_type ?? "ServicePrincipal" },
      [],
      r.description,
    );
  }
  resources.push(...rgRoleResources);

  // Outputs of the nested deployment.
  const lit = (value: string): ArmOutput => ({ type: "string", value });
  const outputs: Record<string, ArmOutput> = {
    resourceGroupName: lit(rg),
    resourceGroupId: lit(ids.rg),
    databricksHost: lit(reference(ids.databricks, "Microsoft.Databricks/workspaces", "workspaceUrl")),
    databricksId: lit(ids.databricks),
    databricksWorkspaceId: lit(reference(ids.databricks, "Microsoft.Databricks/workspaces", "workspaceId")),
    keyVaultUri: lit(reference(ids.keyVault, "Microsoft.KeyVault/vaults", "vaultUri")),
    keyVaultId: lit(ids.keyVault),
    keyVaultName: lit(names.keyVault),
    storageName: lit(names.storage),
    storageId: lit(ids.storage),
    storageDfsEndpoint: lit(reference(ids.storage, "Microsoft.Storage/storageAccounts", "primaryEndpoints.dfs")),
    storageBlobEndpoint: lit(reference(ids.storage, "Microsoft.Storage/storageAccounts", "primaryEndpoints.blob")),
    logAnalyticsId: lit(ids.logAnalytics),
  };
  if (db.access_connector ?? true) outputs.accessConnectorId = lit(ids.accessConnector);
  if (fed) {
    outputs.identityClientId = lit(reference(ids.identity, "Microsoft.ManagedIdentity/userAssignedIdentities", "clientId"));
    outputs.identityPrincipalId = lit(reference(ids.identity, "Microsoft.ManagedIdentity/userAssignedIdentities", "principalId"));
  }

  const nestedName = `lakeforge-${input.environment}`.slice(0, 64);
  const nestedId = `${ids.rg}/providers/Microsoft.Resources/deployments/${nestedName}`;
  const deploymentName = `lakeforge-${input.project}-${input.environment}`.slice(0, 64);
  const template: ArmTemplate = {
    $schema: SUBSCRIPTION_TEMPLATE_SCHEMA,
    contentVersion: "1.0.0.0",
    resources: [
      {
        type: "Microsoft.Resources/resourceGroups",
        apiVersion: API_VERSIONS["Microsoft.Resources/resourceGroups"],
        name: rg,
        location,
        tags,
        properties: {},
      },
      {
        type: "Microsoft.Resources/deployments",
        apiVersion: API_VERSIONS["Microsoft.Resources/deployments"],
        name: nestedName,
        resourceGroup: rg,
        dependsOn: [ids.rg],
        properties: {
          mode: "Incremental",
          expressionEvaluationOptions: { scope: "inner" },
          template: {
            $schema: RESOURCE_GROUP_TEMPLATE_SCHEMA,
            contentVersion: "1.0.0.0",
            resources,
            outputs,
          } satisfies ArmTemplate,
        },
      },
      ...subRoleResources,
    ],
    outputs: Object.fromEntries(
      Object.keys(outputs).map((k) => [
        k,
        lit(`[reference('${nestedId}', '${API_VERSIONS["Microsoft.Resources/deployments"]}').outputs.${k}.value]`),
      ]),
    ),
  };
  const resourceIds = [
    ids.rg,
    ...resources
      .filter((r) => !r.scope && r.type !== "Microsoft.Authorization/roleAssignments")
      .map((r) => id(r.type, ...r.name.split("/"))),
  ];
  return { deploymentName, location, subscriptionId: sub, names, template, roleAssignments, resourceIds };
}

function credentialName(prefix: string, subject: string): string {
  const base = `${prefix}-${subject.replace(/[^A-Za-z0-9_-]+/g, "-")}`.replace(/-+$/, "");
  return base.length <= 120 ? base : `${base.slice(0, 111)}-${deterministicGuid(subject).slice(0, 8)}`;
}

/**
 * Turns deployment outputs into `${azure.<part>.<field>}` values. Resource Manager gives the workspace
 * URL as a host name; it gets `https://` unless it already names its scheme.
 */
export function outputsToReferences(outputs: Record<string, { value?: unknown } | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, name] of Object.entries(OUTPUTS)) {
    const v = outputs[k]?.value;
    if (v === undefined || v === null) continue;
    const s = String(v);
    out[name] = k === "databricksHost" && !/^https?:\/\//i.test(s) ? `https://${s}` : s;
  }
  return out;
}
