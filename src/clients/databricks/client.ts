import {
  type AuthProvider,
  type ErrorParser,
  HttpClient,
  type HttpClientOptions,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type Query,
  RemoteError,
} from "../http.js";

/** Options of the underlying `HttpClient` a caller may set (retry policy, hooks, injected fetch/clock). */
export type DatabricksHttpOptions = Omit<HttpClientOptions, "provider" | "baseUrl" | "auth" | "parseError">;

export interface DatabricksClientOptions extends DatabricksHttpOptions {
  /** Workspace URL, e.g. `https://adb-123.4.azuredatabricks.net` or the local workspace's URL. */
  host: string;
  auth: AuthProvider;
}

/** Per-request options: everything of `HttpRequest` but the method, path and body. */
export type RequestOptions = Omit<Partial<HttpRequest>, "method" | "path" | "body">;

export type PaginationStyle = "auto" | "token" | "offset" | "scim";

export interface PaginateOptions extends Omit<RequestOptions, "query"> {
  /**
   * How pages are chained. `auto` (default) reads each answer: `next_page_token` → `page_token`;
   * `has_more` → `offset` advanced by the items received; SCIM `totalResults` → `startIndex` advanced.
   */
  style?: PaginationStyle;
  /** `POST` sends the query (with the page token) as a JSON body, as search APIs expect. Default `GET`. */
  method?: "GET" | "POST";
  /** Stop after this many pages (a guard against a remote that never ends). Default 100,000. */
  maxPages?: number;
}

const STATUS_CODES: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "RESOURCE_CONFLICT",
  429: "TOO_MANY_REQUESTS",
  499: "CANCELLED",
  500: "INTERNAL_ERROR",
  501: "NOT_IMPLEMENTED",
  503: "TEMPORARILY_UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/**
 * Reads a Databricks error answer: `{error_code, message}` (REST APIs), `{detail, status}` (SCIM),
 * `{error, error_description}` (OAuth), `{error}` (old APIs) or a text/HTML page. Without an error
 * code the one the SDKs derive from the status is used.
 */
export const parseDatabricksError: ErrorParser = (status, body, text) => {
  let code: string | undefined;
  let message: string | undefined;
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    code = str(b.error_code) ?? (str(b.error_description) ? str(b.error) : undefined);
    message = str(b.message) ?? str(b.detail) ?? str(b.error_description) ?? str(b.error);
  } else if (text.trim()) {
    message = text
      .replace(/<[^>]*>/g, " ")
      .replace(/\s+/g, " ")
      .trim()
      .slice(0, 200);
  }
  code ??= STATUS_CODES[status];
  return { ...(code ? { code } : {}), message: message ?? `HTTP ${status}` };
};

/** Messages the Databricks SDKs treat as transient although the status is not. */
const TRANSIENT_MESSAGES = [
  "com.databricks.backend.manager.util.UnknownWorkerEnvironmentException",
  "does not have any associated worker environments",
  "There is no worker environment with id",
  "Unknown worker environment",
  "ClusterNotReadyException",
  "Unexpected error",
  "Please try again later or try a faster operation.",
  "RPC token bucket limit has been exceeded",
];

export function isDatabricksTransient(error: RemoteError): boolean {
  return TRANSIENT_MESSAGES.some((m) => error.remoteMessage.includes(m));
}

/**
 * The object does not exist: 404, `RESOURCE_DOES_NOT_EXIST`/`NOT_FOUND`, or the legacy answer for a
 * missing job, cluster, run or policy (`400 INVALID_PARAMETER_VALUE ... does not exist`).
 */
export function isNotFound(error: unknown): boolean {
  if (!(error instanceof RemoteError) || error.kind !== "http") return false;
  if (error.status === 404) return true;
  if (error.code === "RESOURCE_DOES_NOT_EXIST" || error.code === "NOT_FOUND") return true;
  return (
    error.status === 400 && error.code === "INVALID_PARAMETER_VALUE" && /does not exist|not found/i.test(error.remoteMessage)
  );
}

