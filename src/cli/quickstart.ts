import { join } from "node:path";
import type { Command } from "commander";
import { UserError } from "../lib/errors.js";
import { defaultQuickstartDir, type QuickstartResult, runQuickstart } from "../quickstart/index.js";
import type { Output } from "./output.js";

/** `lakeforge quickstart`: init, deploy and run the ML project on the local workspace; see docs/quickstart.md. */

interface QuickstartFlags {
  dir?: string;
  dataDir?: string;
  keep?: boolean;
  port?: string;
  python?: string;
  json?: boolean;
}

export function quickstartCommand(program: Command, out: Output): void {
  program
    .command("quickstart")
    .description("render, deploy and run the ML project on the local workspace: train, validate, promote, score")
    .option("--dir <path>", "the quickstart folder: project, forge, workspace data (default: ~/.lakeforge/quickstart)")
    .option("--data-dir <path>", "the local workspace's data directory (default: <dir>/workspace)")
    .option("--keep", "leave the workspace running in the background when done")
    .option("--port <n>", "the workspace's port when one is started (default: the project's, else 8422; a free one if taken)")
    .option("--python <path>", "runtime interpreter for job tasks (default: LAKEFORGE_RUNTIME_PYTHON, else a venv built once)")
    .option("--json", "print the result as JSON on stdout")
    .action(async (o: QuickstartFlags) => {
      const port = o.port === undefined ? undefined : Number(o.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
        throw new UserError(`--port: ${o.port} is not a port number`);
      const result = await runQuickstart({
        ...(o.dir ? { dir: o.dir } : {}),
        ...(o.dataDir ? { dataDir: o.dataDir } : {}),
        keep: o.keep === true,
        ...(port !== undefined ? { port } : {}),
        ...(o.python ? { python: o.python } : {}),
        progress: (line) => out.info(line.startsWith("==> ") ? out.bold(line) : line),
      });
      if (o.json) out.json(result);
      for (const line of summaryLines(result)) out.info(line);
      process.exitCode = result.ok ? 0 : 1;
    });
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(4));

/** The summary printed at the end. */
export function summaryLines(r: QuickstartResult): string[] {
  const lines: string[] = [""];
  if (!r.ok) {
    lines.push(`Quickstart failed: ${r.failure ?? "see above"}`);
  } else {
    lines.push("Quickstart complete");
    if (r.model) {
      const metrics = Object.entries(r.model.metrics)
        .filter(([k]) => !k.includes("/"))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${fmt(v)}`);
      lines.push(`  model:        ${r.model.name}`);
      lines.push(
        `  @champion:    version ${r.model.champion_version ?? "(none)"}` +
          (r.model.validation_status ? ` (validation_status=${r.model.validation_status})` : ""),
      );
      if (r.model.training_run_id)
        lines.push(`  training run: ${r.model.training_run_id}: ${metrics.length ? metrics.join(", ") : "(no metrics)"}`);
    }
    if (r.batch_inference)
      lines.push(
        `  predictions:  ${r.batch_inference.rows} rows by version ${r.batch_inference.version} in ${r.batch_inference.table}`,
      );
  }
  const seconds = (ms: number) => `${(ms / 1000).toFixed(0)}s`;
  for (const run of r.runs) lines.push(`  run:          ${run.job} ${run.state} in ${seconds(run.duration_ms)}: ${run.url}`);
  lines.push(`  project:      ${r.project.dir}`);
  lines.push(`  repository:   ${r.project.repository}`);
  const running = r.workspace.mode === "started" ? " (stopped now; --keep leaves it running)" : " (running)";
  lines.push(`  workspace:    ${r.workspace.url}${running}, data in ${r.workspace.data_dir}`);
  lines.push(
    `  MLflow UI:    ${r.model?.experiment_id ? `${r.workspace.url}/ml/experiments/${r.model.experiment_id}` : r.workspace.mlflow_ui}`,
  );
  if (r.workspace.mode !== "started") {
    lines.push("  Use it (the token is read from its file, never printed):");
    lines.push(`    export DATABRICKS_HOST=${r.workspace.url}`);
    lines.push(`    export DATABRICKS_TOKEN="$(cat ${join(r.workspace.data_dir, "admin-token")})"`);
    if (r.workspace.pid) lines.push(`  Stop it: kill ${r.workspace.pid}`);
  }
  lines.push(`  took ${seconds(r.duration_ms)}`);
  return lines;
}

export { defaultQuickstartDir };
