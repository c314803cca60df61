import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import type { HttpMethod } from "../../clients/http.js";
import { RemoteError } from "../../clients/http.js";
import { Secret } from "../../lib/secret.js";
import { VERSION } from "../../lib/version.js";

/**
 * The connection to GitHub (github.com or a GitHub Enterprise Server): an Octokit with the retry and
 * throttling plugins and token authentication. Requests that create something (POST) are never
 * replayed by the retry plugin: a failed create fails with `maybeApplied` set, so the engine looks
 * the object up by its natural key before trying again. Errors become `RemoteError`s naming the
 * method and path (never the body, query or headers).
 */

export interface GithubOptions {
  /** A personal access token (classic or fine-grained) or an installation token. */
  token: Secret | string;
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

export interface GithubCtx {
  readonly octokit: Octokit;
  readonly baseUrl: string;
  /** Environment public keys by `owner/repo/environment`, read once per run. */
  readonly publicKeys: Map<string, Promise<{ key_id: string; key: string }>>;
  /** User and team ids by reviewer name, read once per run. */
  readonly reviewerIds: Map<string, Promise<{ type: "User" | "Team"; id: number }>>;
  /** The token's user, read once. */
  viewer?: Promise<string>;
}

export function createGithubContext(options: GithubOptions): GithubCtx {
  const token = Secret.from(options.token);
  const baseUrl = (options.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
  const rateLimitRetries = options.rateLimitRetries ?? 2;
  const octokit = new GithubOctokit({
    auth: token.reveal(),
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
  });
  return { octokit, baseUrl, publicKeys: new Map(), reviewerIds: new Map() };
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

/** The login of the token's user (read once per context). */
export function viewerLogin(ctx: GithubCtx): Promise<string> {
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
