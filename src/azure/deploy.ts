import { ResourceManagementClient } from "@azure/arm-resources";
import {
  type DeploymentExtended,
  DeploymentsClient,
  type ErrorResponse,
  type WhatIfChange,
  type WhatIfPropertyChange,
} from "@azure/arm-resourcesdeployments";
import type { TokenCredential } from "@azure/core-auth";
import type { FieldChange } from "../engine/diff.js";
import type { Plan, PlannedAction } from "../engine/types.js";
import { UserError } from "../lib/errors.js";
import { armCredential } from "./credential.js";
import { type InfraTemplate, MANAGED_BY_TAG, MANAGED_BY_VALUE, outputsToReferences } from "./template.js";

/**
 * Plan, apply and destroy of an environment's Azure infrastructure through Azure Resource Manager,
 * with the official clients: plan = what-if of the subscription-scope deployment, apply = the
 * deployment (progress from its operations), destroy = deleting the resource groups Lakeforge made.
 */

export interface ArmOptions {
  /** Default: `armCredential()` (client secret, workload identity, then the default chain). */
  credential?: TokenCredential;
  /** Resource Manager endpoint (default https://management.azure.com). */
  endpoint?: string;
  /** Extra trusted CA certificates (PEM), e.g. for a local endpoint. */
  ca?: string;
  /** Process environment for the default credential. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Polling interval of long-running operations when the service gives no Retry-After (ms). */
  pollIntervalMs?: number;
  /** Progress lines (per resource on apply). */
  progress?: (line: string) => void;
}

export const ARM_ENDPOINT = "https://management.azure.com";
const ARM_SCOPE = "https://management.azure.com/.default";

function clients(infra: InfraTemplate, opts: ArmOptions, tenantId?: string) {
  const credential = opts.credential ?? armCredential(opts.env ?? process.env, tenantId);
  const endpoint = opts.endpoint ?? ARM_ENDPOINT;
  const tls = opts.ca ? { tlsOptions: { ca: opts.ca } } : {};
  const retryOptions = { maxRetries: 5, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 };
  return {
    deployments: new DeploymentsClient(credential, infra.subscriptionId, {
      endpoint,
      credentials: { scopes: [ARM_SCOPE] },
      retryOptions,
      ...tls,
    }),
    resources: new ResourceManagementClient(credential, infra.subscriptionId, {
      endpoint,
      credentialScopes: [ARM_SCOPE],
      retryOptions,
      ...tls,
    }),
  };
}

const deploymentBody = (infra: InfraTemplate) => ({
  location: infra.location,
  properties: { mode: "Incremental" as const, template: infra.template },
});

/** The address under which an Azure resource appears in plans: `azure.<type>.<name>`. */
export function azureAddress(resourceId: string): { address: string; kind: string; name: string } {
  // Extension resources (diagnostic settings, role assignments on a resource) are named by their own type.
  const m = /\/providers\/([^/]+)\/((?:(?!\/providers\/).)+)$/.exec(resourceId);
  if (!m) {
    const rg = /\/resourceGroups\/([^/]+)$/i.exec(resourceId);
    if (rg) return { address: `azure.resource_group.${rg[1]}`, kind: "azure.resource_group", name: rg[1] as string };
    return { address: `azure.${resourceId}`, kind: "azure", name: resourceId };
  }
  const parts = (m[2] as string).split("/");
  const types = [m[1] as string, ...parts.filter((_, i) => i % 2 === 0)];
  const names = parts.filter((_, i) => i % 2 === 1);
  const kind = `azure.${types.join("/")}`;
  const name = names.join("/");
  return { address: `${kind}.${name}`, kind, name };
}

const ACTION: Record<string, PlannedAction["action"]> = {
  Create: "create",
  Modify: "update",
  Deploy: "update",
  Delete: "delete",
  NoChange: "skip",
  Ignore: "skip",
  Unsupported: "skip",
};

function flattenDelta(delta: WhatIfPropertyChange[] | undefined, out: FieldChange[] = []): FieldChange[] {
  for (const d of delta ?? []) {
    if (d.children && d.children.length > 0) {
      flattenDelta(
        d.children.map((c) => ({ ...c, path: `${d.path}.${c.path}` })),
        out,
      );
      continue;
    }
    if (d.propertyChangeType === "NoEffect") continue;
    out.push({
      path: d.path,
      ...(d.propertyChangeType === "Create" ? {} : { before: d.before }),
      ...(d.propertyChangeType === "Delete" ? {} : { after: d.after }),
    } as FieldChange);
  }
  return out;
}

