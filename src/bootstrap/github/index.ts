export { createGithubContext, type GithubCtx, type GithubOptions } from "./context.js";
export { FileSet } from "./fileset.js";
export { GITHUB_KINDS, type GithubProviderOptions, githubProvider, withGithubOwner } from "./provider.js";
export { sealForGithub } from "./resources/environment-secret.js";
