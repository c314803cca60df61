/**
 * The option matrix of the ML project template, shared by the template suites:
 * - every value of every option dimension and every allowed pair of values (pairwise), plus
 * - the full product of the feature options for GitHub Actions on Azure.
 *
 * `renderMatrix(dir)` renders every case into its own folder; `pythonProjects(projects)` keeps one
 * project per distinct set of Python files (package, tests, requirements, pyproject), for suites that
 * run each project's own pytest in a shared virtualenv.
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ProjectAnswers } from "../../src/template/options.js";
import { resolveAnswers } from "../../src/template/options.js";
import { initProject, renderProject } from "../../src/template/project.js";
import type { RenderedFile } from "../../src/template/render.js";
import { type Allowed, type Case, type Dimensions, pairwise, product } from "./pairwise.js";

/** Ways to name a project: the defaults derived from the name, or every name given. */
export const NAMINGS = {
  derived: { project_name: "churn-model" },
  explicit: { project_name: "fraud_detector", schema: "risk", model_name: "fraud_model", inference_table: "fraud_scores" },
} as const;

export const BRANCHINGS = {
  usual: { default_branch: "main", release_branch: "release" },
  custom: { default_branch: "trunk", release_branch: "releases/prod" },
} as const;

export const DIMENSIONS = {
  cloud: ["azure", "aws", "gcp"],
  cicd: ["github_actions", "azure_devops", "gitlab"],
  environments_preset: ["staging_prod", "four"],
  include_feature_store: [false, true],
  include_monitoring: [false, true],
  include_serving: [false, true],
  compute: ["serverless", "job_clusters"],
  ci_auth: ["github_oidc", "oauth_m2m", "azure_sp"],
  python_version: ["3.10", "3.11", "3.12"],
  read_groups: [[], ["data-scientists", "account users"]],
  code_owners: [[], ["@acme/ml-team"]],
  naming: Object.keys(NAMINGS),
  branching: Object.keys(BRANCHINGS),
} as const satisfies Dimensions;

/** The dimensions the full product runs over (for GitHub Actions on Azure). */
export const FEATURE_DIMENSIONS = [
  "environments_preset",
  "include_feature_store",
  "include_monitoring",
  "include_serving",
  "compute",
  "ci_auth",
] as const;

/** The constraints between options (the same the options check): OIDC needs GitHub; the Azure principal needs Azure. */
export const allowed: Allowed = (a, av, b, bv) => {
  if (a === "ci_auth" && av === "github_oidc" && b === "cicd") return bv === "github_actions";
  if (a === "ci_auth" && av === "azure_sp" && b === "cloud") return bv === "azure";
  return true;
};

/** The values every case not in the pairwise set holds for the dimensions outside the product. */
const PRODUCT_BASE: Case = {
  cloud: "azure",
  cicd: "github_actions",
  python_version: "3.11",
  read_groups: ["data-scientists", "account users"],
  code_owners: ["@acme/ml-team"],
  naming: "derived",
  branching: "usual",
};

export interface MatrixCase {
  /** A short unique name (the folder of the rendered project). */
  name: string;
  /** Where the case comes from. */
  origin: "pairwise" | "product";
  case: Case;
}

/** Service principals of the CI-deployed targets (any UUIDs: validation does not look them up). */
const SERVICE_PRINCIPALS = [
  "11111111-1111-4111-8111-111111111111",
  "22222222-2222-4222-8222-222222222222",
  "33333333-3333-4333-8333-333333333333",
];

export function matrixCases(): MatrixCase[] {
  const seen = new Set<string>();
  const out: MatrixCase[] = [];
  const add = (c: Case, origin: MatrixCase["origin"]) => {
    const ordered: Case = {};
    for (const k of Object.keys(DIMENSIONS)) ordered[k] = c[k];
    const id = JSON.stringify(ordered);
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ name: `${origin === "pairwise" ? "pw" : "gh-az"}-${String(out.length).padStart(3, "0")}`, origin, case: ordered });
  };
  for (const c of pairwise(DIMENSIONS, allowed)) add(c, "pairwise");
  const featureDims: Dimensions = {};
  for (const d of FEATURE_DIMENSIONS) featureDims[d] = DIMENSIONS[d];
  const base = PRODUCT_BASE;
  for (const c of product(
    featureDims,
    (a, av, b, bv) => allowed(a, av, b, bv) && allowedWithBase(a, av) && allowedWithBase(b, bv),
  )) {
    add({ ...base, ...c }, "product");
  }
  return out;

  function allowedWithBase(n: string, v: unknown): boolean {
    return Object.entries(base).every(([m, mv]) => allowed(n, v, m, mv) && allowed(m, mv, n, v));
  }
}

/** The options input of a case, with every target's host set to `host`. */
export function caseOptions(c: Case, host = "https://adb-1234567890123456.7.azuredatabricks.net"): Record<string, unknown> {
  const { naming, branching, ...rest } = c;
  const preset = rest.environments_preset as string;
  const deployed = preset === "four" ? ["uat", "preproduction", "production"] : ["test", "staging", "prod"];
  const targets: Record<string, Record<string, string>> = {};
  deployed.forEach((t, i) => {
    targets[t] = { service_principal_id: SERVICE_PRINCIPALS[i] as string };
  });
  return {
    ...rest,
    ...NAMINGS[naming as keyof typeof NAMINGS],
    ...BRANCHINGS[branching as keyof typeof BRANCHINGS],
    host,
    targets,
  };
}

export function caseAnswers(c: Case, host?: string): ProjectAnswers {
  const r = resolveAnswers(caseOptions(c, host));
  if (!r.answers) throw new Error(`matrix case rejected: ${JSON.stringify(r.problems)}`);
  return r.answers;
}

export interface MatrixProject extends MatrixCase {
  dir: string;
  answers: ProjectAnswers;
  files: RenderedFile[];
  /** sha256 over the Python side of the project: package, tests, requirements and pyproject. */
  pythonHash: string;
}

const PYTHON_SIDE = /^(src\/|tests\/|requirements[^/]*\.txt$|pyproject\.toml$|conftest\.py$)/;

export function pythonHash(files: RenderedFile[]): string {
  const h = createHash("sha256");
  for (const f of files) {
    if (!PYTHON_SIDE.test(f.path)) continue;
    h.update(f.path).update("\0").update(f.content).update("\0");
  }
  return h.digest("hex");
}

/** Renders every matrix case into `<dir>/<case name>` (replacing what is there). */
export function renderMatrix(dir: string, options: { host?: string; cases?: MatrixCase[] } = {}): MatrixProject[] {
  mkdirSync(dir, { recursive: true });
  return (options.cases ?? matrixCases()).map((c) => {
    const answers = caseAnswers(c.case, options.host);
    const target = join(dir, c.name);
    rmSync(target, { recursive: true, force: true });
    const { files } = initProject(target, answers);
    return { ...c, dir: target, answers, files, pythonHash: pythonHash(files) };
  });
}

/** One project per distinct Python side, in matrix order: what a pytest runner needs to cover the matrix. */
export function pythonProjects(projects: MatrixProject[]): MatrixProject[] {
  const seen = new Set<string>();
  return projects.filter((p) => {
    if (seen.has(p.pythonHash)) return false;
    seen.add(p.pythonHash);
    return true;
  });
}

/** Renders a case in memory only. */
export function renderCase(c: Case, host?: string): RenderedFile[] {
  return renderProject(caseAnswers(c, host));
}
