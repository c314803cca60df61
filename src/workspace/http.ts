import type { IncomingHttpHeaders } from "node:http";
import type { Principal } from "./identity.js";
import type { Workspace } from "./workspace.js";

/**
 * An error answered to the client as `{"error_code": ..., "message": ...}` with an HTTP status,
 * the shape every Databricks API uses and every official SDK parses.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: unknown[],
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new ApiError(404, "RESOURCE_DOES_NOT_EXIST", message);
export const invalid = (message: string) => new ApiError(400, "INVALID_PARAMETER_VALUE", message);
export const alreadyExists = (message: string, status = 409) => new ApiError(status, "RESOURCE_ALREADY_EXISTS", message);
export const denied = (message: string) => new ApiError(403, "PERMISSION_DENIED", message);
export const badRequest = (message: string) => new ApiError(400, "BAD_REQUEST", message);

/** A response that is not a JSON object: raw bytes, a redirect, an empty body, a custom status. */
export class RawResponse {
  constructor(
    readonly status: number,
    readonly body: Buffer | string | undefined,
    readonly headers: Record<string, string> = {},
  ) {}
}

export type JsonObject = Record<string, unknown>;

export interface RequestContext {
  readonly method: string;
  readonly path: string;
  /** Path parameters captured by `:name` and `*name` segments. */
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: Buffer;
  /** Query parameters merged with the JSON body (the body wins). Empty object when neither is present. */
  readonly input: JsonObject;
  /** The authenticated caller; undefined only on routes registered with `{ auth: false }`. */
  readonly principal: Principal;
  readonly ws: Workspace;
}

export type Handler = (c: RequestContext) => unknown | Promise<unknown>;

export interface RouteOptions {
  /** Routes that answer without a bearer token (discovery, OAuth token endpoint). */
  auth?: boolean;
  /** Routes whose body is file content: it is never parsed, and `input` holds only the query. */
  rawBody?: boolean;
}

interface Route {
  method: string;
  pattern: string;
  regex?: RegExp;
  keys: string[];
  handler: Handler;
  options: RouteOptions;
}

export interface RouteMatch {
  handler: Handler;
  params: Record<string, string>;
  options: RouteOptions;
  pattern: string;
}

/**
 * Method + path router. Literal paths resolve through a map; patterns with `:param` (one segment)
 * and `*rest` (the remainder, slashes included) are tried in registration order.
 */
export class Router {
  private readonly literal = new Map<string, Route>();
  private readonly patterns: Route[] = [];

  add(methods: string | string[], paths: string | string[], handler: Handler, options: RouteOptions = {}): void {
    for (const method of Array.isArray(methods) ? methods : [methods]) {
      for (const pattern of Array.isArray(paths) ? paths : [paths]) {
        const route: Route = { method, pattern, keys: [], handler, options };
        if (!pattern.includes(":") && !pattern.includes("*")) {
          const key = `${method} ${pattern}`;
          if (this.literal.has(key)) throw new Error(`route registered twice: ${key}`);
          this.literal.set(key, route);
          continue;
        }
        const source = pattern
          .split("/")
          .map((segment) => {
            if (segment.startsWith(":")) {
              route.keys.push(segment.slice(1));
              return "([^/]+)";
            }
            if (segment.startsWith("*")) {
              route.keys.push(segment.slice(1));
              return "(.*)";
            }
            return segment.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
          })
          .join("/");
        route.regex = new RegExp(`^${source}$`);
        this.patterns.push(route);
      }
    }
  }

  get(paths: string | string[], handler: Handler, options?: RouteOptions) {
    this.add("GET", paths, handler, options);
  }
  post(paths: string | string[], handler: Handler, options?: RouteOptions) {
    this.add("POST", paths, handler, options);
  }
  put(paths: string | string[], handler: Handler, options?: RouteOptions) {
    this.add("PUT", paths, handler, options);
  }
  patch(paths: string | string[], handler: Handler, options?: RouteOptions) {
    this.add("PATCH", paths, handler, options);
  }
  delete(paths: string | string[], handler: Handler, options?: RouteOptions) {
    this.add("DELETE", paths, handler, options);
  }

  match(method: string, path: string): RouteMatch | undefined {
    const hit = this.literal.get(`${method} ${path}`) ?? (method === "HEAD" ? this.literal.get(`GET ${path}`) : undefined);
    if (hit) return { handler: hit.handler, params: {}, options: hit.options, pattern: hit.pattern };
    for (const route of this.patterns) {
      if (route.method !== method && !(method === "HEAD" && route.method === "GET")) continue;
      const m = route.regex?.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((key, i) => {
        params[key] = decodeURIComponent(m[i + 1] ?? "");
      });
      return { handler: route.handler, params, options: route.options, pattern: route.pattern };
    }
    return undefined;
  }

  /** True when some other method is registered for the path (to answer 405 rather than 501). */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.literal.values()) if (route.pattern === path) methods.add(route.method);
    for (const route of this.patterns) if (route.regex?.test(path)) methods.add(route.method);
    return [...methods];
  }
}

// ---------------------------------------------------------------------------------------------
// Input helpers. Query parameters arrive as strings, JSON bodies as typed values; these accept both.

export function str(input: JsonObject, key: string): string | undefined {
  const v = input[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw invalid(`Invalid value for ${key}: expected a string`);
}

export function requireStr(input: JsonObject, key: string): string {
  const v = str(input, key);
  if (v === undefined || v === "") throw invalid(`Missing required field: ${key}`);
  return v;
}

export function int(input: JsonObject, key: string): number | undefined {
  const v = input[key];
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw invalid(`Invalid value for ${key}: expected an integer, got ${JSON.stringify(v)}`);
  return n;
}

export function requireInt(input: JsonObject, key: string): number {
  const v = int(input, key);
  if (v === undefined) throw invalid(`Missing required field: ${key}`);
  return v;
}

export function bool(input: JsonObject, key: string): boolean | undefined {
  const v = input[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "boolean") return v;
  if (v === "true") return true;
  if (v === "false") return false;
  throw invalid(`Invalid value for ${key}: expected a boolean`);
}

/** Page of `items` from an opaque token (an offset). Returns the slice and the next token, if any. */
export function page<T>(items: T[], pageToken: string | undefined, limit: number): { items: T[]; next?: string } {
  let offset = 0;
  if (pageToken) {
    const decoded = Number(Buffer.from(pageToken, "base64url").toString("utf8"));
    if (!Number.isSafeInteger(decoded) || decoded < 0) throw invalid(`Invalid page_token: ${pageToken}`);
    offset = decoded;
  }
  const slice = items.slice(offset, offset + limit);
  const nextOffset = offset + slice.length;
  return nextOffset < items.length
    ? { items: slice, next: Buffer.from(String(nextOffset)).toString("base64url") }
    : { items: slice };
}

/**
 * The answer to a route the workspace does not serve: 501 `NOT_IMPLEMENTED`, reported through `report`
 * (the workspace logs it) so gaps are visible.
 */
export function notImplemented(
  report: { onNotImplemented(method: string, path: string): void },
  method: string,
  path: string,
): ApiError {
  report.onNotImplemented(method, path);
  return new ApiError(501, "NOT_IMPLEMENTED", `${method} ${path} is not implemented`);
}
