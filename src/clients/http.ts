import { UserError } from "../lib/errors.js";
import { redact, Secret } from "../lib/secret.js";
import { VERSION } from "../lib/version.js";

/**
 * The one HTTP client every provider client builds on: JSON in and out, per-attempt timeouts, and one
 * retry policy:
 *
 *  - 429 and 503 are retried for every request (the server did not process it), waiting for
 *    `Retry-After` (seconds or an HTTP date, capped) or, without one, the backoff below;
 *  - other 5xx answers, connection resets and timeouts are retried with exponential backoff and full
 *    jitter, but only for idempotent requests (GET, HEAD, PUT, DELETE, and requests marked
 *    `idempotent: true`). A non-idempotent request that fails that way is not replayed: it fails with
 *    a `RemoteError` whose `maybeApplied` is true, so the caller can look the object up by its natural
 *    key before trying again;
 *  - connection failures before anything was sent (refused, DNS timeouts) are retried for every request;
 *  - attempts stop at `maxAttempts` or when the next wait would pass `maxElapsedMs`;
 *  - a 401 with an auth provider that caches tokens (`invalidate`) is retried once with a fresh token.
 *
 * Secrets: header values, form fields and JSON body values may be `Secret`s; they are revealed only when
 * the request is written. Errors and events carry the method and the URL path, never the query string,
 * headers or bodies, and remote messages are passed through `redact`.
 */

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
export type HeaderValue = string | Secret;
/**
 * Supplies authentication headers; called before every attempt so tokens can refresh. A provider
 * caching tokens may have `invalidate`: after a 401 the client calls it and tries once more.
 */
