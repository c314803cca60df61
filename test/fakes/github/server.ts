import { generateKeyPairSync, type KeyObject, randomBytes, verify } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import sodium from "libsodium-wrappers";
import { GitStore } from "./git.js";
import { type MatchedOperation, OpenApiValidator } from "./openapi.js";

/**
 * A stateful fake of the GitHub REST API (the operations a repository bootstrap uses), listening on
 * 127.0.0.1. Every request and every response is checked against GitHub's published OpenAPI
 * description: a request or response it does not allow is answered with 400 and recorded in
 * `violations`, which tests assert to be empty.
 *
 * Error answers with a status the description does not list for an operation (GitHub answers 404 for
 * a missing environment although the description lists only 200) are checked against `basic-error`,
 * the shape of every GitHub error body.
 */

export const OPERATIONS = [
  "GET /user",
  "GET /users/{username}",
  "GET /orgs/{org}",
  "GET /orgs/{org}/teams/{team_slug}",
  "POST /orgs/{org}/repos",
  "POST /user/repos",
  "GET /repos/{owner}/{repo}",
  "PATCH /repos/{owner}/{repo}",
  "DELETE /repos/{owner}/{repo}",
  "PUT /repos/{owner}/{repo}/topics",
  "GET /repos/{owner}/{repo}/teams",
  "PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
  "DELETE /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
  "GET /repos/{owner}/{repo}/actions/variables",
  "POST /repos/{owner}/{repo}/actions/variables",
  "GET /repos/{owner}/{repo}/actions/variables/{name}",
  "PATCH /repos/{owner}/{repo}/actions/variables/{name}",
  "DELETE /repos/{owner}/{repo}/actions/variables/{name}",
  "GET /repos/{owner}/{repo}/environments/{environment_name}",
  "PUT /repos/{owner}/{repo}/environments/{environment_name}",
  "DELETE /repos/{owner}/{repo}/environments/{environment_name}",
  "GET /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
  "POST /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
  "DELETE /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
  "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key",
  "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
  "PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
  "DELETE /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
  "POST /repos/{owner}/{repo}/environments/{environment_name}/variables",
  "GET /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}",
  "PATCH /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}",
  "DELETE /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}",
  "POST /repos/{owner}/{repo}/git/blobs",
  "POST /repos/{owner}/{repo}/git/trees",
  "POST /repos/{owner}/{repo}/git/commits",
  "GET /repos/{owner}/{repo}/git/commits/{commit_sha}",
  "POST /repos/{owner}/{repo}/git/refs",
  "GET /repos/{owner}/{repo}/git/ref/{ref}",
  "PATCH /repos/{owner}/{repo}/git/refs/{ref}",
  "DELETE /repos/{owner}/{repo}/git/refs/{ref}",
  "GET /repos/{owner}/{repo}/branches/{branch}",
  "GET /repos/{owner}/{repo}/branches/{branch}/protection",
  "PUT /repos/{owner}/{repo}/branches/{branch}/protection",
  "DELETE /repos/{owner}/{repo}/branches/{branch}/protection",
  "GET /repos/{owner}/{repo}/actions/oidc/customization/sub",
  "PUT /repos/{owner}/{repo}/actions/oidc/customization/sub",
  "GET /repos/{owner}/{repo}/rulesets",
  "POST /repos/{owner}/{repo}/rulesets",
  "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}",
  "PUT /repos/{owner}/{repo}/rulesets/{ruleset_id}",
  "DELETE /repos/{owner}/{repo}/rulesets/{ruleset_id}",
  "GET /repos/{owner}/{repo}/actions/secrets/public-key",
  "GET /repos/{owner}/{repo}/actions/secrets/{secret_name}",
  "PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}",
  "DELETE /repos/{owner}/{repo}/actions/secrets/{secret_name}",
  // GitHub App endpoints, authenticated with the app's JWT (RS256).
  "GET /app",
  "GET /app/installations/{installation_id}",
  "GET /orgs/{org}/installation",
  "GET /users/{username}/installation",
  "POST /app/installations/{installation_id}/access_tokens",
] as const;

/** Operations that take the app's JWT and nothing else. */
const JWT_OPERATIONS = new Set([
  "GET /app",
  "GET /app/installations/{installation_id}",
  "GET /orgs/{org}/installation",
  "GET /users/{username}/installation",
  "POST /app/installations/{installation_id}/access_tokens",
]);

export interface FakeTeam {
  id: number;
  slug: string;
  name: string;
  org: string;
}

export interface FakeEnvironment {
  id: number;
  name: string;
  createdAt: string;
  updatedAt: string;
  waitTimer: number;
  reviewers: { type: "User" | "Team"; id: number }[];
  branchPolicy: { protected_branches: boolean; custom_branch_policies: boolean } | null;
  policies: Map<number, { id: number; name: string; type: "branch" | "tag" }>;
  key: { id: string; publicKey: Uint8Array; privateKey: Uint8Array };
  secrets: Map<string, { encrypted: string; keyId: string; createdAt: string; updatedAt: string }>;
  variables: Map<string, { value: string; createdAt: string; updatedAt: string }>;
}

export interface FakeRuleset {
  id: number;
  name: string;
  target: string;
  enforcement: string;
  bypass_actors: unknown[];
  conditions: Record<string, unknown> | null;
  rules: unknown[];
  createdAt: string;
  updatedAt: string;
}

export interface FakeApp {
  id: number;
  slug: string;
  owner: string;
  /** The app's private key as GitHub hands it out (PEM, PKCS#1). */
  privateKeyPem: string;
  publicKey: KeyObject;
}

export interface FakeInstallation {
  id: number;
  appId: number;
  account: string;
  permissions: Record<string, string>;
}

export interface FakeRepository {
  id: number;
  owner: string;
  ownerType: "User" | "Organization";
  name: string;
  description: string | null;
  private: boolean;
  visibility: string;
  topics: string[];
  defaultBranch: string;
  createdAt: string;
  updatedAt: string;
  teams: Map<string, string>;
  variables: Map<string, { value: string; createdAt: string; updatedAt: string }>;
  environments: Map<string, FakeEnvironment>;
  git: GitStore;
  protection: Map<string, Record<string, unknown>>;
  rulesets: Map<number, FakeRuleset>;
  secrets: Map<string, { encrypted: string; keyId: string; createdAt: string; updatedAt: string }>;
  key: { id: string; publicKey: Uint8Array; privateKey: Uint8Array };
  oidc: { use_default: boolean; include_claim_keys?: string[] };
}

