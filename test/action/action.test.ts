// biome-ignore-all lint/suspicious/noTemplateCurlyInString: lakeforge.yaml refers to variables as ${var.*}
/**
 * The bundled GitHub Action run as a runner runs it — `node action/dist/index.js` with `INPUT_*`
 * variables — against the GitHub fake (init) and the local workspace (plan, apply): what it makes,
 * its job summary and outputs, the masking of every secret, and its failures.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { startWorkspace } from "../../src/workspace/server.js";
import { type GithubFake, startGithubFake } from "../fakes/github/server.js";
import { ACTION_MAIN, masksComeFirst, printedLines, runAction } from "./helpers.js";

const root = mkdtempSync(join(tmpdir(), "lakeforge-action-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, `w${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

if (!existsSync(ACTION_MAIN)) throw new Error(`${ACTION_MAIN} is missing: run \`npm run build:action\``);

const hex = () => randomBytes(10).toString("hex");

/** Every file under `dir`, as text. */
function filesUnder(dir: string): string {
  if (!existsSync(dir)) return "";
  let all = "";
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    all += statSync(p).isDirectory() ? filesUnder(p) : readFileSync(p, "latin1");
  }
  return all;
}

function expectNoCanary(text: string, canaries: string[], where: string) {
  for (const c of canaries) expect(text.includes(c), `a secret value appeared in ${where}`).toBe(false);
}

