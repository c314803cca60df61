import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";
import { Store } from "../../../src/workspace/store/store.js";
import { isForeign, permissionType, type TreeNode, workspaceTree } from "../../../src/workspace/tree.js";
import { Workspace } from "../../../src/workspace/workspace.js";

/*
 * Objects other services keep in the workspace tree (MLflow experiments): the tree's side of it, and
 * the experiments' nodes across restarts, including state written before experiments had nodes.
 */

delete process.env.LAKEFORGE_WORKSPACE_TOKEN;

const running: RunningWorkspace[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const ws of running.splice(0)) await ws.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const HOME = "/Users/admin@lakeforge.local";

function memoryTree() {
  const ws = new Workspace(new Store(), { clusterStartDelayMs: 0, onNotImplemented: () => {} });
  return workspaceTree(ws);
}

async function start(dataDir: string): Promise<RunningWorkspace> {
  const ws = await startWorkspace({ port: 0, dataDir });
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

const status = (ws: RunningWorkspace, path: string) =>
  call(ws, "GET", `/api/2.0/workspace/get-status?path=${encodeURIComponent(path)}`);

/** Rewrites the `workspace_objects` collection of a stopped workspace's snapshot. */
function editObjects(dataDir: string, edit: (entries: [string, TreeNode][]) => [string, TreeNode][]): void {
  const file = join(dataDir, "state", "snapshot.json");
  const snap = JSON.parse(readFileSync(file, "utf8")) as { collections: Record<string, [string, TreeNode][]> };
  snap.collections.workspace_objects = edit(snap.collections.workspace_objects ?? []);
  writeFileSync(file, JSON.stringify(snap));
}

describe("foreign nodes in the workspace tree", () => {
  it("are leaves that block their path, move, and leave without hooks when their owner removes them", () => {
    const tree = memoryTree();
    const removed: string[] = [];
    tree.onRemove((node) => removed.push(`${node.object_type} ${node.path}`));
    tree.mkdirs("/Shared/a/b");
    const id = tree.newId();
    const node = tree.putForeign("/Shared/a/b/exp", "MLFLOW_EXPERIMENT", id, "experiments");
    expect(isForeign(node)).toBe(true);
    expect(permissionType(node)).toBe("experiments");
    expect(tree.byId(id)?.path).toBe("/Shared/a/b/exp");
    expect(tree.list("/Shared/a/b").map((n) => n.path)).toEqual(["/Shared/a/b/exp"]);
    expect(tree.isContainer("/Shared/a/b/exp")).toBe(false);
    expect(tree.blockerOf("/Shared/a/b/exp/x")?.object_id).toBe(id);
    expect(() => tree.putForeign("/Shared/a/b/exp", "MLFLOW_EXPERIMENT", tree.newId(), "experiments")).toThrow();
    expect(() => tree.putForeign("/Shared/missing/exp", "MLFLOW_EXPERIMENT", tree.newId(), "experiments")).toThrow();

    const moved = tree.moveForeign("/Shared/a/b/exp", "/Shared/a/exp2");
    expect([moved.object_id, moved.created_at]).toEqual([id, node.created_at]);
    expect(tree.get("/Shared/a/b/exp")).toBeUndefined();
    expect(tree.byId(id)?.path).toBe("/Shared/a/exp2");
    expect(() => tree.moveForeign("/Shared/a/b", "/Shared/c")).toThrow(); // not a foreign node

    // The owner's own removal calls no hooks, and needs the right id.
    tree.removeForeign("/Shared/a/exp2", id + 1);
    expect(tree.get("/Shared/a/exp2")).toBeDefined();
    tree.removeForeign("/Shared/a/exp2", id);
    expect(tree.byId(id)).toBeUndefined();
    expect(removed).toEqual([]);

    // A subtree removal tells the hooks about every node, children first.
    tree.putForeign("/Shared/a/b/exp", "MLFLOW_EXPERIMENT", id, "experiments");
    tree.add({ path: "/Shared/a/nb", object_type: "NOTEBOOK", language: "PYTHON" });
    tree.removeSubtree("/Shared/a");
    expect(removed).toEqual([
      "NOTEBOOK /Shared/a/nb",
      "MLFLOW_EXPERIMENT /Shared/a/b/exp",
      "DIRECTORY /Shared/a/b",
      "DIRECTORY /Shared/a",
    ]);
  });
});

describe("experiments in the tree across restarts", () => {
  it("keep their nodes, and get them on start when the state has none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-exp-"));
    dirs.push(dir);
    let ws = await start(dir);
    const kept = String(
      (await call(ws, "POST", "/api/2.0/mlflow/experiments/create", { name: `${HOME}/kept` })).body.experiment_id,
    );
    const old = String(
      (await call(ws, "POST", "/api/2.0/mlflow/experiments/create", { name: `${HOME}/old` })).body.experiment_id,
    );
    const gone = String(
      (await call(ws, "POST", "/api/2.0/mlflow/experiments/create", { name: `${HOME}/gone` })).body.experiment_id,
    );
    await call(ws, "POST", "/api/2.0/mlflow/experiments/delete", { experiment_id: gone });
    await ws.stop();
    running.splice(0);

    // As written before experiments were workspace objects: no node for `old`, a stray one for `gone`.
    editObjects(dir, (entries) => [
      ...entries.filter(([path]) => path !== `${HOME}/old`),
      [
        `${HOME}/gone`,
        {
          path: `${HOME}/gone`,
          object_id: Number(gone),
          object_type: "MLFLOW_EXPERIMENT",
          created_at: 0,
          modified_at: 0,
          permission_type: "experiments",
        },
      ],
    ]);

    ws = await start(dir);
    for (const [path, id] of [
      [`${HOME}/kept`, kept],
      [`${HOME}/old`, old],
    ]) {
      const got = await status(ws, path as string);
      expect(got.status, path).toBe(200);
      expect([got.body.object_type, got.body.object_id]).toEqual(["MLFLOW_EXPERIMENT", Number(id)]);
    }
    expect((await status(ws, `${HOME}/gone`)).status).toBe(404);

    // The restored tree still drives the experiments.
    const del = await call(ws, "POST", "/api/2.0/workspace/delete", { path: `${HOME}/old` });
    expect(del.status).toBe(200);
    const got = await call(ws, "GET", `/api/2.0/mlflow/experiments/get?experiment_id=${old}`);
    expect((got.body.experiment as { lifecycle_stage: string }).lifecycle_stage).toBe("deleted");
  });
});
