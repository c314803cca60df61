import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CliResult,
  changing,
  inventory,
  isWrite,
  type JsonPlan,
  makeProject,
  type Obj,
  projectDocument,
  type RecordedRequest,
  readRecorded,
  requireBuild,
  runCli,
  show,
  startTestWorkspace,
  type TestWorkspace,
  writeProject,
} from "./helpers.js";

/**
 * plan / apply / destroy / import through the built CLI against a local workspace: from empty to
 * converged, one change at a time, drift, adoption, saved plans, `--only`, `--detailed-exitcode` and
 * `prevent_destroy`. Every step checks what the CLI printed and which requests reached the workspace.
 */

const STATE_ROOT = "/Shared/.lakeforge/e2e/test";
const NOTEBOOKS = "/Shared/e2e";
const SECRET = "not-a-canary-value";

/** A reference to another resource's field, as written in lakeforge.yaml. */
const ref = (path: string) => `$\{${path}}`;
const group = ref("resources.groups.analysts.display_name");

function resources(): Obj {
  return {
    groups: { analysts: { display_name: "e2e-analysts", entitlements: ["workspace-access"] } },
    clusters: {
      etl: {
        cluster_name: "e2e-etl",
        spark_version: "15.4.x-scala2.12",
        node_type_id: "Standard_DS3_v2",
        num_workers: 1,
        autotermination_minutes: 30,
        permissions: [{ group_name: group, level: "CAN_RESTART" }],
      },
    },
    notebooks: { main: { source: "notebooks/main.py", path: `${NOTEBOOKS}/main` } },
    jobs: {
      nightly: {
        name: "e2e-nightly",
        max_concurrent_runs: 1,
        timeout_seconds: 3600,
        tasks: [
          {
            task_key: "main",
            existing_cluster_id: ref("resources.clusters.etl.id"),
            notebook_task: { notebook_path: ref("resources.notebooks.main.path") },
          },
        ],
        permissions: [{ group_name: group, level: "CAN_MANAGE_RUN" }],
      },
      weekly: {
        name: "e2e-weekly",
        tasks: [
          {
            task_key: "main",
            existing_cluster_id: ref("resources.clusters.etl.id"),
            notebook_task: { notebook_path: ref("resources.notebooks.main.path") },
          },
        ],
      },
    },
    secret_scopes: {
      app: {
        name: "e2e-app",
        secrets: { token: { from_env: "E2E_APP_TOKEN" } },
        acls: [{ principal: group, permission: "READ" }],
      },
    },
    catalogs: { data: { name: "e2e_data", comment: "End-to-end data." } },
    schemas: { raw: { name: "raw", catalog_name: ref("resources.catalogs.data.name"), comment: "Raw tables." } },
    grants: {
      analysts_raw: {
        securable: { type: "schema", name: "e2e_data.raw" },
        principal: group,
        privileges: ["USE_SCHEMA", "SELECT"],
      },
    },
    experiments: { churn: { name: "/Shared/e2e-experiments/churn", tags: [{ key: "team", value: "churn" }] } },
  };
}

/** A deep copy of the resources with `edit` applied. */
function edited(edit: (r: Record<string, Record<string, Obj>>) => void): Obj {
  const r = structuredClone(resources()) as Record<string, Record<string, Obj>>;
  edit(r);
  return r;
}

let ws: TestWorkspace;
let dir: string;
let runs = 0;

beforeAll(async () => {
  requireBuild();
  ws = await startTestWorkspace();
  dir = makeProject({
    "lakeforge.yaml": projectDocument(ws.url, resources()),
    "notebooks/main.py": "# Databricks notebook source\nprint('hello')\n",
  });
});

const configure = (res: Obj) => writeProject(dir, { "lakeforge.yaml": projectDocument(ws.url, res) });

interface Run extends CliResult {
  /** Requests the CLI sent (method and full URL; the workspace path of Workspace API writes). */
  requests: RecordedRequest[];
}