export type AuthProvider = (() => Promise<Record<string, HeaderValue>>) & { invalidate?: () => void };
export type QueryScalar = string | number | boolean;
export type Query = Record<string, QueryScalar | readonly QueryScalar[] | undefined | null>;
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface HttpRequest {
  method: HttpMethod;
  /** A path below the base URL (`/api/2.0/...`), or an absolute URL. */
  path: string;
  /** Query parameters. Never put a secret here: it would end up in logs and proxies. */
  query?: Query;
  /** JSON body. `Secret` values anywhere inside are revealed only when serialised. */
  body?: unknown;
  /** An `application/x-www-form-urlencoded` body instead of JSON. */
  form?: Record<string, string | Secret | undefined>;
  headers?: Record<string, HeaderValue>;
  /** May the request be replayed after a 5xx or a reset? Default: true for GET, HEAD, PUT, DELETE. */
  idempotent?: boolean;
  /** Send the auth provider's headers (default true). */
  auth?: boolean;
  /** Per-attempt timeout in milliseconds (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  /** How many attempts it took. */
  attempts: number;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. Default 8. */
  maxAttempts: number;
  /** No retry starts after this many milliseconds since the first attempt. Default 300,000. */
  maxElapsedMs: number;
  /** First backoff ceiling; doubles per retry. Default 500. */
  baseDelayMs: number;
  /** Largest backoff ceiling. Default 30,000. */
  maxDelayMs: number;
  /** Cap on a server's `Retry-After`. Default 60,000. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 8,
  maxElapsedMs: 300_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 60_000,
});

/** What an attempt or a retry looked like, for counters and logs. Never holds bodies, headers or queries. */
export type HttpEvent =
  | {
      type: "response";
      provider: string;
      method: HttpMethod;
      path: string;
      attempt: number;
      /** 0 when no response arrived (see `code`). */
      status: number;
      ms: number;
      /** The provider's error code, or the network error code (`ECONNRESET`, `TIMEOUT`, ...). */
      code?: string;
    }
  | {
      type: "retry";
      provider: string;
      method: HttpMethod;
      path: string;
      /** The attempt that failed. */
      attempt: number;
      delayMs: number;
      reason: string;
    };

export type HttpHook = (event: HttpEvent) => void;

/** The provider-specific part of reading an error answer. */
export interface ErrorInfo {
  code?: string;
  message?: string;
}
export type ErrorParser = (status: number, body: unknown, text: string) => ErrorInfo;

export interface HttpClientOptions {
  /** Names the remote in errors and events: "databricks", "github", ... */
  provider: string;
  baseUrl: string;
  auth?: AuthProvider;
  /** Sent with every request (the auth headers and the request's own win). */
  headers?: Record<string, HeaderValue>;
  retry?: Partial<RetryPolicy>;
  /** Per-attempt timeout. Default 60,000 ms. */
  timeoutMs?: number;
  parseError?: ErrorParser;
  /**
   * Classifies an error answer that is not a 429 or 5xx as transient (retried like a 5xx: idempotent
   * requests only).
   */
  isTransient?: (error: RemoteError) => boolean;
  hooks?: HttpHook[];
  fetch?: FetchLike;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds since the epoch (also used to read `Retry-After` dates). */
  now?: () => number;
  /** In [0, 1). */
  random?: () => number;
}

export type RemoteErrorKind = "http" | "network" | "timeout";

export interface RemoteErrorInit {
  provider: string;
  kind: RemoteErrorKind;
  method: HttpMethod;
  path: string;
  status: number;
  code?: string;
  remoteMessage: string;
  maybeApplied?: boolean;
  retryable?: boolean;
  attempts?: number;
  cause?: unknown;
}

/**
 * A request that failed: an error answer (after retries where the policy allows them), or no answer.
 * The message names the provider, the method and the path (never the query, headers or body).
 */
export class RemoteError extends UserError {
  readonly provider: string;
  readonly kind: RemoteErrorKind;
  /** The HTTP status; 0 when no answer arrived. */
  readonly status: number;
  /** The provider's error code (`RESOURCE_DOES_NOT_EXIST`), or a network code (`ECONNRESET`, `TIMEOUT`). */
  readonly code: string | undefined;
  readonly method: HttpMethod;
  readonly path: string;
  /** The remote's own message (redacted). */
  readonly remoteMessage: string;
  /**
   * The request may have taken effect although it failed (a 5xx other than 503, a reset or a timeout
   * after it was sent). Before repeating a create, look the object up.
   */
  readonly maybeApplied: boolean;
  /** The failure was transient: trying again later may succeed. */
  readonly retryable: boolean;
  readonly attempts: number;

  constructor(init: RemoteErrorInit) {
    const path = redact(init.path);
    const remoteMessage = redact(init.remoteMessage);
    const what = init.status > 0 ? `${init.status}${init.code ? ` ${init.code}` : ""}` : (init.code ?? init.kind);
    super(`${init.provider} ${init.method} ${path}: ${what}: ${remoteMessage}`, hintFor(init));
    this.name = "RemoteError";
    this.provider = init.provider;
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.method = init.method;
    this.path = path;
    this.remoteMessage = remoteMessage;
    this.maybeApplied = init.maybeApplied ?? false;
    this.retryable = init.retryable ?? false;
    this.attempts = init.attempts ?? 1;
    if (init.cause !== undefined) Object.defineProperty(this, "cause", { value: init.cause, enumerable: false });
  }

  /** A copy carrying the number of attempts and the `maybeApplied` verdict of the retry loop. */
  withOutcome(attempts: number, maybeApplied: boolean, retryable = this.retryable): RemoteError {
    return new RemoteError({
      provider: this.provider,
      kind: this.kind,
      method: this.method,
      path: this.path,
      status: this.status,
      remoteMessage: this.remoteMessage,
      maybeApplied,
      retryable,
      attempts,
      ...(this.code !== undefined ? { code: this.code } : {}),
      ...(this.cause !== undefined ? { cause: this.cause } : {}),
    });
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      provider: this.provider,
      kind: this.kind,
      status: this.status,
      code: this.code,
      method: this.method,
      path: this.path,
      message: this.message,
      maybeApplied: this.maybeApplied,
      retryable: this.retryable,
      attempts: this.attempts,
    };
  }
}

function hintFor(init: RemoteErrorInit): string | undefined {
  if (init.maybeApplied) return "the request may have taken effect before it failed; run plan to see the current state";
  if (init.status === 401) return "check the credentials";
  if (init.status === 403) return "the identity lacks a permission this needs";
  if (init.status === 429) return "the remote is rate limiting; try again later or lower the concurrency";
  if (init.kind !== "http") return "check that the host is reachable";
  return undefined;
}

const IDEMPOTENT_METHODS: ReadonlySet<HttpMethod> = new Set(["GET", "HEAD", "PUT", "DELETE"]);

