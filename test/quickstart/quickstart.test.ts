import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { DatabricksClient } from "../../src/clients/databricks/client.js";
import type { QuickstartResult } from "../../src/quickstart/index.js";
import { startWorkspace } from "../../src/workspace/server.js";

/**
 * The real quickstart, in this process, into a temporary folder: init, deploy, the training job
 * (features → train → validate → deploy) and batch inference on the local workspace, with the ML
 * project's pinned interpreter (.cache/venv-project, made by scripts/setup.sh) as the runtime.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = join(ROOT, ".cache/venv-project/bin/python");
const skipReason = existsSync(PYTHON) ? undefined : `${PYTHON} is missing (scripts/setup.sh builds it)`;

const dir = mkdtempSync(join(tmpdir(), "lakeforge-quickstart-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Captured {
  code: number;
  stderr: string;
  result: QuickstartResult;
}

async function quickstart(): Promise<Captured> {
  let stderr = "";
  let stdout = "";
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  let code: number;
  try {
    process.exitCode = undefined;
    code = await main(["node", "lakeforge", "quickstart", "--dir", dir, "--python", PYTHON, "--json"]);
  } finally {
    process.exitCode = undefined;
    err.mockRestore();
    out.mockRestore();
  }
  const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as QuickstartResult;
  return { code, stderr, result };
}

/** Every file under `root` (skipping the big caches), for a scan for the token. */
function filesUnder(root: string, skip: string[]): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (skip.some((s) => p.startsWith(s))) continue;
    if (e.isDirectory()) out.push(...filesUnder(p, skip));
    else if (e.isFile() && statSync(p).size < 5_000_000) out.push(p);
  }
  return out;
}

describe.skipIf(skipReason !== undefined)(`lakeforge quickstart${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  const runs: Captured[] = [];

  it("goes from nothing to a validated @champion and batch predictions, and says where everything is", async () => {
    const first = await quickstart();
    runs.push(first);
    expect(first.code, first.stderr).toBe(0);
    const r = first.result;
    expect(r.ok).toBe(true);
    expect(r.project.action).toBe("created");
    expect(r.deploy.changed).toBe(true);
    expect(r.runs.map((x) => [x.job, x.state])).toEqual([
      ["model_training_job", "SUCCESS"],
      ["batch_inference_job", "SUCCESS"],
    ]);
    expect(r.runs[0]?.tasks.map((t) => t.task_key).sort()).toEqual(["deploy", "features", "train", "validate"]);
    expect(r.model?.champion_version).toBe("1");
    expect(r.model?.validation_status).toBe("passed");
    expect(r.model?.metrics.holdout_roc_auc).toBeGreaterThan(0.5);
    expect(r.batch_inference?.rows).toBeGreaterThan(0);

    // Live progress and the summary.
    expect(first.stderr).toMatch(/model_training_job\.train: RUNNING/);
    expect(first.stderr).toMatch(/model_training_job\.deploy: SUCCESS/);
    expect(first.stderr).toContain("Quickstart complete");
    expect(first.stderr).toMatch(/@champion: +version 1 \(validation_status=passed\)/);
    expect(first.stderr).toMatch(/training run: \w+: .*holdout_roc_auc=0\.\d+/);
    expect(first.stderr).toMatch(/predictions: +\d+ rows by version 1 in dev\.\S+_predictions/);
    expect(first.stderr).toContain(`project:      ${join(dir, "quickstart-demo")}`);
    expect(first.stderr).toMatch(/MLflow UI: +http:\/\/127\.0\.0\.1:\d+\/ml\/experiments\/\d+/);

    // What the workspace's Unity Catalog registry holds (the workspace started again on the same data).
    const ws = await startWorkspace({ dataDir: join(dir, "workspace"), port: 0 });
    try {
      const api = new DatabricksClient({
        host: ws.url,
        auth: async () => ({ Authorization: `Bearer ${ws.token}` }),
      });
      const name = r.model?.name as string;
      const alias = await api.get<{ version: number }>(
        `/api/2.1/unity-catalog/models/${encodeURIComponent(name)}/aliases/champion`,
      );
      expect(String(alias.version)).toBe("1");
      const mv = await api.get<{ model_version: { tags: { key: string; value: string }[] } }>(
        "/api/2.0/mlflow/unity-catalog/registered-models/alias",
        { name, alias: "champion" },
      );
      expect(mv.model_version.tags).toContainEqual({ key: "validation_status", value: "passed" });
    } finally {
      await ws.stop();
    }
  }, 600_000);

  it("runs again on the same environment: no re-render, a no-op deploy, the pipeline again", async () => {
    const second = await quickstart();
    runs.push(second);
    expect(second.code, second.stderr).toBe(0);
    const r = second.result;
    expect(r.project.action).toBe("unchanged");
    expect(r.project.forgeChanged).toBe(false);
    expect(r.deploy.changed).toBe(false);
    expect(second.stderr).toContain("No changes: quickstart-demo (dev) is deployed as configured");
    expect(r.model?.champion_version).toBe("2");
    expect(r.model?.validation_status).toBe("passed");
    expect(r.batch_inference?.rows).toBeGreaterThan(0);
  }, 600_000);

  it("stops at a failing task with its error and trace, exit code 1", async () => {
    // A change of the user's own: kept by the re-render, deployed, and failing the first task.
    const features = join(dir, "quickstart-demo/src/quickstart_demo/pipelines/features.py");
    const source = readFileSync(features, "utf8");
    expect(source).toContain("from __future__ import annotations\n");
    writeFileSync(
      features,
      source.replace(
        "from __future__ import annotations\n",
        'from __future__ import annotations\n\nraise RuntimeError("quickstart canary failure")\n',
      ),
    );
    const third = await quickstart();
    runs.push(third);
    expect(third.code).toBe(1);
    expect(third.result.ok).toBe(false);
    expect(third.result.deploy.changed).toBe(true);
    expect(third.result.failure).toMatch(/^model_training_job\.features FAILED/);
    expect(third.stderr).toMatch(/--- model_training_job\.features \(FAILED\)/);
    expect(third.stderr).toContain("RuntimeError: quickstart canary failure");
    expect(third.stderr).toContain("Traceback");
    expect(third.stderr).toContain("Quickstart failed");
    expect(third.result.runs.map((x) => x.job)).toEqual(["model_training_job"]);
  }, 600_000);

  it("never prints the workspace token nor writes it into the project or the forge", () => {
    expect(runs.length).toBeGreaterThan(0);
    const token = readFileSync(join(dir, "workspace/admin-token"), "utf8").trim();
    expect(token.length).toBeGreaterThan(10);
    for (const run of runs) {
      expect(run.stderr).not.toContain(token);
      expect(JSON.stringify(run.result)).not.toContain(token);
    }
    for (const file of filesUnder(dir, [join(dir, "workspace"), join(dir, "runtime")])) {
      expect(readFileSync(file).includes(token), file).toBe(false);
    }
  });
});