/** The object already exists: 409, `RESOURCE_ALREADY_EXISTS`/`ALREADY_EXISTS` (legacy APIs answer 400). */
export function isAlreadyExists(error: unknown): boolean {
  if (!(error instanceof RemoteError) || error.kind !== "http") return false;
  if (error.code === "RESOURCE_ALREADY_EXISTS" || error.code === "ALREADY_EXISTS") return true;
  return error.status === 409 && /already exists/i.test(error.remoteMessage);
}

/** A typed JSON client of one Databricks workspace, under the shared retry policy. */
export class DatabricksClient {
  readonly host: string;
  readonly http: HttpClient;

  constructor(options: DatabricksClientOptions) {
    const { host, auth, ...http } = options;
    this.host = host.replace(/\/+$/, "");
    this.http = new HttpClient({
      ...http,
      provider: "databricks",
      baseUrl: this.host,
      auth,
      parseError: parseDatabricksError,
      isTransient: http.isTransient ?? isDatabricksTransient,
    });
  }

  get<T = unknown>(path: string, query?: Query, options: RequestOptions = {}): Promise<T> {
    return this.request<T>({ ...options, method: "GET", path, ...(query ? { query } : {}) });
  }

  /** A POST is not replayed after a 5xx or a reset unless `options.idempotent` is set (e.g. `jobs/reset`). */
  post<T = unknown>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>({ ...options, method: "POST", path, body: body ?? {} });
  }

  put<T = unknown>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>({ ...options, method: "PUT", path, body: body ?? {} });
  }

  patch<T = unknown>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>({ ...options, method: "PATCH", path, body: body ?? {} });
  }

  delete<T = unknown>(path: string, query?: Query, options: RequestOptions & { body?: unknown } = {}): Promise<T> {
    return this.request<T>({ ...options, method: "DELETE", path, ...(query ? { query } : {}) });
  }

  /** Any request; resolves with the parsed JSON of a 2xx answer (`{}` for an empty one). */
  async request<T = unknown>(req: HttpRequest): Promise<T> {
    const res = await this.http.send<T>(req);
    return (res.body ?? {}) as T;
  }

  send<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>> {
    return this.http.send<T>(req);
  }

  /**
   * Every item of a paged list, page by page. `itemsKey` names the array in each answer (`jobs`,
   * `clusters`, `Resources`); a page without it counts as empty.
   */
  async *paginate<T = unknown>(
    path: string,
    query: Record<string, unknown> = {},
    itemsKey: string,
    options: PaginateOptions = {},
  ): AsyncGenerator<T, void, undefined> {
    const { style = "auto", method = "GET", maxPages = 100_000, ...rest } = options;
    let params: Record<string, unknown> = { ...query };
    const seenTokens = new Set<string>();
    for (let page = 0; page < maxPages; page++) {
      const res = await this.request<Record<string, unknown>>({
        ...rest,
        method: method as HttpMethod,
        path,
        ...(method === "GET" ? { query: params as Query } : { body: params }),
      });
      const raw = res[itemsKey];
      const items = Array.isArray(raw) ? (raw as T[]) : [];
      for (const item of items) yield item;

      const token = str(res.next_page_token);
      if ((style === "auto" || style === "token") && token) {
        if (seenTokens.has(token)) return; // a remote repeating itself: stop rather than loop
        seenTokens.add(token);
        params = { ...params, page_token: token };
        continue;
      }
      if ((style === "auto" || style === "offset") && res.has_more === true) {
        if (items.length === 0) return;
        params = { ...params, offset: num(params.offset, 0) + items.length };
        continue;
      }
      if ((style === "auto" || style === "scim") && typeof res.totalResults === "number") {
        const start = num(res.startIndex, num(params.startIndex, 1));
        const next = start + items.length;
        if (items.length === 0 || next > res.totalResults) return;
        params = { ...params, startIndex: next };
        continue;
      }
      return;
    }
  }

  /** `paginate` collected into an array. */
  async listAll<T = unknown>(
    path: string,
    query: Record<string, unknown> = {},
    itemsKey: string,
    options: PaginateOptions = {},
  ): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this.paginate<T>(path, query, itemsKey, options)) out.push(item);
    return out;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

function num(v: unknown, fallback: number): number {
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : fallback;
}
