/**
 * The event table: for each event, which environment the generated pipelines plan or apply, on GitHub
 * Actions and on Azure DevOps, for the default strategy (examples/platform) and a custom one.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { azurePipelines, githubWorkflows, loadStrategy } from "../../src/pipelines/index.js";
import { type AdoEvent, adoDeployments, type GithubEvent, githubDeployments } from "./simulate.js";

const EXAMPLE = resolve(import.meta.dirname, "../../examples/platform");
const ENVIRONMENTS = ["development", "uat", "preproduction", "production"];

const show = (ds: { environment: string; operation: string }[]) =>
  ds.map((d) => `${d.operation} ${d.environment}`).sort((a, b) => a.localeCompare(b));

function githubTable(configDir: string, event: GithubEvent): string[] {
  const s = loadStrategy(configDir);
  return show(githubWorkflows(s).flatMap((f) => githubDeployments(f.path, f.content, event)));
}

function adoTable(configDir: string, event: AdoEvent): string[] {
  const s = loadStrategy(configDir);
  const [file] = azurePipelines(s);
  return show(adoDeployments(file?.content ?? "", event));
}

describe("the default strategy (examples/platform)", () => {
  const github: [string, GithubEvent, string[]][] = [
    ["push to main", { name: "push", ref: "refs/heads/main" }, ["apply development"]],
    ["pull request opened into main", { name: "pull_request", action: "opened", base: "main" }, ["plan development"]],
    ["pull request synchronized into main", { name: "pull_request", action: "synchronize", base: "main" }, ["plan development"]],
    ["pull request reopened into main", { name: "pull_request", action: "reopened", base: "main" }, ["plan development"]],
    ["pull request closed unmerged", { name: "pull_request", action: "closed", base: "main", merged: false }, []],
    ["pull request closed merged (its push deploys)", { name: "pull_request", action: "closed", base: "main", merged: true }, []],
    ["pull request from a fork into main", { name: "pull_request", action: "opened", base: "main", fork: true }, []],
    ["pull request into release/1.0", { name: "pull_request", action: "opened", base: "release/1.0" }, ["plan uat"]],
    ["pull request into a feature branch", { name: "pull_request", action: "opened", base: "feature/y" }, []],
    ["push to release/1.0", { name: "push", ref: "refs/heads/release/1.0" }, ["apply preproduction", "apply uat"]],
    ["push to a feature branch", { name: "push", ref: "refs/heads/feature/x" }, []],
    ["tag v1.2.3 on a release branch", { name: "push", ref: "refs/tags/v1.2.3" }, ["apply production"]],
    ["tag other-1", { name: "push", ref: "refs/tags/other-1" }, []],
  ];
  for (const env of ENVIRONMENTS) {
    for (const operation of ["plan", "apply"]) {
      github.push([
        `workflow_dispatch ${operation} ${env}`,
        { name: "workflow_dispatch", ref: "refs/heads/main", inputs: { environment: env, operation } },
        [`${operation} ${env}`],
      ]);
    }
  }
  it.each(github)("GitHub: %s", (_, event, expected) => {
    expect(githubTable(EXAMPLE, event)).toEqual(expected);
  });

  const ado: [string, AdoEvent, string[]][] = [
    ["push to main", { reason: "IndividualCI", branch: "refs/heads/main" }, ["apply development"]],
    ["pull request into main (Azure Repos)", { reason: "PullRequest", target: "refs/heads/main" }, ["plan development"]],
    ["pull request into main (GitHub repository)", { reason: "PullRequest", target: "main" }, ["plan development"]],
    ["pull request into release/1.0", { reason: "PullRequest", target: "refs/heads/release/1.0" }, ["plan uat"]],
    ["pull request into release/1.0 (GitHub repository)", { reason: "PullRequest", target: "release/1.0" }, ["plan uat"]],
    ["pull request into a feature branch", { reason: "PullRequest", target: "refs/heads/feature/y" }, []],
    ["push to release/1.0", { reason: "IndividualCI", branch: "refs/heads/release/1.0" }, ["apply preproduction", "apply uat"]],
    ["push to a feature branch", { reason: "IndividualCI", branch: "refs/heads/feature/x" }, []],
    ["tag v1.2.3 on a release branch", { reason: "IndividualCI", branch: "refs/tags/v1.2.3" }, ["apply production"]],
    ["tag other-1", { reason: "IndividualCI", branch: "refs/tags/other-1" }, []],
    ["manual run with the defaults", { reason: "Manual", branch: "refs/heads/main", parameters: {} }, ["plan development"]],
  ];
  for (const env of ENVIRONMENTS) {
    for (const operation of ["plan", "apply"]) {
      ado.push([
        `manual ${operation} ${env}`,
        { reason: "Manual", branch: "refs/heads/main", parameters: { environment: env, operation } },
        [`${operation} ${env}`],
      ]);
    }
  }
  it.each(ado)("Azure DevOps: %s", (_, event, expected) => {
    expect(adoTable(EXAMPLE, event)).toEqual(expected);
  });
});

describe("a custom strategy", () => {
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-pipelines-events-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "lakeforge.yaml"),
    [
      "project: { name: custom }",
      "environments:",
      "  dev: { workspace: local }",
      "  test: { workspace: { host: https://adb-1.1.azuredatabricks.net } }",
      "  stage: { workspace: { host: https://adb-2.2.azuredatabricks.net } }",
      "  prod: { workspace: { host: https://adb-3.3.azuredatabricks.net } }",
      "  sandbox: { workspace: local }",
      "pipelines:",
      "  branches: { main: trunk, release: rel/** }",
      "  tags: release-*",
      "  deploy: { main: dev, release: [test, stage], tag: prod }",
      "",
    ].join("\n"),
  );

  const github: [string, GithubEvent, string[]][] = [
    ["push to trunk", { name: "push", ref: "refs/heads/trunk" }, ["apply dev"]],
    ["push to main", { name: "push", ref: "refs/heads/main" }, []],
    ["pull request into trunk", { name: "pull_request", action: "opened", base: "trunk" }, ["plan dev"]],
    ["pull request into rel/2/1", { name: "pull_request", action: "synchronize", base: "rel/2/1" }, ["plan test"]],
    ["push to rel/2/1", { name: "push", ref: "refs/heads/rel/2/1" }, ["apply stage", "apply test"]],
    ["push to release/1.0", { name: "push", ref: "refs/heads/release/1.0" }, []],
    ["tag release-7", { name: "push", ref: "refs/tags/release-7" }, ["apply prod"]],
    ["tag v1.2.3", { name: "push", ref: "refs/tags/v1.2.3" }, []],
    [
      "dispatch apply sandbox",
      { name: "workflow_dispatch", ref: "refs/heads/trunk", inputs: { environment: "sandbox", operation: "apply" } },
      ["apply sandbox"],
    ],
  ];
  it.each(github)("GitHub: %s", (_, event, expected) => {
    expect(githubTable(dir, event)).toEqual(expected);
  });

  const ado: [string, AdoEvent, string[]][] = [
    ["push to trunk", { reason: "IndividualCI", branch: "refs/heads/trunk" }, ["apply dev"]],
    ["pull request into rel/2", { reason: "PullRequest", target: "refs/heads/rel/2" }, ["plan test"]],
    ["push to rel/2", { reason: "IndividualCI", branch: "refs/heads/rel/2" }, ["apply stage", "apply test"]],
    ["tag release-7", { reason: "IndividualCI", branch: "refs/tags/release-7" }, ["apply prod"]],
    [
      "manual apply sandbox",
      { reason: "Manual", branch: "refs/heads/trunk", parameters: { environment: "sandbox", operation: "apply" } },
      ["apply sandbox"],
    ],
  ];
  it.each(ado)("Azure DevOps: %s", (_, event, expected) => {
    expect(adoTable(dir, event)).toEqual(expected);
  });

  it("names no default branch or environment", () => {
    const s = loadStrategy(dir);
    for (const f of [...githubWorkflows(s), ...azurePipelines(s)]) {
      expect(f.content, f.path).not.toMatch(/\bmain\b|release\/|development|production|\buat\b/);
      if (!f.path.includes("manual")) expect(f.content, f.path).toContain("trunk");
    }
  });
});
