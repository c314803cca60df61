import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { azurePhase, deployedOutputs } from "../azure/phase.js";
import { findBundleFile } from "../bundle/source.js";
import { validateConfig } from "../config/config.js";
import { ConfigError } from "../config/errors.js";
import {
  applyPlan,
  checkSavedPlan,
  loadState,
  type OpenEnvironment,
  openEnvironment,
  planEnvironment,
} from "../deploy/environment.js";
import { planFromJson, planToJson, renderPlan } from "../engine/render.js";
import { writeFileAtomic } from "../engine/state.js";
import { addressOf, hasChanges, type Plan, summarize } from "../engine/types.js";
import { UserError } from "../lib/errors.js";
import { destroyBundle } from "./bundle.js";
import {
  approve,
  collect,
  concurrencyOption,
  environmentOptions,
  jsonOption,
  locked,
  parseConcurrency,
  parseVars,
  progressPrinter,
  varOption,
  wrapPlanError,
} from "./common.js";
import type { Output } from "./output.js";

/** `destroy -t <target>`, or a folder holding a databricks.yml and no lakeforge.yaml: the bundle form. */
function isBundleDestroy(o: { config: string; environment?: string; target?: string }): boolean {
  if (o.target !== undefined) {
    if (o.environment !== undefined) throw new UserError("give either -e (an environment) or -t (a bundle target), not both");
    return true;
  }
  if (o.environment !== undefined) return false;
  const hasEnvironments = ["lakeforge.yaml", "lakeforge.yml"].some((f) => existsSync(join(o.config, f)));
  return !hasEnvironments && findBundleFile(o.config) !== undefined;
}

interface CommonOptions {
  config: string;
  environment?: string;
  var: string[];
  json?: boolean;
  only: string[];
  concurrency: string;
}

function common(cmd: Command): Command {
  environmentOptions(cmd);
  varOption(cmd, "set a variable (repeatable); wins over every other source");
  cmd.option("--only <kind.name>", "limit to these resources (repeatable), e.g. job.nightly", collect, []);
  concurrencyOption(cmd);
  return jsonOption(cmd);
}

async function open(
  o: CommonOptions,
  out: Output,
  azureOutputs?: Record<string, string>,
  pendingAzureOutputs = false,
): Promise<OpenEnvironment> {
  return openEnvironment({
    target: o.config,
    ...(o.environment ? { environment: o.environment } : {}),
    variables: parseVars(o.var),
    concurrency: parseConcurrency(o.concurrency),
    progress: progressPrinter(out, o.json === true),
    ...(azureOutputs ? { azureOutputs } : {}),
    ...(pendingAzureOutputs ? { pendingAzureOutputs } : {}),
  });
}

/** Outputs of the deployed infrastructure, for commands that skip the Azure phase (destroy, import). */
async function deployed(o: CommonOptions) {
  return deployedOutputs({
    target: o.config,
    ...(o.environment ? { environment: o.environment } : {}),
    variables: parseVars(o.var),
  });
}

/** The Azure phase of plan / apply (a no-op for environments that do not use `${azure.*}`). */
function infraPhase(o: CommonOptions, out: Output, mode: "plan" | "apply", approveIt?: (plan: Plan) => Promise<boolean>) {
  return azurePhase({
    target: o.config,
    ...(o.environment ? { environment: o.environment } : {}),
    variables: parseVars(o.var),
    mode,
    ...(o.json ? {} : { info: (l: string) => out.info(l), style: out.style }),
    ...(approveIt ? { approve: approveIt } : {}),
  });
}

