import type { Command } from "commander";
import { applyBundle, deployBundle, type OpenBundle, openBundle, planBundle, removeRootFolder } from "../bundle/deploy.js";
import { followRun, parseParams } from "../bundle/run.js";
import { renderPlan } from "../engine/render.js";
import { hasChanges, type Plan, summarize } from "../engine/types.js";
import {
  concurrencyOption,
  jsonOption,
  locked,
  parseConcurrency,
  parseVars,
  progressPrinter,
  varOption,
  warnLock,
  wrapPlanError,
} from "./common.js";
import type { Output } from "./output.js";

/**
 * `lakeforge deploy` and `lakeforge run` for a Databricks Asset Bundle (databricks.yml), and the
 * bundle form of `lakeforge destroy -t <target>` (see destroyBundleCommand, called from the
 * environments' destroy).
 */

interface BundleOptions {
  target?: string;
  var: string[];
  json?: boolean;
  concurrency: string;
  forceUnlock?: boolean;
}

/** Files are many: one line for them all, resources one block each. */
const FILE_KINDS = new Set(["databricks.workspace_file", "databricks.notebook"]);

export function renderBundlePlan(plan: Plan, out: Output): string {
  const files = plan.actions.filter((a) => FILE_KINDS.has(a.kind) && a.action !== "skip");
  const rest = { ...plan, actions: plan.actions.filter((a) => !FILE_KINDS.has(a.kind)) };
  const lines: string[] = [];
  if (hasChanges(rest) || files.length === 0) lines.push(renderPlan(rest, out.style).trimEnd());
  if (files.length > 0) {
    const count = (what: string) => files.filter((a) => a.action === what).length;
    const upload = count("create") + count("update") + count("recreate");
    lines.push(`Files: ${upload} to upload, ${count("delete")} to delete.`);
  }
  return lines.join("\n");
}

/** Files get no line each as they upload (they are many). */
const isFile = (address: string) => [...FILE_KINDS].some((kind) => address.startsWith(`${kind}.`));

async function open(o: BundleOptions & { dir?: string }, out: Output): Promise<OpenBundle> {
  return openBundle({
    dir: o.dir ?? ".",
    ...(o.target ? { target: o.target } : {}),
    variables: parseVars(o.var),
    concurrency: parseConcurrency(o.concurrency),
    progress: progressPrinter(out, o.json === true, isFile),
  });
}

function report(
  out: Output,
  json: boolean,
  b: OpenBundle,
  plan: Plan,
  result: Awaited<ReturnType<typeof applyBundle>>,
  verb: string,
) {
  const failures = result.failed.map((f) => ({ address: f.address, error: (f.error as Error).message ?? String(f.error) }));
  if (json)
    out.json({ bundle: b.source.name, target: b.source.target, summary: summarize(plan), done: result.done, failed: failures });
  else if (failures.length === 0) out.info(`${verb} complete: ${b.source.name} (${b.source.target}) in ${b.host}`);
  else {
    out.info(`${verb} finished with ${failures.length} failure(s); state records everything that was done.`);
    for (const f of failures) out.error(`${f.address}: ${f.error}`);
  }
  return failures.length === 0 ? 0 : 1;
}

function common(cmd: Command): Command {
  cmd.option("-t, --target <name>", "the bundle target (default: the one marked default, or the only one)");
  varOption(cmd, "set a bundle variable (repeatable)");
  concurrencyOption(cmd);
  return jsonOption(cmd);
}

export function bundleCommands(program: Command, out: Output): void {
  common(program.command("deploy").description("deploy the Databricks Asset Bundle of this folder (databricks.yml) to a target"))
    .option("-C, --dir <path>", "the bundle folder", ".")
    .option("--force-unlock", "remove a lock left by a deploy that died on another machine, then go on")
    .action(async (o: BundleOptions & { dir: string }) => {
      const b = await open(o, out);
      try {
        const { plan, result } = await deployBundle(b, {
          ...(o.forceUnlock ? { forceUnlock: true } : {}),
          onLock: (e) => warnLock(out, e),
          onPlan: (plan) => {
            if (o.json) return;
            out.info(`Deploying ${b.source.name} to ${b.source.target} (${b.bundle.workspace.root_path} in ${b.host})`);
            out.info(renderBundlePlan(plan, out));
          },
        }).catch(wrapPlanError);
        if (!result) {
          if (o.json)
            out.json({ bundle: b.source.name, target: b.source.target, summary: summarize(plan), done: [], failed: [] });
          process.exitCode = 0;
        } else process.exitCode = report(out, o.json === true, b, plan, result, "Deploy");
      } finally {
        await b.close();
      }
    });

  common(program.command("run").description("run a job of the deployed bundle and follow it to its end"))
    .argument("<job>", "the job's key under resources.jobs")
    .option("-C, --dir <path>", "the bundle folder", ".")
    .option(
      "--params <k=v...>",
      "job parameters (repeatable, or several after one flag)",
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option("--no-wait", "print the run's URL and return without following it")
    .action(async (job: string, o: BundleOptions & { dir: string; params: string[]; wait: boolean }) => {
      const b = await open(o, out);
      try {
        process.exitCode = await followRun(b, job, {
          params: parseParams(o.params),
          wait: o.wait,
          json: o.json === true,
          out,
        });
      } finally {
        await b.close();
      }
    });
}

/** `lakeforge destroy -t <target>`: deletes everything the bundle's deployment to the target made. */
export async function destroyBundle(
  o: {
    dir: string;
    target?: string;
    var: string[];
    json?: boolean;
    concurrency: string;
    autoApprove?: boolean;
    forceUnlock?: boolean;
  },
  out: Output,
  confirm: (plan: Plan) => Promise<boolean>,
): Promise<number> {
  const b = await open(o, out);
  try {
    return await locked(b.lock, "destroy", o.forceUnlock, out, async () => {
      const { plan, state } = await planBundle(b, { destroy: true }).catch(wrapPlanError);
      if (!o.json) out.info(renderBundlePlan(plan, out));
      if (!(await confirm(plan))) return 1;
      const result = await applyBundle(b, plan, state);
      if (result.failed.length === 0) await removeRootFolder(b);
      return report(out, o.json === true, b, plan, result, "Destroy");
    });
  } finally {
    await b.close();
  }
}
