import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { displayPath } from "../../src/config/errors.js";
import { OptionsError, resolveOptions } from "../../src/template/input.js";
import { derivePackageName, PLACEHOLDER_HOSTS, templateContext } from "../../src/template/options.js";
import { promptOptions } from "../../src/template/prompt.js";

const dir = mkdtempSync(join(tmpdir(), "lakeforge-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof OptionsError) return e.problems;
    throw e;
  }
  throw new Error("expected an OptionsError");
}

// Files outside the working tree are shown by absolute path, nearby ones relative to it.
const rel = (p: string) => displayPath(p, process.cwd());

describe("defaults and derived values", () => {
  it("fills every option from the project name alone", () => {
    const { answers } = resolveOptions({ flags: [["--project-name", "churn-model"]] });
    expect(answers).toMatchObject({
      project_name: "churn-model",
      package_name: "churn_model",
      cloud: "azure",
      cicd: "github_actions",
      default_branch: "main",
      release_branch: "release",
      environments_preset: "staging_prod",
      schema: "ml",
      model_name: "churn_model",
      inference_table: "churn_predictions",
      read_groups: [],
      include_feature_store: false,
      include_monitoring: true,
      include_serving: false,
      compute: "serverless",
      ci_auth: "github_oidc",
      python_version: "3.11",
    });
    expect(Object.keys(answers.targets)).toEqual(["dev", "test", "staging", "prod"]);
    expect(answers.targets.prod).toEqual({
      host: PLACEHOLDER_HOSTS.azure,
      catalog: "prod",
      service_principal_id: "00000000-0000-0000-0000-000000000000",
      approval: true,
    });
  });

  it("derives the targets of the four-environment preset with their roles", () => {
    const { answers } = resolveOptions({
      flags: [
        ["--project-name", "churn"],
        ["--environments-preset", "four"],
        ["--host", "https://adb-1.1.azuredatabricks.net"],
      ],
    });
    const ctx = templateContext(answers, "9.9.9");
    expect(ctx.targets.map((t) => [t.name, t.mode, t.deploy_from, t.approval])).toEqual([
      ["development", "development", "manual", false],
      ["uat", "production", "pull_request", false],
      ["preproduction", "production", "default_branch", false],
      ["production", "production", "tag", true],
    ]);
    expect(ctx.targets.every((t) => t.host === "https://adb-1.1.azuredatabricks.net")).toBe(true);
    expect(ctx.template_version).toBe("9.9.9");
  });

  it("picks the CI authentication the platform supports", () => {
    const auth = (cicd: string, cloud: string) =>
      resolveOptions({
        flags: [
          ["--project-name", "x-model"],
          ["--cicd", cicd],
          ["--cloud", cloud],
        ],
      }).answers.ci_auth;
    expect(auth("github_actions", "aws")).toBe("github_oidc");
    expect(auth("azure_devops", "azure")).toBe("azure_sp");
    expect(auth("gitlab", "gcp")).toBe("oauth_m2m");
  });

  it("derives Python package names", () => {
    expect(derivePackageName("churn-model")).toBe("churn_model");
    expect(derivePackageName("fraud_detector2")).toBe("fraud_detector2");
  });
});