let fake: GithubFake | undefined;
afterEach(async () => {
  expect(fake?.violations ?? []).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

async function github() {
  fake = await startGithubFake();
  fake.addUser("octo");
  fake.addOrg("acme");
  fake.addTeam("acme", "ml-admins");
  fake.addTeam("acme", "ml-team");
  const token = `ghp_CANARYTOKEN${hex()}`;
  fake.addToken(token, "octo");
  return { fake, token };
}

const PROD_SP = "6d1f5b0c-8a52-4d7e-9c1a-2b3c4d5e6f70";
const STAGING_SP = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";

describe("the action's init command against the GitHub fake", () => {
  it("bootstraps the repository from the workflow's inputs, masks every secret, writes the summary and outputs, and converges", async () => {
    const { fake, token } = await github();
    const work = fresh();
    const canaries = {
      staging: `canary-staging-${hex()}`,
      prod: `canary-prod-${hex()}`,
      test: `canary-test-${hex()}`,
      other: `canary-other-${hex()}`,
    };
    const inputs = {
      command: "init",
      project_name: "demo",
      org: "acme",
      forge_dir: join(work, "forge"),
      github_token: token,
      // The use-case workflow's names, as its dispatch inputs and organisation secrets call them.
      github_contributor_group: "ml-team",
      github_admins_group: "ml-admins",
      model_schema: "churn",
      include_feature_store: "true",
      use_databricks_service_principal: "true",
      databricks_staging_workspace_host: "https://adb-1111.11.azuredatabricks.net",
      databricks_prod_workspace_host: "https://adb-2222.22.azuredatabricks.net",
      databricks_staging_client_id: STAGING_SP,
      databricks_prod_client_id: PROD_SP,
      databricks_staging_client_secret: canaries.staging,
      databricks_prod_client_secret: canaries.prod,
    };
    const env = {
      GITHUB_API_URL: fake.url,
      LAKEFORGE_GITHUB_THROTTLE: "off",
      // Given through the step's env rather than an input: masked as well, by its name.
      DATABRICKS_TEST_CLIENT_SECRET: canaries.test,
      SOME_SERVICE_TOKEN: canaries.other,
    };
    const first = await runAction(work, inputs, env);
    expect(first.stderr + first.stdout, first.stdout).not.toContain("::error::");
    expect(first.code).toBe(0);

    // Masks before anything else, one per secret (token, inputs, secret-named variables).
    expect(masksComeFirst(first.stdout)).toBe(true);
    for (const value of [token, ...Object.values(canaries)]) expect(first.stdout).toContain(`::add-mask::${value}\n`);
    const secrets = [token, ...Object.values(canaries)];
    expectNoCanary(printedLines(first.stdout).join("\n"), secrets, "the log");
    expectNoCanary(first.stderr, secrets, "stderr");
    expectNoCanary(first.summary, secrets, "the job summary");
    expectNoCanary(JSON.stringify(first.outputs), secrets, "the outputs");

    // The repository, teams, environments and sealed secrets.
    const repo = fake.repo("acme", "demo");
    expect(repo).toBeDefined();
    if (!repo) return;
    expect(Object.fromEntries(repo.teams)).toEqual({ "ml-admins": "admin", "ml-team": "push" });
    expect([...repo.environments.keys()].sort()).toEqual(["prod", "staging", "test"]);
    expect(fake.decryptSecret("acme", "demo", "staging", "DATABRICKS_CLIENT_SECRET")).toBe(canaries.staging);
    expect(fake.decryptSecret("acme", "demo", "prod", "DATABRICKS_CLIENT_SECRET")).toBe(canaries.prod);
    expect(fake.decryptSecret("acme", "demo", "test", "DATABRICKS_CLIENT_SECRET")).toBe(canaries.test);
    const prodVars = repo.environments.get("prod")?.variables;
    expect(prodVars?.get("DATABRICKS_HOST")?.value).toBe("https://adb-2222.22.azuredatabricks.net");
    expect(prodVars?.get("DATABRICKS_CLIENT_ID")?.value).toBe(PROD_SP);
    expect(repo.environments.get("prod")?.reviewers.map((r) => r.type)).toEqual(["Team"]);

    // The rendered project took the workflow's options.
    const bundle = readFileSync(join(work, "demo", "databricks.yml"), "utf8");
    expect(bundle).toContain("https://adb-1111.11.azuredatabricks.net");
    expect(bundle).toContain(PROD_SP);
    const manifest = JSON.parse(readFileSync(join(work, "demo", ".lakeforge", "project.json"), "utf8"));
    expect(manifest.options).toMatchObject({ schema: "churn", include_feature_store: true, ci_auth: "oauth_m2m" });
    expect(repo.git.file("refs/heads/main", "databricks.yml")?.toString()).toBe(bundle);

    // Outputs and the job summary: the plan with secrets by name, links to the repository and environments.
    expect(first.outputs).toMatchObject({
      repository: "acme/demo",
      repository_url: `${fake.url.replace(/\/$/, "")}/acme/demo`,
      plan_has_changes: "true",
      applied: "true",
      project_dir: join(work, "demo"),
    });
    expect(JSON.parse(first.outputs.plan_summary ?? "{}")).toMatchObject({ delete: 0, update: 0 });
    expect(JSON.parse(first.outputs.plan_summary ?? "{}").create).toBeGreaterThan(10);
    expect(first.summary).toContain("## Lakeforge init: acme/demo");
    expect(first.summary).toContain(`href="${first.outputs.repository_url}"`);
    expect(first.summary).toContain(`${first.outputs.repository_url}/settings/environments`);
    expect(first.summary).toContain("`prod/DATABRICKS_CLIENT_SECRET`");
    expect(first.summary).toContain("github.environment.prod");
    expect(first.stdout).toContain("::group::Plan: github:acme/demo");

    // State in the forge directory holds no secret; a re-run on a fresh runner folder writes nothing.
    expectNoCanary(filesUnder(join(work, "forge")), secrets, "the bootstrap state");
    const writes = fake.writes();
    const again = await runAction(fresh(), inputs, env);
    expect(again.code).toBe(0);
    expect(fake.writes()).toBe(writes);
    expect(again.outputs.plan_has_changes).toBe("false");
    expectNoCanary(printedLines(again.stdout).join("\n") + again.stderr + again.summary, secrets, "the second run");

    // A runner that lost the bootstrap's state finds what exists by name: no duplicate, no new repository.
    const lost = await runAction(fresh(), { ...inputs, forge_dir: join(work, "other-forge") }, env);
    expect(lost.code, lost.stdout).toBe(0);
    expect(fake.requests.filter((r) => r.method === "POST" && /\/repos$/.test(r.url.split("?")[0] ?? ""))).toHaveLength(1);
  });

  it("dry_run plans without writing; the options file takes the workflow's names too", async () => {
    const { fake, token } = await github();
    const work = fresh();
    writeFileSync(
      join(work, "options.yaml"),
      stringify({
        project_name: "fromfile",
        github_admins_group: "ml-admins",
        DATABRICKS_STAGING_WORKSPACE_HOST: "https://adb-3333.33.azuredatabricks.net",
        USE_DATABRICKS_SERVICE_PRINCIPAL: false,
        ARM_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      }),
    );
    const run = await runAction(
      work,
      { command: "init", org: "acme", options_file: "options.yaml", dry_run: "true", github_token: token },
      { GITHUB_API_URL: fake.url, LAKEFORGE_GITHUB_THROTTLE: "off" },
    );
    expect(run.code, run.stdout).toBe(0);
    expect(fake.writes()).toBe(0);
    expect(fake.repo("acme", "fromfile")).toBeUndefined();
    expect(existsSync(join(work, "fromfile"))).toBe(false);
    expect(run.outputs).toMatchObject({ repository: "acme/fromfile", plan_has_changes: "true", applied: "false" });
    expect(run.summary).toContain("Dry run: nothing was written.");
    // azure_sp (use_databricks_service_principal: false) puts the tenant beside the client id.
    expect(run.stdout).toContain("github.environment_variable.prod/AZURE_TENANT_ID");
    expect(run.stdout).toContain("github.team_access.ml-admins");
    expectNoCanary(printedLines(run.stdout).join("\n") + run.summary, [token], "a dry run");
  });

  it("bootstraps into the local forge too, the repository's URL a file URL", async () => {
    const work = fresh();
    const forgeDir = join(work, "forge");
    const run = await runAction(work, { command: "init", project_name: "solo", forge: "local", forge_dir: forgeDir });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs.repository).toBe(join(forgeDir, "repos", "solo.git"));
    expect(run.outputs.repository_url).toBe(pathToFileURL(join(forgeDir, "repos", "solo.git")).href);
    expect(existsSync(join(forgeDir, "repos", "solo.git", "HEAD"))).toBe(true);
    expect(run.summary).toContain("## Lakeforge init: ");
    expect(run.summary).toContain("local.repository.solo");
  });

  it("fails the step with one located line and writes nothing on bad input", async () => {
    const { fake, token } = await github();
    const work = fresh();
    const env = { GITHUB_API_URL: fake.url, LAKEFORGE_GITHUB_THROTTLE: "off" };

    const badOption = await runAction(work, { command: "init", project_name: "demo", compute: "gpu", github_token: token }, env);
    expect(badOption.code).toBe(1);
    expect(badOption.stdout).toMatch(/^::error::--compute: expected one of serverless, job_clusters, got "gpu"$/m);

    const wrongCommand = await runAction(work, { command: "init", project_name: "demo", vars: "a=1", github_token: token }, env);
    expect(wrongCommand.code).toBe(1);
    expect(wrongCommand.stdout).toContain("::error::input vars: applies to plan, apply only (command is init)");

    const noToken = await runAction(work, { command: "init", project_name: "demo" }, env);
    expect(noToken.code).toBe(1);
    expect(noToken.stdout).toContain("::error::--forge github: GITHUB_TOKEN is not set");
    expect(noToken.summary).toContain("## Lakeforge init failed");

    // A secret written into the options file is refused where it stands, and its value never printed.
    const secret = `canary-file-${hex()}`;
    writeFileSync(join(work, "secret.yaml"), `project_name: demo\nDATABRICKS_PROD_CLIENT_SECRET: ${secret}\n`);
    const inFile = await runAction(work, { command: "init", options_file: "secret.yaml", github_token: token }, env);
    expect(inFile.code).toBe(1);
    expect(inFile.stdout).toMatch(
      /::error::secret\.yaml:2:1 DATABRICKS_PROD_CLIENT_SECRET: a secret is never read from the options file; set the environment variable DATABRICKS_PROD_CLIENT_SECRET/,
    );
    expect(inFile.all.includes(secret)).toBe(false);

    expect(fake.writes()).toBe(0);
    expect(existsSync(join(work, "demo"))).toBe(false);
    for (const r of [badOption, wrongCommand, noToken, inFile])
      expectNoCanary(printedLines(r.stdout).join("\n"), [token], "errors");
  });
});

describe("the action's plan and apply commands against the local workspace", () => {
  it("plans, refuses to apply unapproved changes, applies with auto_approve, then finds nothing to do", async () => {
    const ws = await startWorkspace({ ephemeral: true, port: 0 });
    try {
      const work = fresh();
      const appSecret = `canary-app-${hex()}`;
      writeFileSync(
        join(work, "lakeforge.yaml"),
        stringify({
          project: { name: "action-demo" },
          variables: { scope: { default: "unused" } },
          environments: { ci: { default: true, workspace: { host: ws.url } } },
          resources: {
            secret_scopes: { app: { name: "${var.scope}", secrets: { credential: { from_env: "APP_CREDENTIAL" } } } },
          },
        }),
      );
      const inputs = { config: "lakeforge.yaml", environment: "ci", vars: "scope=action-scope", databricks_token: ws.token };
      const env = { APP_CREDENTIAL: appSecret };
      const secrets = [ws.token, appSecret];

      const plan = await runAction(work, { command: "plan", ...inputs }, env);
      expect(plan.code, plan.stdout).toBe(0);
      expect(plan.stdout).toContain(`::add-mask::${ws.token}`);
      expect(masksComeFirst(plan.stdout)).toBe(true);
      expect(plan.outputs).toMatchObject({ environment: "ci", plan_has_changes: "true" });
      const counts = JSON.parse(plan.outputs.plan_summary ?? "{}");
      expect(counts).toMatchObject({ update: 0, delete: 0, recreate: 0 });
      expect(counts.create).toBeGreaterThan(0);
      expect(existsSync(plan.outputs.plan_file ?? "")).toBe(true);
      expect(plan.summary).toContain("## Lakeforge plan: ci");
      expect(plan.summary).toContain("databricks.secret_scope.app");
      expect(plan.stdout).toContain("action-scope");

      const refused = await runAction(work, { command: "apply", ...inputs }, env);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain("::error::refusing to apply the changes to ci without confirmation");
      expect(refused.outputs.applied).toBe("false");
      expect(refused.summary).toContain("Not applied");

      const applied = await runAction(work, { command: "apply", ...inputs, auto_approve: "true" }, env);
      expect(applied.code, applied.stdout).toBe(0);
      expect(applied.outputs).toMatchObject({ applied: "true", plan_has_changes: "true" });
      expect(applied.summary).toContain(`Applied: ${counts.create} change(s) made.`);
      const scopes = (await (
        await fetch(`${ws.url}/api/2.0/secrets/scopes/list`, { headers: { Authorization: `Bearer ${ws.token}` } })
      ).json()) as { scopes?: { name: string }[] };
      expect(scopes.scopes?.map((s) => s.name)).toContain("action-scope");

      const again = await runAction(work, { command: "apply", ...inputs }, env);
      expect(again.code).toBe(0);
      expect(again.outputs).toMatchObject({ plan_has_changes: "false", applied: "true" });

      for (const r of [plan, refused, applied, again]) {
        expectNoCanary(
          printedLines(r.stdout).join("\n") + r.stderr + r.summary + JSON.stringify(r.outputs),
          secrets,
          "plan/apply",
        );
      }
      expectNoCanary(readFileSync(plan.outputs.plan_file ?? "", "utf8"), secrets, "the saved plan");
    } finally {
      await ws.stop();
    }
  });
});
