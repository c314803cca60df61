import { generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectDatabricks, type DatabricksClient, isNotFound } from "../../../src/clients/databricks/index.js";
import { type HttpEvent, RemoteError } from "../../../src/clients/http.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";

/**
 * The client against the real local workspace: auth, retries under injected faults (seen in the
 * workspace's own request log), pagination and error mapping.
 */

let ws: RunningWorkspace;
const SCIM = "/api/2.0/preview/scim/v2";

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
});
afterAll(async () => {
  await ws?.stop();
});

async function control(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${ws.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ws.token}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.ok).toBe(true);
  return (await res.json()) as Record<string, unknown>;
}

interface LoggedRequest {
  method: string;
  path: string;
  status: number;
  fault?: string;
}

let since = 0;
beforeEach(async () => {
  await control("DELETE", "/__lakeforge/faults");
  since = (await control("GET", "/__lakeforge/requests?since=0")).last_seq as number;
});

/** What the workspace saw since the test began (control calls left out). */
async function seen(): Promise<LoggedRequest[]> {
  const log = (await control("GET", `/__lakeforge/requests?since=${since}`)).requests as LoggedRequest[];
  return log.filter((r) => !r.path.startsWith("/__lakeforge/"));
}

async function client(retry: Record<string, number> = { baseDelayMs: 5, maxDelayMs: 20 }) {
  const events: HttpEvent[] = [];
  const { client } = await connectDatabricks({
    host: ws.url,
    token: ws.token,
    env: {},
    client: { retry, hooks: [(e) => events.push(e)] },
  });
  return { c: client, events };
}

async function groupsNamed(c: DatabricksClient, name: string): Promise<unknown[]> {
  return c.listAll(`${SCIM}/Groups`, { filter: `displayName eq "${name}"` }, "Resources");
}

