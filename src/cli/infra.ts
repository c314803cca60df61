import type { Command } from "commander";
import { applyInfra, destroyInfra, infraFor, planInfra, planInfraDestroy } from "../azure/index.js";
import { armDefaults } from "../azure/phase.js";
import { loadConfig } from "../config/config.js";
import { renderPlan } from "../engine/render.js";
import { writeFileAtomic } from "../engine/state.js";
import { hasChanges } from "../engine/types.js";
import { approve, environmentOptions, jsonOption, parseVars, varOption } from "./common.js";
import type { Output } from "./output.js";

interface InfraOptions {
  config: string;
  environment?: string;
  var: string[];
  json?: boolean;
}

function common(cmd: Command): Command {
  environmentOptions(cmd);
  varOption(cmd, "set a variable (repeatable)");
  return jsonOption(cmd);
}

async function load(o: InfraOptions) {
  const config = await loadConfig(o.config, {
    ...(o.environment ? { environment: o.environment } : {}),
    variables: parseVars(o.var),
  });
  return { config, infra: infraFor(config) };
}

/** `lakeforge infra export | plan | apply | destroy`: an environment's Azure infrastructure on its own. */
export function infraCommand(program: Command, out: Output): void {
  const infra = program.command("infra").description("Azure infrastructure of an environment (the azure: section)");
  const arm = (o: InfraOptions) => ({ ...armDefaults, ...(o.json ? {} : { progress: (l: string) => out.info(l) }) });

  common(infra.command("export").description("write the environment's ARM deployment template (subscription scope)"))
    .option("-o, --out <file>", "write it to this file instead of stdout")
    .action(async (o: InfraOptions & { out?: string }) => {
      const { config, infra: t } = await load(o);
      const text = `${JSON.stringify(t.template, null, 2)}\n`;
      if (o.out) {
        writeFileAtomic(o.out, text);
        out.info(`Wrote the ARM template of ${config.environment} (deployment ${t.deploymentName}, ${t.location}) to ${o.out}.`);
      } else process.stdout.write(text);
    });

  common(infra.command("plan").description("show what deploying the environment's infrastructure would change (ARM what-if)"))
    .option("--detailed-exitcode", "exit 0 with no changes, 2 with changes, 1 on error")
    .action(async (o: InfraOptions & { detailedExitcode?: boolean }) => {
      const { config, infra: t } = await load(o);
      const plan = await planInfra(t, config.environment, arm(o), config.azure?.settings.tenant_id);
      if (o.json) out.json(plan);
      else out.info(renderPlan(plan, out.style).trimEnd());
      process.exitCode = o.detailedExitcode && hasChanges(plan) ? 2 : 0;
    });

  common(infra.command("apply").description("deploy the environment's infrastructure"))
    .option("--auto-approve", "do not ask for confirmation")
    .action(async (o: InfraOptions & { autoApprove?: boolean }) => {
      const { config, infra: t } = await load(o);
      const tenant = config.azure?.settings.tenant_id;
      const plan = await planInfra(t, config.environment, arm(o), tenant);
      if (!o.json) out.info(renderPlan(plan, out.style).trimEnd());
      if (!(await approve(out, plan, o.autoApprove, "apply"))) {
        process.exitCode = 1;
        return;
      }
      const outputs = await applyInfra(t, arm(o), tenant);
      if (o.json) out.json({ environment: config.environment, deployment: t.deploymentName, outputs });
      else {
        out.info(`Apply complete: ${t.deploymentName}.`);
        for (const [k, v] of Object.entries(outputs)) out.info(`  \${azure.${k}} = ${v}`);
      }
    });

  common(infra.command("destroy").description("delete the resource groups Lakeforge created for the environment"))
    .option("--auto-approve", "do not ask for confirmation")
    .action(async (o: InfraOptions & { autoApprove?: boolean }) => {
      const { config, infra: t } = await load(o);
      const plan = await planInfraDestroy(
        t,
        config.project.name,
        config.environment,
        config.azure?.settings.prevent_destroy === true,
        arm(o),
      );
      if (!o.json) out.info(renderPlan(plan, out.style).trimEnd());
      if (!(await approve(out, plan, o.autoApprove, "destroy"))) {
        process.exitCode = 1;
        return;
      }
      await destroyInfra(t, plan, arm(o));
      if (o.json) out.json({ environment: config.environment, deleted: plan.actions.map((a) => a.name) });
      else out.info(`Destroy complete: ${plan.actions.length} resource group(s) deleted.`);
    });
}
