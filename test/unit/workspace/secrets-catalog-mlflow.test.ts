import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";

/*
 * Secrets, Unity Catalog and MLflow state across restarts of a persistent workspace, and the
 * request-level details the contract suites do not reach.
 */

delete process.env.LAKEFORGE_WORKSPACE_TOKEN;

const running: RunningWorkspace[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const ws of running.splice(0)) await ws.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir?: string): Promise<RunningWorkspace> {
  const ws = await startWorkspace({ port: 0, ...(dataDir ? { dataDir } : { ephemeral: true }) });
  running.push(ws);
  return ws;
}

async function call(ws: RunningWorkspace, method: string, path: string, body?: unknown) {
  const res = await fetch(`${ws.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ws.token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("persistence", () => {
  it("keeps scopes, secrets, catalogs, models and experiments across a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-uc-"));
    dirs.push(dir);
    let ws = await start(dir);
    expect((await call(ws, "POST", "/api/2.0/secrets/scopes/create", { scope: "s" })).status).toBe(200);
    await call(ws, "POST", "/api/2.0/secrets/put", { scope: "s", key: "k", string_value: "v" });
    const metastore = (await call(ws, "GET", "/api/2.1/unity-catalog/current-metastore-assignment")).body.metastore_id;
    await call(ws, "POST", "/api/2.1/unity-catalog/catalogs", { name: "kept" });
    await call(ws, "POST", "/api/2.1/unity-catalog/models", { catalog_name: "kept", schema_name: "default", name: "m" });
    const exp = await call(ws, "POST", "/api/2.0/mlflow/experiments/create", { name: "/Users/admin@lakeforge.local/e" });
    await ws.stop();
    running.splice(0);

    ws = await start(dir);
    const secret = await call(ws, "GET", "/api/2.0/secrets/get?scope=s&key=k");
    expect(Buffer.from(String(secret.body.value), "base64").toString()).toBe("v");
    expect((await call(ws, "GET", "/api/2.1/unity-catalog/current-metastore-assignment")).body.metastore_id).toBe(metastore);
    expect((await call(ws, "GET", "/api/2.1/unity-catalog/models/kept.default.m")).body.full_name).toBe("kept.default.m");
    const got = await call(ws, "GET", `/api/2.0/mlflow/experiments/get?experiment_id=${exp.body.experiment_id}`);
    expect((got.body.experiment as Record<string, unknown>).name).toBe("/Users/admin@lakeforge.local/e");
    // Seeding happens once: `main` is not created a second time.
    const catalogs = (await call(ws, "GET", "/api/2.1/unity-catalog/catalogs")).body.catalogs as { name: string }[];
    expect(catalogs.filter((c) => c.name === "main")).toHaveLength(1);
  });

  it("never writes a secret value into the request log file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-uc-"));
    dirs.push(dir);
    const log = join(dir, "requests.jsonl");
    const ws = await startWorkspace({ port: 0, ephemeral: true, requestLogFile: log });
    running.push(ws);
    await call(ws, "POST", "/api/2.0/secrets/scopes/create", { scope: "s" });
    await call(ws, "POST", "/api/2.0/secrets/put", { scope: "s", key: "k", string_value: "canary-0f1e2d" });
    const put = await call(ws, "POST", "/api/2.0/secrets/put", { scope: "s", key: "k", string_value: "x".repeat(200_000) });
    expect(put.status).toBe(400);
    expect(JSON.stringify(put.body)).not.toContain("xxxxxxxxxx");
    await ws.stop();
    running.splice(0);
    expect(readFileSync(log, "utf8")).not.toContain("canary-0f1e2d");
    expect(readdirSync(dir)).toContain("requests.jsonl");
  });
});

describe("unity catalog details", () => {
  it("pages catalog listings with max_results and page tokens", async () => {
    const ws = await start();
    for (let i = 0; i < 5; i++) await call(ws, "POST", "/api/2.1/unity-catalog/catalogs", { name: `c${i}` });
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const q = `max_results=3${token ? `&page_token=${token}` : ""}`;
      const res = await call(ws, "GET", `/api/2.1/unity-catalog/catalogs?${q}`);
      names.push(...(res.body.catalogs as { name: string }[]).map((c) => c.name));
      token = res.body.next_page_token as string | undefined;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(names).toEqual(["c0", "c1", "c2", "c3", "c4", "main", "system"]);
  });

  it("renaming a catalog renames the full names inside it", async () => {
    const ws = await start();
    await call(ws, "POST", "/api/2.1/unity-catalog/catalogs", { name: "old" });
    await call(ws, "POST", "/api/2.1/unity-catalog/volumes", {
      catalog_name: "old",
      schema_name: "default",
      name: "v",
      volume_type: "MANAGED",
    });
    await call(ws, "PATCH", "/api/2.1/unity-catalog/catalogs/old", { new_name: "new" });
    const v = await call(ws, "GET", "/api/2.1/unity-catalog/volumes/new.default.v");
    expect(v.body.full_name).toBe("new.default.v");
    const gone = await call(ws, "GET", "/api/2.1/unity-catalog/volumes/old.default.v");
    expect(gone.status).toBe(404);
    expect(gone.body.error_code).toBe("CATALOG_DOES_NOT_EXIST");
  });

  it("answers grants with sorted privileges and honours omit_permissions_in_response", async () => {
    const ws = await start();
    const res = await call(ws, "PATCH", "/api/2.1/unity-catalog/permissions/catalog/main", {
      changes: [{ principal: "users", add: ["USE_CATALOG", "BROWSE"] }],
    });
    const rows = res.body.privilege_assignments as { principal: string; privileges: string[] }[];
    expect(rows.find((r) => r.principal === "users")?.privileges).toEqual(["BROWSE", "USE_CATALOG"]);
    const omitted = await call(ws, "PATCH", "/api/2.1/unity-catalog/permissions/catalog/main", {
      changes: [{ principal: "users", remove: ["BROWSE"] }],
      omit_permissions_in_response: true,
    });
    expect(omitted.body).toEqual({});
  });
});

describe("mlflow search filters", () => {
  it("rejects filters it cannot parse and compares timestamps numerically", async () => {
    const ws = await start();
    const before = Date.now() - 1;
    await call(ws, "POST", "/api/2.0/mlflow/experiments/create", { name: "/Users/admin@lakeforge.local/t1" });
    const hit = await call(ws, "POST", "/api/2.0/mlflow/experiments/search", { filter: `creation_time > ${before}` });
    expect((hit.body.experiments as unknown[]).length).toBe(1);
    const none = await call(ws, "POST", "/api/2.0/mlflow/experiments/search", { filter: `creation_time < ${before}` });
    expect(none.body.experiments).toEqual([]);
    for (const filter of ["name = 1", "creation_time LIKE '1'", "owner = 'x'", "name = 'a' OR name = 'b'"]) {
      const bad = await call(ws, "POST", "/api/2.0/mlflow/experiments/search", { filter });
      expect(bad.status, filter).toBe(400);
      expect(bad.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    }
  });
});
