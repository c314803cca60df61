export {
  createGithubContext,
  type GithubAppAuth,
  type GithubCtx,
  type GithubInstallation,
  type GithubOptions,
  resolveInstallation,
} from "./context.js";
export { FileSet } from "./fileset.js";
export { GITHUB_KINDS, type GithubProviderOptions, githubProvider, neededAppPermissions, withGithubOwner } from "./provider.js";
export { sealForGithub } from "./resources/environment-secret.js";
export { RULESET_PREFIX } from "./resources/ruleset.js";
