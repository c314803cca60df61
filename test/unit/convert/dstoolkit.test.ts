// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the converted configuration is full of ${...} references
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../../src/config/config.js";
import { convertDstoolkit, type DstoolkitConversion } from "../../../src/convert/dstoolkit.js";
import { UserError } from "../../../src/lib/errors.js";
import { copyFixture, DATABRICKS_CONFIGS, FIXTURE_CANARIES, FIXTURES, PIPELINE_PARAM, tempDir } from "./helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML and API responses are walked freely in assertions
type Obj = Record<string, any>;

const convert = (dir: string) => convertDstoolkit(dir, { relativeTo: FIXTURES });

/** The environment variables the converted file reads, with harmless values. */
function envFor(conversion: DstoolkitConversion): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of conversion.environmentVariables) {
    env[v.name] = v.name.endsWith("_DATABRICKS_HOST") ? `https://${v.name.toLowerCase()}.example.net` : `value-of-${v.name}`;
  }
  return env;
}

function notes(c: DstoolkitConversion): string[] {
  return c.notConverted.map((n) => `${n.subject} (${n.environments.join(",")}): ${n.message}`);
}

describe("Pipeline_Param/<Env>.json", () => {
  const c = convert(PIPELINE_PARAM);
  const doc = parse(c.text) as Obj;

  it("names the environments after the files, in deployment order, development by default", () => {
    expect(c.layout).toBe("pipeline_param");
    expect(c.environments).toEqual(["development", "uat", "preproduction", "production"]);
    expect(Object.keys(doc.environments)).toEqual(c.environments);
    expect(doc.environments.development.default).toBe(true);
    expect(doc.environments.production.default).toBeUndefined();
    for (const env of c.environments) {
      expect(doc.environments[env].workspace).toEqual({ host: `\${env.${env.toUpperCase()}_DATABRICKS_HOST}` });
    }
  });

  it("shares what every environment has and turns differing values into variables", () => {
    expect(doc.resources.clusters["dbx-sp-cluster"]).toEqual({
      cluster_name: "dbx-sp-cluster",
      spark_version: "13.3.x-cpu-ml-scala2.12",
      node_type_id: "Standard_DS3_v2",
      spark_conf: { "spark.databricks.delta.preview.enabled": "true" },
      autotermination_minutes: 30,
      runtime_engine: "STANDARD",
      autoscale: { min_workers: 2, max_workers: "${var.dbx_sp_cluster_max_workers}" },
    });
    // The most common value is the default; environments that differ set their own.
    expect(doc.variables.dbx_sp_cluster_max_workers.default).toBe(4);
    expect(doc.environments.production.variables.dbx_sp_cluster_max_workers).toBe(8);
    expect(doc.environments.uat.variables?.dbx_sp_cluster_max_workers).toBeUndefined();
    expect(doc.variables.remote_analysis_main_branch_git_branch.default).toBe("main");
    expect(doc.environments.preproduction.variables.remote_analysis_main_branch_git_branch).toBe("release-1.0.x");
    expect(doc.environments.production.variables.remote_analysis_main_branch_git_branch).toBe("release-1.0.x");
  });

  it("overrides per environment what is not a single value, and keeps resources of one environment there", () => {
    // An empty spark_conf in preproduction and production removes the shared one.
    expect(doc.environments.preproduction.resources.clusters["dbx-sp-cluster"]).toEqual({ spark_conf: null });
    expect(doc.environments.production.resources.clusters["dbx-sp-cluster"]).toEqual({ spark_conf: null });
    expect(doc.environments.development.resources).toBeUndefined();
    // A list that differs replaces the shared one, merged into the task with the same key.
    expect(doc.environments.production.resources.jobs.Nightly_Feature_Refresh).toEqual({
      tasks: [{ task_key: "Nightly_Feature_Refresh", spark_python_task: { parameters: ["--env", "production"] } }],
    });
    // The integration-test cluster exists in UAT only; its read-only fields and secret are left out.
    expect(doc.resources.clusters["integration-tests"]).toBeUndefined();
    expect(doc.environments.uat.resources.clusters["integration-tests"]).toEqual({
      cluster_name: "integration-tests",
      spark_version: "13.3.x-scala2.12",
      node_type_id: "Standard_DS3_v2",
      num_workers: 1,
      autotermination_minutes: 20,
    });
    expect(c.resources).toContainEqual({ section: "clusters", name: "integration-tests", shared: false, environments: ["uat"] });
  });

  it("turns the accelerator's job shape into a Jobs API 2.2 job on the declared cluster, run from the repo", () => {
    expect(doc.resources.jobs.Remote_Analysis_Main_Branch).toEqual({
      name: "Remote_Analysis_Main_Branch",
      tasks: [
        {
          task_key: "Remote_Analysis_Main_Branch",
          existing_cluster_id: "${resources.clusters.dbx-sp-cluster.id}",
          notebook_task: { notebook_path: "src/tutorial/scripts/framework_testing/remote_analysis", source: "GIT" },
        },
      ],
      git_source: {
        git_url: "${resources.repos.dstoolkit-mlops-databricks.url}",
        git_provider: "${resources.repos.dstoolkit-mlops-databricks.provider}",
        git_branch: "${var.remote_analysis_main_branch_git_branch}",
      },
    });
  });

  it("moves the settings of a Jobs API 2.0 single-task job into its task", () => {
    const job = doc.resources.jobs.Nightly_Feature_Refresh;
    expect(job.format).toBeUndefined();
    expect(job.timeout_seconds).toBe(3600);
    expect(job.schedule).toEqual({ quartz_cron_expression: "0 0 3 * * ?", timezone_id: "UTC", pause_status: "PAUSED" });
    expect(job.email_notifications).toEqual({ on_failure: ["mlops@example.com"] });
    expect(job.tasks).toEqual([
      {
        task_key: "Nightly_Feature_Refresh",
        new_cluster: {
          spark_version: "13.3.x-cpu-ml-scala2.12",
          node_type_id: "Standard_DS3_v2",
          num_workers: 2,
          custom_tags: { cost_center: "4711" }, // a JSON number in a string map becomes text
        },
        spark_python_task: { python_file: "dbfs:/FileStore/scripts/refresh_features.py", parameters: ["--env", "dev"] },
        libraries: [{ pypi: { package: "lightgbm==4.5.0" } }],
        max_retries: 1,
      },
    ]);
  });

  it("reads git tokens from the environment and puts repos under the deploying principal's folder", () => {
    expect(doc.resources.git_credentials.github).toEqual({
      git_username: "ciaran28",
      git_provider: "gitHub",
      personal_access_token: { from_env: "PAT_GITHUB" },
    });
    expect(doc.resources.repos["dstoolkit-mlops-databricks"]).toEqual({
      url: "https://github.com/ciaran28/dstoolkit-mlops-databricks",
      provider: "gitHub",
      path: "${var.dstoolkit_mlops_databricks_path}",
    });
    expect(doc.variables.repos_folder.default).toBe("${env.ARM_CLIENT_ID}");
    expect(doc.variables.dstoolkit_mlops_databricks_path.default).toBe("/Repos/${var.repos_folder}/DevelopmentFolder");
    expect(doc.environments.uat.variables.dstoolkit_mlops_databricks_path).toBe("/Repos/${var.repos_folder}/UATFolder");
    expect(c.environmentVariables.map((v) => [v.name, v.secret])).toEqual([
      ["ARM_CLIENT_ID", false],
      ["DEVELOPMENT_DATABRICKS_HOST", false],
      ["PREPRODUCTION_DATABRICKS_HOST", false],
      ["PRODUCTION_DATABRICKS_HOST", false],
      ["UAT_DATABRICKS_HOST", false],
      ["PAT_GITHUB", true],
    ]);
  });

  it("reports everything it does not convert, with its locations, also at the top of the file", () => {
    const list = notes(c);
    const has = (re: RegExp) =>
      expect(
        list.some((n) => re.test(n)),
        `${re} in\n${list.join("\n")}`,
      ).toBe(true);
    has(
      /^RBAC_Assignments\[1\] \(development,uat,preproduction,production\): Azure role assignment: Contributor, DBX_Custom_Role_DSToolkit, Key Vault Administrator, Storage Blob Data Contributor for ServicePrincipal b5feae3d-15e3-4627-a222-dcddccc6b8b9 \("Databricks SPN"\) on the environment's resource group; not converted/,
    );
    has(/^WheelFiles\[0\] \(development,uat,preproduction\): builds a wheel from src\/pipelines\/dbkframework\/setup.py/);
    has(/^Secret_Scopes \(production\): unknown key; not converted/);
    has(/^SubscriptionId \(development,uat,preproduction,production\): the Azure subscription .*"4f1bc772-/);
    has(/^Git_Configuration\[0\]\.personal_access_token \(development\): holds a literal token; not copied: .* PAT_GITHUB/);
    has(
      /^Clusters\[1\]\.spark_conf\.spark\.hadoop\.fs\.azure\.account\.key\..* \(uat\): holds a literal secret value; not copied/,
    );
    has(/^Clusters\[1\]\.cluster_id \(uat\): read-only field/);
    const rbac = c.notConverted.find((n) => n.subject === "RBAC_Assignments[0]");
    expect(rbac?.locations).toEqual([
      "Pipeline_Param/Development.json:9:30",
      "Pipeline_Param/UAT.json:9:30",
      "Pipeline_Param/PreProduction.json:9:30",
      "Pipeline_Param/Production.json:15:30",
    ]);
    // The same list heads the written file, as comments.
    const head = c.text.slice(0, c.text.indexOf("\nproject:"));
    expect(head).toContain(`# NOT CONVERTED (${c.notConverted.length}): Lakeforge applies none of these`);
    for (const n of c.notConverted) expect(head).toContain(`#   - ${n.subject} (${n.environments.join(", ")}): ${n.message}`);
    expect(head).toContain("#   PAT_GITHUB (secret): personal access token of the gitHub git credentials");
  });

  it("says in comments where each part came from", () => {
    expect(c.text).toContain("  # From Pipeline_Param/Development.json\n  development:");
    expect(c.text).toMatch(
      / {4}# From Clusters\[0\] of Pipeline_Param\/Development.json:30, Pipeline_Param\/UAT.json:30, .*\n {4}dbx-sp-cluster:/,
    );
    expect(c.text).toMatch(/ {8}# From Clusters\[1\] of Pipeline_Param\/UAT.json:44\n {8}integration-tests:/);
  });

  it("matches the expected file", () => {
    expect(c.problems).toEqual([]);
    expect(c.text).toBe(readFileSync(join(FIXTURES, "expected", "pipeline-param.lakeforge.yaml"), "utf8"));
  });

  it("loads in every environment without errors", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "lakeforge.yaml"), c.text);
    const env = envFor(c);
    for (const environment of c.environments) {
      const config = await loadConfig(dir, { environment, env, relativeTo: dir });
      const names = config.resources.filter((r) => !r.parent).map((r) => `${r.kind}.${r.name}`);
      expect(names).toEqual(
        expect.arrayContaining([
          "databricks.git_credential.github",
          "databricks.cluster.dbx-sp-cluster",
          "databricks.repo.dstoolkit-mlops-databricks",
          "databricks.job.Remote_Analysis_Main_Branch",
          "databricks.job.Nightly_Feature_Refresh",
        ]),
      );
      expect(names.includes("databricks.cluster.integration-tests")).toBe(environment === "uat");
      const cluster = config.resources.find((r) => r.name === "dbx-sp-cluster")?.spec as Obj;
      expect(cluster.autoscale.max_workers).toBe(environment === "production" ? 8 : 4);
      expect(cluster.spark_conf === undefined).toBe(environment === "preproduction" || environment === "production");
      const repo = config.resources.find((r) => r.kind === "databricks.repo")?.spec as Obj;
      const folder = {
        development: "DevelopmentFolder",
        uat: "UATFolder",
        preproduction: "PreProductionFolder",
        production: "ProductionFolder",
      }[environment];
      expect(repo.path).toBe(`/Repos/value-of-ARM_CLIENT_ID/${folder}`);
      const job = config.resources.find((r) => r.name === "Remote_Analysis_Main_Branch")?.spec as Obj;
      expect(job.git_source).toEqual({
        git_url: "https://github.com/ciaran28/dstoolkit-mlops-databricks",
        git_provider: "gitHub",
        git_branch: environment === "development" || environment === "uat" ? "main" : "release-1.0.x",
      });
    }
  });
});

