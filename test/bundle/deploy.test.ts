/**
 * `lakeforge deploy` of a bundle using what the ML template does not: grants, a volume, a notebook,
 * a `lookup` variable, top-level group permissions and sync excludes, against the local workspace.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployBundle, openBundle } from "../../src/bundle/deploy.js";
import { DatabricksClient } from "../../src/clients/databricks/client.js";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";

type Obj = Record<string, unknown>;

const work = mkdtempSync(join(tmpdir(), "lakeforge-bundle-deploy-"));
let ws: RunningWorkspace;
let api: DatabricksClient;
let policyId: string;
const ROOT = "/Workspace/Users/admin@lakeforge.local/.bundle/features/dev";

const FILES: Record<string, string> = {
  "databricks.yml": `bundle:
  name: features
variables:
  policy:
    description: the job cluster's policy
    lookup:
      cluster_policy: small-jobs
permissions:
  - group_name: users
    level: CAN_VIEW
sync:
  exclude:
    - scratch/**
resources:
  jobs:
    build:
      name: build-features
      job_clusters:
        - job_cluster_key: main
          new_cluster:
            spark_version: 15.4.x-scala2.12
            node_type_id: i3.xlarge
            num_workers: 1
            policy_id: \${var.policy}
      tasks:
        - task_key: build
          job_cluster_key: main
          notebook_task:
            notebook_path: ./notebooks/build.py
            base_parameters:
              volume: /Volumes/main/\${resources.schemas.features.name}/\${resources.volumes.raw.name}
  schemas:
    features:
      catalog_name: main
      name: features
      grants:
        - principal: users
          privileges: [USE_SCHEMA]
  volumes:
    raw:
      catalog_name: main
      schema_name: \${resources.schemas.features.name}
      name: raw
      comment: Raw files
      grants:
        - principal: users
          privileges: [READ_VOLUME]
targets:
  dev:
    mode: development
    default: true
`,
  "notebooks/build.py": "# Databricks notebook source\nprint('build')\n",
  "scratch/big.csv": "a,b\n",
};

function project(): string {
  const dir = join(work, "features");
  for (const [p, text] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return dir;
}

const env = () => ({
  DATABRICKS_HOST: ws.url,
  DATABRICKS_TOKEN: ws.token,
  HOME: work,
  DATABRICKS_CONFIG_FILE: join(work, "none"),
});

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
  api = new DatabricksClient({ host: ws.url, auth: async () => ({ Authorization: `Bearer ${ws.token}` }) });
  await api.post("/api/2.1/unity-catalog/catalogs", { name: "main" }).catch(() => undefined);
  const policy = await api.post<{ policy_id: string }>("/api/2.0/policies/clusters/create", {
    name: "small-jobs",
    definition: JSON.stringify({ num_workers: { type: "range", maxValue: 2 } }),
  });
  policyId = policy.policy_id;
});

afterAll(async () => {
  await ws?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function lastSeq(): Promise<number> {
  const res = await fetch(`${ws.url}/__lakeforge/requests?since=0`, { headers: { authorization: `Bearer ${ws.token}` } });
  return ((await res.json()) as { last_seq: number }).last_seq;
}

async function writesSince(seq: number): Promise<string[]> {
  const res = await fetch(`${ws.url}/__lakeforge/requests?since=${seq}`, { headers: { authorization: `Bearer ${ws.token}` } });
  const { requests } = (await res.json()) as { requests: { method: string; path: string }[] };
  return requests.filter((q) => q.method !== "GET").map((q) => `${q.method} ${q.path}`);
}

describe("lakeforge deploy of a bundle with grants, a volume, a notebook and a lookup", () => {
  it("deploys everything, state in the bundle's state folder", async () => {
    const dir = project();
    const b = await openBundle({ dir, env: env() });
    try {
      const { result } = await deployBundle(b);
      expect(result?.failed ?? []).toEqual([]);
    } finally {
      await b.close();
    }
    const jobs = await api.listAll<Obj>("/api/2.2/jobs/list", { expand_tasks: true }, "jobs");
    expect(jobs).toHaveLength(1);
    const settings = jobs[0]?.settings as Obj;
    expect(settings.name).toBe("[dev admin] build-features");
    const cluster = (settings.job_clusters as Obj[])[0]?.new_cluster as Obj;
    expect(cluster.policy_id).toBe(policyId);
    const task = (settings.tasks as Obj[])[0] as { notebook_task: { notebook_path: string; base_parameters: Obj } };
    expect(task.notebook_task).toEqual({
      notebook_path: `${ROOT}/files/notebooks/build`,
      base_parameters: { volume: "/Volumes/main/dev_admin_features/raw" },
    });
    const nb = await api.get<Obj>("/api/2.0/workspace/get-status", { path: `${ROOT}/files/notebooks/build` });
    expect(nb.object_type).toBe("NOTEBOOK");
    const excluded = await api.get("/api/2.0/workspace/get-status", { path: `${ROOT}/files/scratch/big.csv` }).then(
      () => 200,
      (e: { status?: number }) => e.status,
    );
    expect(excluded).toBe(404);

    const schemaGrants = await api.get<Obj>("/api/2.1/unity-catalog/permissions/schema/main.dev_admin_features");
    expect(schemaGrants.privilege_assignments).toEqual([{ principal: "users", privileges: ["USE_SCHEMA"] }]);
    const volume = await api.get<Obj>("/api/2.1/unity-catalog/volumes/main.dev_admin_features.raw");
    expect(volume).toMatchObject({ comment: "Raw files", volume_type: "MANAGED" });
    const volumeGrants = await api.get<Obj>("/api/2.1/unity-catalog/permissions/volume/main.dev_admin_features.raw");
    expect(volumeGrants.privilege_assignments).toEqual([{ principal: "users", privileges: ["READ_VOLUME"] }]);

    const jobAcl = JSON.stringify(await api.get(`/api/2.0/permissions/jobs/${String(jobs[0]?.job_id)}`));
    expect(jobAcl).toContain('"group_name":"users","all_permissions":[{"permission_level":"CAN_VIEW","inherited":false}');
    const state = await api.get<{ content: string }>("/api/2.0/workspace/export", {
      path: `${ROOT}/state/lakeforge/state.json`,
      format: "SOURCE",
    });
    const parsed = JSON.parse(Buffer.from(state.content, "base64").toString("utf8")) as { environment: string; resources: Obj };
    expect(parsed.environment).toBe("features/dev");
    expect(Object.keys(parsed.resources)).toContain("databricks.volume.raw");
  });

  it("deploys again without a single write, and a changed grant as one PATCH", async () => {
    const dir = project();
    let seq = await lastSeq();
    let b = await openBundle({ dir, env: env() });
    try {
      const { result } = await deployBundle(b);
      expect(result).toBeUndefined();
    } finally {
      await b.close();
    }
    expect(await writesSince(seq)).toEqual([]);

    writeFileSync(join(dir, "databricks.yml"), FILES["databricks.yml"]?.replace("[USE_SCHEMA]", "[USE_SCHEMA, SELECT]") ?? "");
    seq = await lastSeq();
    b = await openBundle({ dir, env: env() });
    try {
      const { result } = await deployBundle(b);
      expect(result?.failed).toEqual([]);
    } finally {
      await b.close();
    }
    const writes = (await writesSince(seq)).filter((w) => !w.startsWith("POST /api/2.0/workspace/"));
    expect(writes).toEqual(["PATCH /api/2.1/unity-catalog/permissions/schema/main.dev_admin_features"]);
  });

  it("reports a lookup that finds nothing where the variable asks for it, having changed nothing", async () => {
    const dir = project();
    writeFileSync(
      join(dir, "databricks.yml"),
      FILES["databricks.yml"]?.replace("cluster_policy: small-jobs", "cluster_policy: large-jobs") ?? "",
    );
    const seq = await lastSeq();
    await expect(openBundle({ dir, env: env() })).rejects.toThrow(
      /databricks\.yml:7:23 variables\.policy\.lookup\.cluster_policy: lookup of cluster_policy "large-jobs" failed: no cluster policy named "large-jobs"/,
    );
    expect(await writesSince(seq)).toEqual([]);
  });
});
