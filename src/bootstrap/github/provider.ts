import type { DesiredResource, Ref, ResourceAdapter } from "../../engine/types.js";
import { UserError } from "../../lib/errors.js";
import type { BootstrapRequest, ForgeProvider, PreflightIssue } from "../types.js";
import { type GithubCtx, type GithubInstallation, gh, ghMaybe, resolveInstallation, viewerLogin } from "./context.js";
import { FileSet } from "./fileset.js";
import { branchAdapter } from "./resources/branch.js";
import { branchProtectionAdapter } from "./resources/branch-protection.js";
import { canonicalReviewer, environmentAdapter, isTeamReviewer } from "./resources/environment.js";
import { environmentSecretAdapter, repositorySecretAdapter } from "./resources/environment-secret.js";
import { filesAdapter } from "./resources/files.js";
import { oidcSubjectAdapter } from "./resources/oidc-subject.js";
import { repositoryAdapter } from "./resources/repository.js";
import { RULESET_PREFIX, rulesetAdapter } from "./resources/ruleset.js";
import { teamAccessAdapter } from "./resources/team-access.js";
import { environmentVariableAdapter, repositoryVariableAdapter } from "./resources/variable.js";

/**
 * The GitHub forge: a bootstrap request becomes resources of the `github.*` kinds, reconciled by the
 * engine with the adapters in ./resources. See docs/bootstrap-github.md.
 */

export interface GithubProviderOptions {
  /**
   * Topic marking a repository as made by a bootstrap: pre-flight accepts an existing repository only
   * when it carries it. Default "lakeforge-bootstrap".
   */
  markerTopic?: string;
  /** Message of the commit holding the project. Default "Initial project from Lakeforge". */
  commitMessage?: string;
  /**
   * Protection of the default and release branches: repository rulesets (`kind: "rulesets"`, the
   * default) or classic branch protection (`"branch-protection"`). Either way pull requests with
   * `requiredApprovals` approving reviews, no force pushes, no deletion, and the `requiredChecks`.
   * `enforceAdmins: false` (default) lets repository admins bypass.
   */
  protection?: {
    kind?: "rulesets" | "branch-protection";
    requiredApprovals?: number;
    enforceAdmins?: boolean;
    requiredChecks?: string[];
  };
  /**
   * Write `.github/CODEOWNERS` naming the teams with admin or maintain permission, unless the
   * project has a CODEOWNERS file of its own. Default true.
   */
  codeowners?: boolean;
}

export const GITHUB_KINDS = [
  "github.repository",
  "github.team_access",
  "github.variable",
  "github.environment",
  "github.environment_secret",
  "github.environment_variable",
  "github.files",
  "github.branch",
  "github.branch_protection",
  "github.ruleset",
  "github.secret",
  "github.oidc_subject",
] as const;

const ref = (kind: string, name: string): Ref => ({ kind, name, field: "id" });
const CODEOWNERS_PATHS = ["CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS"];

