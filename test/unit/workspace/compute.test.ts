import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";

/* Cluster state transitions across a workspace restart, and job settings kept byte-for-byte on disk. */

delete process.env.LAKEFORGE_WORKSPACE_TOKEN;

const running: RunningWorkspace[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const ws of running.splice(0)) await ws.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir: string, clusterStartDelayMs: number): Promise<RunningWorkspace> {
  const ws = await startWorkspace({ port: 0, dataDir, clusterStartDelayMs });
  running.push(ws);
  return ws;
}

async function stop(ws: RunningWorkspace): Promise<void> {
  running.splice(running.indexOf(ws), 1);
  await ws.stop();
}

async function call(ws: RunningWorkspace, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${ws.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ws.token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function stateAfter(ws: RunningWorkspace, id: string, want: string, timeoutMs = 2000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let state = "";
  while (Date.now() < deadline) {
    state = (await call(ws, "GET", `/api/2.1/clusters/get?cluster_id=${id}`)).state as string;
    if (state === want) return state;
    await new Promise((r) => setTimeout(r, 20));
  }
  return state;
}

describe("clusters across a restart", () => {
  it("finishes a start and a termination left in progress by a stopped workspace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-compute-"));
    dirs.push(dir);
    const first = await start(dir, 60_000);
    const starting = (
      await call(first, "POST", "/api/2.1/clusters/create", { spark_version: "15.4.x-scala2.12", num_workers: 0 })
    ).cluster_id as string;
    expect((await call(first, "GET", `/api/2.1/clusters/get?cluster_id=${starting}`)).state).toBe("PENDING");
    await stop(first);

    // The new workspace's shorter delay bounds what is left of the old one.
    const second = await start(dir, 0);
    expect(await stateAfter(second, starting, "RUNNING")).toBe("RUNNING");
    await stop(second);

    const third = await start(dir, 60_000);
    await call(third, "POST", "/api/2.1/clusters/delete", { cluster_id: starting });
    expect((await call(third, "GET", `/api/2.1/clusters/get?cluster_id=${starting}`)).state).toBe("TERMINATING");
    await stop(third);

    const fourth = await start(dir, 0);
    expect(await stateAfter(fourth, starting, "TERMINATED")).toBe("TERMINATED");
    const got = await call(fourth, "GET", `/api/2.1/clusters/get?cluster_id=${starting}`);
    expect((got.termination_reason as Record<string, unknown>).code).toBe("USER_REQUEST");
  });

  it("keeps job settings and ownership", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-compute-"));
    dirs.push(dir);
    const first = await start(dir, 0);
    const settings = { name: "nightly", tasks: [{ task_key: "a", notebook_task: { notebook_path: "/x" } }] };
    const { job_id } = await call(first, "POST", "/api/2.2/jobs/create", settings);
    const before = await call(first, "GET", `/api/2.2/jobs/get?job_id=${job_id}`);
    await stop(first);

    const second = await start(dir, 0);
    expect(await call(second, "GET", `/api/2.2/jobs/get?job_id=${job_id}`)).toEqual(before);
    const perms = await call(second, "GET", `/api/2.0/permissions/jobs/${job_id}`);
    expect(JSON.stringify(perms)).toContain("IS_OWNER");
    const next = await call(second, "POST", "/api/2.2/jobs/create", settings);
    expect(next.job_id).toBe((job_id as number) + 1);
  });
});
