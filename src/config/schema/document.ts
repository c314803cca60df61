import { z } from "zod";
import { KINDS } from "../kinds.js";
import { azurePartial } from "./azure.js";
import { identifier, nonEmpty, str } from "./common.js";
import { pipelinesSection } from "./pipelines.js";

/** The shape of `lakeforge.yaml` as a whole. */

export const VARIABLE_TYPES = ["string", "integer", "number", "boolean", "complex"] as const;
export type VariableType = (typeof VARIABLE_TYPES)[number];

export const variableDeclaration = z
  .strictObject({
    description: str().optional(),
    type: z
      .enum(VARIABLE_TYPES)
      .optional()
      .describe("string, integer, number, boolean or complex (a mapping or list); taken from the default when omitted."),
    default: z.unknown().optional().describe("Value used when the environment gives none."),
  })
  .describe(`A variable, referenced as \${var.<name>}.`);

export const AUTH_TYPES = [
  "pat",
  "oauth-m2m",
  "azure-client-secret",
  "azure-cli",
  "azure-msi",
  "github-oidc",
  "databricks-cli",
] as const;

export const remoteWorkspace = z
  .strictObject({
    host: z
      .string()
      .regex(/^https?:\/\/[^\s/]+\/?$/, { error: "expected the workspace URL, e.g. https://adb-123.4.azuredatabricks.net" })
      .optional()
      .describe("Workspace URL."),
    profile: nonEmpty().optional().describe("A profile of ~/.databrickscfg."),
    auth_type: z.enum(AUTH_TYPES).optional().describe("Force one authentication method (unified auth picks one otherwise)."),
    client_id: nonEmpty().optional().describe("OAuth client id of a service principal (the secret comes from the environment)."),
    azure_client_id: nonEmpty().optional(),
    azure_tenant_id: nonEmpty().optional(),
    azure_workspace_resource_id: nonEmpty().optional(),
    root_path: z
      .string()
      .regex(/^\/\S/, { error: "expected an absolute workspace path" })
      .optional()
      .describe("Workspace folder for Lakeforge's state and lock."),
  })
  .superRefine((v, ctx) => {
    if (v.host === undefined && v.profile === undefined) {
      ctx.addIssue({
        code: "custom",
        message: "a workspace needs `host` or `profile` (or use `workspace: local`)",
        path: [],
        params: { oneOf: ["host", "profile"] },
      });
    }
  });

export const workspaceTarget = z
  .union([z.literal("local"), remoteWorkspace], {
    error: 'expected "local" or a mapping with the workspace `host` or `profile`',
  })
  .describe("The workspace this environment deploys to: `local` (started on demand) or host and auth profile.");

const resourceSections = <T extends z.ZodType>(value: (schema: z.ZodObject) => T) =>
  z.strictObject(
    Object.fromEntries(
      KINDS.map((k) => [
        k.section,
        z
          .record(identifier(), value(k.schema))
          .optional()
          .describe(k.schema.description ?? ""),
      ]),
    ) as Record<string, z.ZodOptional<z.ZodRecord<ReturnType<typeof identifier>, T>>>,
  );

/** Every resource kind, fully validated (used per environment, after overrides are merged). */
export const resources = resourceSections((s) => s);

/** Resource sections with their entries checked only for being mappings (the file-level check). */
const looseResources = resourceSections(() => z.record(z.string(), z.unknown()));

/** The same for environment overrides, where `null` removes a resource from the environment. */
const looseOverrides = resourceSections(() => z.record(z.string(), z.unknown()).nullable());

const environmentFields = {
  default: z.boolean().optional().describe("The environment used when none is given."),
  workspace: z.unknown().optional(),
  variables: z.record(identifier(), z.unknown()).optional().describe("Values of the variables in this environment."),
  resources: looseOverrides
    .optional()
    .describe("Overrides merged into the shared resources, and resources of this environment only."),
  azure: z.record(z.string(), z.unknown()).optional(),
};

/** Fields an included file may hold. */
export const INCLUDED_FILE_KEYS = ["variables", "environments", "resources"] as const;

/**
 * The file-level check: top-level keys, environments, variable declarations, resource sections and
 * names. Resource fields are checked per environment after overrides are merged.
 */
export const documentStructure = z.strictObject({
  project: z
    .strictObject({ name: nonEmpty().describe("Name of the project."), description: str().optional() })
    .describe("The project this configuration belongs to."),
  include: z
    .array(nonEmpty())
    .optional()
    .describe("More files (glob patterns relative to this file) with resources and variables."),
  variables: z.record(identifier(), variableDeclaration).optional(),
  environments: z.record(identifier(), z.strictObject(environmentFields)).optional(),
  resources: looseResources.optional(),
  pipelines: pipelinesSection.optional(),
  azure: z.record(z.string(), z.unknown()).optional(),
});

/** The whole document for editors (JSON Schema); environment overrides are made partial afterwards. */
export const documentForEditors = z
  .strictObject({
    project: documentStructure.shape.project,
    include: documentStructure.shape.include,
    variables: documentStructure.shape.variables,
    environments: z
      .record(
        identifier(),
        z.strictObject({
          ...environmentFields,
          workspace: workspaceTarget.optional(),
          azure: azurePartial.optional().describe("Overrides merged into the shared `azure:` section."),
          variables: environmentFields.variables,
          resources: resources
            .optional()
            .describe("Overrides merged into the shared resources, and resources of this environment only."),
        }),
      )
      .optional()
      .describe("Deployment environments: workspace, variable values and resource overrides."),
    resources: resources.optional().describe("Resources shared by every environment."),
    pipelines: pipelinesSection.optional(),
    azure: azurePartial.optional(),
  })
  .describe("Lakeforge configuration (lakeforge.yaml)");
