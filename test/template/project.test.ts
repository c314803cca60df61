import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { unifiedDiff } from "../../src/template/diff.js";
import { evaluate, parseExpr } from "../../src/template/expr.js";
import { globToRegExp } from "../../src/template/glob.js";
import { resolveOptions } from "../../src/template/input.js";
import { templateContext } from "../../src/template/options.js";
import { applyUpdate, initProject, MANIFEST_PATH, planUpdate, readManifest } from "../../src/template/project.js";
import { loadTemplate, outputPath, renderTemplate, sha256, standaloneTags } from "../../src/template/render.js";
import { runCli } from "../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "lakeforge-project-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
// `lakeforge init` also creates the repository in the local forge: keep it inside this test's folder.
process.env.LAKEFORGE_FORGE_DIR = join(root, "forge");
let n = 0;
const fresh = () => join(root, `p${n++}`);

const answers = (extra: [string, string][] = []) =>
  resolveOptions({ flags: [["--project-name", "churn-model"], ["--read-groups", "data-scientists"], ...extra] }).answers;

const cli = (...args: string[]) => runCli(args);

describe("template mechanics", () => {
  it("evaluates conditions with precedence and comparisons", () => {
    const vars = { cicd: "gitlab", include_serving: true, include_monitoring: false, read_groups: [] };
    expect(evaluate(parseExpr('cicd == "gitlab" && include_serving'), vars)).toBe(true);
    expect(evaluate(parseExpr('!include_monitoring || cicd != "gitlab"'), vars)).toBe(true);
    expect(evaluate(parseExpr("(include_serving && include_monitoring) || read_groups"), vars)).toBe(false);
    expect(() => parseExpr("cicd == ")).toThrow(/at the end/);
    expect(() => evaluate(parseExpr("nope"), vars)).toThrow(/unknown option "nope"/);
  });

  it("matches globs segment by segment", () => {
    expect(globToRegExp(".github/**").test(".github/workflows/ci.yml.eta")).toBe(true);
    expect(globToRegExp("**/__pycache__/**").test("src/pkg/__pycache__/x.pyc")).toBe(true);
    expect(globToRegExp("resources/*.yml.eta").test("resources/a/b.yml.eta")).toBe(false);
    expect(globToRegExp("{a,b}.txt").test("b.txt")).toBe(true);
  });

  it("drops control tags alone on their line without blank lines, keeping line counts", () => {
    const src = "a:\n  <% if (x) { %>\n  b: 1\n  <% } %>\nc: <%= y %>\n";
    const out = standaloneTags(src);
    expect(out.split("\n").length).toBe(src.split("\n").length);
    expect(out).toContain("<%= y %>\n");
  });

  it("rewrites __package__ and drops .eta", () => {
    expect(outputPath("src/__package__/pipelines/train.py.eta", "churn_model")).toBe("src/churn_model/pipelines/train.py");
    expect(outputPath("README.md", "x")).toBe("README.md");
  });

  it("renders only the files whose conditions hold", () => {
    const template = loadTemplate();
    const paths = (extra: [string, string][]) =>
      renderTemplate(template, templateContext(answers(extra), template.version)).map((f) => f.path);
    const gitlab = paths([
      ["--cicd", "gitlab"],
      ["--include-feature-store", "yes"],
      ["--include-monitoring", "no"],
    ]);
    expect(gitlab).toContain(".gitlab-ci.yml");
    expect(gitlab).toContain("resources/feature-engineering-job.yml");
    expect(gitlab).not.toContain("resources/monitoring-job.yml");
    expect(gitlab.some((p) => p.startsWith(".github/") || p.startsWith("azure-pipelines/"))).toBe(false);
    expect(gitlab.some((p) => p.startsWith("_partials/") || p === "template.yaml")).toBe(false);
    const ado = paths([["--cicd", "azure_devops"]]);
    expect(ado).toContain("azure-pipelines/deploy.yml");
    expect(ado).not.toContain("CODEOWNERS");
    expect(ado).toContain("src/churn_model/pipelines/train.py");
  });
});

describe("lakeforge init", () => {
  it("renders a project with its manifest and refuses a folder that is not empty", async () => {
    const dir = fresh();
    const r = await cli("init", "churn-model", "--dir", dir, "--no-input", "--cloud", "aws", "--include-serving");
    expect(r.stderr).toContain("Rendered churn-model");
    expect(r.code).toBe(0);
    const manifest = readManifest(dir);
    expect(manifest.template).toBe("ml-project");
    expect(manifest.options.cloud).toBe("aws");
    expect(manifest.options.include_serving).toBe(true);
    for (const [path, hash] of Object.entries(manifest.files)) expect(sha256(readFileSync(join(dir, path))), path).toBe(hash);
    expect(Object.keys(manifest.files)).toContain("scripts/serving_endpoint.py");

    const again = await cli("init", "churn-model", "--dir", dir, "--no-input");
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty .*\n.*hint: .*--force/);
    const forced = await cli("init", "churn-model", "--dir", dir, "--no-input", "--force");
    expect(forced.code).toBe(0);
    expect(readManifest(dir).options.cloud).toBe("azure");
  });

  it("reads an options file and reports bad flags with their name", async () => {
    const dir = fresh();
    mkdirSync(root, { recursive: true });
    const options = join(root, "options.yaml");
    writeFileSync(options, "project_name: fraud-model\nmodel_schema: risk\ncicd_platform: gitlab\n");
    const r = await cli("init", "--dir", dir, "--options", options, "--no-input", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { options: { schema: string; cicd: string }; files: string[] };
    expect(out.options).toMatchObject({ schema: "risk", cicd: "gitlab" });
    expect(out.files).toContain(".gitlab-ci.yml");

    const bad = await cli("init", "x-model", "--dir", fresh(), "--no-input", "--compute", "gpu");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--compute: expected one of serverless, job_clusters, got "gpu"');
  });
});

