import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { githubStatePath } from "../../src/cli/init.js";
import { MANIFEST_PATH } from "../../src/template/project.js";
import { type GithubFake, startGithubFake } from "../fakes/github/server.js";
import { runCli } from "../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "lakeforge-init-github-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `f${n++}`);

const CANARIES = {
  DATABRICKS_TEST_CLIENT_SECRET: `canary-test-${randomBytes(8).toString("hex")}`,
  DATABRICKS_STAGING_CLIENT_SECRET: `canary-staging-${randomBytes(8).toString("hex")}`,
  DATABRICKS_PROD_CLIENT_SECRET: `canary-prod-${randomBytes(8).toString("hex")}`,
};

let fake: GithubFake | undefined;

afterEach(async () => {
  // Every request sent and every answer given were allowed by GitHub's OpenAPI description.
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

async function setup() {
  fake = await startGithubFake();
  fake.addUser("octo");
  fake.addOrg("acme");
  fake.addTeam("acme", "ml-admins");
  fake.addTeam("acme", "ml-team");
  const token = `ghp_CANARYTOKEN${randomBytes(12).toString("hex")}`;
  fake.addToken(token, "octo");
  const env = {
    ...CANARIES,
    GITHUB_TOKEN: token,
    GITHUB_API_URL: fake.url,
    LAKEFORGE_GITHUB_THROTTLE: "off",
  };
  return { fake, token, env };
}

/** Runs the CLI in this process with `env` added to an environment holding no GitHub settings of this machine. */
const cli = (env: Record<string, string>, ...args: string[]) =>
  runCli(args, {
    env,
    unset: [
      "GITHUB_TOKEN",
      "GITHUB_API_URL",
      "LAKEFORGE_GITHUB_THROTTLE",
      "GITHUB_ADMINS_GROUP",
      "GITHUB_CONTRIBUTOR_GROUP",
      "GITHUB_APP_ID",
      "GITHUB_APP_PRIVATE_KEY",
      "GITHUB_APP_PRIVATE_KEY_FILE",
      "GITHUB_APP_INSTALLATION_ID",
    ],
  });

function expectNoSecret(text: string, values: string[]) {
  for (const v of values) expect(text.includes(v), "a secret value appeared in the CLI output").toBe(false);
}

const writesOf = (f: GithubFake) => f.requests.filter((r) => r.method !== "GET").length;

describe("lakeforge init --forge github", () => {
  it("creates the repository, environments, sealed secrets and files, and converges on a re-run", async () => {
    const s = await setup();
    const dir = fresh();
    const forgeDir = fresh();
    const args = ["init", "demo", "--forge", "github", "--org", "acme", "--no-input", "--ci-auth", "oauth_m2m"];
    const groups = { GITHUB_ADMINS_GROUP: "ml-admins", GITHUB_CONTRIBUTOR_GROUP: "ml-team" };
    const first = await cli({ ...s.env, ...groups }, ...args, "--dir", dir, "--forge-dir", forgeDir);
    expect(first.stderr).toContain("Rendered demo");
    expect(first.code).toBe(0);
    expect(first.stderr).toContain("repository: acme/demo");

    const repo = s.fake.repo("acme", "demo");
    expect(repo).toBeDefined();
    if (!repo) return;
    expect(repo.private).toBe(true);
    expect(repo.defaultBranch).toBe("main");
    expect([...repo.environments.keys()].sort()).toEqual(["prod", "staging", "test"]);
    // The admins group has admin on the repository and reviews deployments to prod (a target needing approval).
    expect(Object.fromEntries(repo.teams)).toEqual({ "ml-admins": "admin", "ml-team": "push" });
    expect(repo.environments.get("prod")?.reviewers.map((r) => r.type)).toEqual(["Team"]);
    expect(repo.environments.get("staging")?.reviewers).toEqual([]);
    expect(s.fake.decryptSecret("acme", "demo", "test", "DATABRICKS_CLIENT_SECRET")).toBe(CANARIES.DATABRICKS_TEST_CLIENT_SECRET);
    expect(s.fake.decryptSecret("acme", "demo", "staging", "DATABRICKS_CLIENT_SECRET")).toBe(
      CANARIES.DATABRICKS_STAGING_CLIENT_SECRET,
    );
    expect(s.fake.decryptSecret("acme", "demo", "prod", "DATABRICKS_CLIENT_SECRET")).toBe(CANARIES.DATABRICKS_PROD_CLIENT_SECRET);
    // The repository holds the rendered project, manifest included, on both branches.
    expect(repo.git.file("refs/heads/main", MANIFEST_PATH)?.toString()).toBe(readFileSync(join(dir, MANIFEST_PATH), "utf8"));
    expect(repo.git.refs.get("refs/heads/release")).toBe(repo.git.refs.get("refs/heads/main"));

    // State lives in the forge directory, with fingerprints and never values.
    const stateFile = githubStatePath(forgeDir, "acme", "demo");
    expect(existsSync(stateFile)).toBe(true);
    expectNoSecret(readFileSync(stateFile, "utf8"), [...Object.values(CANARIES), s.token]);

    const before = writesOf(s.fake);
    const again = await cli({ ...s.env, ...groups }, ...args, "--dir", dir, "--forge-dir", forgeDir, "--force", "--json");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).forge).toMatchObject({
      name: "github",
      repository: "acme/demo",
      applied: true,
      plan: { create: 0, update: 0, delete: 0, recreate: 0 },
    });
    expect(writesOf(s.fake)).toBe(before);
    expectNoSecret(first.stdout + first.stderr + again.stdout + again.stderr, [...Object.values(CANARIES), s.token]);
  });

  it("owns the repository by the token's user without --org; --dry-run writes nothing", async () => {
    const s = await setup();
    const dir = fresh();
    const forgeDir = fresh();
    const dry = await cli(
      s.env,
      "init",
      "demo",
      "--forge",
      "github",
      "--no-input",
      "--dir",
      dir,
      "--forge-dir",
      forgeDir,
      "--dry-run",
    );
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain("nothing was written");
    expect(dry.stderr).toContain("github.repository");
    expect(writesOf(s.fake)).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(forgeDir)).toBe(false);

    const real = await cli(s.env, "init", "demo", "--forge", "github", "--no-input", "--dir", dir, "--forge-dir", forgeDir);
    expect(real.code).toBe(0);
    expect(s.fake.repo("octo", "demo")).toBeDefined();
    expect(existsSync(githubStatePath(forgeDir, "octo", "demo"))).toBe(true);
    expectNoSecret(dry.stdout + dry.stderr + real.stdout + real.stderr, [...Object.values(CANARIES), s.token]);
  });

  it("authenticates as a GitHub App installation, protects with rulesets, and leaks neither key nor token", async () => {
    const s = await setup();
    const app = s.fake.addApp("lakeforge-bot", "acme");
    s.fake.installApp(app.id, "acme", {
      administration: "write",
      contents: "write",
      environments: "write",
      secrets: "write",
      actions_variables: "write",
      workflows: "write",
      members: "read",
    });
    const keyDir = fresh();
    mkdirSync(keyDir);
    const keyFile = join(keyDir, "app.pem");
    writeFileSync(keyFile, app.privateKeyPem, { mode: 0o600 });
    const { GITHUB_TOKEN: _token, ...base } = s.env;
    const env = {
      ...base,
      GITHUB_APP_ID: String(app.id),
      GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
      GITHUB_ADMINS_GROUP: "ml-admins",
      DATABRICKS_CI_CLIENT_ID: "99999999-2222-3333-4444-555555555555",
      DATABRICKS_CI_CLIENT_SECRET: `canary-ci-${randomBytes(8).toString("hex")}`,
    };
    const dir = fresh();
    const forgeDir = fresh();
    const args = ["init", "demo", "--forge", "github", "--org", "acme", "--no-input", "--ci-auth", "oauth_m2m"];
    const first = await cli(env, ...args, "--dir", dir, "--forge-dir", forgeDir, "--json");
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).forge).toMatchObject({ repository: "acme/demo", auth: "github-app", applied: true });
    const repo = s.fake.repo("acme", "demo");
    expect([...(repo?.rulesets.values() ?? [])].map((r) => r.name).sort()).toEqual(["lakeforge: main", "lakeforge: release"]);
    // The pull-request validation job's CI identity, at repository level.
    expect(repo?.variables.get("DATABRICKS_CLIENT_ID")?.value).toBe(env.DATABRICKS_CI_CLIENT_ID);
    expect(s.fake.decryptRepositorySecret("acme", "demo", "DATABRICKS_CLIENT_SECRET")).toBe(env.DATABRICKS_CI_CLIENT_SECRET);

    // The same key given inline (newlines escaped, as some secret stores keep it) converges with no write.
    const { GITHUB_APP_PRIVATE_KEY_FILE: _file, ...inlineBase } = env;
    const inline = { ...inlineBase, GITHUB_APP_PRIVATE_KEY: app.privateKeyPem.replace(/\n/g, "\\n") };
    const before =
      writesOf(s.fake) - s.fake.requests.filter((r) => r.operationId === "apps/create-installation-access-token").length;
    const again = await cli(inline, ...args, "--dir", dir, "--forge-dir", forgeDir, "--force", "--json");
    expect(again.code, again.stderr).toBe(0);
    const after =
      writesOf(s.fake) - s.fake.requests.filter((r) => r.operationId === "apps/create-installation-access-token").length;
    expect(after).toBe(before);

    const keyLines = app.privateKeyPem.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
    const texts = [
      first.stdout,
      first.stderr,
      again.stdout,
      again.stderr,
      readFileSync(githubStatePath(forgeDir, "acme", "demo"), "utf8"),
      ...s.fake.requests.map((r) => r.url),
    ].join("\n");
    expectNoSecret(texts, [...keyLines, ...s.fake.installationTokens, env.DATABRICKS_CI_CLIENT_SECRET]);

    // A key that is not PEM fails before anything is rendered or written.
    const bad = await cli({ ...inline, GITHUB_APP_PRIVATE_KEY: "not-a-key" }, ...args, "--dir", fresh(), "--forge-dir", forgeDir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("GITHUB_APP_PRIVATE_KEY: not a PEM private key");
    expect(bad.stderr).not.toContain("not-a-key");
  });

  it("needs GITHUB_TOKEN and a valid one, before writing anything", async () => {
    const s = await setup();
    const dir = fresh();
    const missing = await cli({ GITHUB_API_URL: s.fake.url }, "init", "demo", "--forge", "github", "--no-input", "--dir", dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("GITHUB_TOKEN is not set");
    expect(existsSync(dir)).toBe(false);

    const forgeDir = fresh();
    const wrong = await cli(
      { ...s.env, GITHUB_TOKEN: "ghp_not-a-known-token" },
      ...["init", "demo", "--forge", "github", "--no-input", "--dir", dir, "--forge-dir", forgeDir, "--dry-run"],
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("rejected the token");
    expect(wrong.stderr).not.toContain("ghp_not-a-known-token");
    expect(writesOf(s.fake)).toBe(0);
  });
});