/** Network error codes meaning nothing reached the server: safe to replay any request. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT", "ENETUNREACH", "EHOSTUNREACH"]);
/** Network error codes where the request may have been processed. */
const MAYBE_SENT_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
/** Permanent: a wrong host name does not heal by waiting. */
const PERMANENT_CODES = new Set(["ENOTFOUND", "ERR_INVALID_URL", "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT"]);

interface NetworkFailure {
  code: string;
  kind: "network" | "timeout";
  /** "no": nothing was sent; "maybe": the server may have processed the request. */
  sent: "no" | "maybe";
  retryable: boolean;
  message: string;
}

/** Reads what went wrong from a fetch rejection; undefined for anything that is not a network failure. */
export function classifyNetworkError(error: unknown): NetworkFailure | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === "TimeoutError") {
    return { code: "TIMEOUT", kind: "timeout", sent: "maybe", retryable: true, message: "no answer before the timeout" };
  }
  const chain: unknown[] = [];
  let cur: unknown = error;
  for (let i = 0; i < 5 && cur; i++) {
    chain.push(cur);
    if (cur instanceof AggregateError) chain.push(...cur.errors);
    cur = (cur as { cause?: unknown }).cause;
  }
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    const message = (e as Error).message || code;
    if (NOT_SENT_CODES.has(code)) return { code, kind: "network", sent: "no", retryable: true, message };
    if (MAYBE_SENT_CODES.has(code)) return { code, kind: "network", sent: "maybe", retryable: true, message };
    if (PERMANENT_CODES.has(code)) return { code, kind: "network", sent: "no", retryable: false, message };
  }
  const messages = chain.map((e) => (e instanceof Error ? e.message : String(e))).join(" / ");
  if (/socket hang up|other side closed|terminated|fetch failed|network/i.test(messages)) {
    const code = /socket hang up/i.test(messages) ? "ECONNRESET" : "NETWORK_ERROR";
    return { code, kind: "network", sent: "maybe", retryable: true, message: (chain.at(-1) as Error).message || messages };
  }
  return undefined;
}

/** Milliseconds to wait from a `Retry-After` value (delta seconds or an HTTP date); undefined if unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Reads the common `{error_code, message}`, `{error, error_description}` and `{message}` shapes. */
export const defaultErrorParser: ErrorParser = (status, body, text) => {
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    const code = str(b.error_code) ?? str(b.code) ?? str(b.error);
    const message = str(b.message) ?? str(b.error_description) ?? str(b.detail);
    return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
  }
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return { message: snippet || `HTTP ${status}` };
};

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

type Attempt<T> =
  | { ok: true; response: HttpResponse<T> }
  | { ok: false; error: RemoteError; sent: "no" | "maybe" | "yes"; retryAfterMs?: number | undefined };

export class HttpClient {
  readonly provider: string;
  readonly baseUrl: string;
  readonly policy: Readonly<RetryPolicy>;
  private readonly options: HttpClientOptions;
  private readonly fetchFn: FetchLike;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly hooks: HttpHook[];

