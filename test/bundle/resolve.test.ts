// biome-ignore-all lint/suspicious/noTemplateCurlyInString: bundles refer to values as ${...}
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { desiredResources } from "../../src/bundle/desired.js";
import { normalizePrefix, resolveBundle, shortName } from "../../src/bundle/resolve.js";
import { readBundle } from "../../src/bundle/source.js";
import { isIgnored, parseIgnore, syncedFiles } from "../../src/bundle/sync.js";
import { Ref, Template } from "../../src/config/refs.js";

const work = mkdtempSync(join(tmpdir(), "lakeforge-bundle-resolve-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

/** A bundle folder holding `files` (path → text). */
function project(files: Record<string, string>): string {
  const dir = join(work, `p${n++}`);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return dir;
}

const JANE = { userName: "jane.doe@example.com", short_name: "jane_doe" };

/** The message of the error `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

const BASE = `bundle:
  name: churn
include:
  - resources/*.yml
variables:
  catalog:
    description: the catalog
  cluster:
    type: complex
    default:
      spark_version: 15.4.x-scala2.12
      num_workers: 1
  env_name:
    default: from-default
permissions:
  - group_name: data-scientists
    level: CAN_VIEW
  - user_name: \${workspace.current_user.userName}
    level: CAN_MANAGE
targets:
  dev:
    mode: development
    default: true
    variables:
      catalog: dev_catalog
  prod:
    mode: production
    workspace:
      root_path: /Shared/.bundle/\${bundle.name}/\${bundle.target}
    run_as:
      service_principal_name: 11111111-2222-3333-4444-555555555555
    variables:
      catalog: prod_catalog
    resources:
      jobs:
        train:
          tasks:
            - task_key: train
              timeout_seconds: 600
`;

const JOB = `resources:
  jobs:
    train:
      name: \${bundle.name}-train
      schedule:
        quartz_cron_expression: "0 0 6 * * ?"
        timezone_id: UTC
      job_clusters:
        - job_cluster_key: main
          new_cluster: \${var.cluster}
      tasks:
        - task_key: prepare
          job_cluster_key: main
          notebook_task:
            notebook_path: ../src/prepare.py
            base_parameters:
              schema: \${resources.schemas.ml.name}
              env: \${var.env_name}
        - task_key: train
          depends_on: [{ task_key: prepare }]
          job_cluster_key: main
          spark_python_task:
            python_file: ../src/train.py
            parameters: ["--model", "\${var.catalog}.\${resources.schemas.ml.name}.\${resources.registered_models.model.name}", "--exp", "\${resources.experiments.exp.id}"]
    score:
      name: score
      tasks:
        - task_key: run
          run_job_task:
            job_id: \${resources.jobs.train.id}
  experiments:
    exp:
      name: /Workspace/Users/\${workspace.current_user.userName}/churn
  schemas:
    ml:
      catalog_name: \${var.catalog}
      name: ml
      grants:
        - principal: data-scientists
          privileges: [USE_SCHEMA, SELECT]
  registered_models:
    model:
      catalog_name: \${var.catalog}
      schema_name: \${resources.schemas.ml.name}
      name: churn
  volumes:
    raw:
      catalog_name: \${var.catalog}
      schema_name: \${resources.schemas.ml.name}
      name: raw
`;

const FILES = {
  "databricks.yml": BASE,
  "resources/jobs.yml": JOB,
  "src/prepare.py": "# Databricks notebook source\nprint('prepare')\n",
  "src/train.py": "print('train')\n",
  ".gitignore": "*.py[cod]\n__pycache__/\n.venv/\nbuild/\n!keep.pyc\n",
  "src/__pycache__/train.cpython-311.pyc": "x",
  "src/x.pyc": "x",
  "src/keep.pyc": "x",
  ".venv/lib/site.py": "x",
  "notes/draft.md": "draft",
};

describe("reading a bundle", () => {
  it("derives short names and Unity Catalog prefixes as the Databricks CLI does", () => {
    expect(shortName("jane.doe@example.com")).toBe("jane_doe");
    expect(shortName("Ünïcode-Üser@x.io")).toBe("ünïcode_üser");
    expect(shortName("1111-2222", "Deploy Bot", true)).toBe("deploy_bot");
    expect(normalizePrefix("[dev jane_doe] ")).toBe("dev_jane_doe_");
    expect(normalizePrefix("")).toBe("");
  });

  it("applies development mode: prefixes, tags, paused schedules, concurrency, default paths, ownership", async () => {
    const dir = project(FILES);
    const src = readBundle(dir);
    expect(src).toMatchObject({ name: "churn", target: "dev", mode: "development", targets: ["dev", "prod"] });
    const b = await resolveBundle(src, { user: JANE });
    expect(b.workspace).toEqual({
      root_path: "/Workspace/Users/jane.doe@example.com/.bundle/churn/dev",
      file_path: "/Workspace/Users/jane.doe@example.com/.bundle/churn/dev/files",
      artifact_path: "/Workspace/Users/jane.doe@example.com/.bundle/churn/dev/artifacts",
      state_path: "/Workspace/Users/jane.doe@example.com/.bundle/churn/dev/state",
      resource_path: "/Workspace/Users/jane.doe@example.com/.bundle/churn/dev/resources",
    });
    const get = (kind: string, key: string) => b.resources.find((r) => r.kind === kind && r.key === key);
    const train = get("jobs", "train");
    expect(train?.spec).toMatchObject({
      name: "[dev jane_doe] churn-train",
      tags: { dev: "jane_doe" },
      max_concurrent_runs: 4,
      schedule: { pause_status: "PAUSED" },
      job_clusters: [{ job_cluster_key: "main", new_cluster: { spark_version: "15.4.x-scala2.12", num_workers: 1 } }],
      edit_mode: "UI_LOCKED",
      format: "MULTI_TASK",
      deployment: { kind: "BUNDLE", metadata_file_path: `${b.workspace.state_path}/metadata.json` },
    });
    const tasks = train?.spec.tasks as Record<string, Record<string, unknown>>[];
    // The notebook loses its extension; the Python file keeps it; both point into the synced files.
    expect(tasks[0]?.notebook_task).toEqual({
      notebook_path: `${b.workspace.file_path}/src/prepare`,
      base_parameters: { schema: "dev_jane_doe_ml", env: "from-default" },
    });
    expect(tasks[1]?.spark_python_task?.python_file).toBe(`${b.workspace.file_path}/src/train.py`);
    const params = tasks[1]?.spark_python_task?.parameters as unknown[];
    expect(params[1]).toBe("dev_catalog.dev_jane_doe_ml.dev_jane_doe_churn");
    expect(params[3]).toBeInstanceOf(Ref);
    expect(params[3]).toMatchObject({ kind: "databricks.experiment", name: "exp", field: "id" });
    // A job id is a number in the job's settings: the job_id output.
    const runJob = (((get("jobs", "score")?.spec.tasks ?? []) as Record<string, Record<string, unknown>>[])[0]?.run_job_task ??
      {}) as {
      job_id: unknown;
    };
    expect(runJob.job_id).toMatchObject({ kind: "databricks.job", name: "train", field: "job_id" });
    expect(get("experiments", "exp")?.spec).toEqual({
      name: "/Workspace/Users/jane.doe@example.com/[dev jane_doe] churn",
      tags: [{ key: "dev", value: "jane_doe" }],
    });
    // Volumes keep their names (as in the Databricks CLI); schemas and models are prefixed.
    expect(get("volumes", "raw")?.spec).toMatchObject({ name: "raw", schema_name: "dev_jane_doe_ml" });
    // Top-level permissions: levels per kind, the deployer owns jobs and manages the rest.
    expect(train?.permissions).toEqual([
      { level: "CAN_VIEW", group_name: "data-scientists" },
      { level: "IS_OWNER", user_name: "jane.doe@example.com" },
    ]);
    expect(get("experiments", "exp")?.permissions).toEqual([
      { level: "CAN_READ", group_name: "data-scientists" },
      { level: "CAN_MANAGE", user_name: "jane.doe@example.com" },
    ]);
    expect(get("schemas", "ml")?.permissions).toEqual([]);
  });

  it("applies a production target: overrides merged by task key, root path, run_as, no prefixes", async () => {
    const dir = project(FILES);
    const b = await resolveBundle(readBundle(dir, { target: "prod" }), { user: JANE });
    expect(b.workspace.root_path).toBe("/Workspace/Shared/.bundle/churn/prod");
    const train = b.resources.find((r) => r.key === "train");
    expect(train?.spec.name).toBe("churn-train");
    expect(train?.spec.run_as).toEqual({ service_principal_name: "11111111-2222-3333-4444-555555555555" });
    const tasks = train?.spec.tasks as Record<string, unknown>[];
    expect(tasks.map((t) => t.task_key)).toEqual(["prepare", "train"]);
    expect(tasks[1]).toMatchObject({ task_key: "train", timeout_seconds: 600, job_cluster_key: "main" });
    expect((train?.spec.schedule as Record<string, unknown> | undefined)?.pause_status).toBeUndefined();
    expect(b.resources.find((r) => r.key === "ml")?.spec.name).toBe("ml");
  });

  it("takes variables from --var, then BUNDLE_VAR_, then the target, then the default", async () => {
    const dir = project(FILES);
    const src = readBundle(dir);
    const value = async (opts: Parameters<typeof resolveBundle>[1]) => (await resolveBundle(src, opts)).variables;
    expect((await value({ user: JANE })).env_name).toBe("from-default");
    expect((await value({ user: JANE, env: { BUNDLE_VAR_env_name: "from-env" } })).env_name).toBe("from-env");
    expect(
      (await value({ user: JANE, env: { BUNDLE_VAR_env_name: "from-env" }, variables: { env_name: "from-flag" } })).env_name,
    ).toBe("from-flag");
    expect((await value({ user: JANE, env: { BUNDLE_VAR_catalog: "other" } })).catalog).toBe("other");
  });

  it("maps the bundle to engine resources with their dependencies", async () => {
    const dir = project(FILES);
    const b = await resolveBundle(readBundle(dir), { user: JANE });
    const files = syncedFiles(dir, b.workspace.file_path, b.sync);
    const desired = desiredResources(b, files);
    const addresses = desired.map((d) => `${d.kind}.${d.name}`);
    expect(addresses).toEqual(
      expect.arrayContaining([
        "databricks.job.train",
        "databricks.permissions.jobs.train",
        "databricks.experiment.exp",
        "databricks.permissions.experiments.exp",
        "databricks.schema.ml",
        "databricks.grant.schemas.ml.data-scientists",
        "databricks.registered_model.model",
        "databricks.volume.raw",
        "databricks.permissions.bundle.root_path",
        "databricks.notebook.src/prepare.py",
        "databricks.workspace_file.src/train.py",
      ]),
    );
    const model = desired.find((d) => d.kind === "databricks.registered_model");
    expect(model?.dependsOn).toEqual([{ kind: "databricks.schema", name: "ml", field: "id" }]);
    const train = desired.find((d) => d.kind === "databricks.job" && d.name === "train");
    expect(train?.dependsOn.map((d) => `${d.kind}.${d.name}`).sort()).toEqual([
      "databricks.experiment.exp",
      "databricks.registered_model.model",
      "databricks.schema.ml",
    ]);
    const grant = desired.find((d) => d.kind === "databricks.grant");
    expect(grant?.spec).toEqual({
      securable: { type: "schema", name: "dev_catalog.dev_jane_doe_ml" },
      principal: "data-scientists",
      privileges: ["USE_SCHEMA", "SELECT"],
    });
    const root = desired.find((d) => d.name === "bundle.root_path");
    expect(root?.spec).toEqual({
      object_type: "directories",
      object_id: b.workspace.root_path,
      access_control_list: [
        { group_name: "data-scientists", permission_level: "CAN_READ" },
        { user_name: "jane.doe@example.com", permission_level: "CAN_MANAGE" },
      ],
    });
    // The experiment is named in the form the service keeps.
    expect(desired.find((d) => d.kind === "databricks.experiment")?.spec.name).toBe(
      "/Users/jane.doe@example.com/[dev jane_doe] churn",
    );
  });

  it("keeps a string built from an id as a template for the engine", async () => {
    const dir = project({
      "databricks.yml": `bundle: { name: t }
resources:
  experiments:
    e: { name: /Shared/e }
  jobs:
    j:
      name: j
      tasks:
        - task_key: a
          spark_python_task:
            python_file: ./a.py
            parameters: ["exp-\${resources.experiments.e.id}"]
`,
      "a.py": "",
    });
    const b = await resolveBundle(readBundle(dir), { user: JANE });
    const task = (
      (b.resources.find((r) => r.kind === "jobs")?.spec.tasks ?? []) as Record<string, Record<string, unknown[]>>[]
    )[0];
    expect(task?.spark_python_task?.parameters?.[0]).toBeInstanceOf(Template);
  });
});

describe("synchronised files", () => {
  it("honours .gitignore (globs, folders, negation) and sync include/exclude", () => {
    const dir = project(FILES);
    const rels = (sync: { include: string[]; exclude: string[] }) => syncedFiles(dir, "/W", sync).map((f) => f.rel);
    expect(rels({ include: [], exclude: [] })).toEqual([
      ".gitignore",
      "databricks.yml",
      "notes/draft.md",
      "resources/jobs.yml",
      "src/keep.pyc",
      "src/prepare.py",
      "src/train.py",
    ]);
    expect(rels({ include: ["src/x.pyc"], exclude: ["notes/**"] })).toEqual([
      ".gitignore",
      "databricks.yml",
      "resources/jobs.yml",
      "src/keep.pyc",
      "src/prepare.py",
      "src/train.py",
      "src/x.pyc",
    ]);
    const nb = syncedFiles(dir, "/W", { include: [], exclude: [] }).find((f) => f.rel === "src/prepare.py");
    expect(nb).toMatchObject({ notebook: true, remote: "/W/src/prepare" });
  });

  it("anchors patterns with a slash to the folder of their .gitignore", () => {
    const rules = [...parseIgnore("/build\ndocs/*.tmp\n", ""), ...parseIgnore("out/\n", "pkg/")];
    expect(isIgnored("build/a.txt", rules)).toBe(true);
    expect(isIgnored("src/build/a.txt", rules)).toBe(false);
    expect(isIgnored("docs/a.tmp", rules)).toBe(true);
    expect(isIgnored("x/docs/a.tmp", rules)).toBe(false);
    expect(isIgnored("pkg/out/a", rules)).toBe(true);
    expect(isIgnored("out/a", rules)).toBe(false);
  });
});

describe("bad input is reported located, before any request", () => {
  const broken = (yml: string, extra: Record<string, string> = {}) =>
    errorOf(() => readBundle(project({ "databricks.yml": yml, ...extra })));

  it("names the file, line, column and field", () => {
    expect(
      broken(
        "bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      name: j\n      tasks:\n        - task_key: a\n          spark_python_task:\n            python_file: ./missing.py\n",
      ),
    ).toMatch(
      /(^|\/)databricks\.yml:10:26 resources\.jobs\.j\.tasks\.0\.spark_python_task\.python_file: \.\/missing\.py does not exist \(looked for missing\.py\)$/,
    );
    expect(broken("bundle:\n  name: x\nresourcs: {}\n")).toMatch(
      /(^|\/)databricks\.yml:3:1 resourcs: resourcs is not a known field; did you mean "resources"\?/,
    );
    expect(broken("bundle:\n  name: x\nresources:\n  pipelines:\n    p: {}\n")).toMatch(
      /databricks\.yml:4:3 resources\.pipelines: resources of kind pipelines are not supported by lakeforge deploy/,
    );
    expect(broken("bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      name: ${var.nope}\n")).toMatch(
      /databricks\.yml:6:13 resources\.jobs\.j\.name: variable "nope" is not declared/,
    );
    expect(broken("bundle:\n  name: x\nresources:\n  jobs:\n    j:\n      name: ${resources.jobs.k.id}\n")).toMatch(
      /databricks\.yml:6:13 .*: "\$\{resources\.jobs\.k\.id\}": no jobs named k/,
    );
    expect(broken("bundle:\n  name: x\npermissions:\n  - group_name: g\n    level: CAN_EDIT\n")).toMatch(
      /databricks\.yml:5:12 permissions\.0\.level: CAN_EDIT is not a bundle permission level/,
    );
    expect(broken("bundle: {name: x}\ntargets:\n  dev: {}\n  prod: {}\n")).toMatch(/choose a target with -t: dev, prod/);
    expect(
      errorOf(() => readBundle(project({ "databricks.yml": "bundle: {name: x}\ntargets:\n  dev: {}\n" }), { target: "prd" })),
    ).toMatch(/no target named "prd"/);
  });

  it("refuses the same resource defined in two files", () => {
    const msg = broken("bundle: {name: x}\ninclude: [a.yml]\nresources:\n  experiments:\n    e: {name: /Shared/e}\n", {
      "a.yml": "resources:\n  experiments:\n    e: {name: /Shared/f}\n",
    });
    expect(msg).toMatch(
      /a\.yml:3:5 resources\.experiments\.e: resource experiments\.e is already defined at databricks\.yml:5:5/,
    );
  });

  it("reports a variable without a value where it is declared", async () => {
    const dir = project({
      "databricks.yml":
        "bundle: {name: x}\nvariables:\n  catalog:\n    description: c\nresources:\n  schemas:\n    s: {catalog_name: '${var.catalog}', name: s}\n",
    });
    await expect(resolveBundle(readBundle(dir), { user: JANE })).rejects.toThrow(
      /databricks\.yml:3:3 variables\.catalog: variable "catalog" has no value/,
    );
  });
});
