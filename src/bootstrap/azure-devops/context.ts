import { getBearerHandler, getPersonalAccessTokenHandler, WebApi } from "azure-devops-node-api";
import type { IBuildApi } from "azure-devops-node-api/BuildApi.js";
import type { ICoreApi } from "azure-devops-node-api/CoreApi.js";
import type { IGitApi } from "azure-devops-node-api/GitApi.js";
import type { IPipelinesApi } from "azure-devops-node-api/PipelinesApi.js";
import type { IPolicyApi } from "azure-devops-node-api/PolicyApi.js";
import type { ITaskAgentApi } from "azure-devops-node-api/TaskAgentApi.js";
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  type HttpMethod,
  parseRetryAfter,
  RemoteError,
  type RetryPolicy,
} from "../../clients/http.js";
import { Secret } from "../../lib/secret.js";
import { VERSION } from "../../lib/version.js";

/**
 * The connection to an Azure DevOps organisation through the official `azure-devops-node-api`: a
 * `WebApi` with a personal access token (Basic) or a bearer token (a pipeline's `System.AccessToken`),
 * and the typed clients of the areas a bootstrap uses. Every call goes through `call`, which applies
 * Lakeforge's retry policy (429 and 503 for every request, waiting for `Retry-After`; other 5xx and
 * connection resets for idempotent requests only) and turns failures into `RemoteError`s naming the
 * method and path, never a body, query or header. A create (POST) that fails with a 5xx is not
 * replayed: it fails with `maybeApplied`, so the engine looks the object up before trying again.
 */

export interface AzureDevopsOptions {
  /** The organisation URL, e.g. `https://dev.azure.com/acme` (or a collection URL of Azure DevOps Server). */
  orgUrl: string;
  /** A personal access token, or a bearer token with `auth: "bearer"`. */
  token: Secret | string;
  /** `pat` (default): Basic authentication with a personal access token; `bearer`: an OAuth/System.AccessToken. */
  auth?: "pat" | "bearer";
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  userAgent?: string;
}

export interface AzureDevopsCtx {
  readonly orgUrl: string;
  readonly api: WebApi;
  git(): Promise<IGitApi>;
  core(): Promise<ICoreApi>;
  taskAgent(): Promise<ITaskAgentApi>;
  pipelines(): Promise<IPipelinesApi>;
  build(): Promise<IBuildApi>;
  policy(): Promise<IPolicyApi>;
  /** Runs one library call under the retry policy; `route` is `METHOD path` for errors and decisions. */
  call<T>(route: `${HttpMethod} ${string}`, fn: () => Promise<T>): Promise<T>;
  /** Project ids by name (read once per run). */
  readonly projects: Map<string, Promise<{ id: string; name: string } | undefined>>;
  /** Team ids of a project by lower-case team name (read once per run). */
  readonly teams: Map<string, Promise<Map<string, { id: string; name: string }>>>;
  /** Identity descriptors by identity id (read once per run). */
  readonly descriptors: Map<string, Promise<string | undefined>>;
  /** The URL of the identities service (`vssps.dev.azure.com/<org>` on Azure DevOps Services), found once per run. */
  identitiesUrl(): Promise<string>;
}

const once = <T>(f: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => {
    if (!p) {
      p = f();
      p.catch(() => {
        p = undefined;
      });
    }
    return p;
  };
};

interface LibraryError {
  statusCode?: number;
  message?: string;
  code?: string;
  result?: { message?: unknown; typeKey?: unknown } | null;
  responseHeaders?: Record<string, string | string[] | undefined>;
}

