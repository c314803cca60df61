import { createHash } from "node:crypto";
import { join } from "node:path";
import type { TokenCredential } from "@azure/identity";
import type { SecretClientOptions } from "@azure/keyvault-secrets";
import { type AzureCredential, type AzureCredentialOptions, azureCredential } from "../clients/azure/credential.js";
import { KeyVaultError, KeyVaultReader, keyVaultRefKey } from "../clients/azure/keyvault.js";
import { DatabricksClient, resolveDatabricksAuth } from "../clients/databricks/index.js";
import { loadConfig } from "../config/config.js";
import { ConfigError, type ConfigIssue } from "../config/errors.js";
import { KeyVaultSecret, replaceKeyVaultSecrets, splitSensitive } from "../config/refs.js";
import type { ResolvedConfig, ResolvedResource } from "../config/resolve.js";
import { apply, destroyPlan, plan } from "../engine/engine.js";
import { emptyState, type StateFile } from "../engine/state.js";
import { addressOf, type Plan } from "../engine/types.js";
import { UserError } from "../lib/errors.js";
import { Secret } from "../lib/secret.js";
import { type LocalWorkspaceClient, openLocalWorkspace } from "../workspace/connect.js";
import { type OpenDeployment, type OpenDeploymentOptions, workspaceDeployment } from "./workspace.js";

/**
 * One environment opened for plan / apply / destroy: its configuration, a client for its workspace
 * (the local workspace, started on demand, when it names none), its state and its lock.
 */
export interface OpenEnvironment extends OpenDeployment {
  config: ResolvedConfig;
}

/** `localDataDir` serves when the environment's workspace is the local one. */
export interface OpenOptions extends OpenDeploymentOptions {
  /** `lakeforge.yaml` or the folder holding it. */
  target: string;
  environment?: string;
  /** How `azure_key_vault` secret sources are read (default: the Azure credential from `env`). */
  keyVault?: KeyVaultAccess;
  /** Outputs of the environment's Azure infrastructure, for `${azure.*}` references. */
  azureOutputs?: Readonly<Record<string, string>>;
  /**
   * For plans only: references to outputs of Azure infrastructure not deployed yet are planned as
   * known after apply instead of refused (the workspace target itself must not need them).
   */
  pendingAzureOutputs?: boolean;
}

/** Where state and the lock live in the workspace for an environment. */
export function stateRoot(config: ResolvedConfig): string {
  const custom = config.workspace.type === "remote" ? config.workspace.root_path : undefined;
  return custom ?? `/Shared/.lakeforge/${config.project.name}/${config.environment}`;
}

export async function openEnvironment(opts: OpenOptions): Promise<OpenEnvironment> {
  const env = opts.env ?? process.env;
  const config = await loadConfig(opts.target, {
    ...(opts.environment ? { environment: opts.environment } : {}),
    ...(opts.variables ? { variables: opts.variables } : {}),
    ...(opts.azureOutputs ? { azureOutputs: opts.azureOutputs } : {}),
    env,
  });
  const waiting = opts.pendingAzureOutputs ? config.azure?.workspacePending : config.azure?.pending;
  if (config.azure && waiting && waiting.length > 0) {
    throw new UserError(
      `environment ${config.environment} uses \${azure.${waiting[0]}} but its Azure infrastructure is not deployed`,
      `run lakeforge apply -e ${config.environment} (it deploys the infrastructure first) or lakeforge infra apply -e ${config.environment}`,
    );
  }
  await fetchKeyVaultSecrets(config, opts.keyVault, env);
  let local: LocalWorkspaceClient | undefined;
  let client: DatabricksClient;
  const hooks = opts.httpHook ? { hooks: [opts.httpHook] } : {};
  if (config.workspace.type === "local") {
    const dataDir = opts.localDataDir ?? join(config.root, ".lakeforge", "workspace");
    local = await openLocalWorkspace(dataDir, hooks);
    client = local.client;
  } else {
    const w = config.workspace;
    const auth = await resolveDatabricksAuth({
      ...(w.host ? { host: w.host } : {}),
      ...(w.profile ? { profile: w.profile } : {}),
      ...(w.auth_type ? { authType: w.auth_type as never } : {}),
      ...(w.client_id ? { clientId: w.client_id } : {}),
      ...(w.azure_client_id ? { azureClientId: w.azure_client_id } : {}),
      ...(w.azure_tenant_id ? { azureTenantId: w.azure_tenant_id } : {}),
      ...(w.azure_workspace_resource_id ? { azureWorkspaceResourceId: w.azure_workspace_resource_id } : {}),
      env,
    });
    client = new DatabricksClient({ host: auth.host, auth: auth.authProvider, ...hooks });
  }
  const root = stateRoot(config);
  const cacheFile = join(config.root, ".lakeforge", "state", `${config.environment}.json`);
  return {
    config,
    ...workspaceDeployment(client, {
      root,
      cacheFile,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.progress ? { progress: opts.progress } : {}),
    }),
    configFingerprint: fingerprintConfig(config),
    close: async () => {
      await local?.stop();
    },
  };
}

/** How plan and apply reach Azure Key Vault for `azure_key_vault` secret sources. */
export interface KeyVaultAccess {
  /** The identity to read with; default: `azureCredential({ ...credentialOptions, env })`. */
  credential?: AzureCredential | TokenCredential;
  credentialOptions?: Omit<AzureCredentialOptions, "env">;
  /** Passed to every `SecretClient` (retry, proxy, TLS). */
  clientOptions?: SecretClientOptions;
  /** Reads in flight at most. Default 4. */
  concurrency?: number;
}

