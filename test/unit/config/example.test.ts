import { resolve } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { loadConfig, validateConfig } from "../../../src/config/config.js";
import { ConfigError } from "../../../src/config/errors.js";
import { Ref, Template } from "../../../src/config/refs.js";
import { Secret } from "../../../src/lib/secret.js";
import { find } from "./helpers.js";

const dir = resolve("examples/platform");

const SP_SECRET = "canary-sp-secret-7f3a91";
const GITHUB_TOKEN = "canary-ghp-0b2c4d6e8f";
const env = {
  ML_SP_CLIENT_ID: "00000000-0000-0000-0000-00000000c11e",
  ML_SP_CLIENT_SECRET: SP_SECRET,
  GITHUB_TOKEN,
  UAT_DATABRICKS_HOST: "https://adb-1111.11.azuredatabricks.net",
  PREPROD_DATABRICKS_HOST: "https://adb-2222.22.azuredatabricks.net",
  PROD_DATABRICKS_HOST: "https://adb-3333.33.azuredatabricks.net",
};

describe("examples/platform", () => {
  it("defines four environments, development being the default", () => {
    const result = validateConfig(dir, { env });
    expect(result.issues).toEqual([]);
    expect(result.environments).toEqual(["development", "uat", "preproduction", "production"]);
    expect(result.environment).toBe("development");
  });

  it.each(["development", "uat", "preproduction", "production"])("loads %s", async (environment) => {
    const config = await loadConfig(dir, { environment, env });
    expect(config.environment).toBe(environment);
    expect(config.project.name).toBe("ml-platform");
    const kinds = new Set(config.resources.map((r) => r.kind));
    for (const k of [
      "databricks.cluster",
      "databricks.cluster_policy",
      "databricks.secret_scope",
      "databricks.secret",
      "databricks.secret_acl",
      "databricks.git_credential",
      "databricks.repo",
      "databricks.notebook",
      "databricks.job",
      "databricks.permissions",
      "databricks.catalog",
      "databricks.schema",
      "databricks.registered_model",
      "databricks.grant",
      "databricks.experiment",
      "databricks.group",
      "databricks.service_principal",
    ]) {
      expect(kinds.has(k), k).toBe(true);
    }
    for (const r of config.resources) {
      expect(r.source.line).toBeGreaterThan(0);
      expect(r.source.file.startsWith(dir)).toBe(true);
    }
    expect(config.files.map((f) => f.slice(dir.length + 1))).toEqual([
      "lakeforge.yaml",
      "resources/jobs.yaml",
      "environments/production.yaml",
    ]);
  });

  it("targets the local workspace in development and the configured hosts elsewhere", async () => {
    expect((await loadConfig(dir, { env })).workspace).toEqual({ type: "local" });
    expect((await loadConfig(dir, { environment: "production", env })).workspace).toEqual({
      type: "remote",
      host: env.PROD_DATABRICKS_HOST,
    });
  });

  it("applies production's overrides from environments/production.yaml", async () => {
    const dev = await loadConfig(dir, { env });
    const prod = await loadConfig(dir, { environment: "production", env });
    expect(find(dev, "databricks.cluster", "ml").spec).toMatchObject({
      cluster_name: "ml-development",
      node_type_id: "Standard_DS3_v2",
      autoscale: { min_workers: 1, max_workers: 2 },
      autotermination_minutes: 30,
    });
    expect(find(prod, "databricks.cluster", "ml").spec).toMatchObject({
      cluster_name: "ml-production",
      node_type_id: "Standard_DS4_v2",
      autoscale: { min_workers: 1, max_workers: 8 },
      autotermination_minutes: 60,
    });
    // Tasks merge by task_key: only `train` gains retries, order and the other tasks stay.
    const tasks = find(prod, "databricks.job", "train_churn").spec.tasks as Record<string, unknown>[];
    expect(tasks.map((t) => t.task_key)).toEqual(["prepare_features", "train", "smoke_test"]);
    expect(tasks[1]).toMatchObject({ task_key: "train", max_retries: 2, depends_on: [{ task_key: "prepare_features" }] });
    expect(tasks[0]?.max_retries).toBeUndefined();
    expect(find(prod, "databricks.job", "train_churn").spec.schedule).toMatchObject({ pause_status: "UNPAUSED" });
    expect(find(dev, "databricks.job", "train_churn").spec.schedule).toMatchObject({ pause_status: "PAUSED" });
    expect(find(prod, "databricks.catalog", "ml").preventDestroy).toBe(true);
    expect(find(dev, "databricks.catalog", "ml").preventDestroy).toBe(false);
    expect(find(prod, "databricks.repo", "platform").spec.branch).toBe("main");
    expect(find(dev, "databricks.repo", "platform").spec.branch).toBe("develop");
  });

  it("resolves references: outputs stay references, configured fields are filled in", async () => {
    const prod = await loadConfig(dir, { environment: "production", env });
    const job = find(prod, "databricks.job", "train_churn");
    const [prepare, train] = job.spec.tasks as Record<string, Record<string, unknown>>[];
    expect(prepare?.existing_cluster_id).toBeInstanceOf(Ref);
    expect(prepare?.existing_cluster_id).toMatchObject({ kind: "databricks.cluster", name: "ml", field: "id" });
    expect(prepare?.notebook_task).toEqual({
      notebook_path: "/Repos/ml-platform/ml-platform/notebooks/prepare_features",
      base_parameters: { catalog: "ml_prod", schema: "features" },
    });
    expect(train?.notebook_task).toMatchObject({
      base_parameters: { experiment: "/Shared/ml-platform/churn-production", model: "ml_prod.models.churn" },
    });
    expect(find(prod, "databricks.cluster", "ml").spec.policy_id).toEqual(
      new Ref("databricks.cluster_policy", "ml", "id", "cluster_policies"),
    );
    expect(find(prod, "databricks.grant", "data_scientists_features").spec.securable).toEqual({
      type: "schema",
      name: "ml_prod.features",
    });
    const deps = job.dependsOn.map((r) => `${r.kind}.${r.name}`);
    expect(deps).toEqual(expect.arrayContaining(["databricks.cluster.ml", "databricks.repo.platform", "databricks.catalog.ml"]));
    // Nothing in the example builds a string around an output.
    expect(JSON.stringify(prod.resources)).not.toContain("$${");
    expect(prod.resources.some((r) => Object.values(r.spec).some((v) => v instanceof Template))).toBe(false);
  });

  it("splits permissions, secrets and secret ACLs into their own resources", async () => {
    const config = await loadConfig(dir, { env });
    const perms = find(config, "databricks.permissions", "jobs.train_churn");
    expect(perms.parent).toEqual({ kind: "databricks.job", name: "train_churn" });
    expect(perms.spec).toEqual({
      object_type: "jobs",
      object_id: new Ref("databricks.job", "train_churn", "id", "jobs"),
      access_control_list: [
        { group_name: "data-scientists", permission_level: "CAN_MANAGE_RUN" },
        { group_name: "ml-engineers", permission_level: "CAN_MANAGE" },
      ],
    });
    expect(perms.dependsOn.map((r) => `${r.kind}.${r.name}`)).toEqual([
      "databricks.job.train_churn",
      "databricks.group.data_scientists",
      "databricks.group.ml_engineers",
    ]);
    const secret = find(config, "databricks.secret", "platform.sp-client-secret");
    expect(secret.spec.scope).toBe("ml-platform");
    expect(secret.spec.key).toBe("sp-client-secret");
    expect(secret.spec.string_value).toBeInstanceOf(Secret);
    expect((secret.spec.string_value as Secret).reveal()).toBe(SP_SECRET);
    const scope = find(config, "databricks.secret_scope", "platform");
    expect(scope.spec).toEqual({ name: "ml-platform" });
    expect(find(config, "databricks.secret_acl", "platform.ml-engineers").spec).toEqual({
      scope: "ml-platform",
      principal: "ml-engineers",
      permission: "READ",
    });
    const cred = find(config, "databricks.git_credential", "github");
    expect((cred.spec.personal_access_token as Secret).reveal()).toBe(GITHUB_TOKEN);
  });

  it("never shows a secret value when the configuration is printed or serialised", async () => {
    const config = await loadConfig(dir, { environment: "production", env });
    const printed = [JSON.stringify(config), inspect(config, { depth: null }), String(config.resources.map((r) => r.spec))];
    for (const text of printed) {
      expect(text).not.toContain(SP_SECRET);
      expect(text).not.toContain(GITHUB_TOKEN);
    }
  });

  it("does not need other environments' settings to load one", async () => {
    const { PROD_DATABRICKS_HOST: _p, UAT_DATABRICKS_HOST: _u, ...devOnly } = env;
    await expect(loadConfig(dir, { env: devOnly })).resolves.toMatchObject({ environment: "development" });
    const e = await loadConfig(dir, { environment: "production", env: devOnly }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toBe(
      `${resolve(dir, "environments/production.yaml").slice(process.cwd().length + 1)}:3:9 environments.production.workspace.host: environment variable PROD_DATABRICKS_HOST is not set`,
    );
  });

  it("requires the secrets of the environment being loaded", async () => {
    const e = await loadConfig(dir, { env: { GITHUB_TOKEN }, relativeTo: dir }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues.map((i) => i.message)).toEqual([
      "environment variable ML_SP_CLIENT_ID is not set",
      "environment variable ML_SP_CLIENT_SECRET is not set",
    ]);
  });
});
