import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/config.js";
import { KINDS } from "../../../src/config/kinds.js";
import { KeyVaultSecret, Ref } from "../../../src/config/refs.js";
import { TASK_TYPES } from "../../../src/config/schema/jobs.js";
import type { Secret } from "../../../src/lib/secret.js";
import { find } from "./helpers.js";

const dir = resolve("test/fixtures/config/valid/kitchen-sink");
const env = { REGISTRY_PASSWORD: "registry-canary-42", ADO_TOKEN: "ado-canary-43" };

describe("a configuration using every kind and task type", () => {
  it("loads in every environment", async () => {
    for (const environment of ["dev", "prod"]) {
      const config = await loadConfig(dir, { environment, env });
      const kinds = new Set(config.resources.map((r) => r.kind));
      for (const k of KINDS) expect(kinds.has(k.kind), k.kind).toBe(true);
    }
    expect((await loadConfig(dir, { environment: "prod", env })).workspace).toEqual({
      type: "remote",
      profile: "prod",
      auth_type: "oauth-m2m",
      client_id: "00000000-0000-0000-0000-000000000001",
      root_path: "/Workspace/Shared/.lakeforge/kitchen-sink",
    });
  });

  it("covers every task type", async () => {
    const config = await loadConfig(dir, { env });
    const tasks = config.resources
      .filter((r) => r.kind === "databricks.job")
      .flatMap((r) => r.spec.tasks as Record<string, unknown>[]);
    const used = new Set(tasks.flatMap((t) => Object.keys(t).filter((k) => k.endsWith("_task"))));
    expect([...used].sort()).toEqual([...TASK_TYPES].sort());
  });

  it("expands YAML merge keys and typed variables", async () => {
    const config = await loadConfig(dir, { env });
    expect(find(config, "databricks.cluster", "ml").spec).toMatchObject({
      spark_version: "15.4.x-cpu-ml-scala2.12",
      node_type_id: "Standard_DS3_v2",
      custom_tags: { team: "ml", cost_center: "1234" },
      cluster_name: "ml",
    });
    const jobClusters = find(config, "databricks.job", "everything").spec.job_clusters as { new_cluster: unknown }[];
    expect(jobClusters[0]?.new_cluster).toEqual({
      spark_version: "15.4.x-cpu-ml-scala2.12",
      node_type_id: "Standard_DS3_v2",
      custom_tags: { team: "ml", cost_center: "1234" },
      num_workers: 2,
    });
  });

  it("turns every secret source into a Secret or a Key Vault reference", async () => {
    const config = await loadConfig(dir, { env });
    const docker = find(config, "databricks.cluster", "ml").spec.docker_image as { basic_auth: { password: Secret } };
    expect(docker.basic_auth.password.reveal()).toBe("registry-canary-42");
    expect((find(config, "databricks.secret", "app.token").spec.string_value as Secret).reveal()).toBe("token-from-file");
    expect(find(config, "databricks.secret", "app.vault").spec.string_value).toEqual(
      new KeyVaultSecret("kv-app", "token", "abc"),
    );
    expect(JSON.stringify(config)).not.toMatch(/canary|token-from-file/);
  });

  it("keeps numeric references typed as references", async () => {
    const config = await loadConfig(dir, { env });
    const tasks = find(config, "databricks.job", "everything").spec.tasks as {
      task_key: string;
      run_job_task?: { job_id: unknown };
    }[];
    const runChild = tasks.find((t) => t.task_key === "run_child");
    expect(runChild?.run_job_task?.job_id).toEqual(new Ref("databricks.job", "child", "id", "jobs"));
    const everything = find(config, "databricks.job", "everything");
    expect(everything.dependsOn.map((r) => `${r.kind}.${r.name}`)).toEqual([
      "databricks.service_principal.runner",
      "databricks.cluster.ml",
      "databricks.job.child",
    ]);
    expect(find(config, "databricks.notebook", "report").spec.source).toBe(resolve(dir, "notebooks/report.sql"));
  });
});
