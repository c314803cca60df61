import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabricks, DatabricksClient, resolveDatabricksAuth } from "../../../src/clients/databricks/index.js";
import { logRequests, type RemoteError } from "../../../src/clients/http.js";
import { Secret } from "../../../src/lib/secret.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";
import { fakeClock, json, scriptedFetch } from "./fakes.js";

/** Planted secrets must never show up in errors (message, JSON, inspect, stack), hook lines or URLs. */

const PAT = `dapi${randomBytes(16).toString("hex")}canary`;
const CLIENT_SECRET = `dose${randomBytes(16).toString("hex")}canary`;
const BODY_SECRET = `body-${randomBytes(8).toString("hex")}-canary`;

function everythingPrintable(err: unknown, lines: string[]): string {
  const e = err as Error & { hint?: string };
  return [String(e), e.message, e.stack ?? "", e.hint ?? "", JSON.stringify(e), inspect(e, { depth: 10 }), ...lines].join("\n");
}

function expectClean(text: string) {
  for (const canary of [PAT, CLIENT_SECRET, BODY_SECRET]) {
    expect(text).not.toContain(canary);
    expect(text).not.toContain(encodeURIComponent(canary));
  }
}

describe("secret canaries", () => {
  it("a remote echoing the token and body back does not leak them into errors or logs", async () => {
    // A hostile or careless remote: every error message quotes the request's credentials and body.
    const echo = (status: number) => (call: { headers: Record<string, string>; body: string | undefined }) =>
      json(status, { error_code: "ECHO", message: `got ${call.headers.authorization} with ${call.body ?? ""}` });
    const { fetch } = scriptedFetch([echo(500), echo(500), echo(400), echo(500)]);
    const lines: string[] = [];
    const clock = fakeClock();
    const auth = await resolveDatabricksAuth({ host: "https://adb-1.1.azuredatabricks.net", token: PAT, env: {} });
    const client = new DatabricksClient({
      host: auth.host,
      auth: auth.authProvider,
      fetch,
      sleep: clock.sleep,
      now: clock.now,
      retry: { maxAttempts: 2 },
      hooks: [logRequests((l) => lines.push(l))],
    });
    const e1 = await client.get("/api/2.0/secrets/get", { scope: "s", key: "k" }).catch((e) => e);
    const e2 = await client
      .post("/api/2.0/secrets/put", { scope: "s", key: "k", string_value: Secret.from(BODY_SECRET) })
      .catch((e) => e);
    const e3 = await client
      .post("/api/2.0/secrets/put", { scope: "s", key: "k", string_value: Secret.from(BODY_SECRET) })
      .catch((e) => e);
    for (const e of [e1, e2, e3] as RemoteError[]) {
      expect(e.message).toContain("got *** with");
      expectClean(everythingPrintable(e, lines));
    }
    expectClean(auth.describe());
    expect(lines.length).toBeGreaterThan(0);
  });

  it("auth resolution errors and descriptions never carry the values", async () => {
    const err = await resolveDatabricksAuth({
      host: "https://x.cloud.databricks.com",
      token: PAT,
      clientId: "c",
      clientSecret: CLIENT_SECRET,
      env: {},
    }).catch((e) => e);
    expect(err.message).toMatch(/more than one authentication method/);
    expectClean(everythingPrintable(err, []));
    const auth = await resolveDatabricksAuth({
      host: "https://x.cloud.databricks.com",
      clientId: "c",
      clientSecret: CLIENT_SECRET,
      env: {},
    });
    expectClean(auth.describe());
    expectClean(inspect(auth, { depth: 10 }));
  });

  describe("against the local workspace", () => {
    let ws: RunningWorkspace;
    beforeAll(async () => {
      ws = await startWorkspace({ ephemeral: true, port: 0, token: PAT });
    });
    afterAll(async () => {
      await ws?.stop();
    });

    const control = (method: string, path: string, body?: unknown) =>
      fetch(`${ws.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${PAT}`, "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }).then((r) => r.json() as Promise<Record<string, unknown>>);

    it("faults, a rejected OAuth client and the request log show no canary", async () => {
      const lines: string[] = [];
      const { client } = await connectDatabricks({
        host: ws.url,
        token: PAT,
        env: {},
        client: { retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 }, hooks: [logRequests((l) => lines.push(l))] },
      });
      await control("POST", "/__lakeforge/faults", {
        method: "POST",
        path: "/api/2.0/preview/scim/v2/Groups",
        drop: true,
        count: 1,
      });
      await control("POST", "/__lakeforge/faults", { method: "GET", path: "/api/2.0/preview/scim/v2/Me", status: 500, count: 5 });
      const errors = [
        await client
          .post("/api/2.0/preview/scim/v2/Groups", { displayName: "g", externalId: Secret.from(BODY_SECRET) })
          .catch((e) => e),
        await client.get("/api/2.0/preview/scim/v2/Me").catch((e) => e),
        await client.get("/api/2.0/preview/scim/v2/Groups/missing").catch((e) => e),
      ];
      const { client: m2m } = await connectDatabricks({
        host: ws.url,
        clientId: "no-such-client",
        clientSecret: CLIENT_SECRET,
        env: {},
      });
      errors.push(await m2m.get("/api/2.0/preview/scim/v2/Me").catch((e) => e));
      expect((errors as RemoteError[]).map((e) => e.name)).toEqual(["RemoteError", "RemoteError", "RemoteError", "RemoteError"]);
      for (const e of errors as RemoteError[]) expectClean(everythingPrintable(e, lines));

      const log = await control("GET", "/__lakeforge/requests?since=0");
      const urls = (log.requests as { path: string }[]).map((r) => r.path).join("\n");
      expect(urls).toContain("/api/2.0/preview/scim/v2/Me");
      expectClean(urls);
    });
  });
});
