/**
 * The use-case workflow's input and variable names, accepted by `lakeforge init` (options file and
 * flags) as by the action: template options go to the project, repository settings (teams, tenant
 * ids) to the bootstrap request, and secrets are refused anywhere but the environment.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parseInputs } from "../../src/action/main.js";
import { repositorySetting, requestFromProject, secretSettingName } from "../../src/bootstrap/request.js";
import { main } from "../../src/cli/main.js";
import { OptionsError, resolveOptions } from "../../src/template/input.js";

const root = mkdtempSync(join(tmpdir(), "lakeforge-compat-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const p = join(root, `options-${n++}.yaml`);
  writeFileSync(p, text);
  return p;
}

const STAGING_SP = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";
const PROD_SP = "6d1f5b0c-8a52-4d7e-9c1a-2b3c4d5e6f70";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const PROD_TENANT = "11111111-86f1-41af-91ab-2d7cd011db47";

const WORKFLOW_FILE = [
  "project_name: churn_model",
  "model_schema: churn",
  "include_feature_store: true",
  "USE_DATABRICKS_SERVICE_PRINCIPAL: false",
  "DATABRICKS_STAGING_WORKSPACE_HOST: https://adb-1111.11.azuredatabricks.net",
  "DATABRICKS_PROD_WORKSPACE_HOST: https://adb-2222.22.azuredatabricks.net",
  `DATABRICKS_STAGING_CLIENT_ID: ${STAGING_SP}`,
  `DATABRICKS_PROD_CLIENT_ID: ${PROD_SP}`,
  `ARM_TENANT_ID: ${TENANT}`,
  `DATABRICKS_PROD_TENANT_ID: ${PROD_TENANT}`,
  "github_contributor_group: ml-team",
  "github_admins_group: ml-admins",
  "",
].join("\n");

describe("the use-case workflow's names", () => {
  it("map to template options and repository settings in an options file, in any case", () => {
    const { answers, warnings, settings } = resolveOptions({ file: file(WORKFLOW_FILE) });
    expect(warnings).toEqual([]);
    expect(answers).toMatchObject({
      project_name: "churn_model",
      schema: "churn",
      include_feature_store: true,
      ci_auth: "azure_sp",
    });
    expect(answers.targets.staging).toMatchObject({
      host: "https://adb-1111.11.azuredatabricks.net",
      service_principal_id: STAGING_SP,
    });
    expect(answers.targets.prod).toMatchObject({
      host: "https://adb-2222.22.azuredatabricks.net",
      service_principal_id: PROD_SP,
    });
    // The staging workspace also hosts dev and test, as in the workflow.
    expect(answers.targets.test?.host).toBe("https://adb-1111.11.azuredatabricks.net");
    expect(settings).toEqual({
      ARM_TENANT_ID: TENANT,
      DATABRICKS_PROD_TENANT_ID: PROD_TENANT,
      GITHUB_CONTRIBUTOR_GROUP: "ml-team",
      GITHUB_ADMINS_GROUP: "ml-admins",
    });
  });

  it("give the bootstrap request its teams, hosts, client ids and tenants; settings win over the environment", () => {
    const { answers, settings } = resolveOptions({ file: file(WORKFLOW_FILE) });
    const secret = `canary-${Math.random().toString(36).slice(2)}`;
    const { request } = requestFromProject(
      answers,
      new Map(),
      { GITHUB_ADMINS_GROUP: "from-env", DATABRICKS_STAGING_CLIENT_SECRET: secret },
      { owner: "acme", settings },
    );
    expect(request.teams).toEqual([
      { name: "ml-team", permission: "push" },
      { name: "ml-admins", permission: "admin" },
    ]);
    const env = Object.fromEntries(request.environments.map((e) => [e.name, e]));
    expect(env.prod?.variables).toEqual({
      DATABRICKS_HOST: "https://adb-2222.22.azuredatabricks.net",
      DATABRICKS_CATALOG: "prod",
      AZURE_CLIENT_ID: PROD_SP,
      AZURE_TENANT_ID: PROD_TENANT,
    });
    expect(env.staging?.variables.AZURE_TENANT_ID).toBe(TENANT);
    expect(env.staging?.secrets.AZURE_CLIENT_SECRET?.reveal()).toBe(secret);
    expect(env.prod?.reviewers).toEqual(["ml-admins"]);
  });

  it("refuse a secret in the options file where it is written, without its value", () => {
    const value = "canary-secret-value-1234";
    const f = file(`project_name: demo\nmodel_schema: ml\nDATABRICKS_PROD_CLIENT_SECRET: ${value}\ngithub_token: ${value}\n`);
    let error: unknown;
    try {
      resolveOptions({ file: f });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptionsError);
    const problems = (error as OptionsError).problems;
    expect(problems).toEqual([
      expect.stringMatching(
        /options-\d+\.yaml:3:1 DATABRICKS_PROD_CLIENT_SECRET: a secret is never read from the options file; set the environment variable DATABRICKS_PROD_CLIENT_SECRET instead/,
      ),
      expect.stringMatching(/options-\d+\.yaml:4:1 github_token: .*set the environment variable GITHUB_TOKEN instead/),
    ]);
    expect(JSON.stringify(problems).includes(value)).toBe(false);
  });

  it("name settings and secrets by the environment variable they stand for", () => {
    expect(repositorySetting("github-admins-group")).toBe("GITHUB_ADMINS_GROUP");
    expect(repositorySetting("DATABRICKS_UAT_TENANT_ID")).toBe("DATABRICKS_UAT_TENANT_ID");
    expect(repositorySetting("model_schema")).toBeUndefined();
    expect(secretSettingName("databricks_staging_client_secret")).toBe("DATABRICKS_STAGING_CLIENT_SECRET");
    expect(secretSettingName("ARM_CLIENT_SECRET")).toBe("ARM_CLIENT_SECRET");
    expect(secretSettingName("databricks_staging_client_id")).toBeUndefined();
  });
});

describe("lakeforge init with the workflow's names", () => {
  it("takes repository settings as flags and from the options file, and lists the planned actions in --json", async () => {
    const f = file(WORKFLOW_FILE.replace("github_admins_group: ml-admins\n", ""));
    let stdout = "";
    const out = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
      stdout += String(s);
      return true;
    });
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    let code: number;
    try {
      code = await main([
        "node",
        "lakeforge",
        "init",
        "--options",
        f,
        "--github-admins-group",
        "platform-admins",
        "--forge-dir",
        join(root, "forge"),
        "--dir",
        join(root, "project"),
        "--json",
      ]);
    } finally {
      out.mockRestore();
      err.mockRestore();
      process.exitCode = undefined;
    }
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { forge: { actions: { address: string; action: string }[] } };
    expect(result.forge.actions.map((a) => a.address)).toContain("local.repository.churn_model");
    expect(result.forge.actions.every((a) => a.action === "create")).toBe(true);
    const meta = JSON.parse(readFileSync(join(root, "forge", "meta", "churn_model", "repository.json"), "utf8"));
    expect(meta.teams).toEqual([
      { name: "ml-team", permission: "push" },
      { name: "platform-admins", permission: "admin" },
    ]);
  });
});

describe("the action's inputs as command-line flags", () => {
  const inputs =
    (given: Record<string, string>) =>
    (name: string): string =>
      given[name] ?? "";

  it("passes the branch protection choice to init", () => {
    const parsed = parseInputs(inputs({ command: "init", project_name: "churn", protection: "branch-protection" }));
    const at = parsed.args.indexOf("--protection");
    expect(at).toBeGreaterThan(-1);
    expect(parsed.args[at + 1]).toBe("branch-protection");
    expect(parsed.args[0]).toBe("churn");
  });

  it("refuses the protection input for plan", () => {
    expect(() => parseInputs(inputs({ command: "plan", protection: "rulesets" }))).toThrow(
      /input protection: applies to init only/,
    );
  });
});