async function cli(...args: string[]): Promise<Run> {
  const recordTo = join(dir, `.requests-${++runs}.jsonl`);
  const result = await runCli(args, { cwd: dir, env: { DATABRICKS_TOKEN: ws.token, E2E_APP_TOKEN: SECRET }, recordTo });
  return { ...result, requests: readRecorded(recordTo) };
}

/** A change without its flags. */
const fields = (c: { path: string; before?: unknown; after?: unknown }) => ({ path: c.path, before: c.before, after: c.after });

async function jsonPlan(...extra: string[]): Promise<JsonPlan> {
  const r = await cli("plan", "--json", ...extra);
  expect(r.code, show(r)).toBe(0);
  return JSON.parse(r.stdout) as JsonPlan;
}

/** Lakeforge's own bookkeeping: the state file and the deploy lock below the state root. */
const bookkeeping = (q: RecordedRequest) => q.target?.startsWith(STATE_ROOT) === true;

/** The writes a run sent, other than to its state and lock, as `METHOD /path`. */
const writes = (r: Run) =>
  r.requests.filter((q) => isWrite(q.method) && !bookkeeping(q)).map((q) => `${q.method} ${new URL(q.url).pathname}`);

async function apply(...extra: string[]): Promise<Run> {
  const r = await cli("apply", "--auto-approve", ...extra);
  expect(r.code, show(r)).toBe(0);
  return r;
}

async function expectConverged(): Promise<void> {
  const r = await cli("plan", "--detailed-exitcode");
  expect(r.code, show(r)).toBe(0);
  expect(r.stderr).toContain("No changes: test matches the configuration.");
}

async function lockIsFree(): Promise<boolean> {
  const status = await ws.api
    .get("/api/2.0/workspace/get-status", { path: `${STATE_ROOT}/deploy.lock` })
    .then(() => "held")
    .catch(() => "free");
  return status === "free";
}