/**
 * Reads every `azure_key_vault` secret source of the configuration — each distinct vault, secret
 * and version once — and puts the values (as `Secret`s) in place. Runs before anything is sent to
 * the workspace: a secret that cannot be read stops plan and apply with an error located where the
 * source is written. Sends nothing when no source names Key Vault.
 */
export async function fetchKeyVaultSecrets(
  config: ResolvedConfig,
  access: KeyVaultAccess = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<void> {
  const uses: { kv: KeyVaultSecret; resource: ResolvedResource; path: string }[] = [];
  const find = (v: unknown, path: string, resource: ResolvedResource): void => {
    if (v instanceof KeyVaultSecret) uses.push({ kv: v, resource, path });
    else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) find(v[i], `${path}.${i}`, resource);
    } else if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [k, x] of Object.entries(v)) find(x, path ? `${path}.${k}` : k, resource);
    }
  };
  for (const r of config.resources) find(r.spec, "", r);
  if (uses.length === 0) return;

  const refOf = (kv: KeyVaultSecret) => ({
    vaultUrl: kv.vaultUrl,
    name: kv.secret,
    ...(kv.version ? { version: kv.version } : {}),
  });
  const credential = access.credential ?? azureCredential({ ...access.credentialOptions, env });
  const reader = new KeyVaultReader({
    credential,
    ...(access.clientOptions ? { clientOptions: access.clientOptions } : {}),
    ...(access.concurrency ? { concurrency: access.concurrency } : {}),
  });
  const values = await reader.readAll(uses.map((u) => refOf(u.kv)));

  const issues: ConfigIssue[] = [];
  for (const u of uses) {
    const got = values.get(keyVaultRefKey(refOf(u.kv)));
    if (got instanceof KeyVaultError) {
      issues.push({
        loc: u.kv.at ?? u.resource.source,
        path: u.kv.at?.path ?? `${u.resource.kind}.${u.resource.name} ${u.path}`,
        message: got.message,
        ...(got.hint ? { hint: got.hint } : {}),
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const lookup = async (kv: KeyVaultSecret): Promise<Secret> => {
    const got = values.get(keyVaultRefKey(refOf(kv)));
    if (!(got instanceof Secret)) throw new Error(`Azure Key Vault secret ${kv} was not read`);
    return got;
  };
  for (const r of config.resources) r.spec = await replaceKeyVaultSecrets(r.spec, lookup);
}

/**
 * A digest of everything the plan was made from: the desired resources, with secret values hashed.
 * A saved plan is refused when it no longer matches.
 */
export function fingerprintConfig(config: ResolvedConfig): string {
  const h = createHash("sha256");
  for (const r of [...config.resources].sort((a, b) => addressOf(a.kind, a.name).localeCompare(addressOf(b.kind, b.name)))) {
    const { clean, values } = splitSensitive(r.spec);
    h.update(addressOf(r.kind, r.name));
    h.update(JSON.stringify(clean));
    for (const [p, v] of Object.entries(values).sort()) h.update(p).update(createHash("sha256").update(v).digest());
    h.update(JSON.stringify(r.dependsOn.map((d) => addressOf(d.kind, d.name))));
  }
  return `sha256:${h.digest("hex")}`;
}

export async function loadState(env: OpenEnvironment): Promise<StateFile> {
  return (await env.state.load()) ?? emptyState(env.config.environment);
}

export interface PlanRequest {
  only?: string[];
  destroy?: boolean;
}

export async function planEnvironment(env: OpenEnvironment, req: PlanRequest = {}): Promise<{ plan: Plan; state: StateFile }> {
  const state = await loadState(env);
  const only = req.only ? checkOnly(env, state, req.only) : undefined;
  const meta = { environment: env.config.environment, configFingerprint: env.configFingerprint, ...(only ? { only } : {}) };
  const thePlan = req.destroy
    ? destroyPlan(state, meta, env.config.resources)
    : await plan(env.config.resources, state, env.engine, meta);
  return { plan: thePlan, state };
}

function checkOnly(env: OpenEnvironment, state: StateFile, only: string[]): Set<string> {
  const known = new Set([...env.config.resources.map((r) => addressOf(r.kind, r.name)), ...Object.keys(state.resources)]);
  const out = new Set<string>();
  for (const o of only) {
    const address = o.startsWith("databricks.") ? o : `databricks.${o}`;
    if (!known.has(address))
      throw new UserError(`--only ${o}: no such resource`, "use <kind>.<name>, e.g. job.nightly or databricks.job.nightly");
    out.add(address);
  }
  return out;
}

/**
 * Refuses a saved plan that no longer matches the configuration or the state. A plan made while the
 * environment had no state yet applies to an environment that still has none: the state it starts
 * takes the plan's lineage.
 */
export function checkSavedPlan(env: OpenEnvironment, saved: Plan, state: StateFile): void {
  if (saved.environment !== env.config.environment) {
    throw new UserError(`the saved plan is for environment ${saved.environment}, not ${env.config.environment}`);
  }
  const stillEmpty = saved.stateSerial === 0 && state.serial === 0 && Object.keys(state.resources).length === 0;
  if (stillEmpty) state.lineage = saved.stateLineage;
  if (saved.stateLineage !== state.lineage || saved.stateSerial !== state.serial) {
    throw new UserError("the saved plan is stale: the environment's state changed since it was made", "run lakeforge plan again");
  }
  if (saved.configFingerprint !== env.configFingerprint) {
    throw new UserError("the saved plan is stale: the configuration changed since it was made", "run lakeforge plan again");
  }
}

export async function applyPlan(env: OpenEnvironment, thePlan: Plan, state: StateFile) {
  const result = await apply(thePlan, env.config.resources, state, env.engine);
  await env.state.flush();
  return result;
}
