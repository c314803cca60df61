import { randomBytes } from "node:crypto";
import { type AzureDevopsCtx, azureDevopsProvider, createAzureDevopsContext } from "../../src/bootstrap/azure-devops/index.js";
import type { BootstrapRequest } from "../../src/bootstrap/types.js";
import { specCodec } from "../../src/config/refs.js";
import { type ApplyResult, apply, destroyPlan, type EngineOptions, type ProgressEvent, plan } from "../../src/engine/engine.js";
import { emptyState, type StateFile } from "../../src/engine/state.js";
import type { Plan } from "../../src/engine/types.js";
import { Secret } from "../../src/lib/secret.js";
import { type AzureDevopsFake, startAzureDevopsFake } from "../fakes/azure-devops/server.js";

/** A fake organisation with a project, teams and a token, and a bootstrap request using them. */
export async function setup() {
  const fake = await startAzureDevopsFake("acme");
  fake.addProject("ml");
  const admins = fake.addTeam("ml", "ml-admins");
  fake.addTeam("ml", "ml-team");
  // 52 characters, like an Azure DevOps personal access token.
  const token = `CANARYPAT${randomBytes(22).toString("hex").slice(0, 43)}`;
  fake.addToken(token, "pat");
  const canaries = {
    token,
    stagingSecret: `CANARY-STAGING-${randomBytes(10).toString("hex")}`,
    prodSecret: `CANARY-PROD-${randomBytes(10).toString("hex")}`,
  };
  const ctx = (t: string = token) =>
    createAzureDevopsContext({ orgUrl: fake.url, token: Secret.from(t), retry: { baseDelayMs: 1, maxDelayMs: 5 } });
  return { fake, token, canaries, ctx, admins };
}

export function request(
  c: { stagingSecret: string; prodSecret: string },
  over: Partial<BootstrapRequest> = {},
): BootstrapRequest {
  return {
    name: "churn-model",
    description: "Churn model",
    owner: "ml",
    visibility: "private",
    defaultBranch: "main",
    releaseBranch: "release",
    files: new Map([
      ["README.md", Buffer.from("# churn-model\n")],
      ["src/churn/train.py", Buffer.from("print('train')\n")],
      ["src/churn/__init__.py", Buffer.from("")],
      [".lakeforge/project.json", Buffer.from('{"template":"ml-project"}\n')],
      ["azure-pipelines/ci.yml", Buffer.from("trigger: none\npr:\n  branches:\n    include: [main]\n")],
      ["azure-pipelines/deploy.yml", Buffer.from("trigger:\n  branches:\n    include: [main, release]\n")],
      ["databricks.yml", Buffer.from("bundle:\n  name: churn-model\n")],
    ]),
    teams: [
      { name: "ml-admins", permission: "admin" },
      { name: "ml-team", permission: "push" },
    ],
    variables: {},
    environments: [
      {
        name: "staging",
        reviewers: [],
        deployFrom: { branches: ["main"] },
        secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(c.stagingSecret) },
        variables: {
          DATABRICKS_HOST: "https://staging.example.net",
          DATABRICKS_CLIENT_ID: "11111111-2222-3333-4444-555555555555",
        },
      },
      {
        name: "prod",
        reviewers: ["ml-admins"],
        deployFrom: { branches: ["release"] },
        secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(c.prodSecret) },
        variables: { DATABRICKS_HOST: "https://prod.example.net", DATABRICKS_CLIENT_ID: "66666666-7777-8888-9999-000000000000" },
      },
    ],
    ...over,
  };
}

export interface Run {
  plan: Plan;
  result: ApplyResult;
  saved: string[];
  progress: ProgressEvent[];
  state: StateFile;
}

function engineOptions(ctx: AzureDevopsCtx, saved: string[], progress: ProgressEvent[]): EngineOptions<AzureDevopsCtx> {
  return {
    adapters: azureDevopsProvider().adapters(),
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

/** Plans and applies a request with the Azure DevOps provider's resources. */
export async function run(ctx: AzureDevopsCtx, req: BootstrapRequest, state: StateFile = emptyState("bootstrap")): Promise<Run> {
  const saved: string[] = [];
  const progress: ProgressEvent[] = [];
  const opts = engineOptions(ctx, saved, progress);
  const desired = azureDevopsProvider().desired(req);
  const p = await plan(desired, state, opts, meta);
  const result = await apply(p, desired, state, opts);
  return { plan: p, result, saved, progress, state };
}

/** Destroys what a state records, as a rollback does. */
export async function destroy(ctx: AzureDevopsCtx, state: StateFile): Promise<ApplyResult> {
  return apply(destroyPlan(state, meta), [], state, engineOptions(ctx, [], []));
}

/** A state backend in memory, recording every save. */
export function memoryState() {
  const saved: string[] = [];
  let current: StateFile | undefined;
  return {
    saved,
    current: () => current,
    backend: {
      description: "memory",
      load: async () => (current ? (JSON.parse(JSON.stringify(current)) as StateFile) : undefined),
      save: async (s: StateFile) => {
        saved.push(JSON.stringify(s));
        current = JSON.parse(JSON.stringify(s)) as StateFile;
      },
      remove: async () => {
        current = undefined;
      },
    },
  };
}

export const writesOf = (f: AzureDevopsFake) =>
  f.requests.filter((r) => r.method !== "GET" && r.method !== "OPTIONS" && r.status < 400);

export type { AzureDevopsFake };
