import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { deployBundle, loadBundleState, type OpenBundle, openBundle } from "../bundle/deploy.js";
import { type DatabricksClient, isNotFound } from "../clients/databricks/index.js";
import { PlanError } from "../engine/engine.js";
import { type PlanSummary, summarize } from "../engine/types.js";
import { UserError } from "../lib/errors.js";
import { MANIFEST_PATH } from "../template/project.js";
import { batchInferenceRows, failureText, type JobRunResult, runJob } from "./pipeline.js";
import { ensureProject, PROJECT_NAME, type ProjectOutcome } from "./project.js";
import { checkJava, ensureRuntimeInterpreter } from "./runtime.js";
import { openQuickstartWorkspace, type QuickstartWorkspace } from "./workspace.js";

/**
 * `lakeforge quickstart`: from nothing to a use case whose model is trained, validated and promoted
 * to `@champion`, with batch predictions written, on the local workspace. Everything lives under one
 * folder (default `~/.lakeforge/quickstart`):
 *
 * ```
 * <dir>/quickstart-demo/   the project (lakeforge init quickstart-demo), its dev target on the local workspace
 * <dir>/forge/             the local forge holding its repository
 * <dir>/workspace/         the local workspace's data (unless --data-dir): objects, MLflow, tables, task envs
 * <dir>/runtime/           the runtime interpreter, when none is configured
 * ```
 */

export interface QuickstartOptions {
  /** The quickstart folder. Default `~/.lakeforge/quickstart`. */
  dir?: string;
  /** The workspace's data directory. Default `<dir>/workspace`. */
  dataDir?: string;
  /** Leave the workspace running in the background. */
  keep?: boolean;
  /** The workspace's preferred port (a free one when it is taken). Default: the one the project's dev target names, else 8422. */
  port?: number;
  /** The runtime interpreter (else LAKEFORGE_RUNTIME_PYTHON, else a venv built under `<dir>/runtime`). */
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** Between two reads of a run. Default LAKEFORGE_RUN_POLL_MS, else 1,000 ms. */
  pollMs?: number;
  progress: (line: string) => void;
}

export interface QuickstartResult {
  ok: boolean;
  project: ProjectOutcome;
  workspace: { url: string; data_dir: string; mode: QuickstartWorkspace["mode"]; pid?: number; mlflow_ui: string };
  runtime_python: string;
  deploy: { changed: boolean; summary: PlanSummary; failed: string[] };
  runs: JobRunResult[];
  model?: {
    name: string;
    champion_version?: string;
    challenger_version?: string;
    validation_status?: string;
    training_run_id?: string;
    metrics: Record<string, number>;
    experiment_id?: string;
  };
  batch_inference?: { rows: number; version: string; table: string };
  /** Why the quickstart failed (a failed deploy resource or task). */
  failure?: string;
  duration_ms: number;
}

export const defaultQuickstartDir = (env: NodeJS.ProcessEnv = process.env) =>
  resolve(env.LAKEFORGE_QUICKSTART_DIR || join(homedir(), ".lakeforge", "quickstart"));

const DEFAULT_PORT = 8422;

/**
 * The port of the workspace the project's dev target names, when it is a local one: a workspace
 * started again on it keeps the project (and so the deployment) unchanged.
 */
function rememberedPort(projectDir: string): number | undefined {
  const file = join(projectDir, MANIFEST_PATH);
  if (!existsSync(file)) return undefined;
  try {
    const host = (JSON.parse(readFileSync(file, "utf8")) as { options?: { targets?: Record<string, { host?: string }> } }).options
      ?.targets?.dev?.host;
    const url = new URL(host ?? "");
    return url.protocol === "http:" && url.port ? Number(url.port) : undefined;
  } catch {
    return undefined;
  }
}

/** The jobs run, in order: the feature job when the options make features a job of its own. */
const PIPELINE = ["feature_engineering_job", "model_training_job", "batch_inference_job"];

