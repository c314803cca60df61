// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about the ${...} syntax
import { describe, expect, it } from "vitest";
import { requireEnvironment, validateConfig } from "../../../src/config/config.js";
import { ConfigError } from "../../../src/config/errors.js";
import { KeyVaultSecret, Ref, Template } from "../../../src/config/refs.js";
import { UserError } from "../../../src/lib/errors.js";
import type { Secret } from "../../../src/lib/secret.js";
import { find, HEADER, load, loadError, project } from "./helpers.js";

const cluster = (extra = "") => `      cluster_name: ml
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
${extra}`;

describe("environment overrides", () => {
  const dir = project({
    "lakeforge.yaml": `${HEADER}environments:
  dev:
    default: true
  prod:
    resources:
      clusters:
        ml:
          node_type_id: Standard_DS5_v2
          custom_tags:
            tier: gold
          libraries:
            - pypi:
                package: xgboost
          autoscale: null
          num_workers: 8
        scratch: null
      jobs:
        nightly:
          tasks:
            - task_key: train
              max_retries: 3
              notebook_task:
                base_parameters:
                  mode: full
            - task_key: report
              depends_on:
                - task_key: train
              notebook_task:
                notebook_path: /report
          job_clusters:
            - job_cluster_key: main
              new_cluster:
                num_workers: 4
          parameters:
            - name: days
              default: "30"
      groups:
        oncall:
          display_name: oncall
resources:
  clusters:
    ml:
${cluster(`      autoscale:
        min_workers: 1
        max_workers: 2
      custom_tags:
        team: ml
      libraries:
        - pypi:
            package: lightgbm
        - pypi:
            package: shap`)}
    scratch:
      cluster_name: scratch
      spark_version: 15.4.x-scala2.12
  jobs:
    nightly:
      name: nightly
      job_clusters:
        - job_cluster_key: main
          new_cluster:
            spark_version: 15.4.x-scala2.12
            node_type_id: Standard_DS3_v2
            num_workers: 1
      parameters:
        - name: days
          default: "7"
        - name: region
          default: eu
      tasks:
        - task_key: prepare
          job_cluster_key: main
          notebook_task:
            notebook_path: /prepare
        - task_key: train
          depends_on:
            - task_key: prepare
          job_cluster_key: main
          notebook_task:
            notebook_path: /train
            base_parameters:
              mode: sample
              seed: "1"
`,
  });

  it("leave the shared definitions as they are in other environments", async () => {
    const dev = await load(dir);
    expect(dev.environment).toBe("dev");
    expect(find(dev, "databricks.cluster", "ml").spec).toMatchObject({ autoscale: { min_workers: 1, max_workers: 2 } });
    expect(dev.resources.some((r) => r.name === "scratch")).toBe(true);
    expect(dev.resources.some((r) => r.name === "oncall")).toBe(false);
  });

  it("merge mappings, replace scalars and plain arrays, and remove fields and resources set to null", async () => {
    const prod = await load(dir, { environment: "prod" });
    expect(find(prod, "databricks.cluster", "ml").spec).toEqual({
      cluster_name: "ml",
      spark_version: "15.4.x-scala2.12",
      node_type_id: "Standard_DS5_v2",
      num_workers: 8,
      custom_tags: { team: "ml", tier: "gold" },
      libraries: [{ pypi: { package: "xgboost" } }],
    });
    expect(prod.resources.some((r) => r.kind === "databricks.cluster" && r.name === "scratch")).toBe(false);
    expect(find(prod, "databricks.group", "oncall").spec).toEqual({ display_name: "oncall" });
  });

  it("merge tasks, job clusters and parameters by their keys", async () => {
    const prod = await load(dir, { environment: "prod" });
    const spec = find(prod, "databricks.job", "nightly").spec;
    expect(spec.tasks).toEqual([
      { task_key: "prepare", job_cluster_key: "main", notebook_task: { notebook_path: "/prepare" } },
      {
        task_key: "train",
        depends_on: [{ task_key: "prepare" }],
        job_cluster_key: "main",
        notebook_task: { notebook_path: "/train", base_parameters: { mode: "full", seed: "1" } },
        max_retries: 3,
      },
      { task_key: "report", depends_on: [{ task_key: "train" }], notebook_task: { notebook_path: "/report" } },
    ]);
    expect(spec.job_clusters).toEqual([
      {
        job_cluster_key: "main",
        new_cluster: { spark_version: "15.4.x-scala2.12", node_type_id: "Standard_DS3_v2", num_workers: 4 },
      },
    ]);
    expect(spec.parameters).toEqual([
      { name: "days", default: "30" },
      { name: "region", default: "eu" },
    ]);
  });

  it("report errors in an environment that is not being loaded, located in its override", async () => {
    const broken = project({
      "lakeforge.yaml": `${HEADER}environments:
  dev:
    default: true
  prod:
    resources:
      clusters:
        ml:
          num_workers: lots
resources:
  clusters:
    ml:
${cluster()}`,
    });
    const e = await loadError(broken);
    expect(e.message).toBe(
      'lakeforge.yaml:10:24 environments.prod.resources.clusters.ml.num_workers: expected an integer, got "lots"',
    );
  });

  it("name the environments where a shared definition is incomplete", async () => {
    const partial = project({
      "lakeforge.yaml": `${HEADER}environments:
  dev:
    default: true
  prod:
    resources:
      clusters:
        ml:
          spark_version: 15.4.x-scala2.12
  test: {}
resources:
  clusters:
    ml:
      cluster_name: ml
`,
    });
    const e = await loadError(partial);
    expect(e.message).toBe(
      'lakeforge.yaml:14:5 resources.clusters.ml: missing required field "spark_version" (in environments dev, test)',
    );
  });
});

