import { z } from "zod";
import { bool, nonEmpty, withHint } from "./common.js";

/**
 * The `azure:` section: the Azure infrastructure of an environment (resource group, Databricks
 * workspace, Key Vault, ADLS Gen2 storage, Log Analytics, Application Insights, role assignments and
 * federated credentials). Shared defaults sit at the top level and each environment may override
 * them under `environments.<env>.azure`; the merged result is checked per environment.
 */

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const guid = () => z.string().regex(GUID, { error: "expected a GUID, e.g. 00000000-0000-0000-0000-000000000000" });

const cidr = () =>
  z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, { error: "expected an IPv4 range in CIDR form, e.g. 10.1.0.0/24" });

/** Tokens a naming pattern may use. */
export const NAMING_TOKENS = ["project", "env", "kind", "location"] as const;

const namingPattern = z
  .string()
  .min(1, { error: "must not be empty" })
  .superRefine((v, ctx) => {
    for (const m of v.matchAll(/\{([^}]*)\}/g)) {
      if (!(NAMING_TOKENS as readonly string[]).includes(m[1] as string)) {
        ctx.addIssue({
          code: "custom",
          message: withHint(
            `unknown token {${m[1]}} in the naming pattern`,
            `tokens: ${NAMING_TOKENS.map((t) => `{${t}}`).join(", ")}`,
          ),
        });
      }
    }
    if (!v.includes("{kind}")) {
      ctx.addIssue({
        code: "custom",
        message: withHint("the naming pattern must contain {kind}", "otherwise every resource would get the same name"),
      });
    }
  })
  .describe("How resources are named: a pattern with {project}, {env}, {kind} and {location}. Default: {project}-{env}-{kind}.");

const subnet = z.strictObject({
  name: nonEmpty().optional().describe("Subnet name (default from the naming pattern)."),
  address_prefix: cidr().describe("The subnet's range, e.g. 10.1.1.0/24."),
});

const vnet = z
  .strictObject({
    address_space: cidr().describe("Range of the virtual network, e.g. 10.1.0.0/16."),
    public_subnet: subnet.describe("The host (public) subnet Databricks delegates."),
    private_subnet: subnet.describe("The container (private) subnet Databricks delegates."),
  })
  .describe("VNet injection: Lakeforge creates the virtual network, both delegated subnets and their network security group.");

const databricks = z
  .strictObject({
    name: nonEmpty().optional().describe("Workspace name (default from the naming pattern)."),
    sku: z
      .enum(["premium"])
      .optional()
      .describe("Pricing tier; Unity Catalog and access control need premium (the only choice)."),
    managed_resource_group: nonEmpty().optional().describe("Name of the resource group Databricks manages."),
    public_network_access: bool().optional().describe("Allow access to the workspace from the internet (default true)."),
    no_public_ip: bool().optional().describe("Secure cluster connectivity: cluster nodes get no public IP (default true)."),
    vnet: vnet.optional(),
    access_connector: bool()
      .optional()
      .describe("Create an access connector for Unity Catalog with storage access (default true)."),
  })
  .describe("The Azure Databricks workspace.");

const keyVault = z
  .strictObject({
    name: nonEmpty().optional().describe("Vault name, 3-24 characters, globally unique (default from the naming pattern)."),
    sku: z.enum(["standard", "premium"]).optional().describe("standard (default) or premium (HSM-backed keys)."),
    soft_delete_retention_days: z
      .int()
      .min(7, { error: "must be at least 7" })
      .max(90, { error: "must be at most 90" })
      .optional()
      .describe("Days deleted secrets can be recovered (7-90, default 90)."),
    purge_protection: bool()
      .optional()
      .describe("Deleted vaults and secrets cannot be purged before retention ends (default true)."),
    public_network_access: bool().optional().describe("Allow access from public networks (default true)."),
  })
  .describe("The Key Vault: RBAC authorization, soft delete and purge protection always on.");

const storage = z
  .strictObject({
    name: nonEmpty().optional().describe("Account name, 3-24 lowercase letters and digits (default from the naming pattern)."),
    sku: z
      .enum(["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"])
      .optional()
      .describe("Replication (default Standard_LRS)."),
    containers: z
      .array(
        z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, {
          error: "container names are 3-63 lowercase letters, digits and single hyphens",
        }),
      )
      .optional()
      .describe("Containers (file systems) to create; default bronze, silver, gold."),
  })
  .describe("The ADLS Gen2 storage account (hierarchical namespace, TLS 1.2, no public blob access).");

const logAnalytics = z
  .strictObject({
    name: nonEmpty().optional(),
    retention_days: z.int().min(30, { error: "must be at least 30" }).max(730, { error: "must be at most 730" }).optional(),
  })
  .describe("The Log Analytics workspace; diagnostic settings of the Databricks workspace and the Key Vault send to it.");

