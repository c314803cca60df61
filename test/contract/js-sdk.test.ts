/**
 * Contract suite: the official Databricks SDK for JavaScript (`@databricks/sdk-experimental`) against
 * the local workspace, unmodified: personal access tokens and OAuth M2M with a service principal.
 */

import { tmpdir } from "node:os";
import { join } from "node:path";
import { Config, WorkspaceClient } from "@databricks/sdk-experimental";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";

const ADMIN = "admin@lakeforge.local";
/** No ~/.databrickscfg profile may leak into the clients. */
const NO_CONFIG_FILE = join(tmpdir(), "lakeforge-no-databrickscfg");

describe("official Databricks SDK for JavaScript against the local workspace", () => {
  let server: RunningWorkspace;
  let client: WorkspaceClient;

  beforeAll(async () => {
    server = await startWorkspace({ ephemeral: true, port: 0 });
    client = new WorkspaceClient(
      new Config({ host: server.url, token: server.token, authType: "pat", configFile: NO_CONFIG_FILE }),
    );
  });

  afterAll(async () => {
    await server?.stop();
  });

  const api = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    expect(res.ok, `${method} ${path} answered ${res.status}`).toBe(true);
    return (await res.json()) as Record<string, unknown>;
  };

  it("reads the current user", async () => {
    const me = await client.currentUser.me();
    expect(me.userName).toBe(ADMIN);
    expect(me.groups?.map((g) => g.display).sort()).toEqual(["admins", "users"]);
  });

  it("lists jobs, paging through them", async () => {
    const name = `js-sdk-${Date.now()}`;
    const created = await api("POST", "/api/2.2/jobs/create", {
      name,
      tasks: [{ task_key: "main", notebook_task: { notebook_path: "/Shared/main" } }],
    });
    const names: string[] = [];
    for await (const job of client.jobs.list({ limit: 1 })) names.push(job.settings?.name ?? "");
    expect(names).toContain(name);
    const job = await client.jobs.get({ job_id: created.job_id as number });
    expect(job.settings?.name).toBe(name);
  });

  it("lists users with a SCIM filter", async () => {
    const userName = `js-${Date.now()}@example.com`;
    await client.usersV2.create({ userName, displayName: "JS Example" });
    const found = [];
    // This SDK's SCIM iterators never advance startIndex (they request the first page again and
    // again), so the loop stops itself after the one match.
    for await (const u of client.usersV2.list({ filter: `userName eq "${userName}"`, count: 10 })) {
      found.push(u);
      if (found.length === 1) break;
    }
    expect(found.map((u) => u.displayName)).toEqual(["JS Example"]);
    expect(found[0]?.groups?.map((g) => g.display)).toEqual(["users"]);
  });

  it("authenticates a service principal with OAuth M2M", async () => {
    const sp = await client.servicePrincipalsV2.create({ displayName: `js-m2m-${Date.now()}` });
    const secret = await api("POST", `/api/2.0/accounts/servicePrincipals/${sp.id}/credentials/secrets`, {});
    const m2m = new WorkspaceClient(
      new Config({
        host: server.url,
        clientId: sp.applicationId,
        clientSecret: secret.secret as string,
        authType: "oauth-m2m",
        configFile: NO_CONFIG_FILE,
      }),
    );
    const me = await m2m.currentUser.me();
    expect(me.userName).toBe(sp.applicationId);
    expect(me.id).toBe(sp.id);
  });
});