describe("lakeforge update", () => {
  let dir: string;
  beforeEach(() => {
    dir = fresh();
    initProject(dir, answers());
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("finds nothing to do right after init", async () => {
    expect(planUpdate({ dir }).changes).toEqual([]);
    const r = await cli("update", "--check", "--dir", dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Up to date");
  });

  it("applies an option change as a diff and records it", async () => {
    const r = await cli("update", "--dir", dir, "--include-feature-store", "yes");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--- /dev/null\n+++ b/resources/feature-engineering-job.yml");
    expect(r.stdout).toMatch(/\n- {8}- task_key: features\n/);
    expect(existsSync(join(dir, "resources/feature-engineering-job.yml"))).toBe(true);
    expect(readManifest(dir).options.include_feature_store).toBe(true);
    expect((await cli("update", "--check", "--dir", dir)).code).toBe(0);
  });

  it("never overwrites a file changed locally: reports the conflict, --force takes the template's", async () => {
    const owners = join(dir, "CODEOWNERS");
    const training = join(dir, "resources/training-job.yml");
    writeFileSync(owners, `${readFileSync(owners, "utf8")}* @acme/ml\n`);
    writeFileSync(training, readFileSync(training, "utf8").replace("timeout_seconds: 7200", "timeout_seconds: 3600"));

    // --check reports local changes of template-owned files as drift, for CI.
    const check = await cli("update", "--check", "--dir", dir);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("modified locally: CODEOWNERS");
    // A changed option changes the training job the user edited: conflict; CODEOWNERS is theirs to keep.
    const plan = planUpdate({ dir, flags: [["--include-serving", "yes"]] });
    expect(plan.changes.find((c) => c.path === "resources/training-job.yml")?.kind).toBe("conflict");
    expect(plan.modified).toContain("CODEOWNERS");
    expect(plan.changes.find((c) => c.path === "README.md")?.kind).toBe("update");
    const r = await cli("update", "--dir", dir, "--include-serving", "yes");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /conflict: resources\/training-job.yml: changed locally; the template changed it too; kept your version/,
    );
    expect(readFileSync(training, "utf8")).toContain("timeout_seconds: 3600");
    expect(readFileSync(owners, "utf8")).toContain("@acme/ml");
    expect(existsSync(join(dir, "scripts/serving_endpoint.py"))).toBe(true);
    // Still a conflict on the next run, and --check says so.
    const drift = await cli("update", "--check", "--dir", dir);
    expect(drift.code).toBe(1);
    expect(drift.stderr).toContain("CONFLICT: resources/training-job.yml");

    const forced = await cli("update", "--force", "--dir", dir);
    expect(forced.code).toBe(0);
    expect(readFileSync(training, "utf8")).toContain("timeout_seconds: 7200");
    expect(readFileSync(training, "utf8")).toContain("serving_endpoint");
    expect(readFileSync(owners, "utf8")).toContain("@acme/ml");
    // Only CODEOWNERS, the user's own edit, still differs.
    const after = await cli("update", "--check", "--dir", dir);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("1 template-owned file differ");
  });

  it("deletes a file the template drops unless it was changed, and re-adds nothing the user deleted", () => {
    const monitoring = join(dir, "resources/monitoring-job.yml");
    const plan = planUpdate({ dir, flags: [["--include-monitoring", "no"]] });
    expect(plan.changes.map((c) => [c.path, c.kind])).toContainEqual(["resources/monitoring-job.yml", "delete"]);
    applyUpdate(plan);
    expect(existsSync(monitoring)).toBe(false);
    expect(readManifest(dir).files["resources/monitoring-job.yml"]).toBeUndefined();

    rmSync(join(dir, "CODEOWNERS"));
    expect(planUpdate({ dir }).changes).toEqual([]);
  });

  it("reports a project without a manifest", async () => {
    rmSync(join(dir, MANIFEST_PATH));
    const r = await cli("update", "--dir", dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("has no .lakeforge/project.json");
  });
});

describe("unified diffs", () => {
  it("shows hunks with context and line numbers", () => {
    const before = `${Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n")}\n`;
    const after = before.replace("line 3\n", "line three\n").replace("line 18\n", "");
    expect(unifiedDiff("f.txt", before, after)).toBe(
      [
        "--- a/f.txt",
        "+++ b/f.txt",
        "@@ -1,6 +1,6 @@",
        " line 1",
        " line 2",
        "-line 3",
        "+line three",
        " line 4",
        " line 5",
        " line 6",
        "@@ -15,6 +15,5 @@",
        " line 15",
        " line 16",
        " line 17",
        "-line 18",
        " line 19",
        " line 20",
        "",
      ].join("\n"),
    );
    expect(unifiedDiff("f", "a\n", "a\n")).toBe("");
  });
});