describe("databricks_configs/<env>/{clusters,rbac,repos}.json", () => {
  const c = convert(DATABRICKS_CONFIGS);
  const doc = parse(c.text) as Obj;

  it("reads the three files of each environment folder", () => {
    expect(c.layout).toBe("databricks_configs");
    expect(c.environments).toEqual(["development", "sandbox", "uat", "production"]);
    expect(c.resources.map((r) => `${r.section}.${r.name}${r.shared ? "" : " (per environment)"}`)).toEqual([
      "git_credentials.github",
      "clusters.ml_cluster",
      "repos.dstoolkit-mlops-databricks",
    ]);
    expect(doc.resources.repos["dstoolkit-mlops-databricks"].branch).toBe("main");
    expect(doc.variables.ml_cluster_spark_version.default).toBe("13.0.x-cpu-ml-scala2.12");
    expect(doc.environments.development.variables).toEqual({ ml_cluster_spark_version: "13.3.x-cpu-ml-scala2.12" });
    expect(doc.environments.sandbox.variables).toEqual({ dstoolkit_mlops_databricks_path: "/Repos/${var.repos_folder}/Sandbox" });
  });

  it("takes a token named by a secret from an environment variable of that name, as an override", () => {
    expect(doc.resources.git_credentials.github.personal_access_token).toEqual({ from_env: "PAT_GITHUB" });
    expect(doc.environments.production.resources.git_credentials).toEqual({
      github: { personal_access_token: { from_env: "PAT_GITHUB_PROD" } },
    });
    const prod = c.environmentVariables.find((v) => v.name === "PAT_GITHUB_PROD");
    expect(prod).toMatchObject({ secret: true, environments: ["production"] });
    expect(prod?.purpose).toContain('the secret "PAT-GITHUB-PROD"');
  });

  it("groups role assignments that are the same in several environments", () => {
    expect(notes(c)).toEqual([
      expect.stringMatching(
        /^RBAC_Assignments\[0\] \(development,sandbox,uat,production\): Azure role assignment: Key Vault Administrator for User 121b9734-/,
      ),
      expect.stringMatching(/^RBAC_Assignments\[1\] \(development\): .*df192106-/),
      expect.stringMatching(/^RBAC_Assignments\[1\] \(sandbox\): .*AzureML Data Scientist for ServicePrincipal 4cfc07af-/),
      expect.stringMatching(/^RBAC_Assignments\[1\] \(uat,production\): .*7bf8463b-/),
    ]);
    expect(c.notConverted[3]?.locations).toEqual([
      "databricks_configs/uat/rbac.json:11:30",
      "databricks_configs/production/rbac.json:11:30",
    ]);
  });

  it("matches the expected file", () => {
    expect(c.problems).toEqual([]);
    expect(c.text).toBe(readFileSync(join(FIXTURES, "expected", "databricks-configs.lakeforge.yaml"), "utf8"));
  });

  it("loads in every environment without errors", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "lakeforge.yaml"), c.text);
    for (const environment of c.environments) {
      const config = await loadConfig(dir, { environment, env: envFor(c), relativeTo: dir });
      const cluster = config.resources.find((r) => r.kind === "databricks.cluster")?.spec as Obj;
      expect(cluster.spark_version).toBe(environment === "development" ? "13.3.x-cpu-ml-scala2.12" : "13.0.x-cpu-ml-scala2.12");
      expect(cluster.spark_conf === undefined).toBe(environment === "sandbox" || environment === "production");
    }
  });

  it("finds the layout from the repository root, the layout folder or anything between", () => {
    for (const dir of [
      DATABRICKS_CONFIGS,
      join(DATABRICKS_CONFIGS, "infrastructure"),
      join(DATABRICKS_CONFIGS, "infrastructure", "databricks", "databricks_configs"),
    ]) {
      expect(convertDstoolkit(dir, { relativeTo: FIXTURES, project: "p" }).environments).toHaveLength(4);
    }
    expect(
      convertDstoolkit(join(PIPELINE_PARAM, ".github", "workflows", "Pipeline_Param"), { relativeTo: FIXTURES }).layout,
    ).toBe("pipeline_param");
  });
});

