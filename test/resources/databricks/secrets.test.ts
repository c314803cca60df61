import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fingerprint } from "../../../src/engine/engine.js";
import { Secret } from "../../../src/lib/secret.js";
import { secretAclAdapter, secretAdapter, secretScopeAdapter } from "../../../src/resources/databricks/index.js";
import { compare, lifecycle, useWorkspace } from "./helpers.js";

const { ws, ctx } = useWorkspace();

/** The request log since `since`, as the workspace's control API reports it. */
async function requestsSince(since: number): Promise<{ method: string; path: string }[]> {
  const res = await ctx().client.get<{ requests: { method: string; path: string }[] }>("/__lakeforge/requests", { since });
  return res.requests;
}

describe("databricks.secret_scope", () => {
  it("is found by name; a backend change forces a replacement", async () => {
    const spec = { name: "lf-scope" };
    const { id } = await secretScopeAdapter.create(ctx(), spec);
    expect(id).toBe("lf-scope");
    const remote = (await secretScopeAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(remote).toMatchObject({ name: "lf-scope", backend_type: "DATABRICKS" });
    expect((await secretScopeAdapter.find(ctx(), spec))?.id).toBe(id);
    expect(compare(secretScopeAdapter, spec, remote, spec)).toEqual([]);
    expect(compare(secretScopeAdapter, { ...spec, backend_type: "DATABRICKS" }, remote, spec)).toEqual([]);

    const keyVault = {
      ...spec,
      backend_type: "AZURE_KEYVAULT",
      keyvault_metadata: {
        resource_id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v",
        dns_name: "https://v.vault.azure.net/",
      },
    };
    const changes = compare(secretScopeAdapter, keyVault, remote, spec);
    expect(changes.map((c) => c.path).sort()).toEqual([
      "backend_type",
      "keyvault_metadata.dns_name",
      "keyvault_metadata.resource_id",
    ]);
    expect(changes.every((c) => c.forcesRecreate)).toBe(true);
    // initial_manage_principal is never returned: the value applied last stands for it.
    const withUsers = { ...spec, initial_manage_principal: "users" };
    expect(compare(secretScopeAdapter, withUsers, remote, withUsers)).toEqual([]);
    expect(compare(secretScopeAdapter, withUsers, remote, spec)).toMatchObject([
      { path: "initial_manage_principal", forcesRecreate: true },
    ]);

    await secretScopeAdapter.delete(ctx(), id);
    expect(await secretScopeAdapter.read(ctx(), id)).toBeUndefined();
    expect(await secretScopeAdapter.find(ctx(), spec)).toBeUndefined();
    await secretScopeAdapter.delete(ctx(), id);
  });
});

describe("databricks.secret", () => {
  it("goes through put, read, find, put again and delete", async () => {
    await secretScopeAdapter.create(ctx(), { name: "lf-secrets-2" });
    const canary = `canary-${randomBytes(12).toString("hex")}`;
    const since = (await requestsSince(0)).length;
    const spec = { scope: "lf-secrets-2", key: "token", string_value: Secret.from(canary) };
    const { id } = await secretAdapter.create(ctx(), spec);
    expect(id).toBe("lf-secrets-2/token");
    const remote = (await secretAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(remote).toMatchObject({ scope: "lf-secrets-2", key: "token" });
    expect(JSON.stringify(remote)).not.toContain(canary);
    expect((await secretAdapter.find(ctx(), spec))?.id).toBe(id);
    expect(compare(secretAdapter, spec, remote, spec)).toEqual([]);

    // The value is write-only: the engine compares salted fingerprints of it.
    expect(secretAdapter.rules.sensitive).toContain("string_value");
    expect(fingerprint("salt", canary)).not.toContain(canary);

    const next = `next-${randomBytes(12).toString("hex")}`;
    await secretAdapter.update(ctx(), id, { ...spec, string_value: Secret.from(next) }, remote);
    const value = await ctx().client.get<{ value: string }>("/api/2.0/secrets/get", { scope: "lf-secrets-2", key: "token" });
    expect(Buffer.from(value.value, "base64").toString("utf8")).toBe(next);
    // Neither value reached a URL or the request log.
    const log = JSON.stringify(await requestsSince(since));
    expect(log).toContain("/api/2.0/secrets/put");
    expect(log).not.toContain(canary);
    expect(log).not.toContain(next);

    expect(compare(secretAdapter, { ...spec, key: "other" }, remote, spec)).toMatchObject([
      { path: "key", forcesRecreate: true },
    ]);
    await secretAdapter.delete(ctx(), id);
    expect(await secretAdapter.read(ctx(), id)).toBeUndefined();
    await secretAdapter.delete(ctx(), id);
    // A secret of a scope that is gone is gone.
    await secretScopeAdapter.delete(ctx(), "lf-secrets-2");
    expect(await secretAdapter.read(ctx(), id)).toBeUndefined();
  });
});

describe("databricks.secret_acl", () => {
  it("goes through put, read, find, change of permission and delete", async () => {
    await secretScopeAdapter.create(ctx(), { name: "lf-acls" });
    const spec = { scope: "lf-acls", principal: "users", permission: "READ" };
    const id = await lifecycle(secretAclAdapter, ctx(), {
      spec,
      changed: { ...spec, permission: "WRITE" },
      changedPaths: ["permission"],
      updated: (r) => expect(r.permission).toBe("WRITE"),
    });
    expect(id).toBe("lf-acls/users");
    expect(ws().url).toMatch(/^http/);
  });
});
