// biome-ignore-all lint/suspicious/noTemplateCurlyInString: bundles refer to variables as ${var.*}
/**
 * `lakeforge deploy` against the official `databricks bundle deploy`, on the ML project template
 * rendered with its default options: each deploys the dev target into its own local workspace (same
 * user), then everything the two made is compared, modulo ids, timestamps and each tool's
 * bookkeeping files. Then: a second deploy writes nothing, `lakeforge destroy -t` removes everything,
 * and a broken databricks.yml is reported located before any request.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployBundle, openBundle } from "../../src/bundle/deploy.js";
import { DatabricksClient } from "../../src/clients/databricks/client.js";
import { resolveOptions } from "../../src/template/input.js";
import { initProject } from "../../src/template/project.js";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";
import { runCli } from "../support/cli.js";
import { isolatedCliEnv } from "../support/databricks-cli.js";
import { finished } from "../support/process.js";
import { differences, snapshot } from "./snapshot.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(ROOT, ".cache", "bin", "databricks");
const HAVE_CLI = existsSync(CLI);
const ROOT_PATH = "/Workspace/Users/admin@lakeforge.local/.bundle/demo/dev";

if (!HAVE_CLI) console.warn(`Skipping the bundle equality suite: ${CLI} is missing. Run \`npm run setup\` to build it.`);

interface Side {
  ws: RunningWorkspace;
  api: DatabricksClient;
  dir: string;
}

const work = mkdtempSync(join(tmpdir(), "lakeforge-bundle-eq-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * A workspace with the project's catalog and a copy of the project targeting it: rendered for the
 * first side, copied for the second with only the host changed (the snapshot puts a placeholder in
 * place of each side's host, so the files compare equal).
 */
async function side(name: string, from?: Side): Promise<Side> {
  const ws = await startWorkspace({ ephemeral: true, port: 0 });
  const auth = async () => ({ Authorization: `Bearer ${ws.token}` });
  const api = new DatabricksClient({ host: ws.url, auth, retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } });
  await api.post("/api/2.1/unity-catalog/catalogs", { name: "dev" });
  const dir = join(work, name, "demo");
  if (!from) {
    const { answers } = resolveOptions({
      flags: [
        ["--project-name", "demo"],
        ["--host", ws.url],
      ],
    });
    initProject(dir, answers);
  } else {
    cpSync(from.dir, dir, { recursive: true });
    for (const f of ["databricks.yml", "README.md", ".lakeforge/project.json"]) {
      const p = join(dir, f);
      if (existsSync(p)) writeFileSync(p, readFileSync(p, "utf8").replaceAll(from.ws.url, ws.url));
    }
  }
  return { ws, api, dir };
}

/** Settings for Lakeforge: the workspace's token, nothing from the machine running the suite. */
const lakeforgeEnv = (s: Side) => ({ DATABRICKS_TOKEN: s.ws.token, HOME: work, DATABRICKS_CONFIG_FILE: join(work, "none") });

