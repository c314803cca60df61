import { randomBytes } from "node:crypto";
import { createGithubContext, type GithubCtx, githubProvider, withGithubOwner } from "../../src/bootstrap/github/index.js";
import type { BootstrapRequest } from "../../src/bootstrap/types.js";
import { specCodec } from "../../src/config/refs.js";
import { type ApplyResult, apply, destroyPlan, type EngineOptions, type ProgressEvent, plan } from "../../src/engine/engine.js";
import { emptyState, type StateFile } from "../../src/engine/state.js";
import type { Plan } from "../../src/engine/types.js";
import { Secret } from "../../src/lib/secret.js";
import { type GithubFake, startGithubFake } from "../fakes/github/server.js";

/** A fake with an organisation, teams, users and a token, and a bootstrap request using them. */
export async function setup(opts: { scopes?: string[] } = {}) {
  const fake = await startGithubFake();
  fake.addUser("octo");
  fake.addUser("alice");
  fake.addOrg("acme");
  fake.addTeam("acme", "ml-admins");
  fake.addTeam("acme", "ml-contributors");
  const token = `ghp_CANARYTOKEN${randomBytes(12).toString("hex")}`;
  fake.addToken(token, "octo", opts.scopes);
  const canaries = {
    token,
    stagingToken: `CANARY-STAGING-${randomBytes(10).toString("hex")}`,
    prodToken: `CANARY-PROD-${randomBytes(10).toString("hex")}`,
    prodSecret: `CANARY-PRODSECRET-${randomBytes(10).toString("hex")}`,
  };
  const ctx = () => createGithubContext({ token: Secret.from(token), baseUrl: fake.url, retryAfterBaseMs: 1, throttle: false });
  return { fake, token, canaries, ctx };
}

export function request(
  c: { stagingToken: string; prodToken: string; prodSecret: string },
  over: Partial<BootstrapRequest> = {},
): BootstrapRequest {
  return {
    name: "churn-model",
    description: "Churn model",
    topics: ["mlops"],
    owner: "acme",
    visibility: "private",
    defaultBranch: "main",
    releaseBranch: "release",
    files: new Map([
      ["README.md", Buffer.from("# churn-model\n")],
      ["src/churn/train.py", Buffer.from("print('train')\n")],
      ["src/churn/__init__.py", Buffer.from("")],
      [".github/workflows/ci.yml", Buffer.from("name: ci\non: push\njobs: {}\n")],
      ["databricks.yml", Buffer.from("bundle:\n  name: churn-model\n")],
    ]),
    teams: [
      { name: "ml-admins", permission: "admin" },
      { name: "ml-contributors", permission: "push" },
    ],
    variables: {
      DATABRICKS_STAGING_WORKSPACE_HOST: "https://staging.example.net",
      DATABRICKS_PROD_WORKSPACE_HOST: "https://prod.example.net",
    },
    environments: [
      {
        name: "staging",
        reviewers: [],
        deployFrom: { branches: ["main"] },
        secrets: { DATABRICKS_TOKEN: Secret.from(c.stagingToken) },
        variables: { DATABRICKS_CLIENT_ID: "11111111-2222-3333-4444-555555555555" },
      },
      {
        name: "prod",
        reviewers: ["alice", "@acme/ml-admins"],
        deployFrom: { branches: ["release"], tags: ["v*"] },
        waitTimerMinutes: 5,
        secrets: { DATABRICKS_TOKEN: Secret.from(c.prodToken), DATABRICKS_CLIENT_SECRET: Secret.from(c.prodSecret) },
        variables: { DATABRICKS_CLIENT_ID: "66666666-7777-8888-9999-000000000000" },
      },
    ],
    oidcSubjectClaims: ["repo", "context"],
    ...over,
  };
}

export interface Run {
  plan: Plan;
  result: ApplyResult;
  /** Every state written, serialised. */
  saved: string[];
  progress: ProgressEvent[];
}

export function engineOptions(ctx: GithubCtx, saved: string[], progress: ProgressEvent[]): EngineOptions<GithubCtx> {
  return {
    adapters: githubProvider().adapters(),
    ctx,
    codec: specCodec,
    concurrency: 4,
    saveState: async (s) => {
      saved.push(JSON.stringify(s));
    },
    progress: (e) => progress.push(e),
  };
}

const meta = { environment: "bootstrap", configFingerprint: "test" };

/** Plans and applies a request with the GitHub provider's resources. */
export async function run(
  ctx: GithubCtx,
  req: BootstrapRequest,
  state: StateFile = emptyState("bootstrap"),
): Promise<Run & { state: StateFile }> {
  const saved: string[] = [];
  const progress: ProgressEvent[] = [];
  const opts = engineOptions(ctx, saved, progress);
  const desired = githubProvider().desired(await withGithubOwner(ctx, req));
  const p = await plan(desired, state, opts, meta);
  const result = await apply(p, desired, state, opts);
  return { plan: p, result, saved, progress, state };
}

/** Destroys what a state records (the engine's destroy plan), as a rollback does. */
export async function destroy(ctx: GithubCtx, state: StateFile): Promise<ApplyResult> {
  const saved: string[] = [];
  const opts = engineOptions(ctx, saved, []);
  return apply(destroyPlan(state, meta), [], state, opts);
}

export type { GithubFake };
