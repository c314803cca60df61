/**
 * `lakeforge.yaml`: loading, validation and resolution of one environment into desired resources.
 * See docs/configuration.md for the file format.
 */
export {
  IMPLICIT_ENVIRONMENT,
  type LoadOptions,
  loadConfig,
  requireEnvironment,
  type ValidationResult,
  validateConfig,
} from "./config.js";
export { ConfigError, type ConfigIssue, formatIssue, type Loc } from "./errors.js";
export { configJsonSchema, configJsonSchemaText } from "./json-schema.js";
export {
  KINDS,
  type KindInfo,
  kindByName,
  kindBySection,
  PERMISSIONS_KIND,
  SECRET_ACL_KIND,
  SECRET_KIND,
  SECTIONS,
} from "./kinds.js";
export { findConfigFile, MAIN_FILE_NAMES } from "./loader.js";
export {
  collectRefs,
  KeyVaultSecret,
  Ref,
  replaceKeyVaultSecrets,
  resolveRefs,
  specCodec,
  splitSensitive,
  Template,
} from "./refs.js";
export type { ResolvedConfig, ResolvedResource, WorkspaceTarget } from "./resolve.js";