const NOT_SENT = new Set(["ECONNREFUSED", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH"]);
const MAYBE_SENT = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ESOCKETTIMEDOUT", "ECONNABORTED"]);
const IDEMPOTENT = new Set<HttpMethod>(["GET", "HEAD", "PUT", "DELETE"]);

/** Turns a failure of the library into a `RemoteError` (method and path only). */
export function toRemoteError(e: unknown, method: HttpMethod, path: string, attempts: number): unknown {
  if (e instanceof RemoteError) return e;
  const err = e as LibraryError;
  if (typeof err?.statusCode === "number") {
    const status = err.statusCode;
    const body = err.result && typeof err.result === "object" ? err.result : undefined;
    const remoteMessage =
      (typeof body?.message === "string" && body.message) ||
      (typeof err.message === "string" && err.message) ||
      `request failed with ${status}`;
    return new RemoteError({
      provider: "azure-devops",
      kind: "http",
      method,
      path,
      status,
      ...(typeof body?.typeKey === "string" ? { code: body.typeKey } : {}),
      remoteMessage,
      maybeApplied: !IDEMPOTENT.has(method) && status >= 500 && status !== 503,
      retryable: status === 429 || status >= 500,
      attempts,
    });
  }
  if (typeof err?.code === "string" && (NOT_SENT.has(err.code) || MAYBE_SENT.has(err.code)))
    return new RemoteError({
      provider: "azure-devops",
      kind: "network",
      method,
      path,
      status: 0,
      code: err.code,
      remoteMessage: "no answer",
      maybeApplied: MAYBE_SENT.has(err.code) && !IDEMPOTENT.has(method),
      retryable: true,
      attempts,
    });
  return e;
}

/** Whether attempt `attempt` of `method` failing with `e` may be tried again, and after how long. */
function retryDecision(
  e: unknown,
  method: HttpMethod,
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
): number | undefined {
  const err = e as LibraryError;
  const backoff = () => backoffDelay(attempt, policy, random);
  if (typeof err?.statusCode === "number") {
    const status = err.statusCode;
    if (status === 429 || status === 503) {
      const header = err.responseHeaders?.["retry-after"];
      const after = parseRetryAfter(Array.isArray(header) ? header[0] : header, Date.now());
      return after === undefined ? backoff() : Math.min(after, policy.maxRetryAfterMs);
    }
    if (status >= 500 && status !== 501 && status !== 505 && IDEMPOTENT.has(method)) return backoff();
    return undefined;
  }
  if (typeof err?.code === "string") {
    if (NOT_SENT.has(err.code)) return backoff();
    if (MAYBE_SENT.has(err.code) && IDEMPOTENT.has(method)) return backoff();
  }
  return undefined;
}

/** The resource area of identities (IMS). */
const IDENTITIES_AREA_ID = "8a3d49b8-91f0-46ef-b33d-dda338c25db3";

export function createAzureDevopsContext(options: AzureDevopsOptions): AzureDevopsCtx {
  const orgUrl = options.orgUrl.replace(/\/+$/, "");
  const token = Secret.from(options.token);
  const handler = options.auth === "bearer" ? getBearerHandler(token.reveal()) : getPersonalAccessTokenHandler(token.reveal());
  const api = new WebApi(orgUrl, handler, { allowRetries: false }, {
    productName: "lakeforge",
    productVersion: VERSION,
    userAgent: options.userAgent ?? `lakeforge/${VERSION}`,
  } as never);
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;

  const call = async <T>(route: `${HttpMethod} ${string}`, fn: () => Promise<T>): Promise<T> => {
    const method = route.slice(0, route.indexOf(" ")) as HttpMethod;
    const path = route.slice(method.length + 1);
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const wait = attempt < policy.maxAttempts ? retryDecision(e, method, attempt, policy, random) : undefined;
        if (wait === undefined || Date.now() - started + wait > policy.maxElapsedMs)
          throw toRemoteError(e, method, path, attempt);
        await sleep(wait);
      }
    }
  };

  // Resource-area discovery is itself a request: under the policy too.
  const client = <T>(area: string, get: () => Promise<T>) => once(() => call(`GET /_apis/ResourceAreas (${area})`, get));
  return {
    orgUrl,
    api,
    call,
    git: client("git", () => api.getGitApi()),
    core: client("core", () => api.getCoreApi()),
    taskAgent: client("distributedtask", () => api.getTaskAgentApi()),
    pipelines: client("pipelines", () => api.getPipelinesApi()),
    build: client("build", () => api.getBuildApi()),
    policy: client("policy", () => api.getPolicyApi()),
    projects: new Map(),
    teams: new Map(),
    descriptors: new Map(),
    // Identities are served by their own resource area (IMS); a server without resource areas
    // (Azure DevOps Server) serves them at the collection URL.
    identitiesUrl: once(async () => {
      const locations = await call("GET /_apis/ResourceAreas (ims)", () => api.getLocationsApi());
      const areas = await call("GET /_apis/ResourceAreas", () => locations.getResourceAreas());
      const ims = (areas ?? []).find((a) => a.id?.toLowerCase() === IDENTITIES_AREA_ID);
      return (ims?.locationUrl ?? orgUrl).replace(/\/+$/, "");
    }),
  };
}