export async function runQuickstart(o: QuickstartOptions): Promise<QuickstartResult> {
  const started = Date.now();
  const env = o.env ?? process.env;
  const home = resolve(o.dir ?? defaultQuickstartDir(env));
  const dataDir = resolve(o.dataDir ?? join(home, "workspace"));
  const progress = o.progress;

  progress("==> Runtime interpreter");
  checkJava(env);
  const runtime = await ensureRuntimeInterpreter({
    ...(o.python ? { python: o.python } : {}),
    venvDir: join(home, "runtime"),
    env,
    progress,
  });
  progress(`Tasks run on ${runtime.python}${runtime.built ? " (built now)" : ""}`);

  progress("==> Local workspace");
  const ws = await openQuickstartWorkspace({
    dataDir,
    port: o.port ?? rememberedPort(join(home, PROJECT_NAME)) ?? DEFAULT_PORT,
    keep: o.keep === true,
    python: runtime.python,
    mlflowPython: env.LAKEFORGE_MLFLOW_PYTHON?.trim() || runtime.python,
    progress,
  });
  const mlflowUi = `${ws.url}/ml/`;
  const base = {
    workspace: {
      url: ws.url,
      data_dir: ws.dataDir,
      mode: ws.mode,
      ...(ws.pid ? { pid: ws.pid } : {}),
      mlflow_ui: mlflowUi,
    },
    runtime_python: runtime.python,
  };
  try {
    progress(`==> Project ${PROJECT_NAME}`);
    const project = await ensureProject({ dir: join(home, PROJECT_NAME), forgeDir: join(home, "forge"), host: ws.url, progress });

    progress("==> Deploying the dev target");
    const b = await openBundle({
      dir: project.dir,
      target: "dev",
      env: workspaceEnv(env, ws),
      concurrency: 8,
    });
    try {
      await ensureCatalog(ws.client, String(b.bundle.variables.catalog ?? "dev"), progress);
      const deployed = await deployBundle(b).catch((e: unknown) => {
        throw e instanceof PlanError ? new UserError(e.message) : e;
      });
      const summary = summarize(deployed.plan);
      const failed = (deployed.result?.failed ?? []).map(
        (f) => `${f.address}: ${(f.error as Error)?.message ?? String(f.error)}`,
      );
      const deploy = { changed: deployed.result !== undefined, summary, failed };
      if (!deployed.result) progress(`No changes: ${b.source.name} (dev) is deployed as configured`);
      else
        progress(
          `Deployed: ${summary.create} created, ${summary.update + summary.recreate} updated, ${summary.delete} deleted` +
            (failed.length ? `, ${failed.length} failed` : ""),
        );
      if (failed.length > 0) {
        for (const f of failed) progress(`  failed: ${f}`);
        return {
          ok: false,
          project,
          ...base,
          deploy,
          runs: [],
          failure: `deploy failed: ${failed[0]}`,
          duration_ms: Date.now() - started,
        };
      }

      progress("==> Running the pipeline");
      const state = await loadBundleState(b);
      const pollMs = o.pollMs ?? (Number(env.LAKEFORGE_RUN_POLL_MS) || 1000);
      const runs: JobRunResult[] = [];
      for (const key of PIPELINE) {
        const id = state.resources[`databricks.job.${key}`]?.id;
        if (!id) continue;
        const run = await runJob(b.client, { key, id: Number(id) }, { host: ws.url, pollMs, progress });
        runs.push(run);
        const seconds = (run.duration_ms / 1000).toFixed(0);
        if (!run.success) {
          progress(`${key} ${run.state} after ${seconds}s: ${run.url}`);
          const causes = failedTasks(run);
          for (const t of causes) {
            progress(`--- ${key}.${t.task_key} (${t.state})`);
            progress(failureText(t));
          }
          const bad = causes[0];
          return {
            ok: false,
            project,
            ...base,
            deploy,
            runs,
            failure: bad ? `${key}.${bad.task_key} ${bad.state}` : `${key} ${run.state}`,
            duration_ms: Date.now() - started,
          };
        }
        progress(`${key} succeeded in ${seconds}s`);
      }

      const model = await modelSummary(b, state.resources["databricks.registered_model.model"]?.id);
      const inference = runs.find((r) => r.job === "batch_inference_job")?.tasks.find((t) => t.output?.logs);
      const rows = batchInferenceRows(inference?.output?.logs);
      return {
        ok: true,
        project,
        ...base,
        deploy,
        runs,
        ...(model ? { model } : {}),
        ...(rows ? { batch_inference: rows } : {}),
        duration_ms: Date.now() - started,
      };
    } finally {
      await b.close();
    }
  } finally {
    await ws.stop();
  }
}

