import type { StateBackend } from "../engine/state.js";
import type { DesiredResource, ResourceAdapter } from "../engine/types.js";
import type { Secret } from "../lib/secret.js";

/**
 * A use-case bootstrap: the repository around a rendered ML project, reconciled through the same
 * plan/apply engine as workspace configuration. Each forge (local, GitHub, Azure DevOps) is a provider
 * turning a request into desired resources of its own kinds, with one adapter per kind.
 */

export interface BootstrapEnvironment {
  /** Deployment environment / target name, e.g. "staging", "prod". */
  name: string;
  /** Users or teams whose approval a deployment needs (production). */
  reviewers: string[];
  /** Branch or tag patterns allowed to deploy here, e.g. ["main"] or ["v*"]. */
  deployFrom: { branches?: string[]; tags?: string[] };
  waitTimerMinutes?: number;
  /** Secret values by name (never printed; sealed or encrypted by the forge). */
  secrets: Record<string, Secret>;
  /** Plain values by name (hosts, catalog names, client ids). */
  variables: Record<string, string>;
}

export interface BootstrapRequest {
  /** Repository name. */
  name: string;
  description?: string;
  topics?: string[];
  /** Organisation, project or owner; absent for a user's own repository or the local forge. */
  owner?: string;
  visibility: "private" | "internal";
  defaultBranch: string;
  releaseBranch: string;
  /** The rendered project: relative path → content. */
  files: Map<string, Buffer>;
  /** Teams (or groups) and their permission on the repository. */
  teams: { name: string; permission: "pull" | "triage" | "push" | "maintain" | "admin" }[];
  /** Repository-level plain variables. */
  variables: Record<string, string>;
  /**
   * Repository-level secrets: values that workflows read outside any environment (the pull-request
   * validation job's CI identity). Everything a deployment reads belongs to its environment.
   */
  secrets?: Record<string, Secret>;
  environments: BootstrapEnvironment[];
  /** Customise the OIDC subject claim (federated CI authentication). */
  oidcSubjectClaims?: string[];
}

export interface PreflightIssue {
  /** What is wrong, in one line, e.g. "team ml-admins does not exist in org acme". */
  message: string;
  hint?: string;
}

export interface ForgeProvider<Ctx> {
  readonly name: "local" | "github" | "azure-devops";
  /** Checks everything a bootstrap needs before any write (token, permissions, org, teams, name free). */
  preflight(ctx: Ctx, req: BootstrapRequest): Promise<PreflightIssue[]>;
  /** The desired resources of this forge's kinds (`github.repository`, `local.environment`, ...). */
  desired(req: BootstrapRequest): DesiredResource[];
  adapters(): Map<string, ResourceAdapter<Ctx>>;
  /**
   * Optional: where the bootstrap's state lives by default for this request (the local forge keeps a
   * JSON file in its directory). A caller may always pass its own backend instead.
   */
  stateBackend?(ctx: Ctx, req: BootstrapRequest): StateBackend;
}