/** The project's id and name (undefined when it does not exist or the token cannot see it). */
export function projectOf(ctx: AzureDevopsCtx, project: string): Promise<{ id: string; name: string } | undefined> {
  const key = project.toLowerCase();
  let p = ctx.projects.get(key);
  if (!p) {
    p = (async () => {
      const core = await ctx.core();
      const data = await ctx.call(`GET /_apis/projects/${project}`, () => core.getProject(project));
      return data?.id ? { id: data.id, name: data.name ?? project } : undefined;
    })();
    p.catch(() => ctx.projects.delete(key));
    ctx.projects.set(key, p);
  }
  return p;
}

/** The project's id, or a located error when it does not exist. */
export async function projectId(ctx: AzureDevopsCtx, project: string): Promise<string> {
  const p = await projectOf(ctx, project);
  if (!p)
    throw new RemoteError({
      provider: "azure-devops",
      kind: "http",
      method: "GET",
      path: `/_apis/projects/${project}`,
      status: 404,
      remoteMessage: `project ${project} does not exist`,
    });
  return p.id;
}

/** The project's teams by lower-case name (read once per run). */
export function teamsOf(ctx: AzureDevopsCtx, project: string): Promise<Map<string, { id: string; name: string }>> {
  const key = project.toLowerCase();
  let p = ctx.teams.get(key);
  if (!p) {
    p = (async () => {
      const core = await ctx.core();
      const out = new Map<string, { id: string; name: string }>();
      for (let skip = 0; ; skip += 100) {
        const page = await ctx.call(`GET /_apis/projects/${project}/teams`, () => core.getTeams(project, false, 100, skip));
        for (const t of page ?? []) if (t.id && t.name) out.set(t.name.toLowerCase(), { id: t.id, name: t.name });
        if (!page || page.length < 100) break;
      }
      return out;
    })();
    p.catch(() => ctx.teams.delete(key));
    ctx.teams.set(key, p);
  }
  return p;
}

/**
 * A raw request through the library's own REST client (same authentication), for APIs it has no
 * client for. `baseUrl` (default the organisation URL) serves APIs of another resource area.
 */
export async function rawRequest<T>(
  ctx: AzureDevopsCtx,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  apiVersion: string,
  body?: unknown,
  baseUrl: string = ctx.orgUrl,
): Promise<T | undefined> {
  const url = `${baseUrl}/${path.replace(/^\/+/, "")}`;
  const where = path.split("?")[0] as string;
  const options = { acceptHeader: `application/json;api-version=${apiVersion}` };
  return ctx.call(`${method} /${where.replace(/^\/+/, "")}`, async () => {
    const rest = ctx.api.rest;
    const res =
      method === "GET"
        ? await rest.get<T>(url, options)
        : method === "POST"
          ? await rest.create<T>(url, body, options)
          : method === "PATCH"
            ? await rest.update<T>(url, body, options)
            : await rest.del<T>(url, options);
    return res.result ?? undefined;
  });
}
