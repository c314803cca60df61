import { z } from "zod";
import { UC_PRIVILEGES } from "../../lib/unity-catalog.js";
import { bool, lifecycle, nonEmpty, permissions, principal, str, strMap, ucName, workspacePath } from "./common.js";

/** Unity Catalog objects and grants, MLflow experiments, SCIM groups and service principals. */

const optimization = () => z.enum(["ENABLE", "DISABLE", "INHERIT"]).optional();

export const catalog = z
  .strictObject({
    name: ucName().describe("Name of the catalog."),
    comment: str().optional(),
    storage_root: nonEmpty().optional().describe("Managed storage location (cloud URL) for the catalog."),
    properties: strMap().optional(),
    options: strMap().optional(),
    isolation_mode: z.enum(["OPEN", "ISOLATED"]).optional(),
    connection_name: nonEmpty().optional(),
    provider_name: nonEmpty().optional(),
    share_name: nonEmpty().optional(),
    owner: nonEmpty().optional(),
    enable_predictive_optimization: optimization(),
    ...lifecycle,
  })
  .meta({ id: "catalog", description: "A Unity Catalog catalog." });

export const schema = z
  .strictObject({
    name: ucName().describe("Name of the schema."),
    catalog_name: ucName(),
    comment: str().optional(),
    storage_root: nonEmpty().optional(),
    properties: strMap().optional(),
    owner: nonEmpty().optional(),
    enable_predictive_optimization: optimization(),
    ...lifecycle,
  })
  .meta({ id: "schema", description: "A Unity Catalog schema." });

export const volume = z
  .strictObject({
    name: ucName(),
    catalog_name: ucName(),
    schema_name: ucName(),
    volume_type: z.enum(["MANAGED", "EXTERNAL"]).optional(),
    storage_location: nonEmpty().optional(),
    comment: str().optional(),
    owner: nonEmpty().optional(),
    ...lifecycle,
  })
  .superRefine((v, ctx) => {
    if (v.volume_type === "EXTERNAL" && v.storage_location === undefined) {
      ctx.addIssue({ code: "custom", message: "an EXTERNAL volume needs `storage_location`", path: ["volume_type"] });
    }
    if (v.volume_type !== "EXTERNAL" && v.storage_location !== undefined) {
      ctx.addIssue({ code: "custom", message: "`storage_location` needs `volume_type: EXTERNAL`", path: ["storage_location"] });
    }
  })
  .meta({ id: "volume", description: "A Unity Catalog volume." });

export const registeredModel = z
  .strictObject({
    name: ucName(),
    catalog_name: ucName(),
    schema_name: ucName(),
    comment: str().optional(),
    storage_location: nonEmpty().optional(),
    owner: nonEmpty().optional(),
    ...lifecycle,
  })
  .meta({ id: "registered_model", description: "A model in Unity Catalog (catalog.schema.model)." });

export const SECURABLE_TYPES = [
  "catalog",
  "schema",
  "table",
  "volume",
  "function",
  "registered_model",
  "external_location",
  "storage_credential",
  "connection",
  "metastore",
] as const;

const METASTORE_PRIVILEGES = UC_PRIVILEGES.metastore;

const LOCATION_PRIVILEGES = [
  "CREATE_EXTERNAL_TABLE",
  "CREATE_EXTERNAL_VOLUME",
  "CREATE_MANAGED_STORAGE",
  "CREATE_FOREIGN_CATALOG",
  "CREATE_FOREIGN_SECURABLE",
  "EXTERNAL_USE_LOCATION",
  "READ_FILES",
  "WRITE_FILES",
  "USE_CONNECTION",
] as const;

const DATA_PRIVILEGES = UC_PRIVILEGES.catalog;

export const PRIVILEGES = [...DATA_PRIVILEGES, ...LOCATION_PRIVILEGES, ...METASTORE_PRIVILEGES] as const;