const appInsights = z
  .strictObject({ name: nonEmpty().optional() })
  .describe("Workspace-based Application Insights (on the Log Analytics workspace).");

export const AZURE_SCOPES = ["subscription", "resource_group", "databricks", "key_vault", "storage"] as const;
export type AzureScope = (typeof AZURE_SCOPES)[number];

const roleAssignment = z
  .strictObject({
    principal_id: guid().describe("Object id of the user, group or service principal."),
    principal_type: z
      .enum(["User", "Group", "ServicePrincipal"])
      .optional()
      .describe("Kind of principal (default ServicePrincipal)."),
    role: nonEmpty().describe("A built-in role name (Contributor, Key Vault Secrets User, ...) or a role definition GUID."),
    scope: z.enum(AZURE_SCOPES).optional().describe("Where the role applies (default resource_group)."),
    description: z.string().optional(),
  })
  .describe("A role assignment; its name is a GUID derived from scope, principal and role.");

const identityRole = z.strictObject({
  role: nonEmpty(),
  scope: z.enum(AZURE_SCOPES).optional(),
});

const federatedCredentials = z
  .strictObject({
    identity: nonEmpty().optional().describe("Name of the user-assigned identity (default from the naming pattern)."),
    github: z
      .strictObject({
        repository: z
          .string()
          .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, { error: "expected <organisation>/<repository>" })
          .describe("The GitHub repository, <organisation>/<repository>."),
        subjects: z
          .array(
            z.string().regex(/^(environment:[^\s:]+|ref:refs\/(heads|tags)\/\S+|pull_request)$/, {
              error: withHint(
                "expected environment:<name>, ref:refs/heads/<branch>, ref:refs/tags/<tag> or pull_request",
                "each becomes the subject repo:<org>/<repo>:<entry>",
              ),
            }),
          )
          .min(1, { error: "needs at least 1 item" })
          .describe("Which workflow runs may log in: environment:<name>, ref:refs/heads/<branch>, pull_request."),
      })
      .optional(),
    azure_devops: z
      .strictObject({
        organization: nonEmpty().describe("The Azure DevOps organisation."),
        organization_id: guid().describe("The organisation's id (the issuer is https://vstoken.dev.azure.com/<id>)."),
        project: nonEmpty(),
        service_connections: z.array(nonEmpty()).min(1, { error: "needs at least 1 item" }).describe("Service connection names."),
      })
      .optional(),
    roles: z.array(identityRole).optional().describe("Roles of the identity (default: Contributor on the resource group)."),
  })
  .describe("A user-assigned managed identity with federated credentials for GitHub Actions or Azure DevOps (OIDC, no secrets).");

export const azureFields = {
  subscription_id: guid().describe("The subscription to deploy to."),
  tenant_id: guid().optional().describe("The Microsoft Entra tenant (default: the credential's)."),
  location: z
    .string()
    .regex(/^[a-z0-9]+$/, { error: 'expected an Azure region name such as "westeurope"' })
    .describe("The Azure region, e.g. westeurope."),
  naming: namingPattern.optional(),
  tags: z
    .record(z.string(), z.string())
    .optional()
    .describe("Tags on every resource (Lakeforge adds managed-by and environment)."),
  resource_group: nonEmpty().optional().describe("Resource group name (default from the naming pattern)."),
  databricks: databricks.optional(),
  key_vault: keyVault.optional(),
  storage: storage.optional(),
  log_analytics: logAnalytics.optional(),
  app_insights: appInsights.optional(),
  role_assignments: z.array(roleAssignment).optional(),
  federated_credentials: federatedCredentials.optional(),
  allow_privileged_subscription_roles: bool()
    .optional()
    .describe("Allow Owner or User Access Administrator at subscription scope (refused otherwise)."),
  prevent_destroy: bool().optional().describe("Refuse to delete the resource group (destroy fails)."),
};

/** The merged section of one environment, fully validated. */
export const azureSection = z.strictObject(azureFields).describe("Azure infrastructure of the environment.");

/** The same with every field optional: the file-level check of shared defaults and overrides. */
export const azurePartial = azureSection
  .partial()
  .describe("Azure infrastructure: shared defaults, completed by each environment.");

export type AzureSettings = z.output<typeof azureSection>;

/** What `${azure.<part>.<field>}` may name: outputs of the environment's infrastructure deployment. */
export const AZURE_OUTPUTS = [
  "resource_group.name",
  "resource_group.id",
  "databricks.url",
  "databricks.id",
  "databricks.workspace_id",
  "key_vault.uri",
  "key_vault.id",
  "key_vault.name",
  "storage.name",
  "storage.id",
  "storage.dfs_endpoint",
  "storage.blob_endpoint",
  "access_connector.id",
  "identity.client_id",
  "identity.principal_id",
  "log_analytics.id",
] as const;
export type AzureOutputName = (typeof AZURE_OUTPUTS)[number];