const NOT_A_CAUSE = new Set(["SUCCESS", "EXCLUDED", "SKIPPED", "UPSTREAM_FAILED", "UPSTREAM_CANCELED"]);

/** The tasks that failed by themselves (not those skipped because of them), else every task that did not succeed. */
function failedTasks(run: JobRunResult) {
  const causes = run.tasks.filter((t) => !NOT_A_CAUSE.has(t.state));
  return causes.length > 0 ? causes : run.tasks.filter((t) => t.state !== "SUCCESS");
}

/** The environment the bundle is opened with: only this workspace's host and token, no profile. */
function workspaceEnv(env: NodeJS.ProcessEnv, ws: QuickstartWorkspace): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith("DATABRICKS_") && !k.startsWith("BUNDLE_VAR_")) out[k] = v;
  out.DATABRICKS_HOST = ws.url;
  out.DATABRICKS_TOKEN = ws.token;
  return out;
}

/** The target's catalog, as a workspace admin would have made it (a workspace's catalogs are not the bundle's). */
async function ensureCatalog(client: DatabricksClient, name: string, progress: (line: string) => void): Promise<void> {
  try {
    await client.get(`/api/2.1/unity-catalog/catalogs/${encodeURIComponent(name)}`);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    await client.post("/api/2.1/unity-catalog/catalogs", { name, comment: "the quickstart's dev catalog" });
    progress(`Created the catalog ${name}`);
  }
}

interface ModelVersion {
  version?: string;
  run_id?: string;
  tags?: { key: string; value: string }[];
}

async function byAlias(client: DatabricksClient, name: string, alias: string): Promise<ModelVersion | undefined> {
  try {
    const r = await client.get<{ model_version?: ModelVersion }>("/api/2.0/mlflow/unity-catalog/registered-models/alias", {
      name,
      alias,
    });
    return r.model_version;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** The model after the pipeline: who holds @champion and @challenger, and the training run's metrics (MLflow API). */
async function modelSummary(b: OpenBundle, name: string | undefined): Promise<QuickstartResult["model"]> {
  if (!name) return undefined;
  const champion = await byAlias(b.client, name, "champion");
  const challenger = await byAlias(b.client, name, "challenger");
  const trained = challenger ?? champion;
  let metrics: Record<string, number> = {};
  let experimentId: string | undefined;
  if (trained?.run_id) {
    const r = await b.client.get<{
      run?: { info?: { experiment_id?: string }; data?: { metrics?: { key: string; value: number }[] } };
    }>("/api/2.0/mlflow/runs/get", { run_id: trained.run_id });
    metrics = Object.fromEntries((r.run?.data?.metrics ?? []).map((m) => [m.key, m.value]));
    experimentId = r.run?.info?.experiment_id;
  }
  const status = champion?.tags?.find((t) => t.key === "validation_status")?.value;
  return {
    name,
    ...(champion?.version ? { champion_version: champion.version } : {}),
    ...(challenger?.version ? { challenger_version: challenger.version } : {}),
    ...(status ? { validation_status: status } : {}),
    ...(trained?.run_id ? { training_run_id: trained.run_id } : {}),
    metrics,
    ...(experimentId ? { experiment_id: experimentId } : {}),
  };
}
