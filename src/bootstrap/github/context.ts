import { createAppAuth } from "@octokit/auth-app";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import type { HttpMethod } from "../../clients/http.js";
import { RemoteError } from "../../clients/http.js";
import { UserError } from "../../lib/errors.js";
import { Secret } from "../../lib/secret.js";
import { VERSION } from "../../lib/version.js";

/**
 * The connection to GitHub (github.com or a GitHub Enterprise Server): an Octokit with the retry and
 * throttling plugins, authenticated with a token or as a GitHub App installation (`@octokit/auth-app`:
 * a JWT signed with the app's private key for the app's own endpoints, installation tokens for the rest,
 * created and renewed by the library and sent only in the `Authorization` header). Requests that create something (POST) are never
 * replayed by the retry plugin: a failed create fails with `maybeApplied` set, so the engine looks
 * the object up by its natural key before trying again. Errors become `RemoteError`s naming the
 * method and path (never the body, query or headers).
 */

/** A GitHub App: its id, its private key (PEM), and optionally the installation to act as. */
export interface GithubAppAuth {
  appId: string | number;
  /** The app's private key, PEM (PKCS#1 as GitHub issues it, or PKCS#8). */
  privateKey: Secret | string;
  /** The installation; without it, the installation on the repository's owner is looked up. */
  installationId?: number;
}

export interface GithubOptions {
  /** A personal access token (classic or fine-grained) or an installation token; or `app` instead. */
  token?: Secret | string;
  /** Authenticate as an installation of this GitHub App instead of with a token. */
  app?: GithubAppAuth;
  /** API root: `https://api.github.com` (default) or `https://<host>/api/v3` for GitHub Enterprise Server. */
  baseUrl?: string;
  /** Retries of idempotent requests after 5xx answers (default 3). */
  retries?: number;
  /** Base of the retry plugin's backoff in milliseconds (default 1000). */
  retryAfterBaseMs?: number;
  /** How many times a rate-limited request is retried (default 2). */
  rateLimitRetries?: number;
  userAgent?: string;
  /**
   * Pace requests as GitHub asks of integrations (one write at a time, a second apart; waits on
   * rate limits). Default true; only a local test server should turn it off.
   */
  throttle?: boolean;
}

// The plugins add request hooks only; the REST methods are those of `Octokit`.
const GithubOctokit: typeof Octokit = Octokit.plugin(retry, throttling);

/** The installation a GitHub App context acts as, as GitHub describes it. */
export interface GithubInstallation {
  id: number;
  /** The user or organisation it is installed on. */
  account: { login: string; type: "User" | "Organization" };
  /** Permission levels by name (`administration: "write"`, `members: "read"`, ...). */
  permissions: Record<string, string>;
  repositorySelection: "all" | "selected";
  /** The app's slug: commits and writes appear as `<slug>[bot]`. */
  appSlug: string;
}

export interface GithubCtx {
  /** The client: token-authenticated, or an app installation's once `resolveInstallation` ran. */
  octokit: Octokit;
  readonly baseUrl: string;
  /** Environment public keys by `owner/repo/environment`, read once per run. */
  readonly publicKeys: Map<string, Promise<{ key_id: string; key: string }>>;
  /** User and team ids by reviewer name, read once per run. */
  readonly reviewerIds: Map<string, Promise<{ type: "User" | "Team"; id: number }>>;
  /** The token's user, read once (an app installation's bot for GitHub App authentication). */
  viewer?: Promise<string>;
  /** Set for GitHub App authentication. */
  readonly app?: {
    readonly appId: string;
    readonly installationId?: number;
    /** An Octokit acting as the given installation (or as the app itself without one). */
    client(installationId?: number): Octokit;
    /** The resolved installation (see `resolveInstallation`). */
    installation?: Promise<GithubInstallation>;
  };
}