describe("options and variations", () => {
  it("takes a workspace per environment, and `local`", () => {
    const c = convertDstoolkit(PIPELINE_PARAM, {
      workspaceHosts: { development: "local", production: "https://adb-1234567890123456.7.azuredatabricks.net" },
      project: "churn",
    });
    const doc = parse(c.text) as Obj;
    expect(doc.project.name).toBe("churn");
    expect(doc.environments.development.workspace).toBe("local");
    expect(doc.environments.production.workspace).toEqual({ host: "https://adb-1234567890123456.7.azuredatabricks.net" });
    expect(c.environmentVariables.map((v) => v.name)).not.toContain("DEVELOPMENT_DATABRICKS_HOST");
    expect(() => convertDstoolkit(PIPELINE_PARAM, { workspaceHosts: { producton: "local" } })).toThrow(
      /--workspace-host producton=\.\.\.: no environment "producton"; did you mean "production"\?/,
    );
  });

  it("keeps a Jobs API 2.1 multi-task job, resolves cluster names and escapes `${`", () => {
    const dir = copyFixture(PIPELINE_PARAM);
    const file = join(dir, ".github", "workflows", "Pipeline_Param", "Development.json");
    const json = JSON.parse(readFileSync(file, "utf8"));
    json.Jobs = [
      {
        name: "train",
        cluster_name: "dbx-sp-cluster",
        job_clusters: [{ job_cluster_key: "big", new_cluster: { spark_version: "15.4.x-scala2.12", num_workers: 4 } }],
        tasks: [
          { task_key: "prepare", notebook_task: { notebook_path: "/Shared/prepare", base_parameters: { days: 30 } } },
          {
            task_key: "fit",
            depends_on: [{ task_key: "prepare" }],
            job_cluster_key: "big",
            spark_python_task: { python_file: "/Workspace/fit.py", parameters: ["${not_a_reference}"] },
          },
          { task_key: "report", cluster_name: "reporting", notebook_task: { notebook_path: "/Shared/report" } },
          {
            task_key: "publish",
            existing_cluster_id: "0612-081500-trn4cl5t",
            notebook_task: { notebook_path: "/Shared/publish" },
          },
          {
            task_key: "archive",
            existing_cluster_id: "1111-000000-abcdefgh",
            notebook_task: { notebook_path: "/Shared/archive" },
          },
        ],
        max_concurrent_runs: 1,
        retry_everything: true,
      },
    ];
    // Exported from a workspace: the cluster's id is in the file, and a task names it.
    json.Clusters[0].cluster_id = "0612-081500-trn4cl5t";
    for (const env of ["UAT", "PreProduction", "Production"]) {
      const other = join(dir, ".github", "workflows", "Pipeline_Param", `${env}.json`);
      const j = JSON.parse(readFileSync(other, "utf8"));
      j.Jobs = json.Jobs;
      j.Clusters[0].cluster_id = "0612-081500-trn4cl5t";
      writeFileSync(other, JSON.stringify(j, null, 2));
    }
    writeFileSync(file, JSON.stringify(json, null, 2));
    const c = convertDstoolkit(dir, { relativeTo: dir });
    const job = (parse(c.text) as Obj).resources.jobs.train;
    expect(job).toEqual({
      name: "train",
      job_clusters: [{ job_cluster_key: "big", new_cluster: { spark_version: "15.4.x-scala2.12", num_workers: 4 } }],
      tasks: [
        {
          task_key: "prepare",
          notebook_task: { notebook_path: "/Shared/prepare", base_parameters: { days: "30" } },
          existing_cluster_id: "${resources.clusters.dbx-sp-cluster.id}",
        },
        {
          task_key: "fit",
          depends_on: [{ task_key: "prepare" }],
          job_cluster_key: "big",
          spark_python_task: { python_file: "/Workspace/fit.py", parameters: ["$${not_a_reference}"] },
        },
        {
          task_key: "report",
          notebook_task: { notebook_path: "/Shared/report" },
          existing_cluster_id: "${var.reporting_cluster_id}",
        },
        {
          task_key: "publish",
          existing_cluster_id: "${resources.clusters.dbx-sp-cluster.id}",
          notebook_task: { notebook_path: "/Shared/publish" },
        },
        { task_key: "archive", existing_cluster_id: "1111-000000-abcdefgh", notebook_task: { notebook_path: "/Shared/archive" } },
      ],
      max_concurrent_runs: 1,
    });
    expect(notes(c)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^Jobs\[0\]\.retry_everything \(development,uat,preproduction,production\): not a job \(Jobs API 2\.2\) field/,
        ),
        expect.stringMatching(
          /^Jobs\[0\]\.tasks\[4\]\.existing_cluster_id .*: the cluster id "1111-000000-abcdefgh" belongs to one workspace; kept as is/,
        ),
        expect.stringMatching(/^Clusters\[0\]\.cluster_id .*: read-only field/),
        expect.stringMatching(
          /^Jobs\[0\]\.tasks\[2\]\.cluster_name .*: cluster "reporting" is not declared under Clusters .*\$\{var\.reporting_cluster_id\}/,
        ),
      ]),
    );
    // The variable has no value: the check of the written file says so.
    expect((parse(c.text) as Obj).variables.reporting_cluster_id).toEqual({
      description: 'Id of the existing cluster "reporting" that jobs run on.',
    });
    expect(c.problems.some((p) => /reporting_cluster_id/.test(p))).toBe(true);
    expect(c.text).toContain("# NEEDS ATTENTION: a check of this file found");
  });

  it("never copies a token found anywhere, whatever its key", () => {
    const dir = copyFixture(DATABRICKS_CONFIGS);
    const file = join(dir, "infrastructure", "databricks", "databricks_configs", "uat", "clusters.json");
    const json = JSON.parse(readFileSync(file, "utf8"));
    const dapi = `dapi${"0123456789abcdef".repeat(2)}`;
    json.Clusters[0].spark_env_vars = { DATABRICKS_HOST_TOKEN_HELPER: dapi, SAFE: "{{secrets/kv/storage-key}}", MODE: "ci" };
    json.Clusters[0].custom_tags = { owner: dapi };
    writeFileSync(file, JSON.stringify(json, null, 2));
    const c = convertDstoolkit(dir, { relativeTo: dir });
    expect(c.text).not.toContain(dapi);
    expect(JSON.stringify(c)).not.toContain(dapi);
    const uat = (parse(c.text) as Obj).environments.uat.resources.clusters.ml_cluster;
    expect(uat.spark_env_vars).toEqual({ SAFE: "{{secrets/kv/storage-key}}", MODE: "ci" });
    expect(
      notes(c)
        .filter((n) => /literal secret/.test(n))
        .map((n) => n.split(" ")[0]),
    ).toEqual(["Clusters[0].custom_tags.owner", "Clusters[0].spark_env_vars.DATABRICKS_HOST_TOKEN_HELPER"]);
  });

  it("keeps no fixture canary in any result", () => {
    for (const dir of [PIPELINE_PARAM, DATABRICKS_CONFIGS]) {
      const everything = JSON.stringify(convertDstoolkit(dir));
      for (const canary of FIXTURE_CANARIES) expect(everything).not.toContain(canary);
    }
  });
});

