/**
 * `lakeforge destroy` in its two forms, in a folder holding both a lakeforge.yaml and a
 * databricks.yml: without -t it destroys the environment (as before), with -t the bundle's target.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabricksClient } from "../../src/clients/databricks/client.js";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";
import { runCli } from "../support/cli.js";

type Obj = Record<string, unknown>;

const work = mkdtempSync(join(tmpdir(), "lakeforge-bundle-destroy-"));
let ws: RunningWorkspace;
let api: DatabricksClient;

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
  api = new DatabricksClient({ host: ws.url, auth: async () => ({ Authorization: `Bearer ${ws.token}` }) });
  writeFileSync(
    join(work, "lakeforge.yaml"),
    `project:\n  name: both\nenvironments:\n  dev:\n    workspace:\n      host: ${ws.url}\nresources:\n  experiments:\n    env_exp:\n      name: /Shared/env-experiment\n`,
  );
  writeFileSync(
    join(work, "databricks.yml"),
    `bundle:\n  name: both\nresources:\n  experiments:\n    bundle_exp:\n      name: /Shared/bundle-experiment\ntargets:\n  dev:\n    default: true\n    workspace:\n      host: ${ws.url}\n`,
  );
});

afterAll(async () => {
  await ws?.stop();
  rmSync(work, { recursive: true, force: true });
});

const lakeforge = (...args: string[]) =>
  runCli(args, { env: { DATABRICKS_TOKEN: ws.token, DATABRICKS_CONFIG_FILE: join(work, "none") } });

const activeExperiments = async () =>
  (await api.listAll<Obj>("/api/2.0/mlflow/experiments/search", { max_results: 100 }, "experiments"))
    .filter((e) => e.lifecycle_stage === "active")
    .map((e) => String(e.name))
    .sort();

describe("lakeforge destroy, environment and bundle forms", () => {
  it("deploys both, destroys the environment without -t and the bundle with -t", async () => {
    expect((await lakeforge("apply", "-C", work, "--auto-approve")).code).toBe(0);
    const deployed = await lakeforge("deploy", "-C", work);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(await activeExperiments()).toEqual(["/Shared/bundle-experiment", "/Shared/env-experiment"]);

    const envDestroy = await lakeforge("destroy", "-C", work, "--auto-approve");
    expect(envDestroy.code, envDestroy.stderr).toBe(0);
    expect(await activeExperiments()).toEqual(["/Shared/bundle-experiment"]);

    const both = await lakeforge("destroy", "-C", work, "-e", "dev", "-t", "dev", "--auto-approve");
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("give either -e (an environment) or -t (a bundle target), not both");

    const bundleDestroy = await lakeforge("destroy", "-C", work, "-t", "dev", "--auto-approve");
    expect(bundleDestroy.code, bundleDestroy.stderr).toBe(0);
    expect(bundleDestroy.stderr).toContain("Destroy complete: both (dev)");
    expect(await activeExperiments()).toEqual([]);
  }, 60_000);
});