  constructor(options: HttpClientOptions) {
    this.options = options;
    this.provider = options.provider;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.policy = Object.freeze({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.hooks = [...(options.hooks ?? [])];
  }

  /** Adds an observer of every attempt and retry. Returns a function removing it. */
  addHook(hook: HttpHook): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  async get<T = unknown>(path: string, query?: Query): Promise<T> {
    return (await this.send<T>({ method: "GET", path, ...(query ? { query } : {}) })).body;
  }

  async post<T = unknown>(path: string, body?: unknown, extra: Partial<HttpRequest> = {}): Promise<T> {
    return (await this.send<T>({ ...extra, method: "POST", path, body })).body;
  }

  /** Sends a request under the retry policy; resolves with the parsed body of a 2xx answer. */
  async request<T = unknown>(req: HttpRequest): Promise<T> {
    return (await this.send<T>(req)).body;
  }

  /** Like `request`, with the status, headers and attempt count. */
  async send<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>> {
    const idempotent = req.idempotent ?? IDEMPOTENT_METHODS.has(req.method);
    const url = this.url(req.path, req.query);
    const path = redact(new URL(url).pathname);
    const started = this.now();
    const deadline = started + this.policy.maxElapsedMs;
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      req.signal?.throwIfAborted();
      const result = await this.attempt<T>(req, url, path, attempt);
      if (result.ok) return { ...result.response, attempts: attempt };
      const { error, sent } = result;
      const auth = this.options.auth;
      if (error.status === 401 && !reauthenticated && req.auth !== false && auth?.invalidate) {
        // A cached token the server no longer accepts (revoked, clock skew): fetch a fresh one, once.
        reauthenticated = true;
        auth.invalidate();
        this.emit({ type: "retry", provider: this.provider, method: req.method, path, attempt, delayMs: 0, reason: "401" });
        continue;
      }
      const maybeApplied = sent !== "no" && req.method !== "GET" && req.method !== "HEAD" && isAmbiguous(error);
      const mayRetry = error.retryable && (sent === "no" || idempotent);
      if (!mayRetry || attempt >= this.policy.maxAttempts) throw error.withOutcome(attempt, maybeApplied);
      const delay = this.delayFor(error, result.retryAfterMs, attempt);
      if (this.now() + delay > deadline) throw error.withOutcome(attempt, maybeApplied);
      this.emit({
        type: "retry",
        provider: this.provider,
        method: req.method,
        path,
        attempt,
        delayMs: delay,
        reason: error.status > 0 ? String(error.status) : (error.code ?? error.kind),
      });
      await this.sleep(delay, req.signal);
    }
  }

  private async attempt<T>(req: HttpRequest, url: string, path: string, attempt: number): Promise<Attempt<T>> {
    const headers = await this.headers(req);
    const timeout = AbortSignal.timeout(req.timeoutMs ?? this.options.timeoutMs ?? 60_000);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    const init: RequestInit = { method: req.method, headers, signal, redirect: "manual" };
    if (req.form !== undefined) {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(req.form)) if (v !== undefined) form.set(k, v instanceof Secret ? v.reveal() : v);
      init.body = form.toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    } else if (req.body !== undefined) {
      init.body = serializeJson(req.body);
      headers["content-type"] = "application/json";
    }
    const t0 = this.now();
    let status = 0;
    try {
      const res = await this.fetchFn(url, init);
      status = res.status;
      const text = req.method === "HEAD" ? "" : await res.text();
      const body = parseBody(text, res.headers.get("content-type"));
      if (res.status >= 200 && res.status < 300) {
        this.emit({ type: "response", provider: this.provider, method: req.method, path, attempt, status, ms: this.now() - t0 });
        return { ok: true, response: { status, headers: res.headers, body: body as T, attempts: attempt } };
      }
      const error = this.httpError(req.method, path, res, body, text);
      this.emit({
        type: "response",
        provider: this.provider,
        method: req.method,
        path,
        attempt,
        status,
        ms: this.now() - t0,
        ...(error.code ? { code: error.code } : {}),
      });
      return {
        ok: false,
        error,
        sent: res.status === 429 || res.status === 503 ? "no" : "yes",
        retryAfterMs: parseRetryAfter(res.headers.get("retry-after"), this.now()),
      };
    } catch (e) {
      if (req.signal?.aborted) throw req.signal.reason ?? e;
      const failure = classifyNetworkError(e);
      if (!failure) throw e;
      this.emit({
        type: "response",
        provider: this.provider,
        method: req.method,
        path,
        attempt,
        status: 0,
        ms: this.now() - t0,
        code: failure.code,
      });
      const error = new RemoteError({
        provider: this.provider,
        kind: failure.kind,
        method: req.method,
        path,
        status: 0,
        code: failure.code,
        remoteMessage: failure.message,
        retryable: failure.retryable,
        cause: e,
      });
      // A reset while the answer was being read: the server had the request.
      return { ok: false, error, sent: status > 0 ? "yes" : failure.sent };
    }
  }

  private httpError(method: HttpMethod, path: string, res: Response, body: unknown, text: string): RemoteError {
    const status = res.status;
    if (status >= 300 && status < 400) {
      const location = res.headers.get("location");
      let where = "";
      try {
        if (location) where = ` to ${new URL(location, this.baseUrl).origin}`;
      } catch {
        // unreadable location: leave it out
      }
      return new RemoteError({
        provider: this.provider,
        kind: "http",
        method,
        path,
        status,
        remoteMessage: `unexpected redirect${where}`,
      });
    }
    const info = (this.options.parseError ?? defaultErrorParser)(status, body, text);
    const error = new RemoteError({
      provider: this.provider,
      kind: "http",
      method,
      path,
      status,
      remoteMessage: info.message ?? `HTTP ${status}`,
      retryable: status === 429 || (status >= 500 && status !== 501 && status !== 505),
      ...(info.code ? { code: info.code } : {}),
    });
    if (!error.retryable && this.options.isTransient?.(error)) {
      return new RemoteError({
        provider: this.provider,
        kind: "http",
        method,
        path,
        status,
        remoteMessage: error.remoteMessage,
        retryable: true,
        ...(info.code ? { code: info.code } : {}),
      });
    }
    return error;
  }