describe("options files: located errors", () => {
  it("reads YAML options and reports each problem at its line and column", () => {
    const f = file(
      "bad.yaml",
      ["project_name: churn-model", "cloud: azur", "python_version: 3.10", "targets:", "  prod:", "    host: ftp://x", ""].join(
        "\n",
      ),
    );
    const found = problems(() => resolveOptions({ file: f }));
    expect(found).toEqual([
      `${rel(f)}:2:8 cloud: expected one of azure, aws, gcp, got "azur"; did you mean "azure"?`,
      `${rel(f)}:3:17 python_version: expected a quoted version such as "3.11", got the number 3.1 (YAML reads 3.10 as 3.1)`,
      `${rel(f)}:6:11 targets.prod.host: expected https://<workspace host> (http only for localhost)`,
    ]);
  });

  it("suggests the option meant by an unknown key", () => {
    const f = file("typo.yaml", "project_name: churn\ninclude_featurestore: yes\n");
    expect(problems(() => resolveOptions({ file: f }))).toEqual([
      `${rel(f)}:2:1 include_featurestore: unknown option; did you mean "include_feature_store"?`,
    ]);
  });

  it("names a target the preset does not have", () => {
    const f = file("target.yaml", "project_name: churn\nenvironments_preset: four\ntargets:\n  prod:\n    catalog: main\n");
    expect(problems(() => resolveOptions({ file: f }))).toEqual([
      `${rel(f)}:4:3 targets.prod: the four preset has no target "prod"; its targets are development, uat, preproduction, production`,
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    const f = file("syntax.yaml", "project_name: [churn\n");
    const found = problems(() => resolveOptions({ file: f }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^${rel(f)}:\\d+:\\d+ YAML syntax error`));
  });

  it("checks options together: OIDC needs GitHub, the Azure principal needs Azure, branches differ", () => {
    const f = file(
      "together.yaml",
      "project_name: churn\ncicd: gitlab\nci_auth: github_oidc\ndefault_branch: main\nrelease_branch: main\n",
    );
    expect(problems(() => resolveOptions({ file: f }))).toEqual([
      `${rel(f)}:3:10 ci_auth: github_oidc needs cicd github_actions (cicd is gitlab); use oauth_m2m or azure_sp`,
      `${rel(f)}:5:17 release_branch: the default and release branches must differ (both are "main")`,
    ]);
    const g = file("azure-sp.yaml", "project_name: churn\ncloud: aws\nci_auth: azure_sp\n");
    expect(problems(() => resolveOptions({ file: g }))).toEqual([
      `${rel(g)}:3:10 ci_auth: azure_sp needs cloud azure (cloud is aws); use oauth_m2m`,
    ]);
  });

  it("rejects project names that make no Python package", () => {
    expect(problems(() => resolveOptions({ flags: [["--project-name", "Churn Model"]] }))).toEqual([
      "--project-name: a project name holds lowercase letters, digits, `-` and `_`, starts with a letter, e.g. churn-model",
    ]);
    expect(problems(() => resolveOptions({ flags: [["--project-name", "mlflow"]] }))[0]).toMatch(/would shadow/);
  });
});

describe("flags", () => {
  it("reports flag problems as --flag: message", () => {
    expect(
      problems(() =>
        resolveOptions({
          flags: [
            ["--project-name", "churn"],
            ["--compute", "gpu"],
            ["--include-serving", "maybe"],
            ["--target", "prod.host=http://example.com"],
          ],
        }),
      ),
    ).toEqual([
      '--compute: expected one of serverless, job_clusters, got "gpu"',
      '--include-serving: expected yes or no, got "maybe"',
      "--target prod.host: expected https://<workspace host> (http only for localhost)",
    ]);
  });

  it("lets flags win over the options file and accepts yes/no, lists and per-target fields", () => {
    const f = file("base.yaml", "project_name: churn\ncloud: aws\nread_groups: [a]\n");
    const { answers } = resolveOptions({
      file: f,
      flags: [
        ["--cloud", "gcp"],
        ["--include-feature-store", "yes"],
        ["--read-groups", "data scientists, analysts"],
        ["--target", "staging.catalog=main"],
        ["--target", "prod.approval=no"],
        ["--target", "dev.host=http://127.0.0.1:8080"],
      ],
    });
    expect(answers.cloud).toBe("gcp");
    expect(answers.include_feature_store).toBe(true);
    expect(answers.read_groups).toEqual(["data scientists", "analysts"]);
    expect(answers.targets.staging?.catalog).toBe("main");
    expect(answers.targets.prod?.approval).toBe(false);
    expect(answers.targets.dev?.host).toBe("http://127.0.0.1:8080");
  });

  it("suggests the flag meant by an unknown one", () => {
    expect(
      problems(() =>
        resolveOptions({
          flags: [
            ["--project-name", "churn"],
            ["--clod", "aws"],
          ],
        }),
      ),
    ).toEqual(["--clod: unknown option; did you mean --cloud?"]);
  });
});

describe("the inputs of MLOps Stacks and of the use-case workflow", () => {
  it("maps their names and values onto the options", () => {
    const f = file(
      "stacks.json",
      JSON.stringify({
        input_project_name: "churn-model",
        input_cloud: "aws",
        input_cicd_platform: "github_actions_for_github_enterprise_servers",
        input_databricks_staging_workspace_host: "https://staging.cloud.databricks.com",
        input_databricks_prod_workspace_host: "https://prod.cloud.databricks.com",
        input_default_branch: "trunk",
        input_release_branch: "stable",
        input_read_user_group: "users",
        input_unity_catalog_read_user_group: "account users",
        input_schema_name: "churn",
        input_staging_catalog_name: "staging_cat",
        input_prod_catalog_name: "prod_cat",
        input_test_catalog_name: "test_cat",
        input_inference_table_name: "prod_cat.churn.predictions",
        input_include_feature_store: "yes",
        input_root_dir: "churn-model",
      }),
    );
    const { answers, warnings } = resolveOptions({ file: f });
    expect(answers).toMatchObject({
      project_name: "churn-model",
      cloud: "aws",
      cicd: "github_actions",
      default_branch: "trunk",
      release_branch: "stable",
      read_groups: ["users", "account users"],
      schema: "churn",
      inference_table: "predictions",
      include_feature_store: true,
    });
    expect(answers.targets.staging).toMatchObject({ host: "https://staging.cloud.databricks.com", catalog: "staging_cat" });
    expect(answers.targets.test).toMatchObject({ host: "https://staging.cloud.databricks.com", catalog: "test_cat" });
    expect(answers.targets.dev?.host).toBe("https://staging.cloud.databricks.com");
    expect(answers.targets.prod).toMatchObject({ host: "https://prod.cloud.databricks.com", catalog: "prod_cat" });
    expect(warnings).toEqual([expect.stringMatching(/input_root_dir: ignored \(the project is rendered into --dir\)$/)]);
  });

  it("accepts the use-case workflow's inputs and variables", () => {
    const f = file(
      "workflow.yaml",
      [
        "project_name: churn_model",
        "model_schema: all_my_ml_models",
        "include_feature_store: 'no'",
        "databricks_cloud: azure",
        "databricks_cicd_platform: github_actions",
        "databricks_read_user_group: ml-readers",
        "databricks_unity_catalog_read_user_group: ml-readers",
        "use_databricks_service_principal: 'true'",
        "github_admins_group: ml-admins",
        "",
      ].join("\n"),
    );
    const { answers, warnings, settings } = resolveOptions({ file: f });
    expect(answers).toMatchObject({
      schema: "all_my_ml_models",
      include_feature_store: false,
      read_groups: ["ml-readers"],
      ci_auth: "oauth_m2m",
    });
    expect(warnings).toEqual([]);
    // Repository settings go to the bootstrap, by the environment variable they stand for.
    expect(settings).toEqual({ GITHUB_ADMINS_GROUP: "ml-admins" });
  });

  it("refuses a value given twice under two names", () => {
    const f = file("twice.yaml", "project_name: churn\nschema: a\nmodel_schema: b\n");
    expect(problems(() => resolveOptions({ file: f }))[0]).toMatch(/model_schema: set twice with different values/);
  });

  it("refuses preset-specific names with the other preset", () => {
    const f = file("preset.yaml", "project_name: churn\nenvironments_preset: four\ninput_prod_catalog_name: p\n");
    expect(problems(() => resolveOptions({ file: f }))).toEqual([
      `${rel(f)}:3:1 input_prod_catalog_name: applies to the staging_prod preset only (environments_preset is four)`,
    ]);
  });
});

describe("prompts", () => {
  it("asks for what is missing, re-asks an invalid answer and takes defaults on Enter", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = "";
    output.on("data", (d) => {
      shown += String(d);
    });
    // project name (invalid, then valid), then Enter for everything else but the cloud and the prod catalog.
    const answers = ["Bad Name", "churn-model", "", "aws"];
    const rest = Array.from({ length: 40 }, () => "");
    input.end(`${[...answers, ...rest].join("\n")}\n`);
    const flags: [string, string][] = [["--cicd", "gitlab"]];
    const prompted = await promptOptions({ flags }, { input, output });
    const { answers: resolved } = resolveOptions({ flags, prompted });
    expect(resolved.project_name).toBe("churn-model");
    expect(resolved.cloud).toBe("aws");
    expect(resolved.cicd).toBe("gitlab");
    expect(resolved.ci_auth).toBe("oauth_m2m");
    expect(resolved.targets.prod?.host).toBe(PLACEHOLDER_HOSTS.aws);
    expect(shown).toContain("a project name holds lowercase letters");
    expect(shown).not.toContain("CI/CD platform");
  });
});