/** What-if changes as plan actions, in the same vocabulary as workspace plans. */
export function whatIfToActions(changes: WhatIfChange[]): PlannedAction[] {
  return changes
    .filter((c) => c.resourceId)
    .map((c) => {
      const { address, kind, name } = azureAddress(c.resourceId as string);
      const action = ACTION[c.changeType] ?? "skip";
      const reason =
        c.changeType === "Ignore"
          ? "ignore: not in the template, left as is"
          : c.changeType === "NoChange"
            ? "no change"
            : c.changeType === "Unsupported"
              ? `what-if cannot tell: ${c.unsupportedReason ?? "unsupported"}`
              : c.changeType === "Create"
                ? "not in Azure"
                : c.changeType === "Delete"
                  ? "not in the template"
                  : "differs";
      return {
        address,
        kind,
        name,
        action,
        id: c.resourceId,
        changes: action === "update" ? flattenDelta(c.delta) : [],
        reason,
        dependsOn: [],
      };
    })
    .sort((a, b) => a.address.localeCompare(b.address));
}

/** The ARM error as one line: code, message and the inner errors' codes and messages. */
export function describeArmError(e: unknown): string {
  const err = e as { code?: string; message?: string; details?: unknown; error?: unknown; statusCode?: number };
  const inner = (x: unknown) => (x as { error?: ErrorResponse } | undefined)?.error;
  const body = inner(err.details) ?? (err.error as ErrorResponse | undefined) ?? err;
  const walk = (x: { code?: string; message?: string; details?: unknown[] } | undefined, depth = 0): string[] => {
    if (!x || depth > 4) return [];
    const here = x.code || x.message ? [`${x.code ?? "Error"}: ${x.message ?? ""}`.trim()] : [];
    return [
      ...here,
      ...((x.details ?? []) as { code?: string; message?: string; details?: unknown[] }[]).flatMap((d) => walk(d, depth + 1)),
    ];
  };
  const lines = walk(body as { code?: string; message?: string; details?: unknown[] });
  return lines.length > 0 ? lines.join(" / ") : (err.message ?? String(e));
}

/** Plan: the what-if of the environment's deployment, as plan actions. */
export async function planInfra(
  infra: InfraTemplate,
  environment: string,
  opts: ArmOptions = {},
  tenantId?: string,
): Promise<Plan> {
  const { deployments } = clients(infra, opts, tenantId);
  let result: Awaited<ReturnType<typeof deployments.deployments.beginWhatIfAtSubscriptionScopeAndWait>>;
  try {
    result = await deployments.deployments.beginWhatIfAtSubscriptionScopeAndWait(infra.deploymentName, deploymentBody(infra), {
      ...(opts.pollIntervalMs !== undefined ? { updateIntervalInMs: opts.pollIntervalMs } : {}),
    });
  } catch (e) {
    throw new UserError(`azure what-if of ${infra.deploymentName} failed: ${describeArmError(e)}`, hintFor(e));
  }
  if (result.error)
    throw new UserError(`azure what-if of ${infra.deploymentName} failed: ${describeArmError({ error: result.error })}`);
  return infraPlan(environment, whatIfToActions(result.changes ?? []));
}

/** A plan of the environment's infrastructure: ARM keeps its state, so there is no serial or lineage to check. */
function infraPlan(environment: string, actions: PlannedAction[]): Plan {
  return {
    version: 1,
    environment: `${environment} (Azure)`,
    stateSerial: 0,
    stateLineage: "",
    configFingerprint: "",
    actions,
    createdAt: new Date().toISOString(),
  };
}

function hintFor(e: unknown): string | undefined {
  const status = (e as { statusCode?: number }).statusCode;
  if (status === 401) return "sign in: az login, or set AZURE_CLIENT_ID/AZURE_TENANT_ID with a federated token or client secret";
  if (status === 403)
    return "the deploying identity needs Contributor and Role Based Access Control Administrator (see docs/azure.md)";
  return undefined;
}

/**
 * Apply: creates or updates the subscription-scope deployment and waits for it, printing one line per
 * resource as its operation finishes. Resolves with the outputs as `${azure.*}` values.
 */
