import { hostname } from "node:os";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DatabricksClient } from "../../../src/clients/databricks/client.js";
import { type LockInfo, WorkspaceLock } from "../../../src/engine/workspace-state.js";
import { UserError } from "../../../src/lib/errors.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";

/** The deploy lock against the local workspace: lost answers, stale holders, other holders. */

const ROOT = "/Shared/.lakeforge/lock-test/dev";
let ws: RunningWorkspace;
let client: DatabricksClient;

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
  const token = ws.token;
  client = new DatabricksClient({
    host: ws.url,
    auth: async () => ({ Authorization: `Bearer ${token}` }),
    retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 },
  });
});
afterAll(async () => {
  await ws.stop();
});
beforeEach(async () => {
  ws.workspace.faults.clear();
  await new WorkspaceLock(client, ROOT).forceUnlock();
});

async function plant(lock: Partial<LockInfo>): Promise<void> {
  await client.post("/api/2.0/workspace/mkdirs", { path: ROOT });
  await client.post("/api/2.0/workspace/import", {
    path: `${ROOT}/deploy.lock`,
    format: "AUTO",
    overwrite: true,
    content: Buffer.from(JSON.stringify(lock)).toString("base64"),
  });
}

const other: LockInfo = {
  holder: "ci@runner (pid 42)",
  acquired_at: "2026-01-02T03:04:05.000Z",
  operation: "apply",
  id: "other",
  hostname: hostname(),
  pid: 42,
};

describe("WorkspaceLock", () => {
  it("records holder, host, process id and time, and releases what it holds", async () => {
    const lock = new WorkspaceLock(client, ROOT);
    expect(await lock.acquire("apply")).toEqual({});
    const held = await lock.read();
    expect(held).toMatchObject({ operation: "apply", hostname: hostname(), pid: process.pid });
    expect(held?.holder).toMatch(new RegExp(`@${hostname()} \\(pid ${process.pid}\\)$`));
    expect(Date.parse(held?.acquired_at ?? "")).not.toBeNaN();
    await lock.release();
    expect(await lock.read()).toBeUndefined();
  });

  it("holds the lock when the answer to its create was lost", async () => {
    ws.workspace.faults.addFault({ method: "POST", path: "/api/2.0/workspace/import", apply_then_status: 500, count: 1 });
    const lock = new WorkspaceLock(client, ROOT);
    await lock.acquire("apply");
    expect((await lock.read())?.pid).toBe(process.pid);
    await lock.release();
    expect(await lock.read()).toBeUndefined();
  });

  it("tries again when its create failed before reaching the workspace", async () => {
    ws.workspace.faults.addFault({ method: "POST", path: "/api/2.0/workspace/import", status: 500, count: 1 });
    const lock = new WorkspaceLock(client, ROOT);
    await lock.acquire("apply");
    expect((await lock.read())?.pid).toBe(process.pid);
  });

  it("takes over a lock whose holder on this host is no longer running", async () => {
    await plant(other);
    const lock = new WorkspaceLock(client, ROOT, (pid) => pid !== 42);
    expect(await lock.acquire("destroy")).toEqual({ tookOver: other });
    expect(await lock.read()).toMatchObject({ pid: process.pid, operation: "destroy" });
  });

  it("refuses a lock whose holder is alive, or runs on another host, or does not say", async () => {
    const refused = async (lock: Partial<LockInfo>, alive: boolean) => {
      await plant(lock);
      const error = await new WorkspaceLock(client, ROOT, () => alive).acquire("apply").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UserError);
      return (error as UserError).message;
    };
    expect(await refused(other, true)).toBe(
      "the environment is locked by ci@runner (pid 42) since 2026-01-02T03:04:05.000Z (apply)",
    );
    expect(await refused({ ...other, hostname: "elsewhere" }, false)).toContain("locked by ci@runner (pid 42)");
    const { hostname: _h, pid: _p, ...legacy } = other;
    expect(await refused(legacy, false)).toContain("locked by ci@runner (pid 42)");
    expect((await new WorkspaceLock(client, ROOT).read())?.id).toBe("other");
  });
});
