/**
 * Contract suite: the official Databricks CLI (the Go `databricks` binary, built by `npm run setup`)
 * driven against the local workspace, unmodified. It covers the bundle lifecycle with the direct
 * deployment engine (validate, deploy, summary, a second deploy that changes nothing, destroy)
 * and everyday commands (workspace import/list/export, jobs, secrets, clusters, current-user).
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";
import { isolatedCliEnv } from "../support/databricks-cli.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(ROOT, ".cache", "bin", "databricks");
const FIXTURE = join(ROOT, "test", "contract", "fixtures", "bundle");
const HAVE_CLI = existsSync(CLI);
const ADMIN = "admin@lakeforge.local";
const CLI_TIMEOUT_MS = 120_000;

if (!HAVE_CLI) {
  console.warn(`Skipping the Databricks CLI contract suite: ${CLI} is missing. Run \`npm run setup\` to build it.`);
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface LoggedRequest {
  seq: number;
  method: string;
  path: string;
  status: number;
}

describe.skipIf(!HAVE_CLI)("official Databricks CLI against the local workspace", () => {
  let server: RunningWorkspace;
  let home: string;
  let work: string;

  beforeAll(async () => {
    server = await startWorkspace({ ephemeral: true, port: 0 });
    home = mkdtempSync(join(tmpdir(), "lakeforge-cli-home-"));
    work = mkdtempSync(join(tmpdir(), "lakeforge-cli-work-"));
  });

  afterAll(async () => {
    await server?.stop();
    for (const dir of [home, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The environment of every CLI run: the parent's, minus any Databricks settings, plus ours. */
  function cliEnv(): NodeJS.ProcessEnv {
    return isolatedCliEnv({ home, url: server.url, token: server.token });
  }

  interface RunOptions {
    cwd?: string;
    /** Written to the CLI's standard input (which is closed either way). */
    input?: string;
    env?: NodeJS.ProcessEnv;
  }

  function run(args: string[], options: RunOptions = {}): Promise<CliResult> {
    return new Promise((resolvePromise, reject) => {
      const env = { ...cliEnv(), ...options.env };
      const child = spawn(CLI, args, { cwd: options.cwd ?? work, env, stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill("SIGKILL"), CLI_TIMEOUT_MS);
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => err.push(d));
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        const result = { code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
        // LAKEFORGE_TRACE_CLI=1 prints every invocation and its output, to debug a failing case.
        if (process.env.LAKEFORGE_TRACE_CLI) {
          console.log(`$ databricks ${args.join(" ")} -> ${code}\n${result.stdout}\n${result.stderr}`);
        }
        resolvePromise(result);
      });
      child.stdin.end(options.input ?? "");
    });
  }

  /** Runs the CLI and fails the test, showing its output, unless it exits 0. */
  async function cli(args: string[], options: RunOptions = {}): Promise<CliResult> {
    const r = await run(args, options);
    if (r.code !== 0) {
      throw new Error(`databricks ${args.join(" ")} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    }
    return r;
  }

  async function cliJson<T = Record<string, unknown>>(args: string[], options: RunOptions = {}): Promise<T> {
    const r = await cli([...args, "-o", "json"], options);
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`databricks ${args.join(" ")} printed no JSON\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    }
  }

  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      json = { raw: text };
    }
    return { status: res.status, json };
  }

  async function requestsSince(seq: number): Promise<{ requests: LoggedRequest[]; last_seq: number }> {
    const r = await api("GET", `/__lakeforge/requests?since=${seq}`);
    expect(r.status).toBe(200);
    return r.json as unknown as { requests: LoggedRequest[]; last_seq: number };
  }

  describe("bundle lifecycle (direct engine)", () => {
    const catalog = "lakeforge_contract";
    let bundleDir: string;
    let rootPath: string;
    const ids: { job?: string; experiment?: string; model?: string; schema?: string } = {};

    beforeAll(() => {
      bundleDir = join(work, "bundle");
      cpSync(FIXTURE, bundleDir, { recursive: true });
    });

    it("bundle validate resolves the bundle against the workspace", async () => {
      const config = await cliJson<{
        bundle: { name: string; target: string; mode: string };
        workspace: { root_path: string; current_user: { userName: string; short_name: string } };
        resources: { jobs: Record<string, { name: string }> };
      }>(["bundle", "validate"], { cwd: bundleDir });
      expect(config.bundle).toMatchObject({ name: "lakeforge-contract", target: "dev", mode: "development" });
      expect(config.workspace.current_user.userName).toBe(ADMIN);
      expect(config.workspace.root_path).toBe(`/Workspace/Users/${ADMIN}/.bundle/lakeforge-contract/dev`);
      expect(config.resources.jobs.train?.name).toBe("[dev admin] lakeforge-contract-train");
      rootPath = config.workspace.root_path;
    });

    it("bundle deploy creates the job, experiment, schema, registered model, grants and permissions", async () => {
      const created = await cliJson<{ name: string; full_name?: string }>(["catalogs", "create", catalog]);
      expect(created.name).toBe(catalog);

      const r = await cli(["bundle", "deploy"], { cwd: bundleDir });
      expect(r.stderr).toContain("Deployment complete!");

      // The files were synchronised; the notebook became a notebook (its .py extension dropped).
      const files = await api("GET", `/api/2.0/workspace/list?path=${encodeURIComponent(`${rootPath}/files/src`)}`);
      expect(files.status).toBe(200);
      const objects = (files.json.objects ?? []) as { path: string; object_type: string }[];
      const byName = Object.fromEntries(objects.map((o) => [o.path.split("/").pop(), o.object_type]));
      expect(byName).toMatchObject({ prepare: "NOTEBOOK", "train.py": "FILE" });

      // The deployment state was written and the deploy lock released.
      const status = async (path: string) =>
        (await api("GET", `/api/2.0/workspace/get-status?path=${encodeURIComponent(`${rootPath}/${path}`)}`)).status;
      expect(await status("state/resources.json")).toBe(200);
      expect(await status("state/deploy.lock")).toBe(404);
    });

    it("bundle summary reports ids and URLs for every resource", async () => {
      const summary = await cliJson<{
        resources: Record<string, Record<string, { id?: string; url?: string }>>;
      }>(["bundle", "summary"], { cwd: bundleDir });
      const res = summary.resources;
      const job = res.jobs?.train;
      const experiment = res.experiments?.tracking;
      const model = res.registered_models?.model;
      const schema = res.schemas?.ml;
      for (const [kind, r] of Object.entries({ job, experiment, model, schema })) {
        expect(r?.id, `${kind} id`).toBeTruthy();
        expect(r?.url, `${kind} url`).toMatch(new RegExp(`^${server.url.replace(/[.]/g, "\\.")}/`));
      }
      expect(schema?.id).toBe(`${catalog}.dev_admin_contract_ml`);
      expect(model?.id).toBe(`${catalog}.dev_admin_contract_ml.dev_admin_contract_model`);
      ids.job = job?.id;
      ids.experiment = experiment?.id;
      ids.model = model?.id;
      ids.schema = schema?.id;

      // The deployed objects are what the bundle describes.
      const got = await api("GET", `/api/2.2/jobs/get?job_id=${ids.job}`);
      expect(got.status).toBe(200);
      const settings = got.json.settings as { name: string; tasks: { task_key: string; depends_on?: { task_key: string }[] }[] };
      expect(settings.name).toBe("[dev admin] lakeforge-contract-train");
      expect(settings.tasks.map((t) => t.task_key).sort()).toEqual(["prepare", "train"]);
      expect(settings.tasks.find((t) => t.task_key === "train")?.depends_on).toEqual([{ task_key: "prepare" }]);

      const jobAcl = await api("GET", `/api/2.0/permissions/jobs/${ids.job}`);
      expect(jobAcl.status).toBe(200);
      expect(JSON.stringify(jobAcl.json)).toContain('"group_name":"users"');

      const schemaGrants = await api("GET", `/api/2.1/unity-catalog/permissions/schema/${ids.schema}`);
      expect(schemaGrants.json.privilege_assignments).toEqual([{ principal: "users", privileges: ["USE_SCHEMA"] }]);
      const modelGrants = await api("GET", `/api/2.1/unity-catalog/permissions/function/${ids.model}`);
      expect(modelGrants.json.privilege_assignments).toEqual([{ principal: "users", privileges: ["EXECUTE"] }]);
    });

    /** The plan's entries that are not skips, with their non-skip changes: empty when nothing would change. */
    async function pendingChanges(): Promise<{ key: string; action: string; changes: Record<string, unknown> }[]> {
      const plan = await cliJson<{
        plan: Record<string, { action: string; changes?: Record<string, { action: string }> }>;
      }>(["bundle", "plan"], { cwd: bundleDir });
      return Object.entries(plan.plan)
        .filter(([, e]) => e.action !== "skip")
        .map(([key, e]) => ({
          key,
          action: e.action,
          changes: Object.fromEntries(Object.entries(e.changes ?? {}).filter(([, c]) => c.action !== "skip")),
        }));
    }

    /** Deploys and returns the requests the deploy made. */
    async function deploy(): Promise<LoggedRequest[]> {
      const before = (await requestsSince(0)).last_seq;
      const r = await cli(["bundle", "deploy"], { cwd: bundleDir });
      expect(r.stderr).toContain("Deployment complete!");
      const { requests } = await requestsSince(before);
      expect(requests.filter((q) => q.status >= 500).map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([]);
      return requests;
    }

    // Requests that change a deployed resource. State uploads, the deploy lock and the bundle
    // folder's ACL are written on every deploy and are not among them.
    const resourceWrite =
      /^\/api\/2\.\d\/(jobs\/|mlflow\/|unity-catalog\/(schemas|models|permissions)|permissions\/(jobs|experiments|registered-models)\/)/;
    const writesOf = (requests: LoggedRequest[]) =>
      requests
        .filter((q) => q.method !== "GET" && q.method !== "HEAD" && resourceWrite.test(q.path))
        .map((q) => `${q.method} ${q.path}`);

    it("a second deploy changes nothing", async () => {
      // The plan compares the configuration with what the workspace returns: every action must be a skip.
      const pending = await pendingChanges();
      expect(pending, JSON.stringify(pending, null, 2)).toEqual([]);
      expect(writesOf(await deploy())).toEqual([]);
    });

    it("the deploy lock keeps out a deploy while another one holds it", async () => {
      const lockPath = `${rootPath}/state/deploy.lock`;
      const lock = {
        ID: "5b0f4c3e-1d2a-4c8e-9f00-1a2b3c4d5e6f",
        AcquisitionTime: new Date().toISOString(),
        IsForced: false,
        User: "someone.else@lakeforge.local",
      };
      const res = await fetch(
        `${server.url}/api/2.0/workspace-files/import-file/${encodeURIComponent(lockPath.slice(1))}?overwrite=false`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${server.token}` },
          body: JSON.stringify(lock),
        },
      );
      expect(res.status).toBe(200);

      const blocked = await run(["bundle", "deploy"], { cwd: bundleDir });
      expect(blocked.code).not.toBe(0);
      expect(blocked.stderr).toContain("deploy lock acquired by someone.else@lakeforge.local");

      const removed = await api("POST", "/api/2.0/workspace/delete", { path: lockPath });
      expect(removed.status).toBe(200);
    });

    it("a changed configuration deploys as in-place updates", async () => {
      const edit = (file: string, from: string, to: string) => {
        const path = join(bundleDir, file);
        const text = readFileSync(path, "utf8");
        expect(text, `${file} contains ${from}`).toContain(from);
        writeFileSync(path, text.replace(from, to));
      };
      edit(
        "databricks.yml",
        "      name: lakeforge-contract-train\n",
        "      name: lakeforge-contract-train\n      description: Trains the contract model\n",
      );
      edit("databricks.yml", "lakeforge-contract-experiment", "lakeforge-contract-experiment-v2");
      edit(
        "databricks.yml",
        "comment: Schema deployed by the Lakeforge contract suite",
        "comment: Schema for the contract model",
      );
      edit("databricks.yml", "comment: Model deployed by the Lakeforge contract suite", "comment: The contract model");
      edit("databricks.yml", "privileges: [USE_SCHEMA]", "privileges: [USE_SCHEMA, SELECT]");
      edit("databricks.yml", "  - group_name: users\n    level: CAN_VIEW", "  - group_name: users\n    level: CAN_RUN");
      edit("src/train.py", "training, logging to", "training v2, logging to");

      const planned = await pendingChanges();
      expect(Object.fromEntries(planned.map((p) => [p.key, p.action]))).toEqual({
        "resources.jobs.train": "update",
        "resources.jobs.train.permissions": "update",
        "resources.experiments.tracking": "update",
        // CAN_RUN has no experiment level: the group's entry leaves the experiment's ACL.
        "resources.experiments.tracking.permissions": "update",
        "resources.schemas.ml": "update",
        "resources.schemas.ml.grants": "update",
        "resources.registered_models.model": "update",
      });

      const writes = writesOf(await deploy());
      expect(writes.sort()).toEqual(
        [
          "POST /api/2.2/jobs/reset",
          `PUT /api/2.0/permissions/jobs/${ids.job}`,
          "POST /api/2.0/mlflow/experiments/update",
          `PUT /api/2.0/permissions/experiments/${ids.experiment}`,
          `PATCH /api/2.1/unity-catalog/schemas/${ids.schema}`,
          `PATCH /api/2.1/unity-catalog/permissions/schema/${ids.schema}`,
          `PATCH /api/2.1/unity-catalog/models/${ids.model}`,
        ].sort(),
      );

      const job = await api("GET", `/api/2.2/jobs/get?job_id=${ids.job}`);
      expect((job.json.settings as { description?: string }).description).toBe("Trains the contract model");
      const jobAcl = JSON.stringify((await api("GET", `/api/2.0/permissions/jobs/${ids.job}`)).json);
      expect(jobAcl).toMatch(/"group_name":"users","all_permissions":\[\{"permission_level":"CAN_MANAGE_RUN"/);
      const experiment = await api("GET", `/api/2.0/mlflow/experiments/get?experiment_id=${ids.experiment}`);
      expect((experiment.json.experiment as { name: string }).name).toMatch(/lakeforge-contract-experiment-v2$/);
      const experimentAcl = JSON.stringify((await api("GET", `/api/2.0/permissions/experiments/${ids.experiment}`)).json);
      expect(experimentAcl).not.toContain('"group_name":"users"');
      const schema = await api("GET", `/api/2.1/unity-catalog/schemas/${ids.schema}`);
      expect(schema.json.comment).toBe("Schema for the contract model");
      const grants = await api("GET", `/api/2.1/unity-catalog/permissions/schema/${ids.schema}`);
      const privileges = (grants.json.privilege_assignments as { principal: string; privileges: string[] }[]).map((a) => ({
        principal: a.principal,
        privileges: [...a.privileges].sort(),
      }));
      expect(privileges).toEqual([{ principal: "users", privileges: ["SELECT", "USE_SCHEMA"] }]);
      const model = await api("GET", `/api/2.1/unity-catalog/models/${ids.model}`);
      expect(model.json.comment).toBe("The contract model");
      const script = await api(
        "GET",
        `/api/2.0/workspace/export?format=SOURCE&path=${encodeURIComponent(`${rootPath}/files/src/train.py`)}`,
      );
      expect(Buffer.from(String(script.json.content), "base64").toString("utf8")).toContain("training v2, logging to");

      // And the workspace now matches the new configuration.
      const pending = await pendingChanges();
      expect(pending, JSON.stringify(pending, null, 2)).toEqual([]);
    });

    it("bundle destroy removes everything it deployed", async () => {
      const r = await cli(["bundle", "destroy", "--auto-approve"], { cwd: bundleDir });
      expect(r.stderr).toContain("Destroy complete!");

      const jobs = await api("GET", "/api/2.2/jobs/list");
      expect(jobs.status).toBe(200);
      expect(jobs.json.jobs ?? []).toEqual([]);
      const job = await api("GET", `/api/2.2/jobs/get?job_id=${ids.job}`);
      expect(job.status).toBe(400);

      // MLflow deletes experiments softly: gone from the active set, or gone altogether.
      const experiment = await api("GET", `/api/2.0/mlflow/experiments/get?experiment_id=${ids.experiment}`);
      if (experiment.status === 200) {
        expect((experiment.json.experiment as { lifecycle_stage: string }).lifecycle_stage).toBe("deleted");
      } else {
        expect(experiment.status).toBe(404);
      }

      expect((await api("GET", `/api/2.1/unity-catalog/models/${ids.model}`)).status).toBe(404);
      expect((await api("GET", `/api/2.1/unity-catalog/schemas/${ids.schema}`)).status).toBe(404);
      const root = await api("GET", `/api/2.0/workspace/get-status?path=${encodeURIComponent(rootPath)}`);
      expect(root.status).toBe(404);
      expect(root.json.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    });
  });

  describe("workspace, jobs, secrets and clusters commands", () => {
    const folder = `/Users/${ADMIN}/cli-contract`;
    const source = "# Databricks notebook source\nprint('hello from the CLI')\n";

    it("workspace import, list and export round-trip a notebook", async () => {
      const local = join(work, "hello.py");
      writeFileSync(local, source);
      await cli(["workspace", "mkdirs", folder]);
      await cli(["workspace", "import", `${folder}/hello`, "--file", local, "--format", "SOURCE", "--language", "PYTHON"]);

      const listed = await cliJson<{ path: string; object_type: string; language?: string; object_id: number }[]>([
        "workspace",
        "list",
        folder,
      ]);
      expect(listed).toEqual([expect.objectContaining({ path: `${folder}/hello`, object_type: "NOTEBOOK", language: "PYTHON" })]);
      expect(typeof listed[0]?.object_id).toBe("number");

      const printed = await cli(["workspace", "export", `${folder}/hello`, "--format", "SOURCE"]);
      expect(printed.stdout.trimEnd()).toBe(source.trimEnd());
      const exported = join(work, "exported.py");
      await cli(["workspace", "export", `${folder}/hello`, "--format", "SOURCE", "--file", exported]);
      expect(readFileSync(exported, "utf8").trimEnd()).toBe(source.trimEnd());

      // Importing onto an existing notebook without --overwrite is refused.
      const again = await run(["workspace", "import", `${folder}/hello`, "--file", local, "--language", "PYTHON"]);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/already exists/i);
    });

    it("jobs list shows a job created through the API", async () => {
      const created = await api("POST", "/api/2.2/jobs/create", {
        name: "cli-contract-job",
        tasks: [
          {
            task_key: "main",
            notebook_task: { notebook_path: `${folder}/hello` },
            new_cluster: { spark_version: "15.4.x-scala2.12", node_type_id: "i3.xlarge", num_workers: 1 },
          },
        ],
      });
      expect(created.status).toBe(200);
      const jobId = created.json.job_id as number;
      const jobs = await cliJson<{ job_id: number; settings: { name: string } }[]>(["jobs", "list"]);
      expect(jobs).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ job_id: jobId, settings: expect.objectContaining({ name: "cli-contract-job" }) }),
        ]),
      );
      const one = await cliJson<{ job_id: number; settings: { tasks: { task_key: string }[] } }>(["jobs", "get", String(jobId)]);
      expect(one.settings.tasks.map((t) => t.task_key)).toEqual(["main"]);
    });

    it("secrets create-scope, put-secret (flag and stdin) and list-secrets", async () => {
      const canary = "lakeforge-canary-7f3a91";
      const outputs: string[] = [];
      const keep = (r: CliResult) => {
        outputs.push(r.stdout, r.stderr);
        return r;
      };
      keep(await cli(["secrets", "create-scope", "cli-contract"]));
      keep(await cli(["secrets", "put-secret", "cli-contract", "flag-key", "--string-value", `${canary}-flag`]));
      keep(await cli(["secrets", "put-secret", "cli-contract", "stdin-key"], { input: `${canary}-stdin` }));

      const scopes = await cliJson<{ name: string; backend_type?: string }[]>(["secrets", "list-scopes"]);
      expect(scopes).toEqual(expect.arrayContaining([expect.objectContaining({ name: "cli-contract" })]));
      const secrets = await cliJson<{ key: string; last_updated_timestamp?: number }[]>([
        "secrets",
        "list-secrets",
        "cli-contract",
      ]);
      expect(secrets.map((s) => s.key).sort()).toEqual(["flag-key", "stdin-key"]);
      outputs.push(JSON.stringify(scopes), JSON.stringify(secrets));

      const duplicate = keep(await run(["secrets", "create-scope", "cli-contract"]));
      expect(duplicate.code).not.toBe(0);
      expect(duplicate.stderr).toMatch(/already exists/i);
      for (const text of outputs) expect(text).not.toContain(canary);
    });

    it("clusters list shows a cluster created through the API", async () => {
      const created = await api("POST", "/api/2.1/clusters/create", {
        cluster_name: "cli-contract-cluster",
        spark_version: "15.4.x-scala2.12",
        node_type_id: "i3.xlarge",
        num_workers: 1,
        autotermination_minutes: 60,
      });
      expect(created.status).toBe(200);
      const clusterId = created.json.cluster_id as string;
      const clusters = await cliJson<{ cluster_id: string; cluster_name: string; state: string }[]>(["clusters", "list"]);
      expect(clusters).toEqual(
        expect.arrayContaining([expect.objectContaining({ cluster_id: clusterId, cluster_name: "cli-contract-cluster" })]),
      );
      const one = await cliJson<{ cluster_id: string; spark_version: string }>(["clusters", "get", clusterId]);
      expect(one.spark_version).toBe("15.4.x-scala2.12");
    });
  });

  describe("identity", () => {
    it("current-user me answers the admin", async () => {
      const before = (await requestsSince(0)).last_seq;
      const me = await cliJson<{ userName: string; id: string; groups?: { display: string }[] }>(["current-user", "me"]);
      expect(me.userName).toBe(ADMIN);
      expect(me.id).toBeTruthy();
      expect((me.groups ?? []).map((g) => g.display)).toContain("admins");
      const { requests } = await requestsSince(before);
      expect(requests.map((q) => `${q.method} ${q.path}`)).toContain("GET /api/2.0/preview/scim/v2/Me");
    });

    it("the CLI's telemetry upload is accepted", async () => {
      const before = (await requestsSince(0)).last_seq;
      // `selftest send-telemetry` logs two events, uploaded when the command ends (telemetry on).
      await cli(["selftest", "send-telemetry"], { env: { DATABRICKS_CLI_DISABLE_TELEMETRY: undefined } });
      const { requests } = await requestsSince(before);
      expect(requests.filter((q) => q.path === "/telemetry-ext").map((q) => `${q.method} ${q.status}`)).toEqual(["POST 200"]);
    });

    it("a wrong token is rejected with the workspace's error", async () => {
      const child = await run(["current-user", "me"], { env: { DATABRICKS_TOKEN: "dapi-not-a-valid-token" } });
      expect(child.code).not.toBe(0);
      expect(child.stderr).toMatch(/invalid access token/i);
    });
  });

  it("no CLI request reached an unimplemented endpoint or failed on the server", async () => {
    const { requests } = await requestsSince(0);
    expect(requests.length).toBeGreaterThan(100);
    expect(requests.filter((q) => q.status >= 500).map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([]);
  });
});