export function createGithubContext(options: GithubOptions): GithubCtx {
  const baseUrl = (options.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
  const rateLimitRetries = options.rateLimitRetries ?? 2;
  const common = {
    baseUrl,
    userAgent: options.userAgent ?? `lakeforge/${VERSION}`,
    retry: {
      retries: options.retries ?? 3,
      ...(options.retryAfterBaseMs !== undefined ? { retryAfterBaseValue: options.retryAfterBaseMs } : {}),
    },
    throttle: {
      enabled: options.throttle ?? true,
      onRateLimit: (_after: number, _opts: unknown, _o: unknown, retryCount: number) => retryCount < rateLimitRetries,
      onSecondaryRateLimit: (_after: number, _opts: unknown, _o: unknown, retryCount: number) => retryCount < rateLimitRetries,
    },
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  };
  if (options.app) {
    const app = options.app;
    const appId = String(app.appId);
    const privateKey = Secret.from(app.privateKey);
    const client = (installationId?: number): Octokit =>
      new GithubOctokit({
        ...common,
        authStrategy: createAppAuth,
        auth: { appId, privateKey: privateKey.reveal(), ...(installationId !== undefined ? { installationId } : {}) },
      });
    return {
      octokit: client(app.installationId),
      baseUrl,
      publicKeys: new Map(),
      reviewerIds: new Map(),
      app: { appId, ...(app.installationId !== undefined ? { installationId: app.installationId } : {}), client },
    };
  }
  if (options.token === undefined) throw new Error("createGithubContext: give a token or an app");
  const token = Secret.from(options.token);
  const octokit = new GithubOctokit({ ...common, auth: token.reveal() });
  return { octokit, baseUrl, publicKeys: new Map(), reviewerIds: new Map() };
}

interface InstallationData {
  id: number;
  account?: { login?: string; slug?: string; type?: string } | null;
  permissions?: Record<string, string | undefined>;
  repository_selection?: "all" | "selected";
  app_slug?: string;
}

/**
 * The installation a GitHub App context acts as: the given one (`GET /app/installations/{id}`), else
 * the app's installation on `owner` (`GET /orgs/{org}/installation`, then `/users/{username}/installation`).
 * Once found, the context's client acts as that installation. Read once per context. A rejected app
 * (bad id or key) or a missing installation is a `UserError`; nothing is written either way.
 */
export function resolveInstallation(ctx: GithubCtx, owner: string | undefined): Promise<GithubInstallation> {
  const app = ctx.app;
  if (!app) throw new Error("resolveInstallation: not a GitHub App context");
  if (!app.installation) {
    const p = (async () => {
      const appClient = app.client();
      const call = async <T>(route: string, params: Params): Promise<T | undefined> => {
        const method = route.split(" ")[0] as HttpMethod;
        try {
          return (await appClient.request(route, params)).data as T;
        } catch (e) {
          const status = (e as { status?: number }).status;
          if (status === 404) return undefined;
          if (status === 401)
            throw new UserError(
              `GitHub (${ctx.baseUrl}) rejected the GitHub App ${app.appId}: its id or private key is wrong`,
              "check GITHUB_APP_ID and that the private key is the app's current one (PEM)",
            );
          throw toRemoteError(e, method, route.slice(method.length + 1));
        }
      };
      await call("GET /app", {});
      let data: InstallationData | undefined;
      if (app.installationId !== undefined)
        data = await call<InstallationData>("GET /app/installations/{installation_id}", { installation_id: app.installationId });
      else if (owner) {
        data =
          (await call<InstallationData>("GET /orgs/{org}/installation", { org: owner })) ??
          (await call<InstallationData>("GET /users/{username}/installation", { username: owner }));
      } else
        throw new UserError(
          "a GitHub App needs the repository's owner to find its installation",
          "name the organisation or user (--org), or set GITHUB_APP_INSTALLATION_ID",
        );
      if (!data)
        throw new UserError(
          app.installationId !== undefined
            ? `GitHub App ${app.appId} has no installation ${app.installationId}`
            : `GitHub App ${app.appId} is not installed on ${owner}`,
          "install the app on the organisation (or user) that owns the repository, or fix GITHUB_APP_INSTALLATION_ID",
        );
      const login = data.account?.login ?? data.account?.slug ?? owner ?? "";
      const installation: GithubInstallation = {
        id: data.id,
        account: { login, type: data.account?.type === "User" ? "User" : "Organization" },
        permissions: Object.fromEntries(
          Object.entries(data.permissions ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
        ),
        repositorySelection: data.repository_selection ?? "selected",
        appSlug: data.app_slug ?? `app-${app.appId}`,
      };
      if (app.installationId === undefined) ctx.octokit = app.client(installation.id);
      ctx.viewer ??= Promise.resolve(`${installation.appSlug}[bot]`);
      return installation;
    })();
    p.catch(() => {
      app.installation = undefined;
    });
    app.installation = p;
  }
  return app.installation;
}

interface OctokitError {
  status?: number;
  message?: string;
  request?: { method?: string; url?: string };
  response?: { data?: unknown };
}

/** Turns an Octokit failure into a `RemoteError` (method and path only; the body stays out). */
export function toRemoteError(e: unknown, method: HttpMethod, fallbackPath: string): unknown {
  if (e instanceof RemoteError) return e;
  const err = e as OctokitError;
  if (typeof err?.status !== "number") return e;
  let path = fallbackPath;
  try {
    if (err.request?.url) path = new URL(err.request.url).pathname;
  } catch {
    // keep the route
  }
  const data = (err.response?.data ?? {}) as { message?: unknown; errors?: { code?: unknown; message?: unknown }[] };
  const first = Array.isArray(data.errors) ? data.errors[0] : undefined;
  const remoteMessage = [
    typeof data.message === "string" ? data.message : err.message,
    typeof first?.message === "string" ? first.message : undefined,
  ]
    .filter(Boolean)
    .join(": ");
  const status = err.status;
  const transient = status === 429 || status >= 500;
  return new RemoteError({
    provider: "github",
    kind: "http",
    method,
    path,
    status,
    ...(typeof first?.code === "string" ? { code: first.code } : {}),
    remoteMessage: remoteMessage || "request failed",
    // A create (POST) is not replayed after a 5xx: it may have taken effect.
    maybeApplied: method === "POST" && status >= 500 && status !== 503,
    retryable: transient,
  });
}

type Params = Record<string, unknown>;

/** One request; `route` is `METHOD /path/{param}`. Resolves with the data and headers. */
export async function gh<T = unknown>(
  ctx: GithubCtx,
  route: string,
  params: Params = {},
): Promise<{ data: T; headers: Record<string, string | number | undefined>; status: number }> {
  const method = route.split(" ")[0] as HttpMethod;
  try {
    const res = await ctx.octokit.request(route, {
      ...params,
      // Only idempotent requests are replayed by the retry plugin.
      ...(method === "POST" ? { request: { retries: 0 } } : {}),
    });
    return { data: res.data as T, headers: res.headers as Record<string, string | number | undefined>, status: res.status };
  } catch (e) {
    throw toRemoteError(e, method, route.slice(method.length + 1));
  }
}

/** The login of the token's user (read once per context); an app installation's bot. */
export function viewerLogin(ctx: GithubCtx): Promise<string> {
  if (ctx.app) return ctx.app.installation ? ctx.app.installation.then((i) => `${i.appSlug}[bot]`) : Promise.resolve("");
  if (!ctx.viewer) {
    const p = gh<{ login: string }>(ctx, "GET /user").then((r) => r.data.login);
    p.catch(() => {
      ctx.viewer = undefined;
    });
    ctx.viewer = p;
  }
  return ctx.viewer;
}

/** Like `gh`, but `undefined` for a 404 (and for the statuses in `alsoMissing`). */
export async function ghMaybe<T = unknown>(
  ctx: GithubCtx,
  route: string,
  params: Params = {},
  alsoMissing: number[] = [],
): Promise<T | undefined> {
  try {
    return (await gh<T>(ctx, route, params)).data;
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 404 || (status !== undefined && alsoMissing.includes(status))) return undefined;
    throw e;
  }
}

/** Every item of a paged list. */
export async function ghList<T>(ctx: GithubCtx, route: string, params: Params = {}): Promise<T[]> {
  const method = route.split(" ")[0] as HttpMethod;
  try {
    return (await ctx.octokit.paginate(route, { per_page: 100, ...params })) as T[];
  } catch (e) {
    throw toRemoteError(e, method, route.slice(method.length + 1));
  }
}