export interface RecordedRequest {
  method: string;
  /** The URL as received (path and query). */
  url: string;
  operationId?: string;
  status: number;
  /** The raw request body. */
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface HookRequest {
  method: string;
  path: string;
  operationId: string;
  pathParams: Record<string, string>;
  body: unknown;
}

/** Answers a request instead of the fake (a failure, a delay, ...) when it returns an answer. */
export type RequestHook = (req: HookRequest) => { status: number; body?: unknown; headers?: Record<string, string> } | undefined;

export interface GithubFake {
  url: string;
  stop(): Promise<void>;
  addUser(login: string): number;
  addOrg(login: string): number;
  addTeam(org: string, slug: string): FakeTeam;
  /** A token for `login`; `scopes` are sent as `x-oauth-scopes` (a classic token) when given. */
  addToken(token: string, login: string, scopes?: string[]): void;
  repo(owner: string, name: string): FakeRepository | undefined;
  /** Opens a sealed environment secret with the environment's private key. */
  decryptSecret(owner: string, repo: string, environment: string, name: string): string | undefined;
  /** Opens a sealed repository secret with the repository's private key. */
  decryptRepositorySecret(owner: string, repo: string, name: string): string | undefined;
  /** A GitHub App with a fresh RSA key pair; the fake verifies its JWTs with the public key. */
  addApp(slug: string, owner: string): FakeApp;
  /** Installs an app on a user or organisation with these permissions; returns the installation id. */
  installApp(appId: number, account: string, permissions: Record<string, string>): number;
  /** Installation tokens handed out so far. */
  readonly installationTokens: string[];
  /** Requests and responses the description does not allow. */
  readonly violations: string[];
  readonly requests: RecordedRequest[];
  /** Successful writes (every method but GET) so far. */
  writes(): number;
  /** The write after the next `n` successful ones fails with `status` (`count` times, default 1). */
  failAfterWrites(n: number, opts?: { status?: number; count?: number }): void;
  addHook(hook: RequestHook): void;
  clearFaults(): void;
}

const now = () => new Date().toISOString();

let sharedValidator: OpenApiValidator | undefined;

export async function startGithubFake(): Promise<GithubFake> {
  await sodium.ready;
  // Compiled schemas are shared by every fake of the process.
  sharedValidator ??= new OpenApiValidator(OPERATIONS);
  const validator = sharedValidator;
  const users = new Map<string, { id: number; login: string; type: "User" | "Organization" }>();
  const teams = new Map<string, FakeTeam>(); // `${org}/${slug}`
  const tokens = new Map<string, { login: string; scopes?: string[]; installation?: number }>();
  const apps = new Map<number, FakeApp>();
  const installations = new Map<number, FakeInstallation>();
  const installationTokens: string[] = [];
  const repos = new Map<string, FakeRepository>(); // `${owner}/${name}` lower-case
  const violations: string[] = [];
  const requests: RecordedRequest[] = [];
  const hooks: RequestHook[] = [];
  let writeCount = 0;
  let nextId = 1000;
  let fault: { after: number; status: number; count: number } | undefined;
  let base = "";

  const userObj = (login: string) => {
    const u = users.get(login.toLowerCase());
    if (!u) throw new Error(`no user ${login}`);
    const url = `${base}/users/${u.login}`;
    return {
      login: u.login,
      id: u.id,
      node_id: `U_${u.id}`,
      avatar_url: `${base}/avatars/${u.id}`,
      gravatar_id: "",
      url,
      html_url: `${base}/${u.login}`,
      followers_url: `${url}/followers`,
      following_url: `${url}/following{/other_user}`,
      gists_url: `${url}/gists{/gist_id}`,
      starred_url: `${url}/starred{/owner}{/repo}`,
      subscriptions_url: `${url}/subscriptions`,
      organizations_url: `${url}/orgs`,
      repos_url: `${url}/repos`,
      events_url: `${url}/events{/privacy}`,
      received_events_url: `${url}/received_events`,
      type: u.type,
      site_admin: false,
    };
  };
  const publicUser = (login: string) => ({
    ...userObj(login),
    name: null,
    company: null,
    blog: "",
    location: null,
    email: null,
    hireable: null,
    bio: null,
    public_repos: 0,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: "2020-01-01T00:00:00Z",
    updated_at: "2020-01-01T00:00:00Z",
  });
  const teamObj = (t: FakeTeam) => ({
    id: t.id,
    node_id: `T_${t.id}`,
    url: `${base}/organizations/1/team/${t.id}`,
    html_url: `${base}/orgs/${t.org}/teams/${t.slug}`,
    name: t.name,
    slug: t.slug,
    description: null,
    privacy: "closed",
    notification_setting: "notifications_enabled",
    permission: "pull",
    members_url: `${base}/organizations/1/team/${t.id}/members{/member}`,
    repositories_url: `${base}/organizations/1/team/${t.id}/repos`,
    type: "organization",
    parent: null,
  });
  const orgFull = (login: string) => {
    const u = users.get(login.toLowerCase()) as { id: number; login: string };
    const url = `${base}/orgs/${u.login}`;
    return {
      login: u.login,
      id: u.id,
      node_id: `O_${u.id}`,
      url,
      repos_url: `${url}/repos`,
      events_url: `${url}/events`,
      hooks_url: `${url}/hooks`,
      issues_url: `${url}/issues`,
      members_url: `${url}/members{/member}`,
      public_members_url: `${url}/public_members{/member}`,
      avatar_url: `${base}/avatars/${u.id}`,
      description: null,
      html_url: `${base}/${u.login}`,
      has_organization_projects: true,
      has_repository_projects: true,
      public_repos: 0,
      public_gists: 0,
      followers: 0,
      following: 0,
      type: "Organization",
      created_at: "2020-01-01T00:00:00Z",
      updated_at: "2020-01-01T00:00:00Z",
      archived_at: null,
    };
  };
  const repoObj = (r: FakeRepository, viewer: string) => {
    const full = `${r.owner}/${r.name}`;
    const url = `${base}/repos/${full}`;
    const urls = Object.fromEntries(
      [
        "archive",
        "assignees",
        "blobs",
        "branches",
        "collaborators",
        "comments",
        "commits",
        "compare",
        "contents",
        "contributors",
        "deployments",
        "downloads",
        "events",
        "forks",
        "git_commits",
        "git_refs",
        "git_tags",
        "hooks",
        "issue_comment",
        "issue_events",
        "issues",
        "keys",
        "labels",
        "languages",
        "merges",
        "milestones",
        "notifications",
        "pulls",
        "releases",
        "stargazers",
        "statuses",
        "subscribers",
        "subscription",
        "tags",
        "teams",
        "trees",
      ].map((k) => [`${k}_url`, `${url}/${k.replace("_", "/")}`]),
    );
    const admin = viewer.toLowerCase() === r.owner.toLowerCase() || users.get(r.owner.toLowerCase())?.type === "Organization";
    return {
      ...urls,
      id: r.id,
      node_id: `R_${r.id}`,
      name: r.name,
      full_name: full,
      owner: userObj(r.owner),
      private: r.private,
      visibility: r.visibility,
      html_url: `${base}/${full}`,
      description: r.description,
      fork: false,
      url,
      clone_url: `${base}/${full}.git`,
      git_url: `git://fake/${full}.git`,
      ssh_url: `git@fake:${full}.git`,
      svn_url: `${base}/${full}`,
      mirror_url: null,
      homepage: null,
      language: null,
      forks: 0,
      forks_count: 0,
      stargazers_count: 0,
      watchers: 0,
      watchers_count: 0,
      size: 0,
      default_branch: r.defaultBranch,
      open_issues: 0,
      open_issues_count: 0,
      topics: r.topics,
      has_issues: true,
      has_projects: true,
      has_wiki: true,
      has_pages: false,
      has_discussions: false,
      archived: false,
      disabled: false,
      license: null,
      pushed_at: r.updatedAt,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
      network_count: 0,
      subscribers_count: 0,
      permissions: { admin, maintain: admin, push: admin, triage: admin, pull: true },
    };
  };
  const envObj = (r: FakeRepository, e: FakeEnvironment) => {
    const rules: Record<string, unknown>[] = [];
    if (e.waitTimer > 0) rules.push({ id: e.id * 10 + 1, node_id: `G_${e.id}1`, type: "wait_timer", wait_timer: e.waitTimer });
    if (e.reviewers.length > 0) {
      rules.push({
        id: e.id * 10 + 2,
        node_id: `G_${e.id}2`,
        type: "required_reviewers",
        prevent_self_review: false,
        reviewers: e.reviewers.map((rv) => {
          if (rv.type === "User") {
            const u = [...users.values()].find((x) => x.id === rv.id) as { login: string };
            return { type: "User", reviewer: userObj(u.login) };
          }
          return { type: "Team", reviewer: teamObj([...teams.values()].find((t) => t.id === rv.id) as FakeTeam) };
        }),
      });
    }
    if (e.branchPolicy) rules.push({ id: e.id * 10 + 3, node_id: `G_${e.id}3`, type: "branch_policy" });
    return {
      id: e.id,
      node_id: `E_${e.id}`,
      name: e.name,
      url: `${base}/repos/${r.owner}/${r.name}/environments/${encodeURIComponent(e.name)}`,
      html_url: `${base}/${r.owner}/${r.name}/deployments/activity_log?environments_filter=${encodeURIComponent(e.name)}`,
      created_at: e.createdAt,
      updated_at: e.updatedAt,
      protection_rules: rules,
      deployment_branch_policy: e.branchPolicy,
    };
  };
  const commitObj = (r: FakeRepository, sha: string) => {
    const c = r.git.get(sha, "commit");
    if (!c) return undefined;
    const url = `${base}/repos/${r.owner}/${r.name}/git/commits/${sha}`;
    return {
      sha,
      node_id: `C_${sha.slice(0, 8)}`,
      url,
      html_url: `${base}/${r.owner}/${r.name}/commit/${sha}`,
      author: c.author,
      committer: c.committer,
      message: c.message,
      tree: { sha: c.tree, url: `${base}/repos/${r.owner}/${r.name}/git/trees/${c.tree}` },
      parents: c.parents.map((p) => ({
        sha: p,
        url: `${base}/repos/${r.owner}/${r.name}/git/commits/${p}`,
        html_url: `${base}/${r.owner}/${r.name}/commit/${p}`,
      })),
      verification: { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null },
    };
  };
  const refObj = (r: FakeRepository, ref: string) => ({
    ref,
    node_id: `REF_${ref}`,
    url: `${base}/repos/${r.owner}/${r.name}/git/${ref}`,
    object: {
      type: "commit",
      sha: r.git.refs.get(ref) as string,
      url: `${base}/repos/${r.owner}/${r.name}/git/commits/${r.git.refs.get(ref)}`,
    },
  });
  const protectionObj = (r: FakeRepository, branch: string, p: Record<string, unknown>) => {
    const url = `${base}/repos/${r.owner}/${r.name}/branches/${branch}/protection`;
    const reviews = p.required_pull_request_reviews as Record<string, unknown> | null;
    const checks = p.required_status_checks as { strict: boolean; contexts: string[] } | null;
    return {
      url,
      required_status_checks: checks
        ? {
            url: `${url}/required_status_checks`,
            strict: checks.strict,
            contexts: checks.contexts,
            checks: checks.contexts.map((c) => ({ context: c, app_id: null })),
          }
        : undefined,
      required_pull_request_reviews: reviews
        ? {
            url: `${url}/required_pull_request_reviews`,
            dismiss_stale_reviews: reviews.dismiss_stale_reviews === true,
            require_code_owner_reviews: reviews.require_code_owner_reviews === true,
            required_approving_review_count: (reviews.required_approving_review_count as number | undefined) ?? 1,
            require_last_push_approval: reviews.require_last_push_approval === true,
          }
        : undefined,
      enforce_admins: { url: `${url}/enforce_admins`, enabled: p.enforce_admins === true },
      required_linear_history: { enabled: p.required_linear_history === true },
      allow_force_pushes: { enabled: p.allow_force_pushes === true },
      allow_deletions: { enabled: p.allow_deletions === true },
      required_conversation_resolution: { enabled: p.required_conversation_resolution === true },
    };
  };

  const rulesetObj = (r: FakeRepository, x: FakeRuleset) => ({
    id: x.id,
    name: x.name,
    target: x.target,
    source_type: "Repository",
    source: `${r.owner}/${r.name}`,
    enforcement: x.enforcement,
    bypass_actors: x.bypass_actors,
    current_user_can_bypass: "never",
    node_id: `RRS_${x.id}`,
    _links: {
      self: { href: `${base}/repos/${r.owner}/${r.name}/rulesets/${x.id}` },
      html: { href: `${base}/${r.owner}/${r.name}/rules/${x.id}` },
    },
    conditions: x.conditions,
    rules: x.rules,
    created_at: x.createdAt,
    updated_at: x.updatedAt,
  });
  const appObj = (app: FakeApp) => ({
    id: app.id,
    slug: app.slug,
    node_id: `A_${app.id}`,
    client_id: `Iv1.${app.id}`,
    owner: userObj(app.owner),
    name: app.slug,
    description: null,
    external_url: `${base}/apps/${app.slug}`,
    html_url: `${base}/apps/${app.slug}`,
    created_at: "2020-01-01T00:00:00Z",
    updated_at: "2020-01-01T00:00:00Z",
    permissions: {},
    events: [],
  });
  const installationObj = (i: FakeInstallation) => {
    const app = apps.get(i.appId) as FakeApp;
    const account = users.get(i.account.toLowerCase()) as { id: number; type: string };
    return {
      id: i.id,
      account: userObj(i.account),
      repository_selection: "all",
      access_tokens_url: `${base}/app/installations/${i.id}/access_tokens`,
      repositories_url: `${base}/installation/repositories`,
      html_url: `${base}/organizations/${i.account}/settings/installations/${i.id}`,
      app_id: i.appId,
      client_id: `Iv1.${i.appId}`,
      target_id: account.id,
      target_type: account.type,
      permissions: i.permissions,
      events: [],
      created_at: "2020-01-01T00:00:00Z",
      updated_at: "2020-01-01T00:00:00Z",
      single_file_name: null,
      app_slug: app.slug,
      suspended_by: null,
      suspended_at: null,
    };
  };

  /** The app a JWT was signed by (RS256 with the app's key, `iss` its id, valid now), or undefined. */
  const appOfJwt = (jwt: string): number | undefined => {
    const parts = jwt.split(".");
    if (parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(Buffer.from(parts[0] as string, "base64url").toString("utf8")) as { alg?: string };
      const claims = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8")) as {
        iss?: unknown;
        iat?: number;
        exp?: number;
      };
      if (header.alg !== "RS256") return undefined;
      const app = apps.get(Number(claims.iss));
      if (!app) return undefined;
      const signed = verify(
        "sha256",
        Buffer.from(`${parts[0]}.${parts[1]}`),
        app.publicKey,
        Buffer.from(parts[2] as string, "base64url"),
      );
      const nowS = Math.floor(Date.now() / 1000);
      if (!signed || typeof claims.iat !== "number" || typeof claims.exp !== "number") return undefined;
      // GitHub: issued no later than a minute from now, expiring within ten minutes of issue.
      if (claims.iat > nowS + 60 || claims.exp <= nowS || claims.exp - claims.iat > 660) return undefined;
      return app.id;
    } catch {
      return undefined;
    }
  };

