import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ACCESS_LEVELS } from "../../src/bootstrap/azure-devops/resources/repository-permission.js";
import { azureDevopsStatePath } from "../../src/cli/init.js";
import { MANIFEST_PATH } from "../../src/template/project.js";
import { type AzureDevopsFake, startAzureDevopsFake } from "../fakes/azure-devops/server.js";
import { runCli } from "../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "lakeforge-init-ado-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `f${n++}`);

const CANARIES = {
  DATABRICKS_TEST_CLIENT_SECRET: `canary-test-${randomBytes(8).toString("hex")}`,
  DATABRICKS_STAGING_CLIENT_SECRET: `canary-staging-${randomBytes(8).toString("hex")}`,
  DATABRICKS_PROD_CLIENT_SECRET: `canary-prod-${randomBytes(8).toString("hex")}`,
};
const ENV_KEYS = [
  "AZURE_DEVOPS_EXT_PAT",
  "SYSTEM_ACCESSTOKEN",
  "AZURE_DEVOPS_ORG_URL",
  "SYSTEM_COLLECTIONURI",
  "AZURE_DEVOPS_PROJECT",
  "GITHUB_ADMINS_GROUP",
  "GITHUB_CONTRIBUTOR_GROUP",
  ...Object.keys(CANARIES),
];

let fake: AzureDevopsFake | undefined;

