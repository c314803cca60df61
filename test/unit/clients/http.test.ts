import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  classifyNetworkError,
  countRequests,
  HttpClient,
  type HttpClientOptions,
  type HttpEvent,
  logRequests,
  parseRetryAfter,
  RemoteError,
} from "../../../src/clients/http.js";
import { UserError } from "../../../src/lib/errors.js";
import { Secret } from "../../../src/lib/secret.js";
import { fakeClock, json, networkError, type Step, scriptedFetch } from "./fakes.js";

function setup(steps: Step[], options: Partial<HttpClientOptions> = {}) {
  const { fetch, calls } = scriptedFetch(steps);
  const clock = fakeClock();
  const events: HttpEvent[] = [];
  const client = new HttpClient({
    provider: "test",
    baseUrl: "https://example.test/",
    fetch,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    hooks: [(e) => events.push(e)],
    retry: { baseDelayMs: 100, maxDelayMs: 10_000, maxAttempts: 5 },
    ...options,
  });
  return { client, calls, clock, events };
}

async function rejection(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RemoteError);
    return e as RemoteError;
  }
  throw new Error("expected a rejection");
}

describe("HttpClient retry policy", () => {
  it("honours Retry-After seconds on 429", async () => {
    const { client, calls, clock } = setup([
      json(429, { error_code: "REQUEST_LIMIT_EXCEEDED" }, { "retry-after": "3" }),
      json(200, { ok: 1 }),
    ]);
    await expect(client.get("/api/x")).resolves.toEqual({ ok: 1 });
    expect(calls).toHaveLength(2);
    expect(clock.sleeps).toEqual([3000]);
  });

  it("honours a Retry-After HTTP date on 503", async () => {
    const clock0 = fakeClock();
    const date = new Date(clock0.now() + 7000).toUTCString();
    const { client, clock } = setup([json(503, {}, { "retry-after": date }), json(200, {})], {
      now: clock0.now,
      sleep: clock0.sleep,
    });
    await client.get("/api/x");
    expect(clock.sleeps).toHaveLength(0); // the setup clock was replaced
    expect(clock0.sleeps).toHaveLength(1);
    // HTTP dates have one-second resolution
    expect(clock0.sleeps[0]).toBeGreaterThan(6000);
    expect(clock0.sleeps[0]).toBeLessThanOrEqual(7000);
  });

  it("caps Retry-After at maxRetryAfterMs", async () => {
    const { client, clock } = setup([json(429, {}, { "retry-after": "3600" }), json(200, {})], {
      retry: { maxRetryAfterMs: 5000 },
    });
    await client.get("/api/x");
    expect(clock.sleeps).toEqual([5000]);
  });

  it("retries a 503 without Retry-After with backoff, also for a non-idempotent POST", async () => {
    const { client, calls, clock } = setup([json(503, {}), json(503, {}), json(200, { id: 7 })]);
    await expect(client.post("/api/create", { name: "a" })).resolves.toEqual({ id: 7 });
    expect(calls).toHaveLength(3);
    expect(clock.sleeps).toEqual([50, 100]); // random 0.5 × ceilings 100, 200
  });

  it("retries a 429 for a non-idempotent POST (the server did not process it)", async () => {
    const { client, calls } = setup([json(429, {}, { "retry-after": "1" }), json(200, { id: 1 })]);
    await expect(client.post("/api/create", {})).resolves.toEqual({ id: 1 });
    expect(calls.map((c) => c.init.method)).toEqual(["POST", "POST"]);
  });

  it("backs off exponentially with full jitter on 500 for GET, within [0, ceiling)", async () => {
    for (const r of [0, 0.25, 0.999999]) {
      const { client, clock } = setup([json(500, {}), json(502, {}), json(504, {}), json(500, {}), json(200, {})], {
        random: () => r,
        retry: { baseDelayMs: 100, maxDelayMs: 500, maxAttempts: 5 },
      });
      await client.get("/api/x");
      const ceilings = [100, 200, 400, 500];
      expect(clock.sleeps).toHaveLength(4);
      clock.sleeps.forEach((ms, i) => {
        const ceiling = ceilings[i] as number;
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThan(ceiling);
        expect(ms).toBe(Math.floor(r * ceiling));
      });
    }
  });

  it("replays an idempotent request after a connection reset", async () => {
    const { client, calls, events } = setup([networkError("ECONNRESET", "read ECONNRESET"), json(200, { ok: true })]);
    await expect(client.request({ method: "PUT", path: "/api/x", body: {} })).resolves.toEqual({ ok: true });
    expect(calls).toHaveLength(2);
    expect(events[0]).toMatchObject({ type: "response", status: 0, code: "ECONNRESET" });
    expect(events[1]).toMatchObject({ type: "retry", reason: "ECONNRESET" });
  });

  it("replays a GET after undici's socket error and 'socket hang up'", async () => {
    const hangUp = new TypeError("fetch failed", { cause: new Error("socket hang up") });
    const { client, calls } = setup([networkError("UND_ERR_SOCKET", "other side closed"), hangUp, json(200, {})]);
    await client.get("/api/x");
    expect(calls).toHaveLength(3);
  });

  it("does not replay a non-idempotent POST after a reset: maybeApplied", async () => {
    const { client, calls } = setup([networkError("ECONNRESET"), json(200, {})]);
    const err = await rejection(client.post("/api/2.2/jobs/create", { name: "x" }));
    expect(calls).toHaveLength(1);
    expect(err).toMatchObject({
      kind: "network",
      status: 0,
      code: "ECONNRESET",
      maybeApplied: true,
      retryable: true,
      attempts: 1,
    });
    expect(err.method).toBe("POST");
    expect(err.path).toBe("/api/2.2/jobs/create");
  });

  it("replays a POST the caller marks idempotent (jobs/reset)", async () => {
    const { client, calls } = setup([networkError("ECONNRESET"), json(500, {}), json(200, {})]);
    await client.post("/api/2.2/jobs/reset", { job_id: 1 }, { idempotent: true });
    expect(calls).toHaveLength(3);
  });

  it("fails a non-idempotent POST after a 500 without replaying it, flagged maybeApplied", async () => {
    const { client, calls } = setup([json(500, { error_code: "INTERNAL_ERROR", message: "boom" }), json(200, {})]);
    const err = await rejection(client.post("/api/2.2/jobs/create", {}));
    expect(calls).toHaveLength(1);
    expect(err).toMatchObject({ status: 500, code: "INTERNAL_ERROR", maybeApplied: true, retryable: true });
    expect(err.message).toBe("test POST /api/2.2/jobs/create: 500 INTERNAL_ERROR: boom");
    expect(err).toBeInstanceOf(UserError);
    expect(err.hint).toMatch(/may have taken effect/);
  });

  it("retries any request when nothing was sent (connection refused)", async () => {
    const { client, calls } = setup([networkError("ECONNREFUSED"), json(200, { id: 1 })]);
    await expect(client.post("/api/create", {})).resolves.toEqual({ id: 1 });
    expect(calls).toHaveLength(2);
  });

  it("does not retry a wrong host name", async () => {
    const { client, calls } = setup([networkError("ENOTFOUND"), json(200, {})]);
    const err = await rejection(client.get("/api/x"));
    expect(calls).toHaveLength(1);
    expect(err).toMatchObject({ code: "ENOTFOUND", retryable: false, maybeApplied: false });
  });

  it("stops after maxAttempts with the last error", async () => {
    const steps = Array.from({ length: 10 }, () => json(500, { error_code: "INTERNAL_ERROR", message: "down" }));
    const { client, calls, clock } = setup(steps, { retry: { maxAttempts: 3 } });
    const err = await rejection(client.get("/api/x"));
    expect(calls).toHaveLength(3);
    expect(clock.sleeps).toHaveLength(2);
    expect(err).toMatchObject({ status: 500, attempts: 3, retryable: true, maybeApplied: false });
  });

  it("stops when the next wait would pass maxElapsedMs", async () => {
    const steps = Array.from({ length: 10 }, () => json(429, {}, { "retry-after": "10" }));
    const { client, calls, clock } = setup(steps, { retry: { maxElapsedMs: 25_000, maxAttempts: 10 } });
    const err = await rejection(client.get("/api/x"));
    expect(clock.sleeps).toEqual([10_000, 10_000]);
    expect(calls).toHaveLength(3);
    expect(err).toMatchObject({ status: 429, attempts: 3, maybeApplied: false });
  });

  it("does not retry client errors or 501", async () => {
    for (const status of [400, 401, 403, 404, 409, 501]) {
      const { client, calls } = setup([json(status, { error_code: "X", message: "no" }), json(200, {})]);
      const err = await rejection(client.request({ method: "DELETE", path: "/api/x" }));
      expect(calls).toHaveLength(1);
      expect(err).toMatchObject({ status, retryable: false, maybeApplied: false });
    }
  });

  it("treats a per-attempt timeout as a maybe-applied failure, replayed only when idempotent", async () => {
    const hang: Step = (call) =>
      new Promise<Response>((_, reject) => {
        const signal = call.init.signal as AbortSignal;
        signal.addEventListener("abort", () => reject(signal.reason));
      });
    const a = setup([hang, json(200, { ok: 1 })], { timeoutMs: 20 });
    await expect(a.client.get("/api/x")).resolves.toEqual({ ok: 1 });
    expect(a.events[0]).toMatchObject({ status: 0, code: "TIMEOUT" });

    const b = setup([hang, json(200, {})], { timeoutMs: 20 });
    const err = await rejection(b.client.post("/api/create", {}));
    expect(err).toMatchObject({ kind: "timeout", code: "TIMEOUT", maybeApplied: true });
    expect(b.calls).toHaveLength(1);
  });

  it("stops retrying when the caller aborts", async () => {
    const controller = new AbortController();
    const { client, calls } = setup([
      () => {
        controller.abort(new Error("cancelled by caller"));
        return json(503, {});
      },
      json(200, {}),
    ]);
    await expect(client.request({ method: "GET", path: "/api/x", signal: controller.signal })).rejects.toThrow(
      "cancelled by caller",
    );
    expect(calls).toHaveLength(1);
  });

  it("treats a redirect as an error naming only the target origin", async () => {
    const { client } = setup([new Response(null, { status: 302, headers: { location: "https://login.example/auth?code=abc" } })]);
    const err = await rejection(client.get("/api/x"));
    expect(err.status).toBe(302);
    expect(err.message).toContain("unexpected redirect to https://login.example");
    expect(err.message).not.toContain("code=abc");
  });
});

