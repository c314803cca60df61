import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/config.js";
import { specCodec } from "../../../src/config/refs.js";
import { apply, type EngineOptions, plan } from "../../../src/engine/engine.js";
import { emptyState, type StateFile } from "../../../src/engine/state.js";
import { summarize } from "../../../src/engine/types.js";
import { type DatabricksCtx, databricksAdapters } from "../../../src/resources/databricks/index.js";
import { useWorkspace } from "./helpers.js";

const { ctx } = useWorkspace();

const dir = mkdtempSync(join(tmpdir(), "lakeforge-engine-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = `canary-${randomBytes(16).toString("hex")}`;

function config(numWorkers: number, withExperiment: boolean): string {
  return `project:
  name: demo
resources:
  clusters:
    ml:
      cluster_name: lf-engine-ml
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: ${numWorkers}
      autotermination_minutes: 30
      permissions:
        - group_name: users
          level: CAN_ATTACH_TO
  secret_scopes:
    app:
      name: lf-engine-app
      secrets:
        token: { from_env: LF_ENGINE_TOKEN }
      acls:
        - principal: users
          permission: READ
  jobs:
    nightly:
      name: lf-engine-nightly
      tasks:
        - task_key: train
          existing_cluster_id: \${resources.clusters.ml.id}
          notebook_task:
            notebook_path: /Shared/train
            base_parameters:
              token: "{{secrets/\${resources.secret_scopes.app.id}/token}}"
        - task_key: evaluate
          depends_on: [{ task_key: train }]
          existing_cluster_id: \${resources.clusters.ml.id}
          notebook_task: { notebook_path: /Shared/evaluate }
      permissions:
        - group_name: users
          level: CAN_VIEW
  catalogs:
    sales: { name: lf_engine_sales, comment: sales data }
  schemas:
    raw: { name: raw, catalog_name: lf_engine_sales }
  grants:
    readers:
      securable: { type: schema, name: lf_engine_sales.raw }
      principal: users
      privileges: [USE_SCHEMA, SELECT]
${withExperiment ? "  experiments:\n    churn: { name: /Shared/lakeforge-engine/churn }\n" : ""}`;
}

async function desired(numWorkers: number, withExperiment: boolean) {
  writeFileSync(join(dir, "lakeforge.yaml"), config(numWorkers, withExperiment));
  const cfg = await loadConfig(dir, { env: { LF_ENGINE_TOKEN: TOKEN }, relativeTo: dir });
  return cfg.resources;
}

async function lastSeq(): Promise<number> {
  const res = await ctx().client.get<{ last_seq: number }>("/__lakeforge/requests", { since: 1e12 });
  return res.last_seq;
}

async function requestsSince(seq: number): Promise<{ method: string; path: string }[]> {
  const res = await ctx().client.get<{ requests: { method: string; path: string }[] }>("/__lakeforge/requests", { since: seq });
  return res.requests;
}

describe("plan and apply with the Databricks adapters", () => {
  it("applies from empty, then plans no change with reads only, one update, one delete", async () => {
    const saved: string[] = [];
    const opts: EngineOptions<DatabricksCtx> = {
      adapters: databricksAdapters(),
      ctx: ctx(),
      codec: specCodec,
      saveState: async (s: StateFile) => {
        saved.push(JSON.stringify(s));
      },
    };
    const meta = { environment: "default", configFingerprint: "test" };
    const state = emptyState("default");

    // From empty: everything is created, in dependency order.
    let resources = await desired(1, true);
    const first = await plan(resources, state, opts, meta);
    expect(summarize(first)).toMatchObject({ create: resources.length, update: 0, delete: 0 });
    expect(resources.map((r) => r.kind)).toEqual(
      expect.arrayContaining(["databricks.permissions", "databricks.secret", "databricks.secret_acl", "databricks.grant"]),
    );
    const applied = await apply(first, resources, state, opts);
    expect(applied.failed).toEqual([]);

    // The references reached the workspace.
    const clusterId = state.resources["databricks.cluster.ml"]?.id as string;
    const jobId = state.resources["databricks.job.nightly"]?.id as string;
    const job = await ctx().client.get<{ settings: { tasks: Record<string, unknown>[] } }>("/api/2.2/jobs/get", {
      job_id: jobId,
    });
    const train = job.settings.tasks.find((t) => t.task_key === "train");
    expect(train?.existing_cluster_id).toBe(clusterId);
    expect(train?.notebook_task).toMatchObject({ base_parameters: { token: "{{secrets/lf-engine-app/token}}" } });
    const secret = await ctx().client.get<{ value: string }>("/api/2.0/secrets/get", { scope: "lf-engine-app", key: "token" });
    expect(Buffer.from(secret.value, "base64").toString("utf8")).toBe(TOKEN);

    // Nothing changed: every action is a skip and only reads are sent.
    const before = await lastSeq();
    const second = await plan(resources, state, opts, meta);
    expect(second.actions.filter((a) => a.action !== "skip")).toEqual([]);
    const reads = await requestsSince(before);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((r) => r.method !== "GET")).toEqual([]);

    // One field changed: exactly one update, of that field.
    resources = await desired(2, true);
    const third = await plan(resources, state, opts, meta);
    expect(third.actions.filter((a) => a.action !== "skip")).toMatchObject([
      { address: "databricks.cluster.ml", action: "update", changes: [{ path: "num_workers", before: 1, after: 2 }] },
    ]);
    expect((await apply(third, resources, state, opts)).failed).toEqual([]);
    const cluster = await ctx().client.get<{ num_workers: number }>("/api/2.1/clusters/get", { cluster_id: clusterId });
    expect(cluster.num_workers).toBe(2);
    expect((await plan(resources, state, opts, meta)).actions.every((a) => a.action === "skip")).toBe(true);

    // One resource removed: exactly one delete.
    const experimentId = state.resources["databricks.experiment.churn"]?.id as string;
    resources = await desired(2, false);
    const fourth = await plan(resources, state, opts, meta);
    expect(fourth.actions.filter((a) => a.action !== "skip")).toMatchObject([
      { address: "databricks.experiment.churn", action: "delete" },
    ]);
    expect((await apply(fourth, resources, state, opts)).failed).toEqual([]);
    const gone = await ctx().client.get<{ experiment: { lifecycle_stage: string } }>("/api/2.0/mlflow/experiments/get", {
      experiment_id: experimentId,
    });
    expect(gone.experiment.lifecycle_stage).toBe("deleted");
    expect(state.resources["databricks.experiment.churn"]).toBeUndefined();

    // The secret value is in no saved state or plan.
    for (const text of [...saved, JSON.stringify(first), JSON.stringify(second), JSON.stringify(state)]) {
      expect(text).not.toContain(TOKEN);
    }
    expect(JSON.stringify(await requestsSince(0))).not.toContain(TOKEN);
  });
});