export async function applyInfra(
  infra: InfraTemplate,
  opts: ArmOptions = {},
  tenantId?: string,
): Promise<Record<string, string>> {
  const { deployments } = clients(infra, opts, tenantId);
  const say = opts.progress ?? (() => {});
  const reported = new Set<string>();
  const nested = infra.template.resources.find((r) => r.type === "Microsoft.Resources/deployments");
  const report = async () => {
    if (!nested?.resourceGroup) return;
    try {
      for await (const op of deployments.deploymentOperations.list(nested.resourceGroup, nested.name)) {
        const p = op.properties;
        const state = p?.provisioningState;
        const target = p?.targetResource?.id;
        if (!target || !state || state === "Running" || state === "Accepted") continue;
        const key = `${target}|${state}`;
        if (reported.has(key)) continue;
        reported.add(key);
        say(`  ${azureAddress(target).address}: ${state === "Succeeded" ? "done" : state.toLowerCase()}`);
      }
    } catch {
      // The nested deployment does not exist until the resource group does.
    }
  };
  say(`Deploying ${infra.deploymentName} to subscription ${infra.subscriptionId}...`);
  let result: DeploymentExtended;
  try {
    const poller = deployments.deployments.createOrUpdateAtSubscriptionScope(infra.deploymentName, deploymentBody(infra), {
      ...(opts.pollIntervalMs !== undefined ? { updateIntervalInMs: opts.pollIntervalMs } : {}),
    });
    poller.onProgress(() => {
      void report();
    });
    result = await poller;
  } catch (e) {
    await report();
    // The poller's error carries only the outer message: the deployment holds the inner errors.
    const inner = await deployments.deployments.getAtSubscriptionScope(infra.deploymentName).catch(() => undefined);
    const detail = inner?.properties?.error ? describeArmError({ error: inner.properties.error }) : describeArmError(e);
    throw new UserError(`azure deployment ${infra.deploymentName} failed: ${detail}`, hintFor(e));
  }
  await report();
  if (result.properties?.provisioningState === "Failed") {
    throw new UserError(
      `azure deployment ${infra.deploymentName} failed: ${describeArmError({ error: result.properties.error })}`,
    );
  }
  return outputsToReferences((result.properties?.outputs ?? {}) as Record<string, { value?: unknown }>);
}

/** The outputs of the environment's last successful deployment, or undefined when there is none. */
export async function currentOutputs(infra: InfraTemplate, opts: ArmOptions = {}, tenantId?: string) {
  const { deployments } = clients(infra, opts, tenantId);
  try {
    const d = await deployments.deployments.getAtSubscriptionScope(infra.deploymentName);
    if (d.properties?.provisioningState !== "Succeeded") return undefined;
    return outputsToReferences((d.properties.outputs ?? {}) as Record<string, { value?: unknown }>);
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw new UserError(`reading deployment ${infra.deploymentName} failed: ${describeArmError(e)}`, hintFor(e));
  }
}

/** Resource groups of this project and environment that Lakeforge created (by their tags). */
export async function managedResourceGroups(infra: InfraTemplate, project: string, environment: string, opts: ArmOptions = {}) {
  const { resources } = clients(infra, opts);
  const out: { name: string; id: string }[] = [];
  for await (const g of resources.resourceGroups.list({
    filter: `tagName eq '${MANAGED_BY_TAG}' and tagValue eq '${MANAGED_BY_VALUE}'`,
  })) {
    if (g.tags?.["lakeforge-project"] === project && g.tags?.["lakeforge-environment"] === environment && g.name && g.id) {
      out.push({ name: g.name, id: g.id });
    }
  }
  return out;
}

/** Destroy: the plan (one delete per managed resource group) and its execution. */
export async function planInfraDestroy(
  infra: InfraTemplate,
  project: string,
  environment: string,
  preventDestroy: boolean,
  opts: ArmOptions = {},
): Promise<Plan> {
  const groups = await managedResourceGroups(infra, project, environment, opts);
  if (groups.length > 0 && preventDestroy) {
    throw new UserError(
      `azure: refusing to delete resource group ${groups.map((g) => g.name).join(", ")} of ${environment}: it has prevent_destroy`,
      "remove `prevent_destroy: true` from the environment's azure section first",
    );
  }
  return infraPlan(
    environment,
    groups.map((g) => ({
      address: `azure.resource_group.${g.name}`,
      kind: "azure.resource_group",
      name: g.name,
      action: "delete" as const,
      id: g.id,
      changes: [],
      reason: "with everything in it",
      dependsOn: [],
    })),
  );
}

export async function destroyInfra(infra: InfraTemplate, plan: Plan, opts: ArmOptions = {}): Promise<void> {
  const { resources } = clients(infra, opts);
  for (const a of plan.actions) {
    if (a.action !== "delete") continue;
    opts.progress?.(`  - ${a.address}: deleting...`);
    try {
      await resources.resourceGroups.beginDeleteAndWait(a.name, {
        ...(opts.pollIntervalMs !== undefined ? { updateIntervalInMs: opts.pollIntervalMs } : {}),
      });
    } catch (e) {
      throw new UserError(`azure: deleting resource group ${a.name} failed: ${describeArmError(e)}`, hintFor(e));
    }
    opts.progress?.(`  - ${a.address}: deleted`);
  }
}
