import type { DatabricksClient } from "../clients/databricks/index.js";
import type { HttpHook } from "../clients/http.js";
import { specCodec } from "../config/refs.js";
import type { EngineOptions, ProgressEvent } from "../engine/engine.js";
import { WorkspaceLock, WorkspaceStateBackend } from "../engine/workspace-state.js";
import { type DatabricksCtx, databricksAdapters } from "../resources/databricks/index.js";

/**
 * A deployment into a Databricks workspace (an environment of lakeforge.yaml, or a bundle's target):
 * its client, its state and lock under `root` in the workspace (with a local cache), and the engine
 * options that apply its plans with the Databricks adapters.
 */
export interface WorkspaceDeployment {
  client: DatabricksClient;
  host: string;
  state: WorkspaceStateBackend;
  lock: WorkspaceLock;
  engine: EngineOptions<DatabricksCtx>;
}

/** A deployment opened for plan, apply or destroy. */
export interface OpenDeployment extends WorkspaceDeployment {
  /** A digest of what plans are made from: a saved plan is refused when it no longer matches. */
  configFingerprint: string;
  /** Stops the local workspace when this process started it for the deployment. */
  close(): Promise<void>;
}

/** How a deployment is opened, whatever it deploys. */
export interface OpenDeploymentOptions {
  /** `--var name=value`. */
  variables?: Record<string, string>;
  env?: Record<string, string | undefined>;
  concurrency?: number;
  progress?: (e: ProgressEvent) => void;
  /** Observes every HTTP request (method, path, status; never bodies). */
  httpHook?: HttpHook;
  /** Where the local workspace keeps its data when the deployment goes to it. */
  localDataDir?: string;
}

export function workspaceDeployment(
  client: DatabricksClient,
  opts: { root: string; cacheFile: string; concurrency?: number; progress?: (e: ProgressEvent) => void },
): WorkspaceDeployment {
  const state = new WorkspaceStateBackend(client, opts.root, opts.cacheFile);
  return {
    client,
    host: client.host,
    state,
    lock: new WorkspaceLock(client, opts.root),
    engine: {
      adapters: databricksAdapters(),
      ctx: { client },
      codec: specCodec,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      saveState: (s) => state.save(s),
      ...(opts.progress ? { progress: opts.progress } : {}),
    },
  };
}
