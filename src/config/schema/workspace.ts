import { z } from "zod";
import { bool, exactlyOne, lifecycle, nonEmpty, permissions, secretSource, strList, workspacePath } from "./common.js";

/** Workspace objects: secret scopes, git credentials, repos, files and notebooks. */

const SCOPE_NAME = /^[\w.@-]{1,128}$/;

export const secretScope = z
  .strictObject({
    name: z
      .string()
      .regex(SCOPE_NAME, { error: "a scope name has 1 to 128 letters, digits, `_`, `-`, `.` or `@`" })
      .describe("Name of the secret scope."),
    backend_type: z.enum(["DATABRICKS", "AZURE_KEYVAULT"]).optional().describe("DATABRICKS (the default) or AZURE_KEYVAULT."),
    keyvault_metadata: z
      .strictObject({
        resource_id: z
          .string()
          .regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+$/i, {
            error:
              "expected an Azure resource id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>",
          }),
        dns_name: z
          .string()
          .regex(/^https:\/\/[^/\s]+\/?$/, { error: "expected the vault URI, e.g. https://my-vault.vault.azure.net/" }),
      })
      .optional()
      .describe("The Azure Key Vault behind an AZURE_KEYVAULT scope."),
    initial_manage_principal: nonEmpty().optional(),
    secrets: z
      .record(
        z.string().regex(SCOPE_NAME, { error: "a secret key has 1 to 128 letters, digits, `_`, `-`, `.` or `@`" }),
        secretSource(),
      )
      .optional()
      .describe("Secrets by key; each value comes from the environment, a file or Azure Key Vault."),
    acls: z
      .array(
        z.strictObject({
          principal: nonEmpty().describe("A user, group or service principal."),
          permission: z.enum(["READ", "WRITE", "MANAGE"]),
        }),
      )
      .superRefine((items, ctx) => {
        const seen = new Set<string>();
        items.forEach((a, i) => {
          if (seen.has(a.principal)) {
            ctx.addIssue({ code: "custom", message: `principal "${a.principal}" is listed twice`, path: [i, "principal"] });
          }
          seen.add(a.principal);
        });
      })
      .optional()
      .describe("Who may read, write or manage the scope's secrets."),
    ...lifecycle,
  })
  .superRefine((v, ctx) => {
    const keyVault = v.backend_type === "AZURE_KEYVAULT";
    if (keyVault && v.keyvault_metadata === undefined) {
      ctx.addIssue({ code: "custom", message: "an AZURE_KEYVAULT scope needs `keyvault_metadata`", path: ["backend_type"] });
    }
    if (!keyVault && v.keyvault_metadata !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: "`keyvault_metadata` needs `backend_type: AZURE_KEYVAULT`",
        path: ["keyvault_metadata"],
      });
    }
    if (keyVault && v.secrets !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: "the secrets of an Azure Key Vault-backed scope live in the vault; they cannot be set here",
        path: ["secrets"],
      });
    }
  })
  .meta({ id: "secret_scope", description: "A secret scope with its secrets and access control list." });

export const GIT_PROVIDERS = [
  "gitHub",
  "gitHubEnterprise",
  "bitbucketCloud",
  "bitbucketServer",
  "azureDevOpsServices",
  "gitLab",
  "gitLabEnterpriseEdition",
  "awsCodeCommit",
] as const;

export const gitCredential = z
  .strictObject({
    git_provider: z.enum(GIT_PROVIDERS).describe("The git provider; one credential per provider."),
    git_username: nonEmpty().optional(),
    personal_access_token: secretSource(),
    name: nonEmpty().optional(),
    is_default_for_provider: bool().optional(),
    ...lifecycle,
  })
  .meta({ id: "git_credential", description: "Git credentials the workspace uses for repos (Git Credentials API)." });

export const REPO_LEVELS = ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"] as const;

export const repo = z
  .strictObject({
    url: z.string().regex(/^(https?:\/\/|git@)\S+$/, { error: "expected a git URL (https://...)" }),
    provider: z.enum(GIT_PROVIDERS).optional(),
    path: z
      .string()
      .regex(/^\/(Repos|Workspace)\/\S/, { error: "expected a workspace path under /Repos/ or /Workspace/" })
      .describe("Where the repo is checked out in the workspace; Lakeforge finds an existing repo by it."),
    branch: nonEmpty().optional().describe("Branch to check out."),
    tag: nonEmpty().optional().describe("Tag to check out."),
    sparse_checkout: z.strictObject({ patterns: strList() }).optional(),
    permissions: permissions(REPO_LEVELS).optional(),
    ...lifecycle,
  })
  .superRefine(exactlyOne(["branch", "tag"], "a repo", true))
  .meta({ id: "repo", description: "A git folder (Repos API) checked out on a branch or tag." });

export const FILE_LEVELS = ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"] as const;

export const workspaceFile = z
  .strictObject({
    source: nonEmpty().describe("Local file, relative to the configuration file."),
    path: workspacePath().describe("Absolute path in the workspace."),
    permissions: permissions(FILE_LEVELS).optional(),
    ...lifecycle,
  })
  .meta({ id: "workspace_file", description: "A file uploaded to the workspace." });

export const NOTEBOOK_LANGUAGES = ["PYTHON", "SQL", "SCALA", "R"] as const;

export const notebook = z
  .strictObject({
    source: nonEmpty().describe("Local notebook, relative to the configuration file."),
    path: workspacePath().describe("Absolute path in the workspace."),
    language: z.enum(NOTEBOOK_LANGUAGES).optional().describe("Taken from the file extension when omitted."),
    format: z.enum(["SOURCE", "JUPYTER", "HTML", "DBC", "R_MARKDOWN", "AUTO"]).optional(),
    permissions: permissions(FILE_LEVELS).optional(),
    ...lifecycle,
  })
  .meta({ id: "notebook", description: "A notebook imported into the workspace." });

/** A notebook's language from its file extension, when it tells. */
export function languageFromExtension(file: string): (typeof NOTEBOOK_LANGUAGES)[number] | undefined {
  const ext = file.slice(file.lastIndexOf(".") + 1).toLowerCase();
  return ({ py: "PYTHON", ipynb: "PYTHON", sql: "SQL", scala: "SCALA", r: "R" } as const)[ext as "py"];
}
