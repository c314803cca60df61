import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { afterAll, describe, expect, test } from "vitest";
import { mlflowBackend } from "../../src/workspace/mlflow/backend.js";
import { startWorkspace } from "../../src/workspace/server.js";
import { alive, finished } from "../support/process.js";

// The unmodified mlflow client (MLFLOW_TRACKING_URI=databricks, registry databricks-uc) against the
// local workspace, whose MLflow calls are served by a real `mlflow server` it supervises.

const ROOT = resolve(import.meta.dirname, "../..");
const PYTHON = join(ROOT, ".cache/venv-project/bin/python");
const SCENARIO = join(import.meta.dirname, "mlflow_scenario.py");
const hasMlflow = existsSync(join(ROOT, ".cache/venv-project/lib")) && existsSync(PYTHON);

function runPython(
  args: string[],
  host: string,
  token: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABRICKS_HOST: host,
    DATABRICKS_TOKEN: token,
    MLFLOW_TRACKING_URI: "databricks",
  };
  for (const key of ["DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "MLFLOW_REGISTRY_URI"])
    delete env[key];
  // Async: the workspace answering the client runs in this process.
  return finished(spawn(PYTHON, args, { env, cwd: mkdtempSync(join(tmpdir(), "lakeforge-mlflow-client-")) }));
}

function lastJson<T>(out: { code: number | null; stdout: string; stderr: string }): T {
  if (out.code !== 0) throw new Error(`the mlflow client failed (${out.code}):\n${out.stderr.slice(-4000)}`);
  const line = out.stdout.trim().split("\n").pop() as string;
  return JSON.parse(line) as T;
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

interface TrainResult {
  experiment_id: string;
  experiment_name: string;
  run_id: string;
  run_user: string;
  artifact_uri: string;
  params: Record<string, string>;
  metrics: Record<string, number>;
  artifacts: string[];
  model_name: string;
  version: string;
  version_tags: Record<string, string>;
  alias_version: string;
  predictions: number[];
}

describe.skipIf(!hasMlflow)("MLflow behind the local workspace (needs .cache/venv-project: npm run setup)", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("the mlflow client logs, registers, aliases and loads a model; it survives a restart; the server stops with the workspace", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "lakeforge-ws-mlflow-"));
    dirs.push(dataDir);
    let ws = await startWorkspace({ dataDir, port: 0, mlflowPython: PYTHON });
    let pid: number | undefined;
    let trained: TrainResult;
    try {
      // Unauthenticated calls never reach the tracking server.
      for (const path of [
        "/api/2.0/mlflow/runs/search",
        "/api/2.0/mlflow/experiments/search",
        "/api/2.0/mlflow-artifacts/artifacts",
      ]) {
        const res = await fetch(`${ws.url}${path}`, { method: "POST", body: "{}" });
        expect(res.status).toBe(401);
      }
      expect(mlflowBackend(ws.workspace).server.pid).toBeUndefined(); // started on demand

      trained = lastJson<TrainResult>(await runPython([SCENARIO, "train", "scenario"], ws.url, ws.token));
      expect(trained.experiment_name).toBe("/Users/admin@lakeforge.local/mlflow-scenario-scenario");
      expect(trained.run_user).toBe("admin@lakeforge.local");
      expect(trained.artifact_uri).toBe(`dbfs:/databricks/mlflow-tracking/${trained.experiment_id}/${trained.run_id}/artifacts`);
      expect(trained.params).toEqual({ C: "1.0", solver: "lbfgs" });
      expect(trained.metrics).toMatchObject({ accuracy: 0.95, loss: 0.1, step_metric: 1 });
      expect(trained.artifacts).toContain("meta");
      expect(trained.model_name).toBe("main.scenario.classifier");
      expect(trained.version).toBe("1");
      expect(trained.alias_version).toBe("1");
      expect(trained.version_tags).toEqual({ validation_status: "passed" });
      expect(trained.predictions).toEqual([0, 1, 1, 1]);
      pid = mlflowBackend(ws.workspace).server.pid;
      expect(pid).toBeGreaterThan(0);

      const auth = { authorization: `Bearer ${ws.token}` };
      // The experiment is a workspace object with the experiment's id.
      const status = (await (
        await fetch(`${ws.url}/api/2.0/workspace/get-status?path=${encodeURIComponent(trained.experiment_name)}`, {
          headers: auth,
        })
      ).json()) as { object_type: string; object_id: number };
      expect(status).toMatchObject({ object_type: "MLFLOW_EXPERIMENT", object_id: Number(trained.experiment_id) });
      // The version and its alias are Unity Catalog objects.
      const versions = (await (
        await fetch(`${ws.url}/api/2.1/unity-catalog/models/main.scenario.classifier/versions`, { headers: auth })
      ).json()) as { model_versions: { version: number; status: string; run_id?: string }[] };
      expect(versions.model_versions).toEqual([expect.objectContaining({ version: 1, status: "READY", run_id: trained.run_id })]);
      const model = (await (
        await fetch(`${ws.url}/api/2.1/unity-catalog/models/main.scenario.classifier?include_aliases=true`, { headers: auth })
      ).json()) as { aliases: { alias_name: string; version_num: number }[] };
      expect(model.aliases).toEqual([{ alias_name: "champion", version_num: 1 }]);
      // Run searches go to the tracking server, with the workspace's permissions first.
      const search = await fetch(`${ws.url}/api/2.0/mlflow/runs/search`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ experiment_ids: [trained.experiment_id] }),
      });
      const runs = (await search.json()) as { runs: { info: { run_id: string } }[] };
      expect(runs.runs.map((r) => r.info.run_id)).toEqual([trained.run_id]);
      // The UI is served through the workspace.
      const ui = await fetch(`${ws.url}/ml/`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toContain("<html");
    } finally {
      await ws.stop();
    }
    expect(await gone(pid as number)).toBe(true);

    // Same data directory: the run and the model are still there.
    ws = await startWorkspace({ dataDir, port: 0, mlflowPython: PYTHON });
    try {
      const again = lastJson<{ predictions: number[]; metrics: Record<string, number> }>(
        await runPython([SCENARIO, "load", trained.model_name, trained.run_id], ws.url, ws.token),
      );
      expect(again.predictions).toEqual([0, 1, 1, 1]);
      expect(again.metrics).toMatchObject({ accuracy: 0.95 });
    } finally {
      await ws.stop();
    }
  }, 600_000);

  test("the mlflow client registers, tags, stages and loads versions in the workspace model registry", async () => {
    const ws = await startWorkspace({ ephemeral: true, port: 0, mlflowPython: PYTHON });
    try {
      const out = lastJson<{
        run_id: string;
        version: string;
        second: string;
        version_run_id: string;
        version_status: string;
        version_tags: Record<string, string>;
        alias_refused: boolean;
        latest: [string, string][];
        searched: string[];
        predictions: number[];
        predictions_by_version: number[];
      }>(await runPython([SCENARIO, "workspace-registry", "churn_ws"], ws.url, ws.token));
      expect(out).toMatchObject({
        version: "1",
        second: "2",
        version_run_id: out.run_id,
        version_status: "READY",
        version_tags: { validation_status: "passed" },
        alias_refused: true,
        latest: [
          ["1", "Production"],
          ["2", "Staging"],
        ],
        searched: ["1", "2"],
        predictions: [0, 1, 1, 1],
        predictions_by_version: [0, 1, 1, 1],
      });

      const auth = { authorization: `Bearer ${ws.token}` };
      const get = async (path: string, headers: Record<string, string> = auth) => {
        const res = await fetch(`${ws.url}${path}`, { headers });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      // The registered model is the workspace's: the SDK's call shows its latest versions.
      const model = await get("/api/2.0/mlflow/databricks/registered-models/get?name=churn_ws");
      expect(model.body.registered_model_databricks).toMatchObject({
        name: "churn_ws",
        permission_level: "CAN_MANAGE",
        latest_versions: [
          expect.objectContaining({ version: "1", current_stage: "Production" }),
          expect.objectContaining({ version: "2", current_stage: "Staging" }),
        ],
      });
      // Version files: listed with the token, downloaded from a signed URL only.
      const files = await get("/api/2.0/mlflow/model-versions/list-artifacts?name=churn_ws&version=1");
      expect((files.body.files as { path: string }[]).map((f) => f.path)).toContain("MLmodel");
      const signed = await get("/api/2.0/mlflow/model-versions/get-signed-download-uri?name=churn_ws&version=1&path=MLmodel");
      const uri = signed.body.signed_uri as string;
      const file = await fetch(uri);
      expect(file.status).toBe(200);
      expect(await file.text()).toContain("flavors:");
      expect((await fetch(uri.replace(/signature=[0-9a-f]/, "signature=x"))).status).toBe(403);
      expect((await fetch(uri.replace(/expires=\d+/, "expires=1"))).status).toBe(403);
      expect(await get("/api/2.0/mlflow/model-versions/get?name=churn_ws&version=1", {})).toMatchObject({ status: 401 });
      // The registered model's permissions cover its versions.
      const post = async (path: string, body: unknown) =>
        (await (
          await fetch(`${ws.url}${path}`, {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: JSON.stringify(body),
          })
        ).json()) as Record<string, unknown>;
      await post("/api/2.0/preview/scim/v2/Users", {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: "alice@example.com",
      });
      const alice = {
        authorization: `Bearer ${(await post("/__lakeforge/tokens", { user_name: "alice@example.com" })).token_value}`,
      };
      expect(await get("/api/2.0/mlflow/model-versions/get?name=churn_ws&version=1", alice)).toMatchObject({
        status: 403,
        body: { error_code: "PERMISSION_DENIED" },
      });
      const hidden = await get("/api/2.0/mlflow/model-versions/search?filter=name%3D%27churn_ws%27", alice);
      expect(hidden.body.model_versions ?? []).toEqual([]);
      // Deleting the model deletes its versions.
      const del = await fetch(`${ws.url}/api/2.0/mlflow/registered-models/delete`, {
        method: "DELETE",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: "churn_ws" }),
      });
      expect(del.status).toBe(200);
      const left = await get("/api/2.0/mlflow/model-versions/search?filter=name%3D%27churn_ws%27");
      expect(left.body.model_versions ?? []).toEqual([]);
      expect((await fetch(uri)).status).toBe(404);
    } finally {
      await ws.stop();
    }
  }, 600_000);

  test("the tracking server does not outlive a killed workspace process", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-ws-child-"));
    dirs.push(dir);
    const entry = join(dir, "child.mjs");
    await build({
      entryPoints: [join(import.meta.dirname, "mlflow-child.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: entry,
      packages: "external",
      logLevel: "silent",
    });
    const child: ChildProcess = spawn(process.execPath, [entry, PYTHON], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const info = await new Promise<{ url: string; mlflowPid: number }>((done, fail) => {
      let out = "";
      child.stdout?.on("data", (d) => {
        out += d;
        if (out.includes("\n")) done(JSON.parse(out.split("\n")[0] as string));
      });
      child.once("exit", (code) => fail(new Error(`the workspace process exited (${code})`)));
    });
    expect(alive(info.mlflowPid)).toBe(true);
    child.kill("SIGKILL");
    expect(await gone(info.mlflowPid)).toBe(true);
  }, 300_000);

  test("without an MLflow interpreter the workspace keeps its own experiments and says why runs are unavailable", async () => {
    const ws = await startWorkspace({ ephemeral: true, port: 0, mlflowPython: join(tmpdir(), "no-such-python") });
    try {
      const headers = { authorization: `Bearer ${ws.token}`, "content-type": "application/json" };
      const created = await fetch(`${ws.url}/api/2.0/mlflow/experiments/create`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name: "/Users/admin@lakeforge.local/native" }),
      });
      expect(created.status).toBe(200);
      const { experiment_id } = (await created.json()) as { experiment_id: string };
      const run = await fetch(`${ws.url}/api/2.0/mlflow/runs/create`, {
        method: "POST",
        headers,
        body: JSON.stringify({ experiment_id }),
      });
      expect(run.status).toBe(501);
      const body = (await run.json()) as { error_code: string; message: string };
      expect(body.error_code).toBe("NOT_IMPLEMENTED");
      expect(body.message).toContain("LAKEFORGE_MLFLOW_PYTHON");
    } finally {
      await ws.stop();
    }
  });
});
