import { spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DatabricksClient } from "../clients/databricks/index.js";
import { UserError } from "../lib/errors.js";
import { registerSecretValue } from "../lib/secret.js";
import { runningLocalWorkspace } from "../workspace/connect.js";
import { startWorkspace } from "../workspace/server.js";

/**
 * The quickstart's workspace: one already serving the data directory (reused, left running), else a
 * new one — in this process, stopped when the quickstart ends, or with `keep` a detached
 * `lakeforge workspace serve` that outlives it. The admin token stays in `<data dir>/admin-token`
 * (mode 0600): it is never printed, and the detached server's output (which names it) is discarded.
 */

export interface QuickstartWorkspace {
  url: string;
  /** The admin token (registered as a secret value, so output never shows it). */
  token: string;
  dataDir: string;
  mode: "reused" | "started" | "background";
  /** The detached server's pid (background and reused). */
  pid?: number;
  client: DatabricksClient;
  /** Stops the workspace if this process runs it; leaves a reused or background one running. */
  stop(): Promise<void>;
}

export interface WorkspaceOptions {
  dataDir: string;
  /** Preferred port; when taken, a free one is used. 0 picks a free one. */
  port: number;
  keep: boolean;
  /** Task interpreter and MLflow tracking server interpreter. */
  python: string;
  mlflowPython: string;
  progress: (line: string) => void;
}

const clientFor = (url: string, token: string) => {
  const header = { Authorization: `Bearer ${token}` };
  return new DatabricksClient({ host: url, auth: async () => header });
};

/** The workspace serving `dataDir`, if one is running (its lock names a live process) and it answers. */
export async function runningWorkspace(dataDir: string): Promise<{ url: string; token: string; pid: number } | undefined> {
  const running = runningLocalWorkspace(dataDir);
  if (!running) return undefined;
  registerSecretValue(running.token);
  try {
    await clientFor(running.url, running.token).get("/api/2.0/preview/scim/v2/Me");
    return running;
  } catch {
    return undefined;
  }
}

export async function openQuickstartWorkspace(o: WorkspaceOptions): Promise<QuickstartWorkspace> {
  const dataDir = resolve(o.dataDir);
  const running = await runningWorkspace(dataDir);
  if (running) {
    o.progress(`Reusing the workspace serving ${dataDir} at ${running.url} (pid ${running.pid})`);
    return { ...running, dataDir, mode: "reused", client: clientFor(running.url, running.token), stop: async () => {} };
  }
  if (o.keep) return startDetached(dataDir, o);
  const start = (port: number) => startWorkspace({ dataDir, port, mlflowPython: o.mlflowPython, runs: { python: o.python } });
  let ws: Awaited<ReturnType<typeof startWorkspace>>;
  try {
    ws = await start(o.port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || o.port === 0) throw e;
    o.progress(`Port ${o.port} is taken: using a free one`);
    ws = await start(0);
  }
  registerSecretValue(ws.token);
  o.progress(`Started the workspace at ${ws.url} (data in ${dataDir})`);
  return { url: ws.url, token: ws.token, dataDir, mode: "started", client: clientFor(ws.url, ws.token), stop: () => ws.stop() };
}

/** `bin/lakeforge.js` of this installation (dist/quickstart/ and src/quickstart/ are both two levels below the root). */
export function lakeforgeBin(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../bin/lakeforge.js");
}

async function startDetached(dataDir: string, o: WorkspaceOptions): Promise<QuickstartWorkspace> {
  const launch = async (port: number) => {
    const env: NodeJS.ProcessEnv = { ...process.env, LAKEFORGE_MLFLOW_PYTHON: o.mlflowPython };
    for (const k of Object.keys(env)) if (k.startsWith("DATABRICKS_") || k === "LAKEFORGE_WORKSPACE_TOKEN") delete env[k];
    const args = [lakeforgeBin(), "workspace", "serve", "--data-dir", dataDir, "--port", String(port), "--python", o.python];
    // Its output names the token: it goes nowhere.
    const child = spawn(process.execPath, args, { detached: true, stdio: "ignore", env });
    let exited: number | null | undefined;
    child.once("exit", (code) => {
      exited = code;
    });
    child.unref();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (exited !== undefined) return undefined;
      const found = await runningWorkspace(dataDir);
      if (found && found.pid === child.pid) return found;
      await new Promise((r) => setTimeout(r, 200));
    }
    try {
      if (child.pid) process.kill(child.pid, "SIGTERM");
    } catch {
      // gone
    }
    throw new UserError(`the background workspace for ${dataDir} did not answer within 60 s`);
  };
  let found = await launch(o.port);
  if (!found && o.port !== 0) {
    o.progress(`Port ${o.port} looks taken: starting the background workspace on a free one`);
    found = await launch(0);
  }
  if (!found) {
    throw new UserError(
      `the background workspace for ${dataDir} exited at start`,
      `run node ${lakeforgeBin()} workspace serve --data-dir ${dataDir} --port 0 to see why`,
    );
  }
  o.progress(`Started the workspace in the background at ${found.url} (pid ${found.pid}, data in ${dataDir})`);
  return { ...found, dataDir, mode: "background", client: clientFor(found.url, found.token), stop: async () => {} };
}
