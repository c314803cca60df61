import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import {
  DatabricksAuthNotConfiguredError,
  DatabricksClient,
  isNotFound,
  resolveDatabricksAuth,
} from "../clients/databricks/index.js";
import { splitSensitive } from "../config/refs.js";
import { type OpenDeployment, type OpenDeploymentOptions, workspaceDeployment } from "../deploy/workspace.js";
import { apply, destroyPlan, plan } from "../engine/engine.js";
import { emptyState, type StateFile } from "../engine/state.js";
import { addressOf, type DesiredResource, hasChanges, type Plan } from "../engine/types.js";
import type { LockInfo } from "../engine/workspace-state.js";
import { UserError } from "../lib/errors.js";
import { type LocalWorkspaceClient, openLocalWorkspace } from "../workspace/connect.js";
import { desiredResources } from "./desired.js";
import { lookupId } from "./lookup.js";
import { type CurrentUser, type ResolvedBundle, resolveBundle, shortName } from "./resolve.js";
import { type BundleSource, readBundle } from "./source.js";
import { type SyncedFile, syncedFiles } from "./sync.js";

/**
 * A bundle opened for deploy, run or destroy: its configuration for one target, resolved against the
 * workspace it deploys to (the target's host or profile, the usual `DATABRICKS_*` settings, else the
 * local workspace, started on demand), the engine's desired resources, and the deployment's state and
 * lock. Lakeforge's state lives in `<workspace.state_path>/lakeforge/`, apart from the Databricks
 * CLI's own files; its local cache in `.databricks/lakeforge/<target>/`.
 */
export interface OpenBundle extends OpenDeployment {
  source: BundleSource;
  bundle: ResolvedBundle;
  files: SyncedFile[];
  desired: DesiredResource[];
  /** The name plans and state are recorded under: `<bundle>/<target>`. */
  environment: string;
}

/** `localDataDir` serves when the target names no workspace and no `DATABRICKS_*` settings name one. */
export interface OpenBundleOptions extends OpenDeploymentOptions {
  /** The bundle folder (or its databricks.yml). */
  dir: string;
  target?: string;
}

/** Reads and checks the bundle without contacting any workspace (throws a located ConfigError). */
export function checkBundle(dir: string, target?: string): BundleSource {
  return readBundle(dir, target ? { target } : {});
}

export async function openBundle(opts: OpenBundleOptions): Promise<OpenBundle> {
  const env = opts.env ?? process.env;
  const source = readBundle(opts.dir, opts.target ? { target: opts.target } : {});
  const hooks = opts.httpHook ? { hooks: [opts.httpHook] } : {};
  const { host, profile } = workspaceOf(source, opts.variables, env);
  let local: LocalWorkspaceClient | undefined;
  let client: DatabricksClient;
  try {
    const auth = await resolveDatabricksAuth({ ...(host ? { host } : {}), ...(profile ? { profile } : {}), env });
    client = new DatabricksClient({ host: auth.host, auth: auth.authProvider, ...hooks });
  } catch (e) {
    if (!(e instanceof DatabricksAuthNotConfiguredError) || host || profile) throw e;
    const dataDir = opts.localDataDir ?? join(source.root, ".databricks", "lakeforge", "workspace");
    local = await openLocalWorkspace(dataDir, hooks);
    client = local.client;
  }
  try {
    const user = await currentUser(client);
    const bundle = await resolveBundle(source, {
      user,
      ...(opts.variables ? { variables: opts.variables } : {}),
      env,
      lookup: (kind, name) => lookupId(client, kind, name),
    });
    const files = syncedFiles(source.root, bundle.workspace.file_path, bundle.sync);
    const desired = desiredResources(bundle, files);
    const root = `${bundle.workspace.state_path}/lakeforge`;
    const cacheFile = join(source.root, ".databricks", "lakeforge", source.target, "state.json");
    return {
      source,
      bundle,
      files,
      desired,
      ...workspaceDeployment(client, {
        root,
        cacheFile,
        ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
        ...(opts.progress ? { progress: opts.progress } : {}),
      }),
      environment: `${source.name}/${source.target}`,
      configFingerprint: fingerprint(desired),
      close: async () => {
        await local?.stop();
      },
    };
  } catch (e) {
    await local?.stop();
    throw e;
  }
}