describe("DatabricksClient against the local workspace", () => {
  it("authenticates with a PAT and reads /Me", async () => {
    const { c } = await client();
    const me = await c.get<{ userName: string }>(`${SCIM}/Me`);
    expect(me.userName).toBe("admin@lakeforge.local");
    expect(await seen()).toEqual([expect.objectContaining({ method: "GET", path: `${SCIM}/Me`, status: 200 })]);
  });

  it("waits for Retry-After on a 429 and then succeeds", async () => {
    await control("POST", "/__lakeforge/faults", { method: "GET", path: `${SCIM}/Me`, status: 429, retry_after: 1, count: 1 });
    const { c, events } = await client();
    await c.get(`${SCIM}/Me`);
    expect((await seen()).map((r) => r.status)).toEqual([429, 200]);
    expect(events.find((e) => e.type === "retry")).toMatchObject({ delayMs: 1000, reason: "429" });
  });

  it("retries 503s, even for a POST, and creates exactly one object", async () => {
    await control("POST", "/__lakeforge/faults", { method: "POST", path: `${SCIM}/Groups`, status: 503, count: 2 });
    const { c } = await client();
    await c.post(`${SCIM}/Groups`, { displayName: "after-503" });
    expect((await seen()).map((r) => `${r.method} ${r.status}`)).toEqual(["POST 503", "POST 503", "POST 201"]);
    expect(await groupsNamed(c, "after-503")).toHaveLength(1);
  });

  it("replays a GET whose connection was dropped", async () => {
    await control("POST", "/__lakeforge/faults", { method: "GET", path: `${SCIM}/Me`, drop: true, count: 1 });
    const { c, events } = await client();
    await expect(c.get(`${SCIM}/Me`)).resolves.toMatchObject({ userName: "admin@lakeforge.local" });
    expect((await seen()).map((r) => r.status)).toEqual([0, 200]);
    expect(events[0]).toMatchObject({ type: "response", status: 0 });
  });

  it("does not replay a POST whose connection was dropped: maybeApplied", async () => {
    await control("POST", "/__lakeforge/faults", { method: "POST", path: `${SCIM}/Groups`, drop: true, count: 1 });
    const { c } = await client();
    const err = (await c.post(`${SCIM}/Groups`, { displayName: "dropped" }).catch((e) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ kind: "network", maybeApplied: true, method: "POST", path: `${SCIM}/Groups` });
    expect((await seen()).filter((r) => r.method === "POST")).toHaveLength(1);
  });

  it("a lost response after the change (apply_then_status 500) fails with maybeApplied; a lookup finds the object", async () => {
    await control("POST", "/__lakeforge/faults", { method: "POST", path: `${SCIM}/Groups`, apply_then_status: 500, count: 1 });
    const { c } = await client();
    const err = (await c.post(`${SCIM}/Groups`, { displayName: "lost-response" }).catch((e) => e)) as RemoteError;
    expect(err).toMatchObject({ status: 500, code: "INTERNAL_ERROR", maybeApplied: true, attempts: 1 });
    expect((await seen()).map((r) => `${r.method} ${r.status}`)).toEqual(["POST 500"]);
    // what the engine does before retrying a create: find by natural key
    expect(await groupsNamed(c, "lost-response")).toHaveLength(1);
  });

  it("replays an idempotent PUT after a 500", async () => {
    const { c } = await client();
    const g = await c.post<{ id: string }>(`${SCIM}/Groups`, { displayName: "put-me" });
    await control("POST", "/__lakeforge/faults", { method: "PUT", path: `${SCIM}/Groups/*`, status: 500, count: 1 });
    await c.put(`${SCIM}/Groups/${g.id}`, { displayName: "put-me", members: [] });
    expect((await seen()).filter((r) => r.method === "PUT").map((r) => r.status)).toEqual([500, 200]);
  });

  it("pages SCIM lists and maps a 404", async () => {
    const { c } = await client();
    for (const n of [1, 2, 3, 4, 5]) await c.post(`${SCIM}/Groups`, { displayName: `paged-${n}` });
    const all = await c.listAll<{ displayName: string }>(
      `${SCIM}/Groups`,
      { count: 2, filter: 'displayName sw "paged-"' },
      "Resources",
    );
    expect(all.map((g) => g.displayName).sort()).toEqual(["paged-1", "paged-2", "paged-3", "paged-4", "paged-5"]);
    expect((await seen()).filter((r) => r.method === "GET")).toHaveLength(3);

    const err = (await c.get(`${SCIM}/Groups/does-not-exist`).catch((e) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.status).toBe(404);
    expect(isNotFound(err)).toBe(true);
  });

  it("authenticates a service principal with OAuth M2M through /oidc/v1/token", async () => {
    const { c: admin } = await client();
    const sp = await admin.post<{ id: string; applicationId: string }>(`${SCIM}/ServicePrincipals`, {
      displayName: "ci-deployer",
    });
    const { secret } = await admin.post<{ secret: string }>(
      `/api/2.0/accounts/servicePrincipals/${sp.id}/credentials/secrets`,
      {},
    );
    const { client: m2m, auth } = await connectDatabricks({
      host: ws.url,
      clientId: sp.applicationId,
      clientSecret: secret,
      env: {},
    });
    expect(auth.authType).toBe("oauth-m2m");
    // like Databricks, /Me names a service principal by its application id in userName
    const me = await m2m.get<{ id: string; userName: string }>(`${SCIM}/Me`);
    expect(me).toMatchObject({ id: sp.id, userName: sp.applicationId });
    await m2m.get(`${SCIM}/Me`);
    const log = await seen();
    expect(log.filter((r) => r.path === "/oidc/v1/token")).toHaveLength(1); // token cached
  });

  it("authenticates through GitHub Actions OIDC token exchange under a federation policy", async () => {
    const { c: admin } = await client();
    const sp = await admin.post<{ id: string; applicationId: string }>(`${SCIM}/ServicePrincipals`, {
      displayName: "gh-deployer",
    });
    const { account_id } = await admin.get<{ account_id: string }>("/.well-known/databricks-config");
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" };
    const issuer = "https://token.actions.githubusercontent.com";
    const subject = "repo:acme/platform:environment:uat";
    await admin.post(`/api/2.0/accounts/${account_id}/servicePrincipals/${sp.id}/federationPolicies`, {
      oidc_policy: { issuer, subject, jwks_json: JSON.stringify({ keys: [jwk] }) },
    });

    // A stand-in for the GitHub Actions ID token service: signs a JWT for the requested audience.
    const gh = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (req.headers.authorization !== "Bearer gh-runtime-token") {
        res.writeHead(401).end();
        return;
      }
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const now = Math.floor(Date.now() / 1000);
      const input = `${b64({ alg: "RS256", kid: "k1", typ: "JWT" })}.${b64({ iss: issuer, sub: subject, aud: url.searchParams.get("audience"), iat: now, exp: now + 300 })}`;
      const jwt = `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value: jwt }));
    });
    await new Promise<void>((r) => gh.listen(0, "127.0.0.1", () => r()));
    try {
      const { client: c, auth } = await connectDatabricks({
        host: ws.url,
        clientId: sp.applicationId,
        env: {
          ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${(gh.address() as AddressInfo).port}/token?api-version=2.0`,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: "gh-runtime-token",
        },
      });
      expect(auth.authType).toBe("github-oidc");
      const me = await c.get<{ id: string; userName: string }>(`${SCIM}/Me`);
      expect(me).toMatchObject({ id: sp.id, userName: sp.applicationId });
    } finally {
      await new Promise<void>((r) => gh.close(() => r()));
    }
  });
});
