import { loadConfig } from "../config/config.js";
import type { ResolvedConfig } from "../config/resolve.js";
import { type RenderStyle, renderPlan } from "../engine/render.js";
import { hasChanges, type Plan } from "../engine/types.js";
import { type ArmOptions, applyInfra, currentOutputs, planInfra } from "./deploy.js";
import { infraFor } from "./index.js";

/**
 * The Azure phase of `lakeforge plan` / `apply` for an environment whose configuration uses
 * `${azure.*}` outputs (typically its workspace host): the infrastructure is planned (and applied)
 * first, and its outputs are handed to the workspace part.
 */

/** Defaults for Resource Manager calls (endpoint, credential); embedders and tests may set them. */
export const armDefaults: ArmOptions = {};

export interface PhaseOptions {
  target: string;
  environment?: string;
  variables?: Record<string, string>;
  env?: Record<string, string | undefined>;
  mode: "plan" | "apply";
  /** Human output (nothing is printed when absent, e.g. with --json). */
  info?: (line: string) => void;
  style?: RenderStyle;
  /** Asks before the infrastructure changes (apply only). */
  approve?: (plan: Plan) => Promise<boolean>;
  arm?: ArmOptions;
}

export interface PhaseResult {
  /** Whether the environment has an Azure phase at all. */
  active: boolean;
  plan?: Plan;
  /** Output values for `${azure.*}`, when the infrastructure exists. */
  outputs?: Record<string, string>;
  /** Apply was declined. */
  cancelled?: boolean;
  /**
   * The infrastructure is not deployed and the workspace target itself needs its outputs (its
   * host): the workspace part cannot be planned yet. When false, a plan shows the outputs the
   * workspace resources use as known after apply.
   */
  workspaceWaits?: boolean;
}

/** Whether plan and apply of this environment include its infrastructure. */
export const hasAzurePhase = (config: ResolvedConfig) => (config.azure?.pending.length ?? 0) > 0;

export async function azurePhase(o: PhaseOptions): Promise<PhaseResult> {
  const config = await loadConfig(o.target, {
    ...(o.environment ? { environment: o.environment } : {}),
    ...(o.variables ? { variables: o.variables } : {}),
    ...(o.env ? { env: o.env } : {}),
  });
  if (!hasAzurePhase(config)) return { active: false };
  const arm: ArmOptions = { ...armDefaults, ...(o.arm ?? {}), ...(o.info ? { progress: o.info } : {}) };
  const infra = infraFor(config);
  const tenant = config.azure?.settings.tenant_id;
  const plan = await planInfra(infra, config.environment, arm, tenant);
  o.info?.(renderPlan(plan, o.style).trimEnd());
  if (o.mode === "plan" || !hasChanges(plan)) {
    const outputs = await currentOutputs(infra, arm, tenant);
    const workspaceWaits = !outputs && (config.azure?.workspacePending.length ?? 0) > 0;
    if (!outputs && o.mode === "plan") {
      o.info?.(
        workspaceWaits
          ? `The workspace part of ${config.environment} is planned once its infrastructure exists (lakeforge apply).`
          : `Azure outputs used by the workspace part of ${config.environment} are known after apply.`,
      );
    }
    return { active: true, plan, ...(outputs ? { outputs } : {}), workspaceWaits };
  }
  if (o.approve && !(await o.approve(plan))) return { active: true, plan, cancelled: true };
  const outputs = await applyInfra(infra, arm, tenant);
  o.info?.(`Azure infrastructure of ${config.environment} is deployed; workspace ${outputs["databricks.url"] ?? "(none)"}.`);
  return { active: true, plan, outputs };
}

/**
 * The outputs of the environment's deployed infrastructure, for commands that only talk to the
 * workspace (destroy, import); undefined when the environment uses no `${azure.*}` output or its
 * infrastructure is not deployed (opening the environment then says so).
 */
export async function deployedOutputs(
  o: Pick<PhaseOptions, "target" | "environment" | "variables" | "env" | "arm">,
): Promise<Record<string, string> | undefined> {
  const config = await loadConfig(o.target, {
    ...(o.environment ? { environment: o.environment } : {}),
    ...(o.variables ? { variables: o.variables } : {}),
    ...(o.env ? { env: o.env } : {}),
  });
  if (!hasAzurePhase(config)) return undefined;
  return currentOutputs(infraFor(config), { ...armDefaults, ...(o.arm ?? {}) }, config.azure?.settings.tenant_id);
}