describe("files", () => {
  it("combines included files and environment files", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}include:
  - resources/*.yaml
  - extra/groups.yml
variables:
  team:
    default: ml
environments:
  dev:
    default: true
`,
      "resources/clusters.yaml": `resources:
  clusters:
    ml:
${cluster()}`,
      "resources/jobs.yaml": `variables:
  owner:
    default: \${var.team}-owners
resources:
  jobs:
    nightly:
      name: nightly-\${var.team}
      tasks:
        - task_key: a
          existing_cluster_id: \${resources.clusters.ml.id}
          notebook_task:
            notebook_path: /a
`,
      "extra/groups.yml": `resources:
  groups:
    owners:
      display_name: \${var.owner}
`,
      "environments/dev.yaml": `workspace: local
variables:
  team: data
resources:
  clusters:
    ml:
      num_workers: 2
`,
      "environments/prod.yaml": `workspace:
  host: https://adb-1.azuredatabricks.net
  profile: prod
`,
    });
    const dev = await load(dir);
    expect(dev.files.map((f) => f.slice(dir.length + 1))).toEqual([
      "lakeforge.yaml",
      "resources/clusters.yaml",
      "resources/jobs.yaml",
      "extra/groups.yml",
      "environments/dev.yaml",
      "environments/prod.yaml",
    ]);
    expect(find(dev, "databricks.cluster", "ml").spec.num_workers).toBe(2);
    expect(find(dev, "databricks.job", "nightly").spec.name).toBe("nightly-data");
    expect(find(dev, "databricks.group", "owners").spec.display_name).toBe("data-owners");
    expect(find(dev, "databricks.job", "nightly").source.file).toBe(`${dir}/resources/jobs.yaml`);
    const prod = await load(dir, { environment: "prod" });
    expect(prod.workspace).toEqual({ type: "remote", host: "https://adb-1.azuredatabricks.net", profile: "prod" });
    expect(find(prod, "databricks.cluster", "ml").spec.num_workers).toBeUndefined();
  });

  it("accepts the folder or the file, and says so when neither holds a configuration", async () => {
    const dir = project({ "lakeforge.yml": `${HEADER}` });
    await expect(load(dir)).resolves.toMatchObject({ environment: "default", workspace: { type: "local" }, resources: [] });
    await expect(load(`${dir}/lakeforge.yml`)).resolves.toMatchObject({ environment: "default" });
    const empty = project({ "README.md": "nothing here" });
    await expect(load(empty)).rejects.toThrow(/no lakeforge.yaml in/);
    await expect(load(`${empty}/missing.yaml`)).rejects.toBeInstanceOf(UserError);
  });
});

describe("references", () => {
  it("keep outputs as references, fill in configured fields and build templates", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}resources:
  catalogs:
    main:
      name: ml_dev
  schemas:
    features:
      name: features
      catalog_name: \${resources.catalogs.main.name}
  clusters:
    ml:
${cluster(`      custom_tags:
        team: ml`)}
  repos:
    app:
      url: https://github.com/acme/app.git
      path: /Repos/ci/app
  jobs:
    nightly:
      name: nightly
      tags: \${resources.clusters.ml.custom_tags}
      description: "cluster \${resources.clusters.ml.id} in \${resources.schemas.features.catalog_name}; literal $\${not.a.reference}"
      tasks:
        - task_key: a
          existing_cluster_id: \${resources.clusters.ml.id}
          notebook_task:
            notebook_path: \${resources.repos.app.path}/notebooks/train
            base_parameters:
              table: \${resources.schemas.features.catalog_name}.\${resources.schemas.features.name}.events
`,
    });
    const config = await load(dir);
    const job = find(config, "databricks.job", "nightly");
    expect(job.spec.tags).toEqual({ team: "ml" });
    const description = job.spec.description as Template;
    expect(description).toBeInstanceOf(Template);
    expect(description.parts).toEqual([
      "cluster ",
      new Ref("databricks.cluster", "ml", "id", "clusters"),
      " in ml_dev; literal ${not.a.reference}",
    ]);
    expect(String(description)).toBe("cluster ${resources.clusters.ml.id} in ml_dev; literal $${not.a.reference}");
    const task = (job.spec.tasks as Record<string, Record<string, unknown>>[])[0];
    expect(task?.existing_cluster_id).toEqual(new Ref("databricks.cluster", "ml", "id", "clusters"));
    expect(task?.notebook_task).toEqual({
      notebook_path: "/Repos/ci/app/notebooks/train",
      base_parameters: { table: "ml_dev.features.events" },
    });
    expect(job.dependsOn.map((r) => `${r.kind}.${r.name}`)).toEqual([
      "databricks.cluster.ml",
      "databricks.schema.features",
      "databricks.repo.app",
    ]);
    expect(find(config, "databricks.schema", "features").dependsOn).toEqual([
      new Ref("databricks.catalog", "main", "name", "catalogs"),
    ]);
  });

  it("infer dependencies from names: a schema's catalog, a grant's principal, a repo's git credentials", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}resources:
  catalogs:
    main:
      name: ml_dev
  schemas:
    features:
      name: features
      catalog_name: ml_dev
  groups:
    ds:
      display_name: data-scientists
  grants:
    ds_features:
      securable:
        type: schema
        name: ml_dev.features
      principal: data-scientists
      privileges: [USE_SCHEMA]
  git_credentials:
    gh:
      git_provider: gitHub
      personal_access_token:
        from_env: TOKEN
  repos:
    app:
      url: https://github.com/acme/app.git
      path: /Repos/ci/app
`,
    });
    const config = await load(dir, { env: { TOKEN: "t0ken-value" } });
    const deps = (kind: string, name: string) => find(config, kind, name).dependsOn.map((r) => `${r.kind}.${r.name}`);
    expect(deps("databricks.schema", "features")).toEqual(["databricks.catalog.main"]);
    expect(deps("databricks.grant", "ds_features")).toEqual(["databricks.schema.features", "databricks.group.ds"]);
    expect(deps("databricks.repo", "app")).toEqual(["databricks.git_credential.gh"]);
  });

  it("report every dependency cycle with its path", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}resources:
  jobs:
    a:
      name: a
      description: after \${resources.jobs.b.id}
    b:
      name: b
      description: after \${resources.jobs.c.id}
    c:
      name: c
      description: after \${resources.jobs.a.id}
    self:
      name: \${resources.jobs.self.description}
      description: x
  groups:
    x:
      display_name: x
      members:
        - group_name: y
    y:
      display_name: y
      members:
        - group_name: x
`,
    });
    const e = await loadError(dir);
    expect(e.issues.map((i) => `${i.loc.line}:${i.loc.col} ${i.path}: ${i.message}`)).toEqual([
      "7:20 resources.jobs.a.description: dependency cycle: jobs.a -> jobs.b -> jobs.c -> jobs.a",
      "15:13 resources.jobs.self.name: dependency cycle: jobs.self -> jobs.self",
      "18:5 resources.groups.x: dependency cycle: groups.x -> groups.y -> groups.x",
    ]);
    expect(e.message.split("\n")[0]).toBe("3 problems in the configuration:");
  });

  it("check the kind, the name and the field, suggesting the closest", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}resources:
  clusters:
    ml:
${cluster()}
  jobs:
    a:
      name: a
      tasks:
        - task_key: t
          existing_cluster_id: \${resources.clusters.ml.cluster_idd}
          notebook_task:
            notebook_path: \${resources.clusters.mll.cluster_name}
        - task_key: u
          existing_cluster_id: \${resources.clusterss.ml.id}
          notebook_task:
            notebook_path: /x
`,
    });
    const e = await loadError(dir);
    expect(e.issues.map((i) => i.message)).toEqual([
      '${resources.clusters.ml.cluster_idd}: clusters have no field "cluster_idd"; did you mean "cluster_id"?',
      '${resources.clusters.mll.cluster_name}: no clusters named "mll" in environment default; did you mean "ml"?',
      '${resources.clusterss.ml.id}: unknown resource kind "clusterss"; did you mean "clusters"?',
    ]);
  });
});

describe("variables and the environment", () => {
  const dir = project({
    "lakeforge.yaml": `${HEADER}variables:
  workers:
    type: integer
    default: 1
  photon:
    type: boolean
    default: false
  tags:
    type: complex
    default:
      team: ml
  name:
    default: ml-\${environment.name}
  region:
    description: no default
environments:
  dev:
    default: true
    variables:
      region: \${env.REGION:-westeurope}
  prod:
    variables:
      workers: "\${env.PROD_WORKERS}"
      region: northeurope
resources:
  clusters:
    ml:
      cluster_name: \${var.name}-\${var.region}-\${project.name}
      spark_version: 15.4.x-scala2.12
      num_workers: \${var.workers}
      custom_tags: \${var.tags}
      enable_elastic_disk: \${var.photon}
`,
  });

  it("take the default, the environment's value, LAKEFORGE_VAR_<name> and --var, in rising precedence", async () => {
    const spec = async (opts: Parameters<typeof load>[1]) => find(await load(dir, opts), "databricks.cluster", "ml").spec;
    expect(await spec({})).toMatchObject({
      cluster_name: "ml-dev-westeurope-demo",
      num_workers: 1,
      custom_tags: { team: "ml" },
      enable_elastic_disk: false,
    });
    expect(await spec({ env: { REGION: "uksouth" } })).toMatchObject({ cluster_name: "ml-dev-uksouth-demo" });
    expect(await spec({ env: { REGION: "" } })).toMatchObject({ cluster_name: "ml-dev-westeurope-demo" });
    expect(await spec({ environment: "prod", env: { PROD_WORKERS: "6" } })).toMatchObject({
      cluster_name: "ml-prod-northeurope-demo",
      num_workers: 6,
    });
    expect(await spec({ env: { LAKEFORGE_VAR_workers: "3", LAKEFORGE_VAR_photon: "true" } })).toMatchObject({
      num_workers: 3,
      enable_elastic_disk: true,
    });
    expect(await spec({ env: { LAKEFORGE_VAR_workers: "3" }, variables: { workers: "5" } })).toMatchObject({ num_workers: 5 });
    const config = await load(dir, { variables: { workers: "4" } });
    expect(config.variables).toMatchObject({ workers: 4, region: "westeurope", tags: { team: "ml" } });
  });

  it("check values against the variable's type", async () => {
    const e = await loadError(dir, { variables: { photon: "maybe" } });
    expect(e.message).toBe(
      'lakeforge.yaml:7:3 variables.photon: expected true or false for variable "photon" of type boolean (from --var photon)',
    );
  });

  it("leave other environments' missing environment variables alone, and report the loaded one's", async () => {
    await expect(load(dir)).resolves.toMatchObject({ environment: "dev" });
    const e = await loadError(dir, { environment: "prod" });
    expect(e.message).toBe(
      "lakeforge.yaml:25:16 environments.prod.variables.workers: environment variable PROD_WORKERS is not set",
    );
    expect(e.hint).toBe("set PROD_WORKERS, or give a default: ${env.PROD_WORKERS:-value}");
  });

  it("reject --var for an undeclared variable", async () => {
    const e = await loadError(dir, { variables: { wrokers: "2" } });
    expect(e.issues[0]?.message).toBe('--var wrokers: variable "wrokers" is not declared; did you mean "workers"?');
  });
});

describe("secrets", () => {
  it("read from the environment and from files, and leave Key Vault references for later", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}include:
  - scopes/*.yaml
`,
      "scopes/app.yaml": `resources:
  secret_scopes:
    app:
      name: app
      secrets:
        from-env:
          from_env: APP_TOKEN
        from-file:
          from_file: ../secrets/token.txt
        from-vault:
          azure_key_vault:
            vault: kv-ml-prod
            secret: sp-secret
`,
      "secrets/token.txt": "file-secret-value\n",
    });
    const config = await load(dir, { env: { APP_TOKEN: "env-secret-value" } });
    const value = (key: string) => find(config, "databricks.secret", `app.${key}`).spec.string_value;
    expect((value("from-env") as Secret).reveal()).toBe("env-secret-value");
    expect((value("from-file") as Secret).reveal()).toBe("file-secret-value");
    const kv = value("from-vault") as KeyVaultSecret;
    expect(kv).toBeInstanceOf(KeyVaultSecret);
    expect(kv.vaultUrl).toBe("https://kv-ml-prod.vault.azure.net/");
    expect(kv.secret).toBe("sp-secret");
    const text = JSON.stringify(config);
    expect(text).not.toContain("env-secret-value");
    expect(text).not.toContain("file-secret-value");
  });

  it("refuse empty values", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}resources:
  git_credentials:
    gh:
      git_provider: gitHub
      personal_access_token:
        from_env: GH_TOKEN
`,
    });
    const e = await loadError(dir, { env: { GH_TOKEN: "" } });
    expect(e.message).toBe(
      "lakeforge.yaml:8:19 resources.git_credentials.gh.personal_access_token.from_env: environment variable GH_TOKEN is empty",
    );
  });
});

describe("unknown keys", () => {
  it("suggest the closest key at that place, and say nothing when nothing is close", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}environments:
  dev:
    workspace:
      hots: https://adb-1.azuredatabricks.net
resources:
  jobs:
    a:
      name: a
      max_concurent_runs: 2
      schedule:
        quartz_cron_expression: 0 0 * * * ?
        timezone: UTC
      banana: yes
`,
    });
    const e = await loadError(dir);
    expect(e.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'environments.dev.workspace.hots: unknown field "hots"; did you mean "host"?',
      'resources.jobs.a.max_concurent_runs: unknown field "max_concurent_runs"; did you mean "max_concurrent_runs"?',
      'resources.jobs.a.schedule.timezone: unknown field "timezone"; did you mean "timezone_id"?',
      'resources.jobs.a.banana: unknown field "banana"',
    ]);
  });
});

describe("environments", () => {
  const two = project({ "lakeforge.yaml": `${HEADER}environments:\n  dev: {}\n  prod: {}\n` });

  it("must be chosen when there are several and none is the default", async () => {
    const result = validateConfig(two, { env: {} });
    expect(result.issues).toEqual([]);
    expect(() => requireEnvironment(result)).toThrow("choose an environment: dev, prod");
    await expect(load(two)).rejects.toThrow("choose an environment: dev, prod");
    await expect(load(two, { environment: "prod" })).resolves.toMatchObject({ environment: "prod" });
  });

  it("must exist", async () => {
    const e = await load(two, { environment: "prd" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect(e).not.toBeInstanceOf(ConfigError);
    expect((e as UserError).message).toBe('no environment "prd"; did you mean "prod"?');
  });
});

describe("ConfigError", () => {
  it("lists every problem with its hint, one per line", async () => {
    const dir = project({
      "lakeforge.yaml": `${HEADER}resources:
  clusters:
    ml:
      cluster_name: ml
      spark_version: 15.4.x-scala2.12
      num_workers: -1
      spark_conf:
        spark.x: 1
`,
    });
    const e = await loadError(dir);
    expect(e.message).toBe(
      [
        "2 problems in the configuration:",
        "  lakeforge.yaml:8:20 resources.clusters.ml.num_workers: must be 0 or more",
        "  lakeforge.yaml:10:18 resources.clusters.ml.spark_conf.spark.x: expected a string",
        '    hint: quote numbers and booleans in string maps, e.g. "200" or "true"',
      ].join("\n"),
    );
    expect(e.hint).toBeUndefined();
    expect(e.issues).toHaveLength(2);
  });
});