  /** Backoff for a failed attempt: `Retry-After` on 429/503 when given (capped), else full jitter. */
  private delayFor(error: RemoteError, retryAfterMs: number | undefined, attempt: number): number {
    if ((error.status === 429 || error.status === 503) && retryAfterMs !== undefined) {
      return Math.min(retryAfterMs, this.policy.maxRetryAfterMs);
    }
    return backoffDelay(attempt, this.policy, this.random);
  }

  private async headers(req: HttpRequest): Promise<Record<string, string>> {
    const out: Record<string, string> = { accept: "application/json", "user-agent": `lakeforge/${VERSION}` };
    const add = (h: Record<string, HeaderValue> | undefined) => {
      if (!h) return;
      for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v instanceof Secret ? v.reveal() : v;
    };
    add(this.options.headers);
    if (req.auth !== false && this.options.auth) add(await this.options.auth());
    add(req.headers);
    return out;
  }

  private url(path: string, query: Query | undefined): string {
    const url = /^https?:\/\//i.test(path) ? new URL(path) : new URL(this.baseUrl + (path.startsWith("/") ? path : `/${path}`));
    if (query) {
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue;
        for (const item of Array.isArray(v) ? v : [v]) {
          if (item instanceof Secret) throw new TypeError(`a secret may not be sent in the query string (${k})`);
          url.searchParams.append(k, String(item));
        }
      }
    }
    return url.toString();
  }

  private emit(event: HttpEvent): void {
    for (const hook of this.hooks) {
      try {
        hook(event);
      } catch {
        // an observer must not break a request
      }
    }
  }
}

/** A 5xx other than 503, or a reset after sending: the server may have acted on the request. */
function isAmbiguous(error: RemoteError): boolean {
  if (error.kind !== "http") return true;
  return error.status >= 500 && error.status !== 503 && error.status !== 501 && error.status !== 505;
}

/** Full jitter: a uniform wait in [0, min(maxDelay, base * 2^(attempt-1))). */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">, random: () => number) {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** JSON with `Secret` values revealed (they would otherwise serialise as `***`). */
export function serializeJson(body: unknown): string {
  return JSON.stringify(body, function (this: Record<string, unknown>, key, value) {
    const original = key === "" ? body : this[key];
    return original instanceof Secret ? original.reveal() : value;
  });
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text.length === 0) return undefined;
  const ct = (contentType ?? "").toLowerCase();
  const first = text.trimStart()[0];
  if (ct.includes("json") || first === "{" || first === "[") {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** A hook writing one line per attempt, `GET /api/2.0/... 200 12ms`, and per retry. */
export function logRequests(write: (line: string) => void): HttpHook {
  return (e) => {
    if (e.type === "response") {
      const status = e.status > 0 ? String(e.status) : (e.code ?? "ERR");
      const code = e.status > 0 && e.code ? ` ${e.code}` : "";
      write(redact(`${e.provider} ${e.method} ${e.path} ${status}${code} ${Math.round(e.ms)}ms`));
    } else {
      write(redact(`${e.provider} ${e.method} ${e.path} retry after ${e.reason} in ${Math.round(e.delayMs)}ms`));
    }
  };
}

export interface RequestCounter {
  hook: HttpHook;
  /** Attempts sent, in all and by method. */
  readonly total: number;
  readonly retries: number;
  byMethod(): Record<string, number>;
  reset(): void;
}

/** Counts attempts (and retries) seen by the client it is attached to. */
export function countRequests(): RequestCounter {
  let total = 0;
  let retries = 0;
  let methods: Record<string, number> = {};
  return {
    hook: (e) => {
      if (e.type === "retry") retries++;
      else {
        total++;
        methods[e.method] = (methods[e.method] ?? 0) + 1;
      }
    },
    get total() {
      return total;
    },
    get retries() {
      return retries;
    },
    byMethod: () => ({ ...methods }),
    reset: () => {
      total = 0;
      retries = 0;
      methods = {};
    },
  };
}