function renderResult(out: Output, json: boolean, plan: Plan, result: Awaited<ReturnType<typeof applyPlan>>): number {
  const failures = result.failed.map((f) => ({ address: f.address, error: (f.error as Error).message ?? String(f.error) }));
  if (json) out.json({ environment: plan.environment, summary: summarize(plan), done: result.done, failed: failures });
  else {
    const s = summarize(plan);
    out.info(
      failures.length === 0
        ? `Apply complete: ${s.create} created, ${s.update} updated, ${s.recreate} recreated, ${s.delete} deleted.`
        : `Apply finished with ${failures.length} failure(s); state records everything that was done.`,
    );
    for (const f of failures) out.error(`${f.address}: ${f.error}`);
  }
  return failures.length === 0 ? 0 : 1;
}

export function environmentCommands(program: Command, out: Output): void {
  common(program.command("validate").description("check the configuration of every environment; sends no request")).action(
    (o: CommonOptions) => {
      const result = validateConfig(o.config, {
        ...(o.environment ? { environment: o.environment } : {}),
        variables: parseVars(o.var),
      });
      if (result.issues.length > 0) throw new ConfigError(result.issues);
      if (o.json) out.json({ file: result.file, environments: result.environments, valid: true });
      else out.info(`${result.file}: valid (${result.environments.join(", ")})`);
    },
  );

  common(program.command("plan").description("show what apply would change in an environment"))
    .option("--out <file>", "save the plan for `lakeforge apply <file>`")
    .option("--destroy", "plan the destruction of everything in state")
    .option("--detailed-exitcode", "exit 0 with no changes, 2 with changes, 1 on error")
    .action(async (o: CommonOptions & { out?: string; destroy?: boolean; detailedExitcode?: boolean }) => {
      const infra = o.destroy ? undefined : await infraPhase(o, out, "plan");
      const infraChanges = infra?.plan !== undefined && hasChanges(infra.plan);
      if (infra?.workspaceWaits) {
        process.exitCode = o.detailedExitcode && infraChanges ? 2 : 0;
        return;
      }
      // Before the infrastructure exists, the workspace resources' Azure outputs are known after apply.
      const env = await open(o, out, infra?.outputs, infra?.active === true && !infra.outputs);
      try {
        const { plan } = await planEnvironment(env, {
          only: o.only.length ? o.only : undefined,
          destroy: o.destroy === true,
        }).catch(wrapPlanError);
        if (o.out) writeFileAtomic(o.out, planToJson(plan));
        if (o.json) process.stdout.write(`${planToJson(plan)}\n`);
        else out.info(renderPlan(plan, out.style).trimEnd());
        if (o.out && !o.json) out.info(`Saved the plan to ${o.out}; apply it with: lakeforge apply ${o.out}`);
        process.exitCode = o.detailedExitcode && (hasChanges(plan) || infraChanges) ? 2 : 0;
      } finally {
        await env.close();
      }
    });

  common(program.command("apply").description("make an environment match the configuration"))
    .argument("[plan]", "a plan saved with `lakeforge plan --out`")
    .option("--auto-approve", "do not ask for confirmation")
    .option("--force-unlock", "remove a lock left by a deploy that died on another machine, then go on")
    .action(async (planFile: string | undefined, o: CommonOptions & { autoApprove?: boolean; forceUnlock?: boolean }) => {
      const infra = planFile
        ? await infraPhase({ ...o, json: true }, out, "plan")
        : await infraPhase(o, out, "apply", (p) => approve(out, p, o.autoApprove, "apply"));
      if (infra.cancelled) {
        process.exitCode = 1;
        return;
      }
      const env = await open(o, out, infra.outputs);
      try {
        const code = await locked(env.lock, "apply", o.forceUnlock, out, async () => {
          let plan: Plan;
          let state: Awaited<ReturnType<typeof loadState>>;
          if (planFile) {
            plan = planFromJson(readFileSync(planFile, "utf8"));
            state = await loadState(env);
            checkSavedPlan(env, plan, state);
          } else {
            ({ plan, state } = await planEnvironment(env, { only: o.only.length ? o.only : undefined }).catch(wrapPlanError));
            if (!o.json) out.info(renderPlan(plan, out.style).trimEnd());
            if (!(await approve(out, plan, o.autoApprove, "apply"))) return 1;
          }
          if (!hasChanges(plan)) {
            if (o.json) out.json({ environment: plan.environment, summary: summarize(plan), done: [], failed: [] });
            return 0;
          }
          return renderResult(out, o.json === true, plan, await applyPlan(env, plan, state));
        });
        process.exitCode = code;
      } finally {
        await env.close();
      }
    });

  common(program.command("destroy").description("delete what Lakeforge manages in an environment, or (-t) a bundle target"))
    .option("-t, --target <name>", "destroy this target of the Databricks Asset Bundle (databricks.yml) in the folder")
    .option("--auto-approve", "do not ask for confirmation")
    .option("--force-unlock", "remove a lock left by a deploy that died on another machine, then go on")
    .action(async (o: CommonOptions & { target?: string; autoApprove?: boolean; forceUnlock?: boolean }) => {
      if (isBundleDestroy(o)) {
        const dir = o.config;
        process.exitCode = await destroyBundle({ ...o, dir }, out, (plan) => approve(out, plan, o.autoApprove, "destroy"));
        return;
      }
      const env = await open(o, out, await deployed(o));
      try {
        const code = await locked(env.lock, "destroy", o.forceUnlock, out, async () => {
          const { plan, state } = await planEnvironment(env, { only: o.only.length ? o.only : undefined, destroy: true }).catch(
            wrapPlanError,
          );
          if (!o.json) out.info(renderPlan(plan, out.style).trimEnd());
          if (!(await approve(out, plan, o.autoApprove, "destroy"))) return 1;
          if (!hasChanges(plan)) return 0;
          return renderResult(out, o.json === true, plan, await applyPlan(env, plan, state));
        });
        process.exitCode = code;
      } finally {
        await env.close();
      }
    });

  common(program.command("import").description("adopt an existing object: record it in state under a configured resource"))
    .argument("<address>", "the configured resource, <kind>.<name>, e.g. job.nightly")
    .argument("<id>", "the object's id in the workspace")
    .option("--force-unlock", "remove a lock left by a deploy that died on another machine, then go on")
    .addOption(new Option("--auto-approve").hideHelp())
    .action(async (address: string, id: string, o: CommonOptions & { forceUnlock?: boolean }) => {
      const env = await open(o, out, await deployed(o));
      try {
        await locked(env.lock, "import", o.forceUnlock, out, async () => {
          const full = address.startsWith("databricks.") ? address : `databricks.${address}`;
          const resource = env.config.resources.find((r) => addressOf(r.kind, r.name) === full);
          if (!resource)
            throw new UserError(
              `${address} is not in the configuration of ${env.config.environment}`,
              "declare it first, then import it",
            );
          const adapter = env.engine.adapters.get(resource.kind);
          if (!adapter) throw new UserError(`resources of kind ${resource.kind} cannot be imported`);
          const state = await loadState(env);
          const existing = state.resources[full];
          if (existing?.id && existing.id !== id) throw new UserError(`${full} is already in state with id ${existing.id}`);
          const remote = await adapter.read(env.engine.ctx, id);
          if (!remote) throw new UserError(`${resource.kind} ${id} does not exist in ${env.host}`);
          state.resources[full] = {
            kind: resource.kind,
            name: resource.name,
            id,
            naturalKey: "",
            applied: {},
            fingerprints: {},
            outputs: adapter.outputs ? adapter.outputs(id, remote) : {},
            dependsOn: resource.dependsOn.map((d) => addressOf(d.kind, d.name)),
            ...(resource.preventDestroy ? { preventDestroy: true } : {}),
          };
          state.serial++;
          await env.state.save(state);
          await env.state.flush();
          if (o.json) out.json({ address: full, id });
          else out.info(`Imported ${full} (id ${id}). Run lakeforge plan to see how it differs from the configuration.`);
        });
      } finally {
        await env.close();
      }
    });
}
