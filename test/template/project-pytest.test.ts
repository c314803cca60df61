/**
 * Every rendered project passes its own pytest suite: the default project and one project per
 * distinct Python side of the option matrix (package, tests, requirements, pyproject), each run with
 * `python -m pytest` in the shared virtualenv that `scripts/setup.sh` builds from the template's
 * pinned requirements (.cache/venv-project). The suites use a local SparkSession (Java 17) and a
 * local MLflow store; nothing leaves the machine.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { derivePackageName, resolveAnswers } from "../../src/template/options.js";
import { initProject, renderProject } from "../../src/template/project.js";
import type { RenderedFile } from "../../src/template/render.js";
import { caseAnswers, type MatrixCase, matrixCases, NAMINGS, pythonHash, renderCase } from "./matrix.js";

const PYTHON = resolve(".cache/venv-project/bin/python");
const hasVenv = existsSync(PYTHON);
/** One project's suite takes about a minute on two cores; the limit leaves room for a busy machine. */
const PYTEST_TIMEOUT_MS = 15 * 60_000;

interface PytestRun {
  code: number | null;
  output: string;
}

/** Runs `python -m pytest -q` in `dir` with the shared venv's interpreter. */
function pytest(dir: string): Promise<PytestRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
  // The suites choose their own Spark and MLflow set-up; inherited settings must not redirect them.
  for (const name of Object.keys(env)) {
    if (/^(MLFLOW_|PYSPARK_|SPARK_|DATABRICKS_)/.test(name) || name === "PYTHONPATH") delete env[name];
  }
  return new Promise((done, fail) => {
    const child = spawn(PYTHON, ["-m", "pytest", "-q", "-p", "no:cacheprovider"], { cwd: dir, env });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, output }));
  });
}

/** pytest's closing line, e.g. `36 passed, 2 warnings in 58.21s`. */
function summaryLine(output: string): string {
  const lines = output.trimEnd().split("\n");
  return lines.findLast((l) => /\b(passed|failed|errors?|no tests ran)\b.* in [\d.]+s/.test(l))?.trim() ?? "";
}

interface Project {
  name: string;
  files: RenderedFile[];
  render: (dir: string) => void;
}

/** The default project (only a name given), then the first matrix case of every other Python side. */
function projectsToTest(): Project[] {
  const defaults = resolveAnswers({ project_name: "churn-model" });
  if (!defaults.answers) throw new Error(`default options rejected: ${JSON.stringify(defaults.problems)}`);
  const defaultAnswers = defaults.answers;
  const seen = new Set<string>();
  const out: Project[] = [];
  const add = (name: string, files: RenderedFile[], render: (dir: string) => void) => {
    const hash = pythonHash(files);
    if (seen.has(hash)) return;
    seen.add(hash);
    out.push({ name, files, render });
  };
  add("default", renderProject(defaultAnswers), (dir) => initProject(dir, defaultAnswers));
  for (const c of matrixCases()) {
    add(describeCase(c), renderCase(c.case), (dir) => initProject(dir, caseAnswers(c.case)));
  }
  return out;
}

function describeCase(c: MatrixCase): string {
  const v = c.case;
  const flags = [`naming=${String(v.naming)}`, `python=${String(v.python_version)}`];
  if (v.include_feature_store) flags.push("feature_store");
  if (v.include_monitoring) flags.push("monitoring");
  return `${c.name} (${flags.join(", ")})`;
}

describe.skipIf(!hasVenv)("rendered projects pass their own pytest suite", () => {
  const root = mkdtempSync(join(tmpdir(), "lakeforge-pytest-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const projects = projectsToTest();

  it("covers both feature-store variants and every naming of the matrix", () => {
    const packageFiles = (p: Project) => p.files.map((f) => f.path).filter((path) => path.startsWith("src/"));
    const hasFeatureStore = (p: Project) => packageFiles(p).some((path) => path.endsWith("/feature_store.py"));
    expect(projects.some(hasFeatureStore)).toBe(true);
    expect(projects.some((p) => !hasFeatureStore(p))).toBe(true);
    const packages = new Set(projects.flatMap((p) => packageFiles(p).map((path) => path.split("/")[1])));
    const expected = Object.values(NAMINGS).map((n) => derivePackageName(n.project_name));
    expect([...packages].sort()).toEqual([...new Set(expected)].sort());
  });

  it.each(projects.map((p, i) => [p.name, i] as const))(
    "%s",
    async (_name, i) => {
      const project = projects[i] as Project;
      const dir = join(root, `p${i}`);
      project.render(dir);
      const run = await pytest(dir);
      const summary = summaryLine(run.output);
      expect(run.code, `pytest failed in ${project.name}:\n${run.output.slice(-6000)}`).toBe(0);
      expect(summary).toMatch(/^\d+ passed/);
      expect(summary).not.toMatch(/failed|error|skipped|xfail|xpass/);
      process.stderr.write(`pytest ${project.name}: ${summary}\n`);
    },
    PYTEST_TIMEOUT_MS,
  );
});