  type Answer = { status: number; body?: unknown; headers?: Record<string, string> };
  const err = (status: number, message: string): Answer => ({
    status,
    body: { message, documentation_url: "https://docs.github.com/rest" },
  });
  const notFound = () => err(404, "Not Found");

  const handle = (
    m: MatchedOperation,
    body: Record<string, unknown>,
    login: string,
    query: URLSearchParams,
    appId?: number,
  ): Answer => {
    const p = m.pathParams;
    const key = `${m.method} ${m.template}`;
    const repoOf = () => repos.get(`${p.owner}/${p.repo}`.toLowerCase());
    const t = now();
    switch (key) {
      case "GET /user":
        // An installation token acts as the app's bot, which has no user profile.
        if (login.endsWith("[bot]")) return err(403, "Resource not accessible by integration");
        return { status: 200, body: publicUser(login) };
      case "GET /users/{username}": {
        const u = users.get((p.username as string).toLowerCase());
        return u ? { status: 200, body: publicUser(u.login) } : notFound();
      }
      case "GET /orgs/{org}": {
        const u = users.get((p.org as string).toLowerCase());
        return u?.type === "Organization" ? { status: 200, body: orgFull(u.login) } : notFound();
      }
      case "GET /orgs/{org}/teams/{team_slug}": {
        const team = teams.get(`${p.org}/${p.team_slug}`.toLowerCase());
        if (!team) return notFound();
        return {
          status: 200,
          body: {
            ...teamObj(team),
            created_at: "2020-01-01T00:00:00Z",
            updated_at: "2020-01-01T00:00:00Z",
            members_count: 1,
            repos_count: [...repos.values()].filter((r) => r.teams.has(team.slug)).length,
            organization: { ...orgFull(team.org), collaborators: null },
          },
        };
      }
      case "POST /orgs/{org}/repos":
      case "POST /user/repos": {
        const owner = key === "POST /user/repos" ? login : (p.org as string);
        const o = users.get(owner.toLowerCase());
        if (!o || (key === "POST /orgs/{org}/repos" && o.type !== "Organization")) return notFound();
        const name = body.name as string;
        const k = `${o.login}/${name}`.toLowerCase();
        if (repos.has(k)) return err(422, "Repository creation failed: name already exists on this account");
        const priv = body.private === true || body.visibility === "private";
        const r: FakeRepository = {
          id: nextId++,
          owner: o.login,
          ownerType: o.type,
          name,
          description: (body.description as string | undefined) ?? null,
          private: priv,
          visibility: priv ? "private" : "public",
          topics: [],
          defaultBranch: "main",
          createdAt: t,
          updatedAt: t,
          teams: new Map(),
          variables: new Map(),
          environments: new Map(),
          git: new GitStore(),
          protection: new Map(),
          rulesets: new Map(),
          secrets: new Map(),
          key: (() => {
            const kp = sodium.crypto_box_keypair();
            return { id: String(nextId++), publicKey: kp.publicKey, privateKey: kp.privateKey };
          })(),
          oidc: { use_default: true },
        };
        if (body.auto_init === true) {
          const readme = r.git.put({ type: "blob", data: Buffer.from(`# ${name}\n`) });
          const tree = r.git.writeTree(new Map([["README.md", { mode: "100644", type: "blob", sha: readme }]]));
          const who = { name: "GitHub", email: "noreply@github.com", date: t };
          const commit = r.git.put({ type: "commit", tree, parents: [], message: "Initial commit", author: who, committer: who });
          r.git.refs.set("refs/heads/main", commit);
        }
        repos.set(k, r);
        return { status: 201, body: repoObj(r, login) };
      }
      case "GET /repos/{owner}/{repo}": {
        const r = repoOf();
        return r ? { status: 200, body: repoObj(r, login) } : notFound();
      }
      case "PATCH /repos/{owner}/{repo}": {
        const r = repoOf();
        if (!r) return notFound();
        if ("description" in body) r.description = (body.description as string | null) ?? null;
        if (typeof body.private === "boolean") {
          r.private = body.private;
          r.visibility = body.private ? "private" : "public";
        }
        if (typeof body.visibility === "string") {
          r.visibility = body.visibility;
          r.private = body.visibility !== "public";
        }
        if (typeof body.default_branch === "string") {
          if (!r.git.refs.has(`refs/heads/${body.default_branch}`)) return err(422, "Validation Failed");
          r.defaultBranch = body.default_branch;
        }
        r.updatedAt = t;
        return { status: 200, body: repoObj(r, login) };
      }
      case "DELETE /repos/{owner}/{repo}": {
        const r = repoOf();
        if (!r) return notFound();
        repos.delete(`${r.owner}/${r.name}`.toLowerCase());
        return { status: 204 };
      }
      case "PUT /repos/{owner}/{repo}/topics": {
        const r = repoOf();
        if (!r) return notFound();
        const names = body.names as string[];
        if (names.some((n) => !/^[a-z0-9][a-z0-9-]{0,49}$/.test(n))) return err(422, "Validation Failed");
        r.topics = [...names];
        return { status: 200, body: { names: r.topics } };
      }
      case "GET /repos/{owner}/{repo}/teams": {
        const r = repoOf();
        if (!r) return notFound();
        const list = [...r.teams].map(([slug, permission]) => ({
          ...teamObj(teams.get(`${r.owner}/${slug}`.toLowerCase()) as FakeTeam),
          permission,
        }));
        const perPage = Number(query.get("per_page") ?? 30);
        const page = Number(query.get("page") ?? 1);
        return { status: 200, body: list.slice((page - 1) * perPage, page * perPage) };
      }
      case "PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}":
      case "DELETE /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}": {
        const r = repoOf();
        const team = teams.get(`${p.org}/${p.team_slug}`.toLowerCase());
        if (!r || !team) return notFound();
        if (m.method === "PUT") r.teams.set(team.slug, (body.permission as string | undefined) ?? "push");
        else r.teams.delete(team.slug);
        return { status: 204 };
      }
      case "GET /repos/{owner}/{repo}/actions/variables": {
        const r = repoOf();
        if (!r) return notFound();
        const variables = [...r.variables].map(([name, v]) => ({
          name,
          value: v.value,
          created_at: v.createdAt,
          updated_at: v.updatedAt,
        }));
        return { status: 200, body: { total_count: variables.length, variables } };
      }
      case "POST /repos/{owner}/{repo}/actions/variables":
      case "POST /repos/{owner}/{repo}/environments/{environment_name}/variables": {
        const r = repoOf();
        const scope = m.template.includes("environments") ? r?.environments.get(p.environment_name as string) : r;
        if (!scope) return notFound();
        const name = (body.name as string).toUpperCase();
        if (scope.variables.has(name)) return err(409, "Already exists");
        scope.variables.set(name, { value: body.value as string, createdAt: t, updatedAt: t });
        return { status: 201, body: {} };
      }
      case "GET /repos/{owner}/{repo}/actions/variables/{name}":
      case "PATCH /repos/{owner}/{repo}/actions/variables/{name}":
      case "DELETE /repos/{owner}/{repo}/actions/variables/{name}":
      case "GET /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}":
      case "PATCH /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}":
      case "DELETE /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}": {
        const r = repoOf();
        const scope = m.template.includes("environments") ? r?.environments.get(p.environment_name as string) : r;
        const name = (p.name as string).toUpperCase();
        const v = scope?.variables.get(name);
        if (!scope || !v) return notFound();
        if (m.method === "GET")
          return { status: 200, body: { name, value: v.value, created_at: v.createdAt, updated_at: v.updatedAt } };
        if (m.method === "DELETE") scope.variables.delete(name);
        else {
          if (typeof body.value === "string") v.value = body.value;
          v.updatedAt = t;
        }
        return { status: 204 };
      }
      case "GET /repos/{owner}/{repo}/environments/{environment_name}": {
        const r = repoOf();
        const e = r?.environments.get(p.environment_name as string);
        return r && e ? { status: 200, body: envObj(r, e) } : notFound();
      }
      case "PUT /repos/{owner}/{repo}/environments/{environment_name}": {
        const r = repoOf();
        if (!r) return notFound();
        const name = p.environment_name as string;
        let e = r.environments.get(name);
        const bp = body.deployment_branch_policy as FakeEnvironment["branchPolicy"] | undefined;
        if (bp && bp.protected_branches === bp.custom_branch_policies)
          return err(422, "protected_branches and custom_branch_policies cannot both be set to the same value");
        const reviewers = (body.reviewers as FakeEnvironment["reviewers"] | null | undefined) ?? [];
        for (const rv of reviewers) {
          const exists =
            rv.type === "User"
              ? [...users.values()].some((u) => u.id === rv.id && u.type === "User")
              : [...teams.values()].some((x) => x.id === rv.id && x.org.toLowerCase() === r.owner.toLowerCase());
          if (!exists) return err(422, `reviewer ${rv.type} ${rv.id} does not exist`);
        }
        if (!e) {
          const kp = sodium.crypto_box_keypair();
          e = {
            id: nextId++,
            name,
            createdAt: t,
            updatedAt: t,
            waitTimer: 0,
            reviewers: [],
            branchPolicy: null,
            policies: new Map(),
            key: { id: String(nextId++), publicKey: kp.publicKey, privateKey: kp.privateKey },
            secrets: new Map(),
            variables: new Map(),
          };
          r.environments.set(name, e);
        }
        e.waitTimer = (body.wait_timer as number | undefined) ?? 0;
        e.reviewers = reviewers.map((rv) => ({ type: rv.type, id: rv.id }));
        e.branchPolicy = bp ?? null;
        if (!e.branchPolicy?.custom_branch_policies) e.policies.clear();
        e.updatedAt = t;
        return { status: 200, body: envObj(r, e) };
      }
      case "DELETE /repos/{owner}/{repo}/environments/{environment_name}": {
        const r = repoOf();
        if (!r?.environments.delete(p.environment_name as string)) return notFound();
        return { status: 204 };
      }
      case "GET /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies": {
        const e = repoOf()?.environments.get(p.environment_name as string);
        if (!e) return notFound();
        const list = [...e.policies.values()].map((x) => ({ ...x, node_id: `BP_${x.id}` }));
        return { status: 200, body: { total_count: list.length, branch_policies: list } };
      }
      case "POST /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies": {
        const e = repoOf()?.environments.get(p.environment_name as string);
        if (!e) return notFound();
        if (!e.branchPolicy?.custom_branch_policies) return err(404, "Custom branch policies are not enabled");
        const type = (body.type as "branch" | "tag" | undefined) ?? "branch";
        if ([...e.policies.values()].some((x) => x.name === body.name && x.type === type)) return { status: 303 };
        const policy = { id: nextId++, name: body.name as string, type };
        e.policies.set(policy.id, policy);
        return { status: 200, body: { ...policy, node_id: `BP_${policy.id}` } };
      }
      case "DELETE /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}": {
        const e = repoOf()?.environments.get(p.environment_name as string);
        if (!e?.policies.delete(Number(p.branch_policy_id))) return notFound();
        return { status: 204 };
      }
      case "GET /repos/{owner}/{repo}/actions/secrets/public-key":
      case "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key": {
        const e = m.template.includes("/environments/") ? repoOf()?.environments.get(p.environment_name as string) : repoOf();
        if (!e) return notFound();
        return {
          status: 200,
          body: { key_id: e.key.id, key: sodium.to_base64(e.key.publicKey, sodium.base64_variants.ORIGINAL) },
        };
      }
      case "GET /repos/{owner}/{repo}/actions/secrets/{secret_name}":
      case "PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}":
      case "DELETE /repos/{owner}/{repo}/actions/secrets/{secret_name}":
      case "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}":
      case "PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}":
      case "DELETE /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}": {
        const e = m.template.includes("/environments/") ? repoOf()?.environments.get(p.environment_name as string) : repoOf();
        if (!e) return notFound();
        const name = (p.secret_name as string).toUpperCase();
        const s = e.secrets.get(name);
        if (m.method === "GET")
          return s ? { status: 200, body: { name, created_at: s.createdAt, updated_at: s.updatedAt } } : notFound();
        if (m.method === "DELETE") {
          if (!s) return notFound();
          e.secrets.delete(name);
          return { status: 204 };
        }
        if (body.key_id !== e.key.id) return err(422, "Bad key_id");
        let sealed: Uint8Array;
        try {
          sealed = sodium.from_base64(body.encrypted_value as string, sodium.base64_variants.ORIGINAL);
          sodium.crypto_box_seal_open(sealed, e.key.publicKey, e.key.privateKey);
        } catch {
          return err(422, "encrypted_value could not be decrypted with the environment key");
        }
        e.secrets.set(name, {
          encrypted: body.encrypted_value as string,
          keyId: e.key.id,
          createdAt: s?.createdAt ?? t,
          updatedAt: t,
        });
        return s ? { status: 204 } : { status: 201, body: {} };
      }
      case "POST /repos/{owner}/{repo}/git/blobs": {
        const r = repoOf();
        if (!r) return notFound();
        if (r.git.refs.size === 0) return err(409, "Git Repository is empty.");
        const data =
          body.encoding === "base64"
            ? Buffer.from(body.content as string, "base64")
            : Buffer.from(body.content as string, "utf8");
        const sha = r.git.put({ type: "blob", data });
        return { status: 201, body: { sha, url: `${base}/repos/${r.owner}/${r.name}/git/blobs/${sha}` } };
      }
      case "POST /repos/{owner}/{repo}/git/trees": {
        const r = repoOf();
        if (!r) return notFound();
        if (r.git.refs.size === 0) return err(409, "Git Repository is empty.");
        const files = typeof body.base_tree === "string" ? r.git.flatten(body.base_tree) : new Map();
        for (const e of body.tree as {
          path: string;
          mode: string;
          type: "blob" | "tree" | "commit";
          sha?: string | null;
          content?: string;
        }[]) {
          if (e.sha === null) {
            files.delete(e.path);
            continue;
          }
          const sha = e.content !== undefined ? r.git.put({ type: "blob", data: Buffer.from(e.content) }) : (e.sha as string);
          if (e.type === "blob" && !r.git.get(sha, "blob")) return err(422, `tree.sha ${sha} is not a valid blob`);
          files.set(e.path, { mode: e.mode, type: e.type, sha });
        }
        const sha = r.git.writeTree(files);
        const tree = (
          r.git.get(sha, "tree") as { entries: { name: string; mode: string; type: string; sha: string }[] }
        ).entries.map((x) => ({
          path: x.name,
          mode: x.mode,
          type: x.type,
          sha: x.sha,
          url: `${base}/repos/${r.owner}/${r.name}/git/${x.type}s/${x.sha}`,
        }));
        return { status: 201, body: { sha, url: `${base}/repos/${r.owner}/${r.name}/git/trees/${sha}`, tree, truncated: false } };
      }
      case "POST /repos/{owner}/{repo}/git/commits": {
        const r = repoOf();
        if (!r) return notFound();
        if (!r.git.get(body.tree as string, "tree")) return err(422, "Tree SHA does not exist");
        const parents = (body.parents as string[] | undefined) ?? [];
        if (parents.some((x) => !r.git.get(x, "commit"))) return err(422, "Parent SHA does not exist or is not a commit object");
        const who = (x: unknown) => {
          const o = (x ?? {}) as { name?: string; email?: string; date?: string };
          return { name: o.name ?? login, email: o.email ?? `${login}@users.noreply.fake`, date: o.date ?? t };
        };
        const author = who(body.author);
        const sha = r.git.put({
          type: "commit",
          tree: body.tree as string,
          parents,
          message: body.message as string,
          author,
          committer: body.committer ? who(body.committer) : author,
        });
        return { status: 201, body: commitObj(r, sha) };
      }
      case "GET /repos/{owner}/{repo}/git/commits/{commit_sha}": {
        const r = repoOf();
        const c = r ? commitObj(r, p.commit_sha as string) : undefined;
        return c ? { status: 200, body: c } : notFound();
      }
      case "POST /repos/{owner}/{repo}/git/refs": {
        const r = repoOf();
        if (!r) return notFound();
        const ref = body.ref as string;
        if (!/^refs\/(heads|tags)\/.+/.test(ref))
          return err(422, "Reference name must start with 'refs/' and have at least two slashes");
        if (r.git.refs.has(ref)) return err(422, "Reference already exists");
        if (!r.git.get(body.sha as string, "commit")) return err(422, "Object does not exist");
        r.git.refs.set(ref, body.sha as string);
        return { status: 201, body: refObj(r, ref) };
      }
      case "GET /repos/{owner}/{repo}/git/ref/{ref}": {
        const r = repoOf();
        if (!r) return notFound();
        if (r.git.refs.size === 0) return err(409, "Git Repository is empty.");
        const ref = `refs/${p.ref}`;
        return r.git.refs.has(ref) ? { status: 200, body: refObj(r, ref) } : notFound();
      }
      case "PATCH /repos/{owner}/{repo}/git/refs/{ref}": {
        const r = repoOf();
        const ref = `refs/${p.ref}`;
        const current = r?.git.refs.get(ref);
        if (!r || !current) return err(422, "Reference does not exist");
        const sha = body.sha as string;
        if (!r.git.get(sha, "commit")) return err(422, "Object does not exist");
        // Without force, the new commit must descend from the current one.
        if (body.force !== true) {
          const seen = new Set<string>();
          const queue = [sha];
          while (queue.length > 0) {
            const x = queue.pop() as string;
            if (seen.has(x)) continue;
            seen.add(x);
            queue.push(...(r.git.get(x, "commit")?.parents ?? []));
          }
          if (!seen.has(current)) return err(422, "Update is not a fast forward");
        }
        r.git.refs.set(ref, sha);
        return { status: 200, body: refObj(r, ref) };
      }
      case "DELETE /repos/{owner}/{repo}/git/refs/{ref}": {
        const r = repoOf();
        const ref = `refs/${p.ref}`;
        if (!r?.git.refs.has(ref)) return err(422, "Reference does not exist");
        if (ref === `refs/heads/${r.defaultBranch}`) return err(422, "Cannot delete the default branch");
        r.git.refs.delete(ref);
        r.protection.delete(ref.replace("refs/heads/", ""));
        return { status: 204 };
      }
      case "GET /repos/{owner}/{repo}/branches/{branch}": {
        const r = repoOf();
        const sha = r?.git.refs.get(`refs/heads/${p.branch}`);
        if (!r || !sha) return notFound();
        const c = commitObj(r, sha) as NonNullable<ReturnType<typeof commitObj>>;
        const url = `${base}/repos/${r.owner}/${r.name}/branches/${p.branch}`;
        return {
          status: 200,
          body: {
            name: p.branch,
            commit: {
              url: `${base}/repos/${r.owner}/${r.name}/commits/${sha}`,
              sha,
              node_id: c.node_id,
              html_url: c.html_url,
              comments_url: `${base}/repos/${r.owner}/${r.name}/commits/${sha}/comments`,
              commit: {
                url: c.url,
                author: c.author,
                committer: c.committer,
                message: c.message,
                comment_count: 0,
                tree: c.tree,
                verification: c.verification,
              },
              author: null,
              committer: null,
              parents: c.parents,
            },
            _links: { html: `${base}/${r.owner}/${r.name}/tree/${p.branch}`, self: url },
            protected: r.protection.has(p.branch as string),
            protection: { enabled: r.protection.has(p.branch as string) },
            protection_url: `${url}/protection`,
          },
        };
      }
      case "GET /repos/{owner}/{repo}/branches/{branch}/protection":
      case "PUT /repos/{owner}/{repo}/branches/{branch}/protection":
      case "DELETE /repos/{owner}/{repo}/branches/{branch}/protection": {
        const r = repoOf();
        const branch = p.branch as string;
        if (!r?.git.refs.has(`refs/heads/${branch}`)) return err(404, "Branch not found");
        if (m.method === "GET") {
          const pr = r.protection.get(branch);
          return pr
            ? { status: 200, body: { ...protectionObj(r, branch, pr), name: branch, enabled: true } }
            : err(404, "Branch not protected");
        }
        if (m.method === "DELETE") {
          if (!r.protection.delete(branch)) return err(404, "Branch not protected");
          return { status: 204 };
        }
        r.protection.set(branch, body);
        return { status: 200, body: protectionObj(r, branch, body) };
      }
      case "GET /repos/{owner}/{repo}/rulesets": {
        const r = repoOf();
        if (!r) return notFound();
        const list = [...r.rulesets.values()].map((x) => {
          const { rules: _rules, conditions: _conditions, ...summary } = rulesetObj(r, x);
          return summary;
        });
        const perPage = Number(query.get("per_page") ?? 30);
        const page = Number(query.get("page") ?? 1);
        return { status: 200, body: list.slice((page - 1) * perPage, page * perPage) };
      }
      case "POST /repos/{owner}/{repo}/rulesets":
      case "PUT /repos/{owner}/{repo}/rulesets/{ruleset_id}": {
        const r = repoOf();
        if (!r) return notFound();
        const existing = m.method === "PUT" ? r.rulesets.get(Number(p.ruleset_id)) : undefined;
        if (m.method === "PUT" && !existing) return notFound();
        const name = (body.name as string | undefined) ?? existing?.name ?? "";
        if ([...r.rulesets.values()].some((x) => x.name === name && x.id !== existing?.id))
          return err(422, "Validation Failed: Name must be unique");
        const rules = (body.rules as { type: string }[] | undefined) ?? (existing?.rules as { type: string }[] | undefined) ?? [];
        const types = rules.map((x) => x.type);
        if (new Set(types).size !== types.length) return err(422, "Validation Failed: a rule type may appear once");
        const rs: FakeRuleset = {
          id: existing?.id ?? nextId++,
          name,
          target: (body.target as string | undefined) ?? existing?.target ?? "branch",
          enforcement: (body.enforcement as string | undefined) ?? existing?.enforcement ?? "disabled",
          bypass_actors: (body.bypass_actors as unknown[] | undefined) ?? existing?.bypass_actors ?? [],
          conditions: (body.conditions as Record<string, unknown> | undefined) ?? existing?.conditions ?? null,
          rules,
          createdAt: existing?.createdAt ?? t,
          updatedAt: t,
        };
        r.rulesets.set(rs.id, rs);
        return { status: m.method === "POST" ? 201 : 200, body: rulesetObj(r, rs) };
      }
      case "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}":
      case "DELETE /repos/{owner}/{repo}/rulesets/{ruleset_id}": {
        const r = repoOf();
        const rs = r?.rulesets.get(Number(p.ruleset_id));
        if (!r || !rs) return notFound();
        if (m.method === "DELETE") {
          r.rulesets.delete(rs.id);
          return { status: 204 };
        }
        return { status: 200, body: rulesetObj(r, rs) };
      }
      case "GET /app": {
        const app = apps.get(appId as number) as FakeApp;
        return { status: 200, body: appObj(app) };
      }
      case "GET /app/installations/{installation_id}": {
        const i = installations.get(Number(p.installation_id));
        return i && i.appId === appId ? { status: 200, body: installationObj(i) } : notFound();
      }
      case "GET /orgs/{org}/installation":
      case "GET /users/{username}/installation": {
        const account = (p.org ?? p.username) as string;
        const u = users.get(account.toLowerCase());
        if (!u || (m.template.startsWith("/orgs/") && u.type !== "Organization")) return notFound();
        const i = [...installations.values()].find((x) => x.appId === appId && x.account.toLowerCase() === account.toLowerCase());
        return i ? { status: 200, body: installationObj(i) } : notFound();
      }
      case "POST /app/installations/{installation_id}/access_tokens": {
        const i = installations.get(Number(p.installation_id));
        if (!i || i.appId !== appId) return notFound();
        const app = apps.get(i.appId) as FakeApp;
        const token = `ghs_${randomBytes(18).toString("hex")}`;
        tokens.set(token, { login: `${app.slug}[bot]`, installation: i.id });
        installationTokens.push(token);
        return {
          status: 201,
          body: {
            token,
            expires_at: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
            permissions: i.permissions,
            repository_selection: "all",
          },
        };
      }
      case "GET /repos/{owner}/{repo}/actions/oidc/customization/sub": {
        const r = repoOf();
        return r ? { status: 200, body: r.oidc } : notFound();
      }
      case "PUT /repos/{owner}/{repo}/actions/oidc/customization/sub": {
        const r = repoOf();
        if (!r) return notFound();
        if (body.use_default === false && !(Array.isArray(body.include_claim_keys) && body.include_claim_keys.length > 0))
          return err(422, "include_claim_keys is required when use_default is false");
        r.oidc =
          body.use_default === true
            ? { use_default: true }
            : { use_default: false, include_claim_keys: body.include_claim_keys as string[] };
        return { status: 201, body: {} };
      }
    }
    return err(404, "Not Found");
  };

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      req.on("error", reject);
    });

  const respond = (res: ServerResponse, a: Answer, extra: Record<string, string> = {}) => {
    const headers: Record<string, string> = { "x-github-media-type": "github.v3; format=json", ...extra, ...(a.headers ?? {}) };
    if (a.body === undefined) {
      res.writeHead(a.status, headers);
      res.end();
    } else {
      res.writeHead(a.status, { ...headers, "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(a.body));
    }
  };

  const server = createServer((req, res) => {
    serve(req, res).catch((e: unknown) => {
      violations.push(`${req.method} ${req.url}: the fake failed: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) respond(res, err(500, "fake failure"));
      else res.end();
    });
  });

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const record: RecordedRequest = { method, url: req.url ?? "", status: 0, body: raw, headers: req.headers };
    requests.push(record);
    const finish = (a: Answer, extra?: Record<string, string>) => {
      record.status = a.status;
      respond(res, a, extra);
    };
    const m = validator.match(method, url.pathname);
    if (!m) {
      violations.push(`${method} ${url.pathname}: not an operation of the fake`);
      return finish(err(400, "operation not in the description"));
    }
    record.operationId = m.operationId;
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        violations.push(`${method} ${url.pathname}: body is not JSON`);
        return finish(err(400, "Problems parsing JSON"));
      }
    }
    const problems = validator.checkRequest(m, url.searchParams, body, raw.length > 0);
    if (problems.length > 0) {
      violations.push(`${m.operationId} request: ${problems.join("; ")}`);
      return finish(err(400, `request not allowed by the description: ${problems.join("; ")}`));
    }
    const auth = req.headers.authorization ?? "";
    const token = /^(?:token|bearer)\s+(.+)$/i.exec(auth)?.[1];
    const jwtOnly = JWT_OPERATIONS.has(`${m.method} ${m.template}`);
    const appId = jwtOnly && token ? appOfJwt(token) : undefined;
    const who = jwtOnly ? (appId !== undefined ? { login: "" } : undefined) : token ? tokens.get(token) : undefined;
    const extra: Record<string, string> = who && "scopes" in who && who.scopes ? { "x-oauth-scopes": who.scopes.join(", ") } : {};
    let answer: Answer;
    if (!who) answer = err(401, jwtOnly ? "A JSON web token could not be decoded" : "Bad credentials");
    else if (jwtOnly) answer = handle(m, (body ?? {}) as Record<string, unknown>, "", url.searchParams, appId);
    else {
      const hookReq: HookRequest = { method, path: url.pathname, operationId: m.operationId, pathParams: m.pathParams, body };
      const hooked = hooks.map((h) => h(hookReq)).find((x) => x !== undefined);
      if (hooked) answer = hooked;
      else if (method !== "GET" && fault && writeCount >= fault.after && fault.count > 0) {
        fault.count--;
        answer = err(fault.status, "injected failure");
      } else {
        answer = handle(m, (body ?? {}) as Record<string, unknown>, who.login, url.searchParams);
        if (method !== "GET" && answer.status < 400) writeCount++;
      }
    }
    const status = answer.status;
    let rProblems = validator.checkResponse(m, status, answer.body);
    if (rProblems.length > 0 && status >= 400 && rProblems[0]?.startsWith("status ")) {
      // Undocumented error status: GitHub's error shape.
      rProblems = validator.checkErrorBody(answer.body);
    }
    if (rProblems.length > 0) {
      violations.push(`${m.operationId} response ${status}: ${rProblems.join("; ")}`);
      return finish(err(400, "response not allowed by the description"), extra);
    }
    finish(answer, extra);
  };

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
    addUser(login) {
      const id = nextId++;
      users.set(login.toLowerCase(), { id, login, type: "User" });
      return id;
    },
    addOrg(login) {
      const id = nextId++;
      users.set(login.toLowerCase(), { id, login, type: "Organization" });
      return id;
    },
    addTeam(org, slug) {
      const team = { id: nextId++, slug, name: slug, org };
      teams.set(`${org}/${slug}`.toLowerCase(), team);
      return team;
    },
    addToken(token, login, scopes) {
      tokens.set(token, { login, ...(scopes ? { scopes } : {}) });
    },
    repo: (owner, name) => repos.get(`${owner}/${name}`.toLowerCase()),
    decryptSecret(owner, repo, environment, name) {
      const e = repos.get(`${owner}/${repo}`.toLowerCase())?.environments.get(environment);
      const s = e?.secrets.get(name.toUpperCase());
      if (!e || !s) return undefined;
      const sealed = sodium.from_base64(s.encrypted, sodium.base64_variants.ORIGINAL);
      return sodium.to_string(sodium.crypto_box_seal_open(sealed, e.key.publicKey, e.key.privateKey));
    },
    decryptRepositorySecret(owner, repo, name) {
      const r = repos.get(`${owner}/${repo}`.toLowerCase());
      const s = r?.secrets.get(name.toUpperCase());
      if (!r || !s) return undefined;
      const sealed = sodium.from_base64(s.encrypted, sodium.base64_variants.ORIGINAL);
      return sodium.to_string(sodium.crypto_box_seal_open(sealed, r.key.publicKey, r.key.privateKey));
    },
    addApp(slug, owner) {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const privateKeyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
      const app: FakeApp = { id: nextId++, slug, owner, privateKeyPem, publicKey };
      apps.set(app.id, app);
      return app;
    },
    installApp(appId, account, permissions) {
      if (!apps.has(appId)) throw new Error(`no app ${appId}`);
      if (!users.has(account.toLowerCase())) throw new Error(`no account ${account}`);
      const id = nextId++;
      installations.set(id, { id, appId, account, permissions: { metadata: "read", ...permissions } });
      return id;
    },
    installationTokens,
    violations,
    requests,
    writes: () => writeCount,
    failAfterWrites(n, opts = {}) {
      fault = { after: writeCount + n, status: opts.status ?? 500, count: opts.count ?? 1 };
    },
    addHook(hook) {
      hooks.push(hook);
    },
    clearFaults() {
      fault = undefined;
      hooks.length = 0;
    },
  };
}