describe("bad input", () => {
  const error = (fn: () => unknown): UserError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      return e as UserError;
    }
    throw new Error("expected an error");
  };

  it("a missing folder, or one without parameter files", () => {
    expect(error(() => convertDstoolkit("no/such/dir", { relativeTo: FIXTURES })).message).toBe("no/such/dir: no such folder");
    const empty = tempDir();
    const e = error(() => convertDstoolkit(empty, { relativeTo: empty }));
    expect(e.message).toMatch(/no dstoolkit-mlops-databricks parameter files found$/);
    expect(e.hint).toContain("Pipeline_Param/<Environment>.json");
    expect(error(() => convertDstoolkit(".", { relativeTo: FIXTURES })).message).toBe(
      ".: found several sets of parameter files: azure-configs/infrastructure/databricks/databricks_configs, azure-pipeline-param/.github/workflows/Pipeline_Param, databricks-configs/infrastructure/databricks/databricks_configs, pipeline-param/.github/workflows/Pipeline_Param",
    );
  });

  it("malformed JSON, located", () => {
    const dir = copyFixture(PIPELINE_PARAM);
    const file = join(dir, ".github", "workflows", "Pipeline_Param", "UAT.json");
    const lines = readFileSync(file, "utf8").split("\n");
    lines[2] = lines[2]?.replace('"uksouth",', '"uksouth"') ?? ""; // a missing comma
    writeFileSync(file, lines.join("\n"));
    const e = error(() => convertDstoolkit(dir, { relativeTo: dir }));
    expect(e.message).toBe(
      ".github/workflows/Pipeline_Param/UAT.json:4:5: malformed JSON: expected ',' or '}' after a property value, found '\"'",
    );
    writeFileSync(file, '\uFEFF{\r\n  "Clusters": [\r\n    {"cluster_name": "a",}\r\n  ]\r\n}');
    expect(error(() => convertDstoolkit(dir, { relativeTo: dir })).message).toBe(
      ".github/workflows/Pipeline_Param/UAT.json:3:26: malformed JSON: expected a property name in double quotes, found '}'",
    );
    writeFileSync(file, "[]");
    expect(error(() => convertDstoolkit(dir, { relativeTo: dir })).message).toMatch(
      /UAT.json:1:1: expected a JSON object at the top of the file$/,
    );
  });
});