const databricks = (args: string[], s: Side) =>
  finished(
    spawn(CLI, args, {
      cwd: s.dir,
      env: isolatedCliEnv({ home: work, url: s.ws.url, token: s.ws.token }),
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );

/** Runs the Lakeforge CLI in this process against a side's workspace, capturing its output. */
const lakeforge = (s: Side, ...args: string[]) => runCli(args, { env: lakeforgeEnv(s) });

interface Logged {
  method: string;
  path: string;
  status: number;
}

async function requests(s: Side, since: number): Promise<{ requests: Logged[]; last_seq: number }> {
  const res = await fetch(`${s.ws.url}/__lakeforge/requests?since=${since}`, {
    headers: { authorization: `Bearer ${s.ws.token}` },
  });
  return (await res.json()) as { requests: Logged[]; last_seq: number };
}

describe.skipIf(!HAVE_CLI)("lakeforge deploy and databricks bundle deploy make the same workspace", () => {
  let lf: Side;
  let cli: Side;

  beforeAll(async () => {
    lf = await side("lakeforge");
    cli = await side("cli", lf);
  }, 60_000);

  afterAll(async () => {
    await lf?.ws.stop();
    await cli?.ws.stop();
  });

  it("deploys the template's dev target exactly as the Databricks CLI does", async () => {
    const official = await databricks(["bundle", "deploy", "-t", "dev"], cli);
    expect(official.code, official.stderr).toBe(0);

    const b = await openBundle({ dir: lf.dir, target: "dev", env: lakeforgeEnv(lf) });
    try {
      const { result } = await deployBundle(b);
      expect(result?.failed ?? []).toEqual([]);
    } finally {
      await b.close();
    }

    const ours = await snapshot(lf.api, { rootPath: ROOT_PATH, catalog: "dev", host: lf.ws.url });
    const theirs = await snapshot(cli.api, { rootPath: ROOT_PATH, catalog: "dev", host: cli.ws.url });
    // The comparison covers something: three jobs, the experiment, schema and model, the project files.
    expect(Object.keys(theirs.jobs).sort()).toEqual([
      "[dev admin] demo-batch-inference",
      "[dev admin] demo-model-training",
      "[dev admin] demo-monitoring",
    ]);
    expect(Object.keys(theirs.experiments)).toEqual(["/Users/admin@lakeforge.local/[dev admin] demo-experiment"]);
    expect(Object.keys(theirs.registered_models)).toEqual(["dev.dev_admin_ml.dev_admin_demo"]);
    expect(Object.keys(theirs.files)).toContain("files/src/demo/pipelines/train.py");
    const diff = differences(ours, theirs);
    expect(diff, `lakeforge deploy differs from databricks bundle deploy:\n${diff.join("\n")}`).toEqual([]);
  }, 120_000);

  it("a second lakeforge deploy sends no write at all", async () => {
    const before = (await requests(lf, 0)).last_seq;
    const r = await lakeforge(lf, "deploy", "-t", "dev", "-C", lf.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("No changes: demo/dev matches the configuration.");
    const { requests: made } = await requests(lf, before);
    expect(made.length).toBeGreaterThan(0);
    expect(made.filter((q) => q.method !== "GET").map((q) => `${q.method} ${q.path}`)).toEqual([]);
  }, 60_000);

  it("a changed task file and a removed file deploy as one upload and one delete", async () => {
    const train = join(lf.dir, "src/demo/pipelines/train.py");
    writeFileSync(train, `${readFileSync(train, "utf8")}\n# changed\n`);
    rmSync(join(lf.dir, "tests/test_data.py"));
    const before = (await requests(lf, 0)).last_seq;
    const r = await lakeforge(lf, "deploy", "-t", "dev", "-C", lf.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Files: 1 to upload, 1 to delete.");
    const writes = (await requests(lf, before)).requests.filter((q) => q.method !== "GET").map((q) => `${q.method} ${q.path}`);
    // Files only: no job, experiment or Unity Catalog object is written.
    expect(writes.filter((w) => w.includes("/jobs/") || w.includes("/mlflow/") || w.includes("unity-catalog"))).toEqual([]);
    const exported = await lf.api.get<{ content: string }>("/api/2.0/workspace/export", {
      path: `${ROOT_PATH}/files/src/demo/pipelines/train.py`,
      format: "SOURCE",
    });
    expect(Buffer.from(exported.content, "base64").toString("utf8")).toContain("# changed");
    const gone = await lf.api.get("/api/2.0/workspace/get-status", { path: `${ROOT_PATH}/files/tests/test_data.py` }).then(
      () => 200,
      (e: { status?: number }) => e.status,
    );
    expect(gone).toBe(404);
  }, 60_000);

  it("lakeforge destroy -t removes everything the deploy made", async () => {
    const r = await lakeforge(lf, "destroy", "-t", "dev", "-C", lf.dir, "--auto-approve");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Destroy complete");
    expect(await lf.api.listAll("/api/2.2/jobs/list", {}, "jobs")).toEqual([]);
    const experiments = await lf.api.listAll<{ lifecycle_stage: string }>(
      "/api/2.0/mlflow/experiments/search",
      { max_results: 100 },
      "experiments",
    );
    expect(experiments.filter((e) => e.lifecycle_stage === "active")).toEqual([]);
    const schemas = await lf.api.listAll<{ name: string }>("/api/2.1/unity-catalog/schemas", { catalog_name: "dev" }, "schemas");
    expect(schemas.map((s) => s.name).sort()).toEqual(["default", "information_schema"]);
    const root = await lf.api.get("/api/2.0/workspace/get-status", { path: ROOT_PATH }).then(
      () => 200,
      (e: { status?: number }) => e.status,
    );
    expect(root).toBe(404);
    expect(existsSync(join(lf.dir, ".databricks", "lakeforge", "dev"))).toBe(false);
  }, 60_000);

  it("a broken databricks.yml is reported located, exit 1, before any request", async () => {
    const file = join(lf.dir, "resources", "training-job.yml");
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.replace("- ${var.min_roc_auc}", "- ${var.min_roc_acu}"));
    try {
      const before = (await requests(lf, 0)).last_seq;
      const r = await lakeforge(lf, "deploy", "-t", "dev", "-C", lf.dir);
      expect(r.code).toBe(1);
      const line = text.split("\n").findIndex((l) => l.includes("${var.min_roc_auc}")) + 1;
      expect(r.stderr).toMatch(
        new RegExp(
          `resources/training-job\\.yml:${line}:\\d+ resources\\.jobs\\.model_training_job\\.tasks\\.2\\.spark_python_task\\.parameters\\.\\d+: variable "min_roc_acu" is not declared; did you mean "min_roc_auc"\\?`,
        ),
      );
      expect((await requests(lf, before)).requests).toEqual([]);
    } finally {
      writeFileSync(file, text);
    }
  }, 30_000);
});