/** The privileges a securable type accepts, where Unity Catalog restricts them. */
const APPLICABLE: Partial<Record<(typeof SECURABLE_TYPES)[number], readonly string[]>> = {
  catalog: UC_PRIVILEGES.catalog,
  schema: UC_PRIVILEGES.schema,
  table: UC_PRIVILEGES.table,
  volume: UC_PRIVILEGES.volume,
  function: UC_PRIVILEGES.function,
  registered_model: UC_PRIVILEGES.function,
};

/** How many dots a full name of each securable type has. */
const NAME_PARTS: Partial<Record<(typeof SECURABLE_TYPES)[number], number>> = {
  catalog: 1,
  schema: 2,
  table: 3,
  volume: 3,
  function: 3,
  registered_model: 3,
};

const isReference = (s: string) => s.includes("${");

export const grant = z
  .strictObject({
    securable: z
      .strictObject({
        type: z.enum(SECURABLE_TYPES),
        name: nonEmpty().describe("Full name: `catalog`, `catalog.schema` or `catalog.schema.object`."),
      })
      .describe("The object the privileges are granted on."),
    principal: nonEmpty().describe("A user's e-mail, a group's name or a service principal's application id."),
    privileges: z.array(z.enum(PRIVILEGES)).min(1, { error: "needs at least one privilege" }),
    ...lifecycle,
  })
  .superRefine((v, ctx) => {
    const parts = NAME_PARTS[v.securable.type];
    const name = v.securable.name;
    if (parts !== undefined && !isReference(name) && name.split(".").length !== parts) {
      const shape = ["catalog", "catalog.schema", "catalog.schema.name"][parts - 1];
      ctx.addIssue({ code: "custom", message: `a ${v.securable.type} is named \`${shape}\``, path: ["securable", "name"] });
    }
    const allowed = APPLICABLE[v.securable.type];
    const seen = new Set<string>();
    v.privileges.forEach((p, i) => {
      if (seen.has(p)) ctx.addIssue({ code: "custom", message: `privilege ${p} is listed twice`, path: ["privileges", i] });
      seen.add(p);
      if (allowed && !allowed.includes(p)) {
        ctx.addIssue({ code: "custom", message: `${p} does not apply to a ${v.securable.type}`, path: ["privileges", i] });
      }
    });
  })
  .meta({ id: "grant", description: "Privileges of one principal on one Unity Catalog securable (the set Lakeforge manages)." });

export const EXPERIMENT_LEVELS = ["CAN_READ", "CAN_EDIT", "CAN_MANAGE"] as const;

export const experiment = z
  .strictObject({
    name: workspacePath().describe("Workspace path of the experiment, e.g. /Shared/ml/churn."),
    artifact_location: nonEmpty().optional(),
    tags: z.array(z.strictObject({ key: nonEmpty(), value: z.string() })).optional(),
    permissions: permissions(EXPERIMENT_LEVELS).optional(),
    ...lifecycle,
  })
  .meta({ id: "experiment", description: "An MLflow experiment." });

export const ENTITLEMENTS = [
  "workspace-access",
  "workspace-consume",
  "databricks-sql-access",
  "allow-cluster-create",
  "allow-instance-pool-create",
] as const;

export const group = z
  .strictObject({
    display_name: nonEmpty().describe("Name of the group; Lakeforge finds an existing group by it."),
    external_id: nonEmpty().optional(),
    entitlements: z.array(z.enum(ENTITLEMENTS)).optional(),
    members: z.array(principal()).optional().describe("Users, groups and service principals in the group."),
    ...lifecycle,
  })
  .meta({ id: "group", description: "A workspace group (SCIM)." });

export const servicePrincipal = z
  .strictObject({
    display_name: nonEmpty(),
    application_id: nonEmpty().optional().describe("The application (client) id; on Azure, the Entra ID application's."),
    active: bool().optional(),
    external_id: nonEmpty().optional(),
    entitlements: z.array(z.enum(ENTITLEMENTS)).optional(),
    ...lifecycle,
  })
  .meta({ id: "service_principal", description: "A service principal (SCIM)." });
