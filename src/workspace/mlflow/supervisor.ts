import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LAUNCHER_PY } from "./launcher.js";

export interface MlflowServerOptions {
  /** The Python interpreter that has `mlflow` installed. */
  python: string;
  /** Where the SQLite database and the artifacts live; undefined: a temporary directory removed on stop. */
  dataDir?: string;
  /** URL prefix the server answers under (its UI, API and static files). */
  staticPrefix: string;
  log: (line: string) => void;
}

/** Why the tracking server cannot run (no interpreter, mlflow missing); the workspace then answers natively. */
export class MlflowUnavailableError extends Error {}

const READY = "LAKEFORGE_MLFLOW_READY ";
const UNAVAILABLE = "LAKEFORGE_MLFLOW_UNAVAILABLE ";
const START_TIMEOUT_MS = 180_000;
const STOP_GRACE_MS = 5_000;

/**
 * One `mlflow server` child process: started on demand, started again on demand after it dies,
 * stopped (and its temporary directory removed) with the workspace. The child also exits on its
 * own when this process dies, however it dies.
 */
export class MlflowServer {
  private child: ChildProcess | undefined;
  private starting: Promise<string> | undefined;
  private baseUrl: string | undefined;
  private unavailable: string | undefined;
  private stopped = false;
  private tempDir: string | undefined;
  /** Called after each (re)start, before any request is proxied. */
  onStart: (url: string) => Promise<void> = async () => {};

  constructor(private readonly options: MlflowServerOptions) {}

  /** The process id of the running server, if any. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Why the server cannot run, once a start has failed for good. */
  get unavailableReason(): string | undefined {
    return this.unavailable;
  }

  /** The server's base URL (prefix included), starting it if needed. */
  async url(): Promise<string> {
    if (this.stopped) throw new MlflowUnavailableError("the workspace is stopping");
    if (this.unavailable) throw new MlflowUnavailableError(this.unavailable);
    if (this.baseUrl && this.pid !== undefined) return this.baseUrl;
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private dirs(): { db: string; artifacts: string } {
    let root: string;
    if (this.options.dataDir) root = this.options.dataDir;
    else {
      this.tempDir ??= mkdtempSync(join(tmpdir(), "lakeforge-mlflow-"));
      root = this.tempDir;
    }
    mkdirSync(join(root, "artifacts"), { recursive: true, mode: 0o700 });
    return { db: join(root, "mlflow.db"), artifacts: join(root, "artifacts") };
  }

  private async start(): Promise<string> {
    const { db, artifacts } = this.dirs();
    const launcher = join(this.tempDir ?? (this.options.dataDir as string), "launcher.py");
    writeFileSync(launcher, LAUNCHER_PY, { mode: 0o600 });
    const config = {
      parent_pid: process.pid,
      host: "127.0.0.1",
      backend_store_uri: `sqlite:///${resolve(db)}`,
      artifacts_destination: resolve(artifacts),
      static_prefix: this.options.staticPrefix,
    };
    const python = this.options.python;
    if (python.includes("/") && !existsSync(python)) {
      this.unavailable = `the MLflow Python interpreter ${python} does not exist`;
      throw new MlflowUnavailableError(this.unavailable);
    }
    this.options.log(`mlflow: starting the tracking server with ${python}`);
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: "1", MLFLOW_TRACKING_URI: "" };
    // The child must not act on the caller's Databricks credentials or tracking settings.
    for (const key of Object.keys(env)) if (key.startsWith("DATABRICKS_")) delete env[key];
    delete env.MLFLOW_TRACKING_URI;
    delete env.MLFLOW_REGISTRY_URI;
    const child = spawn(python, [launcher, JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
    this.child = child;
    let stderrTail = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-4000);
    });

    const port = await new Promise<number>((resolvePort, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the MLflow tracking server did not start within ${START_TIMEOUT_MS / 1000}s`));
      }, START_TIMEOUT_MS);
      timer.unref();
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (chunk: string) => {
        out += chunk;
        for (const line of out.split("\n")) {
          if (line.startsWith(READY)) {
            clearTimeout(timer);
            resolvePort(Number(line.slice(READY.length).trim()));
          } else if (line.startsWith(UNAVAILABLE)) {
            this.unavailable = `mlflow is not importable with ${python}: ${line.slice(UNAVAILABLE.length).trim()}`;
          }
        }
        out = out.slice(out.lastIndexOf("\n") + 1);
      });
      child.once("error", (e) => {
        clearTimeout(timer);
        this.unavailable = `cannot run ${python}: ${e.message}`;
        reject(new MlflowUnavailableError(this.unavailable));
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        if (this.unavailable) reject(new MlflowUnavailableError(this.unavailable));
        else reject(new Error(`the MLflow tracking server exited (${signal ?? code}) while starting: ${stderrTail.trim()}`));
      });
    });
    child.on("exit", (code, signal) => {
      if (this.child === child) {
        this.child = undefined;
        this.baseUrl = undefined;
      }
      if (!this.stopped)
        this.options.log(`mlflow: the tracking server exited (${signal ?? code}); it restarts on the next request`);
    });
    // Its output after start-up is diagnostics only.
    child.stdout?.resume();
    const url = `http://127.0.0.1:${port}${this.options.staticPrefix}`;
    await this.waitHealthy(url);
    this.baseUrl = url;
    await this.onStart(url);
    this.options.log(`mlflow: the tracking server is up at ${url} (pid ${child.pid})`);
    return url;
  }

  private async waitHealthy(url: string): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.child === undefined) throw new Error("the MLflow tracking server exited while starting");
      try {
        const res = await fetch(`${url}/health`);
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error("the MLflow tracking server did not become healthy");
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and removes a temporary data directory. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => {});
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    this.baseUrl = undefined;
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    this.tempDir = undefined;
  }
}
