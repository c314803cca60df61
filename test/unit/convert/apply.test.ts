import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyPlan, openEnvironment, planEnvironment } from "../../../src/deploy/environment.js";
import { planToJson } from "../../../src/engine/render.js";
import { hasChanges, summarize } from "../../../src/engine/types.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";
import { DATABRICKS_CONFIGS, FIXTURE_CANARIES, PIPELINE_PARAM, runCli, tempDir } from "./helpers.js";

/**
 * The converted configuration applies cleanly: the development environment of each layout, pointed
 * at a local workspace, is created from empty and a second plan has nothing to do.
 */

// A workspace of its own for each layout: both declare the same git credentials and repo folder.
let ws: RunningWorkspace;
beforeEach(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
});
afterEach(async () => {
  await ws?.stop();
});

const GIT_TOKEN = `canary-git-${randomBytes(12).toString("hex")}`;

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML and API responses are walked freely in assertions
type Obj = Record<string, any>;

/** Every file under `dir`, as text. */
function allText(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out += statSync(p).isDirectory() ? allText(p) : readFileSync(p, "utf8");
  }
  return out;
}

async function convertAndApply(source: string, expected: { creates: number; kinds: string[] }) {
  const dir = tempDir();
  const file = join(dir, "lakeforge.yaml");
  const converted = await runCli(["convert", "dstoolkit", source, "--out", file, "--project", "converted"]);
  expect(converted.code, converted.stderr).toBe(0);

  const env = {
    DEVELOPMENT_DATABRICKS_HOST: ws.url,
    DATABRICKS_TOKEN: ws.token,
    PAT_GITHUB: GIT_TOKEN,
    HOME: dir,
  };
  const open = () => openEnvironment({ target: dir, environment: "development", env, variables: { repos_folder: "dstoolkit" } });
  const first = await open();
  try {
    first.engine.ctx.pollIntervalMs = 10;
    const { plan, state } = await planEnvironment(first);
    expect(summarize(plan)).toMatchObject({ create: expected.creates, update: 0, delete: 0, recreate: 0 });
    expect([...new Set(plan.actions.map((a) => a.kind))].sort()).toEqual([...expected.kinds].sort());
    expect(planToJson(plan)).not.toContain(GIT_TOKEN);
    const result = await applyPlan(first, plan, state);
    expect(result.failed.map((f) => `${f.address}: ${String((f.error as Error).message)}`)).toEqual([]);
  } finally {
    await first.close();
  }

  // A fresh process would plan from the state in the workspace: nothing to do.
  const second = await open();
  try {
    const { plan } = await planEnvironment(second);
    expect(
      plan.actions.filter((a) => a.action !== "skip").map((a) => `${a.action} ${a.address}`),
      "second plan",
    ).toEqual([]);
    expect(hasChanges(plan)).toBe(false);
  } finally {
    await second.close();
  }
  const everything = allText(dir) + converted.stdout + converted.stderr;
  for (const canary of [...FIXTURE_CANARIES, GIT_TOKEN]) expect(everything).not.toContain(canary);
  return second.client;
}

describe("a converted configuration applies to a workspace", () => {
  it("Pipeline_Param/<Env>.json", async () => {
    const client = await convertAndApply(PIPELINE_PARAM, {
      creates: 5,
      kinds: ["databricks.git_credential", "databricks.cluster", "databricks.repo", "databricks.job"],
    });
    const jobs = await client.get<{ jobs: Obj[] }>("/api/2.2/jobs/list", { expand_tasks: true });
    const byName = new Map(jobs.jobs.map((j) => [j.settings.name, j.settings]));
    const remote = byName.get("Remote_Analysis_Main_Branch");
    expect(remote?.git_source).toMatchObject({
      git_url: "https://github.com/ciaran28/dstoolkit-mlops-databricks",
      git_provider: "gitHub",
      git_branch: "main",
    });
    const clusters = await client.get<{ clusters: Obj[] }>("/api/2.1/clusters/list");
    const cluster = clusters.clusters.find((c) => c.cluster_name === "dbx-sp-cluster");
    expect(remote?.tasks[0].existing_cluster_id).toBe(cluster?.cluster_id);
    expect(cluster?.autoscale).toEqual({ min_workers: 2, max_workers: 4 });
    expect(byName.get("Nightly_Feature_Refresh")?.tasks[0].spark_python_task.parameters).toEqual(["--env", "dev"]);
    const repos = await client.get<{ repos: Obj[] }>("/api/2.0/repos");
    expect(repos.repos.map((r) => r.path)).toContain("/Repos/dstoolkit/DevelopmentFolder");
  });

  it("databricks_configs/<env>/{clusters,rbac,repos}.json", async () => {
    const client = await convertAndApply(DATABRICKS_CONFIGS, {
      creates: 3,
      kinds: ["databricks.git_credential", "databricks.cluster", "databricks.repo"],
    });
    const repos = await client.get<{ repos: Obj[] }>("/api/2.0/repos");
    const repo = repos.repos.find((r) => r.path === "/Repos/dstoolkit/DevelopmentFolder");
    expect(repo).toMatchObject({ url: "https://github.com/ciaran28/dstoolkit-mlops-databricks", branch: "main" });
    const creds = await client.get<{ credentials: Obj[] }>("/api/2.0/git-credentials");
    expect(creds.credentials).toEqual([expect.objectContaining({ git_provider: "gitHub", git_username: "ciaran28" })]);
  });
});
