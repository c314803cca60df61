import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabricksClient, type DatabricksHttpOptions } from "../clients/databricks/index.js";
import { startWorkspace } from "./server.js";

/** A local workspace already serving `dataDir`: its lock names a live process and its URL. */
export function runningLocalWorkspace(dataDir: string): { url: string; token: string; pid: number } | undefined {
  const lockFile = join(dataDir, "server.lock");
  const tokenFile = join(dataDir, "admin-token");
  if (!existsSync(lockFile) || !existsSync(tokenFile)) return undefined;
  try {
    const lock = JSON.parse(readFileSync(lockFile, "utf8")) as { pid?: number; url?: string };
    if (!lock.pid || !lock.url) return undefined;
    process.kill(lock.pid, 0);
    return { url: lock.url, token: readFileSync(tokenFile, "utf8").trim(), pid: lock.pid };
  } catch {
    return undefined;
  }
}

/** A client for a local workspace; `stop` stops the workspace when this process started it. */
export interface LocalWorkspaceClient {
  client: DatabricksClient;
  stop(): Promise<void>;
}

/**
 * A client for the local workspace of `dataDir`, as its admin: the one already serving it, else one
 * started in this process. `stop` stops a workspace started here and leaves a running one alone.
 */
export async function openLocalWorkspace(dataDir: string, http: DatabricksHttpOptions = {}): Promise<LocalWorkspaceClient> {
  const running = runningLocalWorkspace(dataDir);
  if (running) return { client: adminClient(running, http), stop: async () => {} };
  const local = await startWorkspace({ dataDir, port: 0 });
  return { client: adminClient(local, http), stop: () => local.stop() };
}

function adminClient(at: { url: string; token: string }, http: DatabricksHttpOptions): DatabricksClient {
  const header = { Authorization: `Bearer ${at.token}` };
  return new DatabricksClient({ ...http, host: at.url, auth: async () => header });
}