/** Scopes a classic token needs; fine-grained and installation tokens report none and are not checked here. */
function neededScopes(req: BootstrapRequest, isOrg: boolean): { scope: string; alternatives: string[]; why: string }[] {
  const out = [{ scope: "repo", alternatives: ["repo"], why: "create the repository and write its settings" }];
  const teamReviewers = req.environments.some((e) => reviewersOf(req, e).some(isTeamReviewer));
  if (isOrg && (req.teams.length > 0 || teamReviewers))
    out.push({ scope: "read:org", alternatives: ["read:org", "write:org", "admin:org"], why: "read the organisation's teams" });
  if ([...req.files.keys()].some((p) => p.replace(/^\.?\//, "").startsWith(".github/workflows/")))
    out.push({ scope: "workflow", alternatives: ["workflow"], why: "push workflow files" });
  return out;
}

const LEVEL: Record<string, number> = { read: 1, write: 2, admin: 3 };

/**
 * Permissions a GitHub App installation needs for a request, by the names GitHub's installation
 * object uses. Repository variables are `actions_variables` (also accepted as `variables`).
 */
export function neededAppPermissions(
  req: BootstrapRequest,
  isOrg: boolean,
  protection: "rulesets" | "branch-protection" = "rulesets",
): { permission: string; aliases?: string[]; level: "read" | "write"; why: string }[] {
  const out: { permission: string; aliases?: string[]; level: "read" | "write"; why: string }[] = [
    {
      permission: "administration",
      level: "write",
      why: `create the repository and set its topics, team access and ${protection === "rulesets" ? "rulesets" : "branch protection"}`,
    },
    { permission: "contents", level: "write", why: "commit the project and create the branches" },
  ];
  if (req.environments.length > 0) out.push({ permission: "environments", level: "write", why: "create the environments" });
  const secrets = req.environments.some((e) => Object.keys(e.secrets).length > 0) || Object.keys(req.secrets ?? {}).length > 0;
  if (secrets) out.push({ permission: "secrets", level: "write", why: "write the secrets" });
  if (Object.keys(req.variables).length > 0 || req.environments.some((e) => Object.keys(e.variables).length > 0))
    out.push({ permission: "actions_variables", aliases: ["variables"], level: "write", why: "write the variables" });
  if ([...req.files.keys()].some((p) => p.replace(/^\.?\//, "").startsWith(".github/workflows/")))
    out.push({ permission: "workflows", level: "write", why: "push workflow files" });
  if (req.oidcSubjectClaims && req.oidcSubjectClaims.length > 0)
    out.push({ permission: "actions", level: "write", why: "set the OIDC subject claim template" });
  const teamReviewers = req.environments.some((e) => reviewersOf(req, e).some(isTeamReviewer));
  if (isOrg && (req.teams.length > 0 || teamReviewers))
    out.push({ permission: "members", level: "read", why: "read the organisation's teams" });
  return out;
}

/** What a GitHub App installation lacks for a request, as pre-flight issues. */
function installationIssues(
  inst: GithubInstallation,
  req: BootstrapRequest,
  protection: "rulesets" | "branch-protection",
): PreflightIssue[] {
  const isOrg = inst.account.type === "Organization";
  const missing = neededAppPermissions(req, isOrg, protection).filter((n) => {
    const have = [n.permission, ...(n.aliases ?? [])].map((k) => LEVEL[inst.permissions[k] ?? ""] ?? 0);
    return Math.max(0, ...have) < (LEVEL[n.level] ?? 0);
  });
  return missing.map((n) => ({
    message: `the GitHub App installation on ${inst.account.login} lacks ${n.permission}: ${n.level}, needed to ${n.why}`,
    hint: `grant the app the ${n.permission} (${n.level}) permission and accept it on the installation`,
  }));
}

/**
 * An environment's reviewers as GitHub names them: a reviewer naming one of the request's teams is that
 * team of the owner (`owner/team`); anything else is a user, or a team already written as `org/team`.
 */
function reviewersOf(req: BootstrapRequest, env: BootstrapRequest["environments"][number]): string[] {
  const teams = new Set(req.teams.map((t) => t.name.toLowerCase()));
  return env.reviewers.map((r) => (req.owner && !r.includes("/") && teams.has(r.toLowerCase()) ? `${req.owner}/${r}` : r));
}

/**
 * The request with its owner set: the token's user when it names no organisation; for a GitHub App,
 * the account its installation is on.
 */
export async function withGithubOwner(ctx: GithubCtx, req: BootstrapRequest): Promise<BootstrapRequest> {
  if (req.owner) return req;
  if (ctx.app) return { ...req, owner: (await resolveInstallation(ctx, undefined)).account.login };
  return { ...req, owner: await viewerLogin(ctx) };
}

export function githubProvider(options: GithubProviderOptions = {}): ForgeProvider<GithubCtx> {
  const marker = options.markerTopic ?? "lakeforge-bootstrap";
  const protectionMode = options.protection?.kind ?? "rulesets";
  if (protectionMode !== "rulesets" && protectionMode !== "branch-protection")
    throw new UserError(`GitHub protection: expected rulesets or branch-protection, got "${String(protectionMode)}"`);

  const preflight = async (ctx: GithubCtx, req: BootstrapRequest): Promise<PreflightIssue[]> => {
    const issues: PreflightIssue[] = [];
    let login: string;
    let scopes: string | undefined;
    let installation: GithubInstallation | undefined;
    if (ctx.app) {
      installation = await resolveInstallation(ctx, req.owner);
      login = `${installation.appSlug}[bot]`;
      if (req.owner && req.owner.toLowerCase() !== installation.account.login.toLowerCase())
        return [
          {
            message: `the GitHub App installation ${installation.id} is on ${installation.account.login}, not on ${req.owner}`,
            hint: "use the installation on the repository's owner (or leave GITHUB_APP_INSTALLATION_ID unset to find it)",
          },
        ];
      issues.push(...installationIssues(installation, req, protectionMode));
    } else
      try {
        const me = await gh<{ login: string }>(ctx, "GET /user");
        login = me.data.login;
        ctx.viewer ??= Promise.resolve(login);
        const h = me.headers["x-oauth-scopes"];
        scopes = h === undefined ? undefined : String(h);
      } catch (e) {
        const status = (e as { status?: number }).status;
        if (status === 401)
          return [
            { message: `GitHub (${ctx.baseUrl}) rejected the token`, hint: "check that the token is valid and not expired" },
          ];
        throw e;
      }
    const owner = req.owner ?? installation?.account.login ?? login;
    const isOrg = installation ? installation.account.type === "Organization" : owner.toLowerCase() !== login.toLowerCase();

    if (scopes !== undefined) {
      const have = new Set(
        scopes
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      );
      for (const n of neededScopes(req, isOrg))
        if (!n.alternatives.some((a) => have.has(a)))
          issues.push({
            message: `the GitHub token lacks the ${n.scope} scope, needed to ${n.why}`,
            hint: `add the ${n.scope} scope to the token`,
          });
    }

    if (isOrg) {
      const org = await ghMaybe(ctx, "GET /orgs/{org}", { org: owner });
      if (!org) {
        issues.push({
          message: `GitHub organisation ${owner} does not exist or the token cannot see it`,
          hint: "check the organisation name and that the token's owner is a member",
        });
        return issues;
      }
    } else {
      if (req.teams.length > 0)
        issues.push({
          message: `teams (${req.teams.map((t) => t.name).join(", ")}) need a repository in an organisation`,
          hint: "set the organisation (owner)",
        });
      if (req.visibility === "internal")
        issues.push({
          message: "internal visibility needs a repository in an enterprise organisation",
          hint: "use private visibility",
        });
    }

    const checkTeam = async (slug: string, what: string) => {
      const t = await ghMaybe(ctx, "GET /orgs/{org}/teams/{team_slug}", { org: owner, team_slug: slug });
      if (!t)
        issues.push({
          message: `${what} ${slug} does not exist in organisation ${owner}`,
          hint: "create the team or fix its name (the slug)",
        });
    };
    if (isOrg) for (const t of req.teams) await checkTeam(t.name, "team");

    const repo = await ghMaybe<{ topics?: string[]; permissions?: { admin?: boolean } }>(ctx, "GET /repos/{owner}/{repo}", {
      owner,
      repo: req.name,
    });
    if (!repo && installation && !isOrg)
      issues.push({
        message: `a GitHub App cannot create repositories of the user ${owner}`,
        hint: "create the repository in an organisation, or authenticate with a token of the user (GITHUB_TOKEN)",
      });
    if (repo) {
      if (!(repo.topics ?? []).includes(marker))
        issues.push({
          message: `repository ${owner}/${req.name} already exists and was not created by a Lakeforge bootstrap`,
          hint: `choose another name, or add the topic ${marker} to the repository to adopt it`,
        });
      else if (repo.permissions && repo.permissions.admin !== true)
        issues.push({
          message: `the token has no admin permission on ${owner}/${req.name}`,
          hint: "environments and secrets need admin access",
        });
    }

    for (const env of req.environments)
      for (const r of reviewersOf(req, env)) {
        const name = canonicalReviewer(r);
        if (isTeamReviewer(name)) {
          const [org, slug] = name.split("/") as [string, string];
          if (org !== owner.toLowerCase())
            issues.push({ message: `environment ${env.name}: reviewer team ${name} is not in organisation ${owner}` });
          else await checkTeam(slug, `environment ${env.name}: reviewer team`);
        } else {
          const u = await ghMaybe<{ type?: string }>(ctx, "GET /users/{username}", { username: name });
          if (!u || u.type === "Organization")
            issues.push({
              message: `environment ${env.name}: reviewer ${name} is not a GitHub user`,
              hint: "write teams as org/team",
            });
        }
      }
    return issues;
  };

  const desired = (req: BootstrapRequest): DesiredResource[] => {
    const owner = req.owner;
    if (!owner)
      throw new UserError(
        `GitHub bootstrap of ${req.name}: no owner`,
        "name the organisation, or complete the request with withGithubOwner(ctx, request) for the token's user",
      );
    const base = { owner, repo: req.name };
    const repoRef = [ref("github.repository", "repository")];
    const out: DesiredResource[] = [];
    out.push({
      kind: "github.repository",
      name: "repository",
      spec: {
        owner,
        name: req.name,
        visibility: req.visibility,
        description: req.description ?? "",
        topics: [...new Set([...(req.topics ?? []), marker])].sort(),
      },
      dependsOn: [],
    });
    for (const t of req.teams)
      out.push({
        kind: "github.team_access",
        name: t.name,
        spec: { ...base, team: t.name, permission: t.permission },
        dependsOn: repoRef,
      });
    for (const [name, value] of Object.entries(req.variables))
      out.push({ kind: "github.variable", name, spec: { ...base, name, value }, dependsOn: repoRef });
    // Repository secrets after the project is in the repository: never secrets in an empty repository.
    for (const [name, value] of Object.entries(req.secrets ?? {}))
      out.push({
        kind: "github.secret",
        name,
        spec: { ...base, name, value },
        dependsOn: [ref("github.files", req.defaultBranch)],
      });

    const files = new Map(req.files);
    const ownersTeams = req.teams.filter((t) => t.permission === "admin" || t.permission === "maintain");
    const hasOwn = CODEOWNERS_PATHS.some((p) => files.has(p));
    if ((options.codeowners ?? true) && !hasOwn && ownersTeams.length > 0)
      files.set(".github/CODEOWNERS", Buffer.from(`* ${ownersTeams.map((t) => `@${owner}/${t.name}`).join(" ")}\n`));
    const withCodeowners = hasOwn || files.has(".github/CODEOWNERS");
    out.push({
      kind: "github.files",
      name: req.defaultBranch,
      spec: {
        ...base,
        branch: req.defaultBranch,
        message: options.commitMessage ?? "Initial project from Lakeforge",
        files: new FileSet(files),
      },
      dependsOn: repoRef,
    });
    out.push({
      kind: "github.branch",
      name: req.defaultBranch,
      spec: { ...base, branch: req.defaultBranch, default: true },
      dependsOn: [ref("github.files", req.defaultBranch)],
    });
    if (req.releaseBranch !== req.defaultBranch)
      out.push({
        kind: "github.branch",
        name: req.releaseBranch,
        spec: { ...base, branch: req.releaseBranch, from: req.defaultBranch, default: false },
        dependsOn: [ref("github.branch", req.defaultBranch)],
      });
    for (const branch of new Set([req.defaultBranch, req.releaseBranch]))
      out.push({
        kind: protectionMode === "rulesets" ? "github.ruleset" : "github.branch_protection",
        name: branch,
        spec: {
          ...base,
          branch,
          ...(protectionMode === "rulesets" ? { name: `${RULESET_PREFIX}${branch}` } : {}),
          requiredApprovals: options.protection?.requiredApprovals ?? 1,
          requireCodeOwnerReviews: withCodeowners,
          dismissStaleReviews: true,
          enforceAdmins: options.protection?.enforceAdmins ?? false,
          requiredChecks: options.protection?.requiredChecks ?? [],
        },
        // Protection after the teams' access, so a failure leaves nothing locked half-way.
        dependsOn: [ref("github.branch", branch), ...req.teams.map((t) => ref("github.team_access", t.name))],
      });

    for (const env of req.environments) {
      out.push({
        kind: "github.environment",
        name: env.name,
        spec: {
          ...base,
          environment: env.name,
          reviewers: reviewersOf(req, env),
          waitTimer: env.waitTimerMinutes ?? 0,
          branches: env.deployFrom.branches ?? [],
          tags: env.deployFrom.tags ?? [],
        },
        // Reviewers need read access, which team access grants.
        dependsOn: [...repoRef, ...req.teams.map((t) => ref("github.team_access", t.name))],
      });
      const envRef = [ref("github.environment", env.name)];
      for (const [name, value] of Object.entries(env.secrets))
        out.push({
          kind: "github.environment_secret",
          name: `${env.name}/${name}`,
          spec: { ...base, environment: env.name, name, value },
          dependsOn: envRef,
        });
      for (const [name, value] of Object.entries(env.variables))
        out.push({
          kind: "github.environment_variable",
          name: `${env.name}/${name}`,
          spec: { ...base, environment: env.name, name, value },
          dependsOn: envRef,
        });
    }
    if (req.oidcSubjectClaims && req.oidcSubjectClaims.length > 0)
      out.push({
        kind: "github.oidc_subject",
        name: "repository",
        spec: { ...base, claims: req.oidcSubjectClaims },
        dependsOn: repoRef,
      });
    return out;
  };

  const adapters = (): Map<string, ResourceAdapter<GithubCtx>> =>
    new Map(
      [
        repositoryAdapter,
        teamAccessAdapter,
        repositoryVariableAdapter,
        environmentAdapter,
        environmentSecretAdapter,
        environmentVariableAdapter,
        filesAdapter,
        branchAdapter,
        branchProtectionAdapter,
        rulesetAdapter,
        repositorySecretAdapter,
        oidcSubjectAdapter,
      ].map((a) => [a.kind, a]),
    );

  return { name: "github", preflight, desired, adapters };
}
