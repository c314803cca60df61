/**
 * `lakeforge pipelines generate`: writes the files, is deterministic, `--check` lists drifted files and
 * exits 1, the committed pipelines of examples/platform are current, bad `pipelines:` configuration is
 * one located error, and the release-tag guard works against a real git repository.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { ConfigError } from "../../src/config/errors.js";
import { generatePipelines, loadStrategy } from "../../src/pipelines/index.js";
import { releaseTagScript } from "../../src/pipelines/scripts.js";

const EXAMPLE = resolve(import.meta.dirname, "../../examples/platform");
const work = mkdtempSync(join(tmpdir(), "lakeforge-pipelines-gen-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let stderr: string[];
let stdout: string[];
beforeEach(() => {
  stderr = [];
  stdout = [];
  process.exitCode = undefined;
  vi.spyOn(process.stderr, "write").mockImplementation((s) => {
    stderr.push(String(s));
    return true;
  });
  vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    stdout.push(String(s));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

const cli = (...args: string[]) => {
  process.exitCode = undefined;
  return main(["node", "lakeforge", ...args]);
};

function project(name: string, pipelines: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "lakeforge.yaml"),
    [
      "project:",
      "  name: p",
      "environments:",
      "  development: { workspace: local }",
      "  uat: { workspace: local }",
      "  preproduction: { workspace: local }",
      "  production: { workspace: local }",
      pipelines,
      "",
    ].join("\n"),
  );
  return dir;
}

describe("generate and --check", () => {
  it("the committed pipelines of examples/platform are current", async () => {
    for (const platform of ["github", "azure-devops"]) {
      expect(await cli("pipelines", "generate", "--platform", platform, "-C", EXAMPLE, "--check"), stderr.join("")).toBe(0);
    }
    expect(stderr.join("")).toContain("Pipelines are current");
  });

  it("writes the files, prints the settings, then finds them current; an edit is drift", async () => {
    const dir = project("gen", "");
    expect(await cli("pipelines", "generate", "--platform", "github", "-C", dir)).toBe(0);
    const out = stderr.join("");
    expect(out).toContain("created: .github/workflows/lakeforge-deploy.yml");
    expect(out).toContain("environment production (required reviewers)");
    const deploy = join(dir, ".github/workflows/lakeforge-deploy.yml");
    const first = readFileSync(deploy, "utf8");
    expect(first).toMatch(/^# .*\n#\n# Generated from the `pipelines:` section of lakeforge.yaml; do not edit by hand/);

    stderr = [];
    expect(await cli("pipelines", "generate", "--platform", "github", "-C", dir, "--check")).toBe(0);
    writeFileSync(deploy, first.replace("cancel-in-progress: false", "cancel-in-progress: true"));
    stderr = [];
    expect(await cli("pipelines", "generate", "--platform", "github", "-C", dir, "--check")).toBe(1);
    expect(stderr.join("")).toContain("1 pipeline file differs");
    expect(stderr.join("")).toContain("changed: .github/workflows/lakeforge-deploy.yml");
    expect(stderr.join("")).not.toContain("lakeforge-plan.yml");
    expect(readFileSync(deploy, "utf8")).not.toBe(first); // --check writes nothing

    stderr = [];
    expect(await cli("pipelines", "generate", "--platform", "azure-devops", "-C", dir, "--check", "--json")).toBe(1);
    const json = JSON.parse(stdout.join("")) as { drifted: string[]; written: boolean };
    expect(json).toMatchObject({ drifted: ["azure-pipelines.yml"], written: false });

    expect(await cli("pipelines", "generate", "--platform", "github", "-C", dir)).toBe(0);
    expect(readFileSync(deploy, "utf8")).toBe(first);
  });

  it("is deterministic and changes when the strategy does", () => {
    const a = project("det-a", "");
    const b = project("det-b", "pipelines:\n  branches: { main: trunk }\n  node_version: 20\n  lakeforge_version: 1.2.3");
    const one = generatePipelines({ config: a, platform: "github", check: true });
    const two = generatePipelines({ config: a, platform: "github", check: true });
    expect(one.files.map((f) => f.path)).toEqual(two.files.map((f) => f.path));
    generatePipelines({ config: a, platform: "github" });
    expect(generatePipelines({ config: a, platform: "github", check: true }).drifted).toEqual([]);
    generatePipelines({ config: b, platform: "github" });
    const deploy = readFileSync(join(b, ".github/workflows/lakeforge-deploy.yml"), "utf8");
    expect(deploy).toContain("- trunk");
    expect(deploy).toContain('node-version: "20"');
    expect(deploy).toContain('LAKEFORGE_VERSION: "1.2.3"');
    expect(deploy).not.toMatch(/\bmain\b/);
  });

  it("writes under --out with the configuration's path", () => {
    const dir = project("nested/infra", "");
    const root = join(work, "nested");
    const r = generatePipelines({ config: dir, platform: "azure-devops", out: root });
    expect(r.files[0]?.file).toBe(join(root, "azure-pipelines.yml"));
    const text = readFileSync(join(root, "azure-pipelines.yml"), "utf8");
    expect(text).toContain("--config infra --environment production");
    expect(text).toContain("pipelines generate --platform azure-devops --config infra --out . --check");
  });
});

describe("configuration errors", () => {
  const cases: [string, string, RegExp][] = [
    [
      "an unknown environment",
      "pipelines:\n  deploy:\n    tag: prod",
      /lakeforge\.yaml:10:10 pipelines\.deploy\.tag: environment "prod" does not exist/,
    ],
    [
      "an unknown field",
      "pipelines:\n  branchs: { main: trunk }",
      /lakeforge\.yaml:9:3 pipelines\.branchs: unknown field "branchs"; did you mean "branches"\?/,
    ],
    [
      "a bad auth method",
      "pipelines:\n  auth: { method: client-secret }",
      /lakeforge\.yaml:9:19 pipelines\.auth\.method: expected one of azure-oidc, databricks-oidc, databricks-m2m/,
    ],
    [
      "a release pattern matching main",
      "pipelines:\n  branches: { release: '*' }",
      /pipelines\.branches\.release: release branch pattern "\*" has no fixed prefix/,
    ],
    [
      "an environment deployed twice",
      "pipelines:\n  deploy: { release: [uat, production] }",
      /lakeforge\.yaml:9:28 pipelines\.deploy\.release\.1: environment "production" is also deployed by pipelines\.deploy\.tag \(its default\)/,
    ],
    [
      "reviewers without approval",
      "pipelines:\n  environments:\n    uat: { approval: false, reviewers: [alice] }",
      /pipelines\.environments\.uat\.reviewers: reviewers are set but the environment needs no approval/,
    ],
    [
      "a reserved secret name",
      "pipelines:\n  env_names: { GITHUB_TOKEN: GITHUB_PAT }",
      /pipelines\.env_names\.GITHUB_TOKEN: "GITHUB_PAT" starts with GITHUB_/,
    ],
    [
      "a bad version",
      "pipelines:\n  lakeforge_version: latest",
      /lakeforge\.yaml:9:22 pipelines\.lakeforge_version: expected a version/,
    ],
  ];
  it.each(cases)("%s is one located error, exit 1, nothing written", async (name, section, message) => {
    const dir = project(`err-${name.replace(/\W+/g, "-")}`, section);
    expect(await cli("pipelines", "generate", "--platform", "github", "-C", dir)).toBe(1);
    const err = stderr.join("");
    expect(err).toMatch(message);
    expect(err.match(/lakeforge\.yaml:\d+:\d+/g)?.length ?? 0, err).toBe(1);
    expect(() => readFileSync(join(dir, ".github/workflows/lakeforge-plan.yml"))).toThrow();
  });

  it("names the missing environments of the default strategy", () => {
    const dir = join(work, "two-envs");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "lakeforge.yaml"), "project: { name: p }\nenvironments:\n  dev: {}\n  prod: {}\n");
    try {
      loadStrategy(dir, { relativeTo: dir });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).message).toContain(
        'lakeforge.yaml:2:1 environments: the default pipeline strategy deploys environment "development"',
      );
      expect((e as ConfigError).issues.map((i) => i.message.match(/"(\w+)"/)?.[1])).toEqual([
        "development",
        "uat",
        "preproduction",
        "production",
      ]);
    }
  });
});

describe("the release-tag guard (real git)", () => {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync("git", args, {
      cwd,
      encoding: "utf8",
      env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x" },
    }).trim();

  it("passes for a tag on a release branch, fails for one on main only", () => {
    const origin = join(work, "origin");
    mkdirSync(origin);
    git(origin, "init", "-q", "-b", "main");
    git(origin, "commit", "-q", "--allow-empty", "-m", "one");
    git(origin, "checkout", "-q", "-b", "release/1.0");
    git(origin, "commit", "-q", "--allow-empty", "-m", "release fix");
    git(origin, "tag", "v1.0.0");
    git(origin, "checkout", "-q", "main");
    git(origin, "commit", "-q", "--allow-empty", "-m", "main only");
    git(origin, "tag", "v9.9.9");
    const clone = join(work, "clone");
    git(work, "clone", "-q", origin, clone);
    const s = loadStrategy(project("guard", ""));
    const script = releaseTagScript(s, "$SHA", "$TAG", (m) => `echo "ERROR ${m}" >&2`);
    const run = (tag: string) =>
      spawnSync("bash", ["-eo", "pipefail", "-c", script], {
        cwd: clone,
        encoding: "utf8",
        env: { ...process.env, SHA: git(clone, "rev-parse", `${tag}^{commit}`), TAG: tag },
      });
    const ok = run("v1.0.0");
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("origin/release/1.0");
    const bad = run("v9.9.9");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("ERROR tag v9.9.9 is not on a release branch (release/*)");
  });
});
