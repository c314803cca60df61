import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabricksClient } from "../../../src/clients/databricks/client.js";
import { emptyState, FileStateBackend, parseState, type StateFile } from "../../../src/engine/state.js";
import { WorkspaceStateBackend } from "../../../src/engine/workspace-state.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";

/** How state reaches the workspace: spaced pushes, the newest state on flush, the folder made once. */

let ws: RunningWorkspace;
let client: DatabricksClient;
const dir = mkdtempSync(join(tmpdir(), "lakeforge-state-push-"));

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
  const token = ws.token;
  client = new DatabricksClient({ host: ws.url, auth: async () => ({ Authorization: `Bearer ${token}` }) });
});
afterAll(async () => {
  await ws?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function lastSeq(): Promise<number> {
  return (await client.get<{ last_seq: number }>("/__lakeforge/requests", { since: 1e12 })).last_seq;
}

async function writesSince(seq: number): Promise<string[]> {
  const log = await client.get<{ requests: { method: string; path: string }[] }>("/__lakeforge/requests", { since: seq });
  return log.requests.filter((r) => r.method !== "GET").map((r) => r.path);
}

async function remoteState(root: string): Promise<StateFile> {
  const res = await client.get<{ content: string }>("/api/2.0/workspace/export", {
    path: `${root}/state.json`,
    format: "SOURCE",
  });
  return parseState(Buffer.from(res.content, "base64").toString("utf8"), "test");
}

const withSerial = (state: StateFile, serial: number): StateFile => ({ ...state, serial });

describe("WorkspaceStateBackend", () => {
  it("spaces pushes, keeps the local cache current after every save, and pushes the newest state on flush", async () => {
    const root = "/Shared/.lakeforge/push-test/dev";
    const cacheFile = join(dir, "a", "dev.json");
    const backend = new WorkspaceStateBackend(client, root, cacheFile, { pushIntervalMs: 60_000 });
    const state = emptyState("dev");
    const since = await lastSeq();
    for (let serial = 1; serial <= 20; serial++) {
      await backend.save(withSerial(state, serial));
      // Written locally before save resolves.
      expect(parseState(readFileSync(cacheFile, "utf8"), "cache").serial).toBe(serial);
    }
    await new Promise((r) => setTimeout(r, 50));
    // The first save is pushed at once (with the folder made first); the others wait for the interval.
    expect(await writesSince(since)).toEqual(["/api/2.0/workspace/mkdirs", "/api/2.0/workspace/import"]);
    expect((await remoteState(root)).serial).toBe(1);

    await backend.flush(); // does not wait out the interval
    expect(await writesSince(since)).toEqual([
      "/api/2.0/workspace/mkdirs",
      "/api/2.0/workspace/import",
      "/api/2.0/workspace/import",
    ]);
    expect((await remoteState(root)).serial).toBe(20);
    // No temporary files are left next to the cache.
    expect(readdirSync(join(dir, "a"))).toEqual(["dev.json"]);
  });

  it("makes the folder again when it was removed behind its back", async () => {
    const root = "/Shared/.lakeforge/push-test/removed";
    const backend = new WorkspaceStateBackend(client, root, join(dir, "b", "dev.json"), { pushIntervalMs: 0 });
    const state = emptyState("dev");
    await backend.save(withSerial(state, 1));
    await backend.flush();
    await client.post("/api/2.0/workspace/delete", { path: root, recursive: true });
    await backend.save(withSerial(state, 2));
    await backend.flush();
    expect((await remoteState(root)).serial).toBe(2);
  });

  it("on load, pushes a local cache that is ahead of the workspace", async () => {
    const root = "/Shared/.lakeforge/push-test/ahead";
    const cacheFile = join(dir, "c", "dev.json");
    const first = new WorkspaceStateBackend(client, root, cacheFile, { pushIntervalMs: 60_000 });
    const state = emptyState("dev");
    await first.save(withSerial(state, 1));
    await first.flush();
    // A process that died before its next push: the cache is ahead.
    await new FileStateBackend(cacheFile).save(withSerial(state, 5));
    const second = new WorkspaceStateBackend(client, root, cacheFile);
    expect((await second.load())?.serial).toBe(5);
    expect((await remoteState(root)).serial).toBe(5);
    expect(existsSync(cacheFile)).toBe(true);
  });
});
