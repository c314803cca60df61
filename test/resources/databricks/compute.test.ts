import { describe, expect, it } from "vitest";
import { diffSpec } from "../../../src/engine/diff.js";
import {
  clusterAdapter,
  clusterPolicyAdapter,
  instancePoolAdapter,
  jobAdapter,
} from "../../../src/resources/databricks/index.js";
import { compare, lifecycle, useWorkspace } from "./helpers.js";

const { ctx } = useWorkspace();

describe("databricks.cluster", () => {
  it("goes through create, find, update (edit) and permanent delete", async () => {
    const spec = {
      cluster_name: "lf-cluster",
      spark_version: "15.4.x-scala2.12",
      node_type_id: "Standard_DS3_v2",
      num_workers: 1,
      autotermination_minutes: 30,
      spark_conf: { "spark.speculation": "true" },
      custom_tags: { team: "ml" },
    };
    await lifecycle(clusterAdapter, ctx(), {
      spec,
      changed: { ...spec, num_workers: 2 },
      changedPaths: ["num_workers"],
      updated: (r) => expect(r.num_workers).toBe(2),
    });
  });

  it("compares the settings as sent, not the values the service fills in", async () => {
    const spec = {
      cluster_name: "lf-defaults",
      spark_version: "15.4.x-scala2.12",
      num_workers: 0,
      data_security_mode: "DATA_SECURITY_MODE_DEDICATED",
    };
    const { id } = await clusterAdapter.create(ctx(), spec);
    const remote = (await clusterAdapter.read(ctx(), id)) as Record<string, unknown>;
    // The service answers SINGLE_USER and fills in node types; neither is drift.
    expect(remote.data_security_mode).toBe("SINGLE_USER");
    expect(remote.node_type_id).toBeDefined();
    expect(compare(clusterAdapter, spec, remote, spec)).toEqual([]);
    // A field removed from the configuration is a change, and edit (a full replace) removes it.
    const withTags = { ...spec, custom_tags: { a: "1" } };
    await clusterAdapter.update(ctx(), id, withTags, remote);
    const tagged = (await clusterAdapter.read(ctx(), id)) as Record<string, unknown>;
    const removal = compare(clusterAdapter, spec, tagged, withTags);
    expect(removal.map((c) => c.path)).toEqual(["custom_tags"]);
    await clusterAdapter.update(ctx(), id, spec, tagged, removal);
    const after = (await clusterAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(after.custom_tags).toBeUndefined();
    await clusterAdapter.delete(ctx(), id);
  });

  it("reports several clusters with the configured name instead of picking one", async () => {
    const spec = { cluster_name: "lf-twice", spark_version: "15.4.x-scala2.12", num_workers: 0 };
    const a = await clusterAdapter.create(ctx(), spec);
    const b = await clusterAdapter.create(ctx(), spec);
    await expect(clusterAdapter.find(ctx(), spec)).rejects.toThrow(/2 clusters named "lf-twice"/);
    await clusterAdapter.delete(ctx(), a.id);
    await clusterAdapter.delete(ctx(), b.id);
  });
});

describe("databricks.cluster_policy", () => {
  it("sends the definition as JSON and compares it as a document", async () => {
    const spec = {
      name: "lf-policy",
      description: "small clusters",
      definition: {
        spark_version: { type: "fixed", value: "15.4.x-scala2.12" },
        autotermination_minutes: { type: "range", maxValue: 120, defaultValue: 60 },
      },
      max_clusters_per_user: 2,
    };
    await lifecycle(clusterPolicyAdapter, ctx(), {
      spec,
      changed: {
        ...spec,
        definition: { ...spec.definition, num_workers: { type: "range", maxValue: 4 } },
      },
      changedPaths: ["definition"],
      updated: (r) => expect(JSON.parse(String(r.definition)).num_workers).toEqual({ type: "range", maxValue: 4 }),
    });
  });

  it("sees a rule added behind Lakeforge's back", async () => {
    const spec = { name: "lf-policy-drift", definition: { node_type_id: { type: "fixed", value: "Standard_DS3_v2" } } };
    const { id } = await clusterPolicyAdapter.create(ctx(), spec);
    await ctx().client.post("/api/2.0/policies/clusters/edit", {
      policy_id: id,
      name: spec.name,
      definition: JSON.stringify({ ...spec.definition, num_workers: { type: "fixed", value: 1 } }),
    });
    const remote = (await clusterPolicyAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(compare(clusterPolicyAdapter, spec, remote, spec).map((c) => c.path)).toEqual(["definition"]);
    await clusterPolicyAdapter.delete(ctx(), id);
  });
});

describe("databricks.instance_pool", () => {
  it("edits what can change in place and replaces the pool for the rest", async () => {
    const spec = {
      instance_pool_name: "lf-pool",
      node_type_id: "Standard_DS3_v2",
      min_idle_instances: 0,
      max_capacity: 10,
      custom_tags: { team: "ml" },
    };
    await lifecycle(instancePoolAdapter, ctx(), {
      spec,
      changed: { ...spec, max_capacity: 20 },
      changedPaths: ["max_capacity"],
      updated: (r) => expect(r.max_capacity).toBe(20),
    });
    const changes = diffSpec({ ...spec, preloaded_spark_versions: ["15.4.x-scala2.12"] }, { ...spec }, instancePoolAdapter.rules);
    expect(changes).toMatchObject([{ path: "preloaded_spark_versions", forcesRecreate: true }]);
  });
});

describe("databricks.job", () => {
  const task = (key: string, extra: Record<string, unknown> = {}) => ({
    task_key: key,
    notebook_task: { notebook_path: `/Shared/${key}` },
    job_cluster_key: "main",
    ...extra,
  });
  const jobSpec = (tasks: Record<string, unknown>[]) => ({
    name: "lf-job",
    tags: { team: "ml" },
    job_clusters: [
      {
        job_cluster_key: "main",
        new_cluster: { spark_version: "15.4.x-scala2.12", node_type_id: "Standard_DS3_v2", num_workers: 1 },
      },
    ],
    parameters: [{ name: "env", default: "dev" }],
    tasks,
  });

  it("goes through create, find by name, reset and delete; task order is not a change", async () => {
    const spec = jobSpec([task("b", { depends_on: [{ task_key: "a" }] }), task("a")]);
    await lifecycle(jobAdapter, ctx(), {
      spec,
      changed: { ...spec, parameters: [{ name: "env", default: "prod" }] },
      changedPaths: ["parameters.env.default"],
      updated: (r) => expect((r.settings as { parameters: unknown[] }).parameters).toEqual([{ name: "env", default: "prod" }]),
    });
  });

  it("merges the pages of a job with more than 100 tasks", async () => {
    const tasks = Array.from({ length: 230 }, (_, i) => ({
      task_key: `t${String(i).padStart(3, "0")}`,
      notebook_task: { notebook_path: "/Shared/x" },
      job_cluster_key: "main",
    }));
    const spec = jobSpec(tasks);
    const { id } = await jobAdapter.create(ctx(), spec);
    const remote = (await jobAdapter.read(ctx(), id)) as { settings: { tasks: unknown[] } };
    expect(remote.settings.tasks).toHaveLength(230);
    expect(compare(jobAdapter, spec, remote, spec)).toEqual([]);
    const fewer = jobSpec(tasks.slice(0, 229));
    expect(compare(jobAdapter, fewer, remote, spec)).toMatchObject([{ path: "tasks.t229", after: undefined }]);
    await jobAdapter.update(ctx(), id, fewer, remote);
    expect(((await jobAdapter.read(ctx(), id)) as typeof remote).settings.tasks).toHaveLength(229);
    await jobAdapter.delete(ctx(), id);
  });
});