afterEach(async () => {
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

async function setup() {
  fake = await startAzureDevopsFake("acme");
  fake.addProject("ml");
  fake.addTeam("ml", "ml-admins");
  const token = `CANARYPAT${randomBytes(22).toString("hex").slice(0, 43)}`;
  fake.addToken(token, "pat");
  return { fake, token, env: { ...CANARIES, AZURE_DEVOPS_EXT_PAT: token, GITHUB_ADMINS_GROUP: "ml-admins" } };
}

/** Runs the CLI in this process with `env` added to an environment holding no Azure DevOps settings of this machine. */
const cli = (env: Record<string, string>, ...args: string[]) => runCli(args, { env, unset: ENV_KEYS });

const writesOf = (f: AzureDevopsFake) => f.requests.filter((r) => r.method !== "GET" && r.method !== "OPTIONS").length;
const secretsAndToken = (token: string) => [...Object.values(CANARIES), token];

describe("lakeforge init --forge azure-devops", () => {
  it("creates the repository, variable groups with secret variables, environments, pipelines and policies, and converges", async () => {
    const s = await setup();
    const dir = fresh();
    const forgeDir = fresh();
    const args = ["init", "demo", "--forge", "azure-devops", "--org", s.fake.url, "--project", "ml", "--no-input"];
    const opts = ["--cicd", "azure_devops", "--ci-auth", "oauth_m2m", "--dir", dir, "--forge-dir", forgeDir];
    const first = await cli(s.env, ...args, ...opts);
    expect(first.stderr).toContain("Rendered demo");
    expect(first.code).toBe(0);
    expect(first.stderr).toContain("repository: ml/demo");

    const repo = s.fake.repo("ml", "demo");
    expect(repo?.git.file("refs/heads/main", MANIFEST_PATH)?.toString()).toBe(readFileSync(join(dir, MANIFEST_PATH), "utf8"));
    expect(repo?.git.file("refs/heads/main", "azure-pipelines/deploy.yml")?.toString()).toBe(
      readFileSync(join(dir, "azure-pipelines/deploy.yml"), "utf8"),
    );
    expect(repo?.git.refs.get("refs/heads/release")).toBe(repo?.git.refs.get("refs/heads/main"));
    // The names the rendered pipelines use: `- group: demo-<target>` and `environment: demo-<target>`.
    const deploy = readFileSync(join(dir, "azure-pipelines/deploy.yml"), "utf8");
    for (const g of s.fake.variableGroups())
      expect(deploy + readFileSync(join(dir, "azure-pipelines/ci.yml"), "utf8")).toContain(`group: ${g.name}`);
    const groups = Object.fromEntries(s.fake.variableGroups().map((g) => [g.name, g.variables]));
    expect(groups["demo-prod"]?.DATABRICKS_CLIENT_SECRET).toEqual({
      value: CANARIES.DATABRICKS_PROD_CLIENT_SECRET,
      isSecret: true,
    });
    expect(groups["demo-staging"]?.DATABRICKS_HOST?.isSecret).toBe(false);
    const envNames = s.fake.environments().map((e) => e.name);
    for (const e of envNames)
      expect(deploy + readFileSync(join(dir, "azure-pipelines/ci.yml"), "utf8")).toContain(`environment: ${e}`);
    // Production needs the admins' approval.
    const prod = s.fake.environments().find((e) => e.name === "demo-prod");
    expect(s.fake.checks().map((c) => c.resource.id)).toEqual([String(prod?.id)]);
    expect(
      s.fake
        .pipelines()
        .map((p) => p.name)
        .sort(),
    ).toEqual(["demo-ci", "demo-deploy"]);
    expect(s.fake.policies().length).toBe(4);
    // GITHUB_ADMINS_GROUP administers the repository.
    expect(s.fake.repositoryAces().map((e) => `${e.repository} ${e.team} ${e.allow}/${e.deny}`)).toEqual([
      `demo ml-admins ${ACCESS_LEVELS.administer}/0`,
    ]);

    const stateFile = azureDevopsStatePath(forgeDir, s.fake.url, "ml", "demo");
    expect(existsSync(stateFile)).toBe(true);
    const stateText = readFileSync(stateFile, "utf8");
    for (const v of secretsAndToken(s.token)) expect(stateText).not.toContain(v);

    const before = writesOf(s.fake);
    const again = await cli(s.env, ...args, ...opts, "--force", "--json");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).forge).toMatchObject({
      name: "azure-devops",
      project: "ml",
      repository: "ml/demo",
      applied: true,
      plan: { create: 0, update: 0, delete: 0, recreate: 0 },
    });
    expect(writesOf(s.fake)).toBe(before);
    const output = first.stdout + first.stderr + again.stdout + again.stderr;
    for (const v of secretsAndToken(s.token)) expect(output).not.toContain(v);
    for (const q of s.fake.requests) for (const v of secretsAndToken(s.token)) expect(q.url).not.toContain(v);
  });

  it("--dry-run prints the plan and writes nothing; the organisation and project may come from the environment", async () => {
    const s = await setup();
    const dir = fresh();
    const forgeDir = fresh();
    const env = { ...s.env, AZURE_DEVOPS_ORG_URL: s.fake.url, AZURE_DEVOPS_PROJECT: "ml" };
    const dry = await cli(
      env,
      "init",
      "demo",
      "--forge",
      "azure-devops",
      "--no-input",
      "--cicd",
      "azure_devops",
      "--dir",
      dir,
      "--forge-dir",
      forgeDir,
      "--dry-run",
    );
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain("nothing was written");
    expect(dry.stderr).toContain("azure-devops.repository");
    expect(dry.stderr).toContain("azure-devops.variable_group");
    expect(writesOf(s.fake)).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(forgeDir)).toBe(false);
    for (const v of secretsAndToken(s.token)) expect(dry.stdout + dry.stderr).not.toContain(v);
  });

  it("needs a token, an organisation and an existing project, before writing anything", async () => {
    const s = await setup();
    const dir = fresh();
    const base = ["init", "demo", "--forge", "azure-devops", "--no-input", "--dir", dir];
    const noToken = await cli({}, ...base, "--org", s.fake.url, "--project", "ml");
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("AZURE_DEVOPS_EXT_PAT is not set");
    const noOrg = await cli(s.env, ...base, "--project", "ml");
    expect(noOrg.code).toBe(1);
    expect(noOrg.stderr).toContain("no organisation given");
    const credsInUrl = await cli(s.env, ...base, "--project", "ml", "--org", s.fake.url.replace("http://", "http://user:pw@"));
    expect(credsInUrl.code).toBe(1);
    expect(credsInUrl.stderr).toContain("must not hold credentials");
    expect(existsSync(dir)).toBe(false);

    const forgeDir = fresh();
    const wrong = await cli(
      { ...s.env, AZURE_DEVOPS_EXT_PAT: "not-a-known-token-0000000000000000000000000000000000" },
      ...base,
      "--org",
      s.fake.url,
      "--project",
      "ml",
      "--forge-dir",
      forgeDir,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("rejected the token");
    expect(wrong.stderr).not.toContain("not-a-known-token");
    const missing = await cli(s.env, ...base, "--org", s.fake.url, "--project", "nowhere", "--forge-dir", forgeDir, "--force");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("project nowhere does not exist");
    expect(writesOf(s.fake)).toBe(0);
  });
});