describe("HttpClient requests", () => {
  it("asks the auth provider before every attempt and reveals secret headers only on the wire", async () => {
    let n = 0;
    const { fetch, calls } = scriptedFetch([json(503, {}), json(200, {})]);
    const clock = fakeClock();
    const client = new HttpClient({
      provider: "test",
      baseUrl: "https://example.test",
      fetch,
      sleep: clock.sleep,
      now: clock.now,
      auth: async () => ({ authorization: Secret.from(`Bearer token-${++n}`) }),
    });
    await client.get("/api/x");
    expect(calls.map((c) => c.headers.authorization)).toEqual(["Bearer token-1", "Bearer token-2"]);
    expect(calls[0]?.headers["user-agent"]).toMatch(/^lakeforge\//);
  });

  it("after a 401 invalidates a caching auth provider and tries once more", async () => {
    let token = 1;
    const auth = Object.assign(async () => ({ authorization: `Bearer t${token}` }), { invalidate: () => token++ });
    const { client, calls } = setup([json(401, { error_code: "UNAUTHENTICATED" }), json(200, { ok: 1 })], { auth });
    await expect(client.post("/api/create", {})).resolves.toEqual({ ok: 1 });
    expect(calls.map((c) => c.headers.authorization)).toEqual(["Bearer t1", "Bearer t2"]);

    const again = setup([json(401, {}), json(401, {}), json(200, {})], { auth });
    await expect(again.client.get("/api/x")).rejects.toMatchObject({ status: 401, attempts: 2 });
    expect(again.calls).toHaveLength(2);

    const plain = setup([json(401, {}), json(200, {})], { auth: async () => ({ authorization: "Bearer pat" }) });
    await expect(plain.client.get("/api/x")).rejects.toMatchObject({ status: 401, attempts: 1 });
  });

  it("sends JSON with Secret values revealed, and forms", async () => {
    const { client, calls } = setup([json(200, {}), json(200, {})]);
    await client.post("/api/2.0/secrets/put", { scope: "s", key: "k", string_value: Secret.from("hunter2-value") });
    expect(JSON.parse(calls[0]?.body as string)).toEqual({ scope: "s", key: "k", string_value: "hunter2-value" });
    expect(calls[0]?.headers["content-type"]).toBe("application/json");
    await client.request({ method: "POST", path: "/token", form: { grant_type: "x", secret: Secret.from("s3cr3t-form") } });
    expect(calls[1]?.body).toBe("grant_type=x&secret=s3cr3t-form");
    expect(calls[1]?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
  });

  it("builds query strings and refuses a secret in one", async () => {
    const { client, calls } = setup([json(200, { a: 1 })]);
    await client.get("/api/list", { limit: 25, expand: true, names: ["a", "b"], skip: undefined });
    expect(calls[0]?.url).toBe("https://example.test/api/list?limit=25&expand=true&names=a&names=b");
    await expect(client.get("/api/x", { token: Secret.from("nope-secret") as unknown as string })).rejects.toThrow(
      /query string/,
    );
  });

  it("parses JSON, text and empty bodies", async () => {
    const { client } = setup([json(200, [1, 2]), new Response("plain", { status: 200 }), new Response(null, { status: 204 })]);
    await expect(client.get("/a")).resolves.toEqual([1, 2]);
    await expect(client.get("/b")).resolves.toBe("plain");
    await expect(client.request({ method: "DELETE", path: "/c" })).resolves.toBeUndefined();
  });

  it("names method and path but never the query string in errors", async () => {
    const { client } = setup([json(400, { message: "bad" })]);
    const err = await rejection(client.get("/api/2.0/thing", { filter: "private-value" }));
    expect(err.message).toBe("test GET /api/2.0/thing: 400: bad");
    expect(JSON.stringify(err)).not.toContain("private-value");
  });
});

describe("hooks", () => {
  it("logs method, path, status and time per attempt, and counts requests", async () => {
    const lines: string[] = [];
    const counter = countRequests();
    const { client } = setup([json(503, { error_code: "TEMPORARILY_UNAVAILABLE" }), json(200, {})], {
      hooks: [logRequests((l) => lines.push(l)), counter.hook],
    });
    await client.get("/api/x", { q: "hidden" });
    expect(lines).toEqual([
      "test GET /api/x 503 TEMPORARILY_UNAVAILABLE 0ms",
      "test GET /api/x retry after 503 in 50ms",
      "test GET /api/x 200 0ms",
    ]);
    expect(counter.total).toBe(2);
    expect(counter.retries).toBe(1);
    expect(counter.byMethod()).toEqual({ GET: 2 });
  });

  it("a throwing hook does not break the request", async () => {
    const { client } = setup([json(200, { ok: 1 })], {
      hooks: [
        () => {
          throw new Error("observer bug");
        },
      ],
    });
    await expect(client.get("/x")).resolves.toEqual({ ok: 1 });
  });
});

describe("helpers", () => {
  it("parseRetryAfter reads seconds and dates", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter("2", now)).toBe(2000);
    expect(parseRetryAfter("0.5", now)).toBe(500);
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 01 Jan 2020 00:00:30 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it("backoffDelay doubles the ceiling up to the cap", () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, policy, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
  });

  it("classifyNetworkError sorts connection errors", () => {
    expect(classifyNetworkError(networkError("ECONNRESET"))).toMatchObject({ sent: "maybe", retryable: true });
    expect(classifyNetworkError(networkError("ECONNREFUSED"))).toMatchObject({ sent: "no", retryable: true });
    expect(classifyNetworkError(networkError("ENOTFOUND"))).toMatchObject({ retryable: false });
    const aggregate = new TypeError("fetch failed", {
      cause: new AggregateError([Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })]),
    });
    expect(classifyNetworkError(aggregate)).toMatchObject({ code: "ECONNREFUSED", sent: "no" });
    expect(classifyNetworkError(new RangeError("bug"))).toBeUndefined();
  });
});