describe("lakeforge plan / apply / destroy through the CLI", () => {
  it("applies from empty, then plans no change while sending reads only", async () => {
    const first = await apply();
    expect(first.stderr).toMatch(/Apply complete: 14 created, 0 updated, 0 recreated, 0 deleted\./);
    expect(await lockIsFree()).toBe(true);

    const inv = await inventory(ws.api, NOTEBOOKS);
    expect(inv.jobs).toEqual(["e2e-nightly", "e2e-weekly"]);
    expect(inv.clusters).toEqual(["e2e-etl"]);
    expect(inv.groups).toEqual(["e2e-analysts"]);
    expect(inv.secrets).toEqual(["e2e-app/token"]);
    expect(inv.secret_acls).toEqual(["e2e-app/e2e-analysts:READ"]);
    expect(inv.notebooks).toEqual([`${NOTEBOOKS}/main`]);
    expect(inv.schemas).toEqual(["e2e_data.raw"]);
    expect(inv.grants).toEqual(["schema/e2e_data.raw/e2e-analysts:SELECT,USE_SCHEMA"]);
    expect(inv.experiments).toEqual(["/Shared/e2e-experiments/churn"]);
    expect(inv.permissions).toEqual([
      "clusters/e2e-etl: e2e-analysts CAN_RESTART",
      "jobs/e2e-nightly: e2e-analysts CAN_MANAGE_RUN",
    ]);

    const since = await ws.lastSeq();
    const plan = await cli("plan");
    expect(plan.code, show(plan)).toBe(0);
    expect(plan.stderr).toContain("No changes: test matches the configuration.");
    const seen = await ws.requestsSince(since);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((q) => isWrite(q.method)).map((q) => `${q.method} ${q.path}`)).toEqual([]);
    expect(plan.requests.filter((q) => isWrite(q.method))).toEqual([]);

    const detailed = await cli("plan", "--detailed-exitcode");
    expect(detailed.code, show(detailed)).toBe(0);
  });

  it("plans and applies exactly one update for one changed field", async () => {
    configure(
      edited((r) => {
        (r.jobs?.nightly as Obj).timeout_seconds = 7200;
      }),
    );
    const plan = await jsonPlan();
    expect(changing(plan)).toEqual(["update databricks.job.nightly"]);
    const action = plan.actions.find((a) => a.address === "databricks.job.nightly");
    expect(action?.changes.map(fields)).toEqual([{ path: "timeout_seconds", before: 3600, after: 7200 }]);

    const detailed = await cli("plan", "--detailed-exitcode");
    expect(detailed.code, show(detailed)).toBe(2);
    expect(detailed.stderr).toContain("~ timeout_seconds: 3600 → 7200");

    const since = await ws.lastSeq();
    const applied = await apply();
    expect(applied.stderr).toContain("Apply complete: 0 created, 1 updated, 0 recreated, 0 deleted.");
    expect(writes(applied)).toEqual(["POST /api/2.2/jobs/reset"]);
    // Besides the reset, only the lock and the state were written.
    const logged = (await ws.requestsSince(since)).filter((q) => isWrite(q.method)).map((q) => q.path);
    expect(logged.filter((p) => !p.startsWith("/api/2.0/workspace/"))).toEqual(["/api/2.2/jobs/reset"]);
    const job = await ws.api.get<Obj>("/api/2.2/jobs/get", { job_id: action?.id as string });
    expect((job.settings as Obj).timeout_seconds).toBe(7200);
    await expectConverged();
  });

  it("deletes a resource removed from the configuration, and nothing else", async () => {
    configure(
      edited((r) => {
        (r.jobs?.nightly as Obj).timeout_seconds = 7200;
        delete r.jobs?.weekly;
      }),
    );
    const plan = await jsonPlan();
    expect(changing(plan)).toEqual(["delete databricks.job.weekly"]);
    const applied = await apply();
    expect(writes(applied)).toEqual(["POST /api/2.2/jobs/delete"]);
    expect((await inventory(ws.api, NOTEBOOKS)).jobs).toEqual(["e2e-nightly"]);
    await expectConverged();
  });

  it("shows drift made behind Lakeforge's back, and applying reverts it", async () => {
    const state = await jsonPlan();
    const nightly = state.actions.find((a) => a.address === "databricks.job.nightly")?.id as string;
    await ws.api.post("/api/2.2/jobs/update", { job_id: Number(nightly), new_settings: { max_concurrent_runs: 5 } });
    const experiment = state.actions.find((a) => a.address === "databricks.experiment.churn")?.id as string;
    await ws.api.post("/api/2.0/mlflow/experiments/delete", { experiment_id: experiment });

    const plan = await jsonPlan();
    expect(changing(plan).sort()).toEqual(["create databricks.experiment.churn", "update databricks.job.nightly"]);
    const job = plan.actions.find((a) => a.address === "databricks.job.nightly");
    expect(job?.changes.map(fields)).toEqual([{ path: "max_concurrent_runs", before: 5, after: 1 }]);
    expect(plan.actions.find((a) => a.address === "databricks.experiment.churn")?.reason).toBe("deleted outside Lakeforge");

    const human = await cli("plan");
    expect(human.stderr).toContain("~ max_concurrent_runs: 5 → 1");

    await apply();
    const after = await ws.api.get<Obj>("/api/2.2/jobs/get", { job_id: nightly });
    expect((after.settings as Obj).max_concurrent_runs).toBe(1);
    expect((await inventory(ws.api, NOTEBOOKS)).experiments).toEqual(["/Shared/e2e-experiments/churn"]);
    await expectConverged();
  });

  it("imports an existing job, then plans only its real differences", async () => {
    const cluster = (await ws.api.get<{ clusters: Obj[] }>("/api/2.1/clusters/list")).clusters[0]?.cluster_id as string;
    const made = await ws.api.post<{ job_id: number }>("/api/2.2/jobs/create", {
      name: "hand-made-report",
      max_concurrent_runs: 1,
      tasks: [{ task_key: "main", existing_cluster_id: cluster, notebook_task: { notebook_path: `${NOTEBOOKS}/main` } }],
    });
    const withReport = edited((r) => {
      (r.jobs?.nightly as Obj).timeout_seconds = 7200;
      delete r.jobs?.weekly;
      (r.jobs as Record<string, Obj>).report = {
        name: "e2e-report",
        max_concurrent_runs: 1,
        tasks: [
          {
            task_key: "main",
            existing_cluster_id: ref("resources.clusters.etl.id"),
            notebook_task: { notebook_path: ref("resources.notebooks.main.path") },
          },
        ],
      };
    });
    configure(withReport);
    // Before the import, the job is unknown to Lakeforge (another name): plan would create one.
    expect(changing(await jsonPlan())).toEqual(["create databricks.job.report"]);

    const missing = await cli("import", "job.report", "987654321");
    expect(missing.code, show(missing)).toBe(1);
    expect(missing.stderr).toContain("databricks.job 987654321 does not exist");

    const imported = await cli("import", "job.report", String(made.job_id));
    expect(imported.code, show(imported)).toBe(0);
    expect(imported.stderr).toContain(`Imported databricks.job.report (id ${made.job_id})`);
    expect(writes(imported)).toEqual([]);

    const plan = await jsonPlan();
    expect(changing(plan)).toEqual(["update databricks.job.report"]);
    const report = plan.actions.find((a) => a.address === "databricks.job.report");
    expect(report?.id).toBe(String(made.job_id));
    expect(report?.changes.map(fields)).toEqual([{ path: "name", before: "hand-made-report", after: "e2e-report" }]);

    const applied = await apply();
    expect(writes(applied)).toEqual(["POST /api/2.2/jobs/reset"]);
    const inv = await inventory(ws.api, NOTEBOOKS);
    expect(inv.jobs).toEqual(["e2e-nightly", "e2e-report"]);
    await expectConverged();
  });

  it("applies a saved plan, and refuses one made stale by a state or configuration change", async () => {
    const base = (r: Record<string, Record<string, Obj>>) => {
      (r.jobs?.nightly as Obj).timeout_seconds = 7200;
      delete r.jobs?.weekly;
      (r.jobs as Record<string, Obj>).report = {
        name: "e2e-report",
        max_concurrent_runs: 1,
        tasks: [
          {
            task_key: "main",
            existing_cluster_id: ref("resources.clusters.etl.id"),
            notebook_task: { notebook_path: ref("resources.notebooks.main.path") },
          },
        ],
      };
    };
    configure(
      edited((r) => {
        base(r);
        (r.catalogs?.data as Obj).comment = "Saved plan.";
      }),
    );
    const saved = await cli("plan", "--out", "saved.json");
    expect(saved.code, show(saved)).toBe(0);
    expect(saved.stderr).toContain("Saved the plan to saved.json");
    const savedPlan = JSON.parse(readFileSync(join(dir, "saved.json"), "utf8")) as JsonPlan;
    expect(changing(savedPlan)).toEqual(["update databricks.catalog.data"]);
    const applied = await cli("apply", "saved.json");
    expect(applied.code, show(applied)).toBe(0);
    expect(writes(applied)).toEqual(["PATCH /api/2.1/unity-catalog/catalogs/e2e_data"]);
    await expectConverged();

    // Stale by state: another apply moved the state on.
    configure(
      edited((r) => {
        base(r);
        (r.catalogs?.data as Obj).comment = "Stale by state.";
      }),
    );
    expect((await cli("plan", "--out", "stale-state.json")).code).toBe(0);
    configure(
      edited((r) => {
        base(r);
        (r.catalogs?.data as Obj).comment = "Stale by state.";
        (r.schemas?.raw as Obj).comment = "Moved on.";
      }),
    );
    await apply("--only", "schema.raw");
    const refusedByState = await cli("apply", "stale-state.json");
    expect(refusedByState.code, show(refusedByState)).toBe(1);
    expect(refusedByState.stderr).toContain("the saved plan is stale: the environment's state changed since it was made");
    expect(refusedByState.stderr).not.toMatch(/\n\s+at /);
    expect(writes(refusedByState)).toEqual([]);

    // Stale by configuration.
    expect((await cli("plan", "--out", "stale-config.json")).code).toBe(0);
    configure(
      edited((r) => {
        base(r);
        (r.catalogs?.data as Obj).comment = "Changed again.";
        (r.schemas?.raw as Obj).comment = "Moved on.";
      }),
    );
    const refusedByConfig = await cli("apply", "stale-config.json");
    expect(refusedByConfig.code, show(refusedByConfig)).toBe(1);
    expect(refusedByConfig.stderr).toContain("the saved plan is stale: the configuration changed since it was made");
    expect(writes(refusedByConfig)).toEqual([]);
    const catalog = await ws.api.get<Obj>("/api/2.1/unity-catalog/catalogs/e2e_data");
    expect(catalog.comment).toBe("Saved plan.");
    expect(await lockIsFree()).toBe(true);

    await apply();
    await expectConverged();
  });

  it("limits plan and apply to the resources named with --only", async () => {
    configure(
      edited((r) => {
        (r.jobs?.nightly as Obj).timeout_seconds = 1800;
        delete r.jobs?.weekly;
        (r.jobs as Record<string, Obj>).report = {
          name: "e2e-report",
          max_concurrent_runs: 2,
          tasks: [
            {
              task_key: "main",
              existing_cluster_id: ref("resources.clusters.etl.id"),
              notebook_task: { notebook_path: ref("resources.notebooks.main.path") },
            },
          ],
        };
        (r.catalogs?.data as Obj).comment = "Changed again.";
        (r.schemas?.raw as Obj).comment = "Moved on.";
      }),
    );
    expect(changing(await jsonPlan()).sort()).toEqual(["update databricks.job.nightly", "update databricks.job.report"]);
    const only = await jsonPlan("--only", "job.nightly");
    expect(only.actions.map((a) => a.address)).toEqual(["databricks.job.nightly"]);

    const applied = await apply("--only", "job.nightly");
    expect(writes(applied)).toEqual(["POST /api/2.2/jobs/reset"]);
    expect(changing(await jsonPlan())).toEqual(["update databricks.job.report"]);

    const unknown = await cli("plan", "--only", "job.nope");
    expect(unknown.code, show(unknown)).toBe(1);
    expect(unknown.stderr).toContain("--only job.nope: no such resource");

    await apply();
    await expectConverged();
  });

  it("refuses to destroy what has prevent_destroy, deleting nothing; destroys everything once it is lifted", async () => {
    const protectedConfig = edited((r) => {
      (r.catalogs?.data as Obj).prevent_destroy = true;
    });
    configure(protectedConfig);
    await apply();
    const before = await inventory(ws.api, NOTEBOOKS);

    const since = await ws.lastSeq();
    const refused = await cli("destroy", "--auto-approve");
    expect(refused.code, show(refused)).toBe(1);
    expect(refused.stderr).toContain(
      "error: databricks.catalog.data has prevent_destroy set; remove it from the configuration first",
    );
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(writes(refused)).toEqual([]);
    const logged = (await ws.requestsSince(since)).filter((q) => isWrite(q.method)).map((q) => q.path);
    expect(logged.filter((p) => !p.startsWith("/api/2.0/workspace/"))).toEqual([]);
    expect(await inventory(ws.api, NOTEBOOKS)).toEqual(before);
    expect(await lockIsFree()).toBe(true);

    configure(resources());
    const destroyed = await cli("destroy", "--auto-approve");
    expect(destroyed.code, show(destroyed)).toBe(0);
    expect(destroyed.stderr).toMatch(/Apply complete: 0 created, 0 updated, 0 recreated, \d+ deleted\./);
    const after = await inventory(ws.api, NOTEBOOKS);
    expect(after).toEqual({
      jobs: [],
      clusters: [],
      cluster_policies: [],
      secret_scopes: [],
      secrets: [],
      secret_acls: [],
      notebooks: [],
      catalogs: [],
      schemas: [],
      grants: [],
      experiments: [],
      groups: [],
      service_principals: [],
      permissions: [],
    });
    const plan = await jsonPlan();
    expect(plan.actions.every((a) => a.action === "create")).toBe(true);
  });
});