/** The target's host and profile, with variables in them resolved from flags and the environment only. */
function workspaceOf(
  source: BundleSource,
  vars: Record<string, string> | undefined,
  env: Record<string, string | undefined>,
): { host?: string; profile?: string } {
  const ws = source.config.entries.get("workspace");
  const field = (k: string) => {
    const n = ws?.t === "map" ? ws.entries.get(k) : undefined;
    if (n?.t !== "scalar" || typeof n.value !== "string" || !n.value) return undefined;
    if (!n.value.includes("${")) return n.value;
    const v = /^\$\{var\.([A-Za-z0-9_-]+)\}$/.exec(n.value)?.[1];
    const value = v ? (vars?.[v] ?? env[`BUNDLE_VAR_${v}`]) : undefined;
    if (value === undefined)
      throw new UserError(
        `${n.loc.file}:${n.loc.line}:${n.loc.col} workspace.${k}: only \${var.<name>} given with --var can be used here`,
      );
    return value;
  };
  const host = field("host");
  const profile = field("profile");
  return { ...(host ? { host } : {}), ...(profile ? { profile } : {}) };
}

async function currentUser(client: DatabricksClient): Promise<CurrentUser> {
  const me = await client.get<{ userName?: string; displayName?: string; id?: string }>("/api/2.0/preview/scim/v2/Me");
  const userName = String(me.userName ?? "");
  if (!userName) throw new UserError(`${client.host} did not say who the current user is`);
  const servicePrincipal = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(userName);
  return {
    userName,
    short_name: shortName(userName, me.displayName, servicePrincipal),
    ...(me.displayName ? { displayName: me.displayName } : {}),
    ...(me.id ? { id: String(me.id) } : {}),
    ...(servicePrincipal ? { servicePrincipal } : {}),
  };
}

function fingerprint(desired: readonly DesiredResource[]): string {
  const h = createHash("sha256");
  for (const r of [...desired].sort((a, b) => addressOf(a.kind, a.name).localeCompare(addressOf(b.kind, b.name)))) {
    h.update(addressOf(r.kind, r.name));
    h.update(JSON.stringify(splitSensitive(r.spec).clean));
  }
  return `sha256:${h.digest("hex")}`;
}

export async function loadBundleState(b: OpenBundle): Promise<StateFile> {
  return (await b.state.load()) ?? emptyState(b.environment);
}

/** What a deploy (or, with `destroy`, a destroy) would change. Reads only. */
export async function planBundle(b: OpenBundle, opts: { destroy?: boolean } = {}): Promise<{ plan: Plan; state: StateFile }> {
  const state = await loadBundleState(b);
  const meta = { environment: b.environment, configFingerprint: b.configFingerprint };
  const thePlan = opts.destroy ? destroyPlan(state, meta, b.desired) : await plan(b.desired, state, b.engine, meta);
  return { plan: thePlan, state };
}

export async function applyBundle(b: OpenBundle, thePlan: Plan, state: StateFile) {
  const result = await apply(thePlan, b.desired, state, b.engine);
  await b.state.flush();
  return result;
}

/**
 * After a complete destroy: the bundle's root folder goes too (synchronised folders, Lakeforge's
 * state and lock, and whatever the Databricks CLI kept there), as `bundle destroy` does.
 */
export async function removeRootFolder(b: OpenBundle): Promise<void> {
  try {
    await b.client.post(
      "/api/2.0/workspace/delete",
      { path: b.bundle.workspace.root_path, recursive: true },
      { idempotent: true },
    );
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  rmSync(join(b.source.root, ".databricks", "lakeforge", b.source.target), { recursive: true, force: true });
}

export interface DeployResult {
  plan: Plan;
  /** Absent when nothing had to change. */
  result?: Awaited<ReturnType<typeof applyBundle>>;
}

/**
 * Deploys: plans without the lock (a deployment that already matches is not written to at all),
 * then, when something changes, takes the lock, plans again under it and applies that plan.
 * `onPlan` sees the plan that is applied.
 */
export async function deployBundle(
  b: OpenBundle,
  opts: {
    forceUnlock?: boolean;
    onPlan?: (plan: Plan) => void;
    onLock?: (event: { tookOver?: LockInfo; removed?: LockInfo }) => void;
  } = {},
): Promise<DeployResult> {
  const first = await planBundle(b);
  if (!hasChanges(first.plan) && !opts.forceUnlock) {
    opts.onPlan?.(first.plan);
    return { plan: first.plan };
  }
  if (opts.forceUnlock) {
    const removed = await b.lock.forceUnlock();
    if (removed) opts.onLock?.({ removed });
  }
  const { tookOver } = await b.lock.acquire("deploy");
  if (tookOver) opts.onLock?.({ tookOver });
  try {
    const { plan: thePlan, state } = await planBundle(b);
    opts.onPlan?.(thePlan);
    if (!hasChanges(thePlan)) return { plan: thePlan };
    return { plan: thePlan, result: await applyBundle(b, thePlan, state) };
  } finally {
    await b.lock.release();
  }
}
