/**
 * Azure infrastructure of an environment as code: the `azure:` section of `lakeforge.yaml` becomes
 * one subscription-scope ARM deployment (see docs/azure.md).
 */
import type { ResolvedConfig } from "../config/resolve.js";
import { UserError } from "../lib/errors.js";
import { buildInfraTemplate, type InfraTemplate } from "./template.js";

export { armCredential } from "./credential.js";
export * from "./deploy.js";
export { BUILTIN_ROLES, isPrivilegedRole } from "./roles.js";
export * from "./template.js";

/** The environment's infrastructure template, or a user error when it has no `azure:` section. */
export function infraFor(config: ResolvedConfig): InfraTemplate {
  if (!config.azure) {
    throw new UserError(
      `environment ${config.environment} has no azure section`,
      "add `azure:` (shared or under the environment)",
    );
  }
  return buildInfraTemplate({ project: config.project.name, environment: config.environment, settings: config.azure.settings });
}
