import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { limiter } from "../../../src/engine/engine.js";
import type { ResourceAdapter } from "../../../src/engine/types.js";
import { Secret } from "../../../src/lib/secret.js";
import {
  clusterAdapter,
  type DatabricksCtx,
  jobAdapter,
  notebookAdapter,
  secretAclAdapter,
  secretAdapter,
  secretScopeAdapter,
} from "../../../src/resources/databricks/index.js";
import { useWorkspace } from "./helpers.js";

/**
 * The batch reads of plans (`readMany`, `findMany`) against the local workspace: they answer what
 * `read` and `find` answer, with one list where the adapters would send one request per object.
 */

type Obj = Record<string, unknown>;

const { ctx } = useWorkspace();
const limit = limiter(4);

const dir = mkdtempSync(join(tmpdir(), "lakeforge-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `fn` and returns its result with the requests it sent, as `METHOD path`. */
async function counting<T>(fn: () => Promise<T>): Promise<{ result: T; requests: string[] }> {
  const before = (await ctx().client.get<{ last_seq: number }>("/__lakeforge/requests", { since: 1e12 })).last_seq;
  const result = await fn();
  const log = await ctx().client.get<{ requests: { method: string; path: string }[] }>("/__lakeforge/requests", {
    since: before,
  });
  return { result, requests: log.requests.map((r) => `${r.method} ${r.path}`) };
}

/** Every object of a batch compares (after `normalize`) as its single read does. */
async function sameAsRead(adapter: ResourceAdapter<DatabricksCtx>, batch: Map<string, Obj | undefined>): Promise<void> {
  for (const [id, remote] of batch) {
    const single = await adapter.read(ctx(), id);
    const form = (r: Obj | undefined) => (r && adapter.normalize ? adapter.normalize(r) : r);
    expect(form(remote), `${adapter.kind} ${id}`).toEqual(form(single));
  }
}

const jobSpec = (name: string, tasks = 1): Obj => ({
  name,
  tags: { team: "batch" },
  tasks: Array.from({ length: tasks }, (_, i) => ({
    task_key: `t${i}`,
    notebook_task: { notebook_path: "/Shared/batch/train" },
  })),
});

describe("databricks.job", () => {
  it("reads many jobs from one list page; a job with more than 100 tasks and an unknown id are left to read", async () => {
    const ids: string[] = [];
    for (const name of ["lf-batch-a", "lf-batch-b", "lf-batch-c"]) ids.push((await jobAdapter.create(ctx(), jobSpec(name))).id);
    const big = (await jobAdapter.create(ctx(), jobSpec("lf-batch-big", 101))).id;
    const { result, requests } = await counting(() =>
      (jobAdapter.readMany as NonNullable<typeof jobAdapter.readMany>)(ctx(), [...ids, big, "987654321"], limit),
    );
    expect(requests).toEqual(["GET /api/2.2/jobs/list"]);
    expect([...result.keys()].sort()).toEqual([...ids].sort());
    await sameAsRead(jobAdapter, result);
  });

  it("finds many jobs by name in one list; an absent name is known absent, a name used twice is left to find", async () => {
    const a = (await jobAdapter.create(ctx(), jobSpec("lf-find-a"))).id;
    await jobAdapter.create(ctx(), jobSpec("lf-find-twice"));
    await jobAdapter.create(ctx(), jobSpec("lf-find-twice"));
    const findMany = jobAdapter.findMany as NonNullable<typeof jobAdapter.findMany>;
    const { result, requests } = await counting(() =>
      findMany(ctx(), [jobSpec("lf-find-a"), jobSpec("lf-find-none"), jobSpec("lf-find-twice")], limit),
    );
    expect(requests).toEqual(["GET /api/2.2/jobs/list"]);
    expect(result.get("lf-find-a")?.id).toBe(a);
    expect(result.has("lf-find-none")).toBe(true);
    expect(result.get("lf-find-none")).toBeUndefined();
    expect(result.has("lf-find-twice")).toBe(false);
    const found = await jobAdapter.find(ctx(), jobSpec("lf-find-a"));
    expect(jobAdapter.normalize?.(result.get("lf-find-a")?.remote as Obj)).toEqual(jobAdapter.normalize?.(found?.remote as Obj));
  });
});

describe("databricks.cluster", () => {
  it("reads many clusters and their libraries in two requests, and finds them by name", async () => {
    const base = { spark_version: "15.4.x-scala2.12", node_type_id: "i3.xlarge", num_workers: 1 };
    const withLib = { ...base, cluster_name: "lf-batch-lib", libraries: [{ pypi: { package: "requests" } }] };
    const plain = { ...base, cluster_name: "lf-batch-plain" };
    const ids = [(await clusterAdapter.create(ctx(), withLib)).id, (await clusterAdapter.create(ctx(), plain)).id];
    const { result, requests } = await counting(() =>
      (clusterAdapter.readMany as NonNullable<typeof clusterAdapter.readMany>)(ctx(), ids, limit),
    );
    expect(requests.sort()).toEqual(["GET /api/2.0/libraries/all-cluster-statuses", "GET /api/2.1/clusters/list"]);
    expect([...result.keys()].sort()).toEqual([...ids].sort());
    expect(result.get(ids[0] as string)?.libraries).toEqual([{ pypi: { package: "requests" } }]);
    await sameAsRead(clusterAdapter, result);

    const found = await (clusterAdapter.findMany as NonNullable<typeof clusterAdapter.findMany>)(
      ctx(),
      [withLib, plain, { ...base, cluster_name: "lf-batch-none" }],
      limit,
    );
    expect(found.get("lf-batch-lib")?.id).toBe(ids[0]);
    expect(found.get("lf-batch-lib")?.remote.libraries).toEqual([{ pypi: { package: "requests" } }]);
    expect(found.get("lf-batch-plain")?.id).toBe(ids[1]);
    expect(found.has("lf-batch-none") && found.get("lf-batch-none") === undefined).toBe(true);
  });
});

describe("secret scopes, secrets and ACLs", () => {
  it("lists each scope once for all its secrets and ACLs; a missing scope means missing secrets", async () => {
    await secretScopeAdapter.create(ctx(), { name: "lf-batch-scope" });
    const secretIds: string[] = [];
    for (const key of ["a", "b", "c"]) {
      const spec = { scope: "lf-batch-scope", key, string_value: Secret.from(`value-${key}`) };
      secretIds.push((await secretAdapter.create(ctx(), spec)).id);
    }
    const aclIds: string[] = [];
    for (const principal of ["users", "admins"]) {
      aclIds.push((await secretAclAdapter.create(ctx(), { scope: "lf-batch-scope", principal, permission: "READ" })).id);
    }

    const scopes = await counting(() =>
      (secretScopeAdapter.readMany as NonNullable<typeof secretScopeAdapter.readMany>)(
        ctx(),
        ["lf-batch-scope", "lf-batch-none"],
        limit,
      ),
    );
    expect(scopes.requests).toEqual(["GET /api/2.0/secrets/scopes/list"]);
    expect(scopes.result.get("lf-batch-scope")?.name).toBe("lf-batch-scope");
    expect(scopes.result.has("lf-batch-none") && scopes.result.get("lf-batch-none") === undefined).toBe(true);

    const secrets = await counting(() =>
      (secretAdapter.readMany as NonNullable<typeof secretAdapter.readMany>)(ctx(), [...secretIds, "lf-batch-gone/x"], limit),
    );
    expect(secrets.requests.sort()).toEqual(["GET /api/2.0/secrets/list", "GET /api/2.0/secrets/list"]);
    expect(secrets.result.get("lf-batch-gone/x")).toBeUndefined();
    expect(secrets.result.has("lf-batch-gone/x")).toBe(true);
    await sameAsRead(secretAdapter, secrets.result);
    expect(JSON.stringify([...secrets.result])).not.toContain("value-");

    const acls = await counting(() =>
      (secretAclAdapter.readMany as NonNullable<typeof secretAclAdapter.readMany>)(ctx(), aclIds, limit),
    );
    expect(acls.requests).toEqual(["GET /api/2.0/secrets/acls/list"]);
    expect([...acls.result.keys()].sort()).toEqual([...aclIds].sort());
    await sameAsRead(secretAclAdapter, acls.result);

    const found = await (secretAdapter.findMany as NonNullable<typeof secretAdapter.findMany>)(
      ctx(),
      [
        { scope: "lf-batch-scope", key: "a" },
        { scope: "lf-batch-scope", key: "zzz" },
      ],
      limit,
    );
    expect(found.get("lf-batch-scope/a")?.id).toBe("lf-batch-scope/a");
    expect(found.has("lf-batch-scope/zzz") && found.get("lf-batch-scope/zzz") === undefined).toBe(true);
  });
});

describe("databricks.notebook", () => {
  it("reads the notebooks of a folder with one list and one export each, telling Jupyter from source", async () => {
    const file = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };
    const doc = {
      cells: [{ cell_type: "code", source: ["x = 1\n"], metadata: {}, outputs: [], execution_count: null }],
      metadata: { kernelspec: { language: "python", name: "python3" } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    const specs = [
      { source: file("one.py", "# Databricks notebook source\nprint(1)\n"), path: "/Shared/lf-batch/one" },
      { source: file("two.sql", "-- Databricks notebook source\nSELECT 2\n"), path: "/Shared/lf-batch/two" },
      { source: file("three.ipynb", JSON.stringify(doc)), path: "/Shared/lf-batch/three.ipynb" },
      { source: file("alone.py", "# Databricks notebook source\nprint(4)\n"), path: "/Shared/lf-batch-alone/alone" },
    ];
    const ids: string[] = [];
    for (const spec of specs) ids.push((await notebookAdapter.create(ctx(), spec)).id);
    const readMany = notebookAdapter.readMany as NonNullable<typeof notebookAdapter.readMany>;
    const { result, requests } = await counting(() =>
      readMany(ctx(), [...ids, "/Shared/lf-batch-missing/x", "/Shared/lf-batch-missing/y"], limit),
    );
    // The lone notebook of its folder is left to `read`; a folder that does not exist holds no notebooks.
    expect(requests.sort()).toEqual([
      ...Array(3).fill("GET /api/2.0/workspace/export"),
      "GET /api/2.0/workspace/list",
      "GET /api/2.0/workspace/list",
    ]);
    expect([...result.keys()].sort()).toEqual(
      ["/Shared/lf-batch-missing/x", "/Shared/lf-batch-missing/y", ...ids.slice(0, 3)].sort(),
    );
    expect(result.get("/Shared/lf-batch-missing/x")).toBeUndefined();
    expect(result.get("/Shared/lf-batch/three")?.format).toBe("JUPYTER");
    await sameAsRead(notebookAdapter, result);

    const found = await (notebookAdapter.findMany as NonNullable<typeof notebookAdapter.findMany>)(
      ctx(),
      [specs[0] as Obj, specs[2] as Obj, { source: specs[0]?.source, path: "/Shared/lf-batch/none" }],
      limit,
    );
    expect(found.get("/Shared/lf-batch/one")?.id).toBe("/Shared/lf-batch/one");
    expect(found.get("/Shared/lf-batch/three")?.id).toBe("/Shared/lf-batch/three");
    expect(found.has("/Shared/lf-batch/none")).toBe(false); // not listed: left to `find`
  });
});
