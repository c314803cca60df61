import { spawn } from "node:child_process";

/**
 * One task process: `python -m lakeforge_runtime` in its own process group (so that cancelling kills
 * the Spark JVM and anything else it started), stdout and stderr captured into a bounded log.
 */

export interface ProcessOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started. */
  spawnError?: string;
}

export interface TaskProcess {
  readonly pid: number | undefined;
  readonly done: Promise<ProcessOutcome>;
  /** SIGTERM to the whole process group, SIGKILL after `graceMs`. */
  kill(graceMs?: number): void;
}

/** The last `limit` bytes of a stream of output; `truncated` once something was dropped. */
export class LogBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(readonly limit: number) {}

  append(data: Buffer | string): void {
    const b = typeof data === "string" ? Buffer.from(data) : data;
    this.chunks.push(b);
    this.size += b.length;
    if (this.size > this.limit * 2) this.trim();
  }

  private trim(): void {
    if (this.size <= this.limit) return;
    const all = Buffer.concat(this.chunks);
    const kept = all.subarray(all.length - this.limit);
    this.chunks = [kept];
    this.size = kept.length;
    this.truncated = true;
  }

  text(): string {
    this.trim();
    // Dropping bytes may cut a UTF-8 sequence at the start: decode leniently.
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

export function startTaskProcess(options: { python: string; cwd: string; env: NodeJS.ProcessEnv; log: LogBuffer }): TaskProcess {
  const child = spawn(options.python, ["-m", "lakeforge_runtime"], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d: Buffer) => options.log.append(d));
  child.stderr?.on("data", (d: Buffer) => options.log.append(d));
  let exited = false;
  const done = new Promise<ProcessOutcome>((resolvePromise) => {
    child.once("error", (e) => {
      exited = true;
      resolvePromise({ code: null, signal: null, spawnError: e.message });
    });
    child.once("close", (code, signal) => {
      exited = true;
      resolvePromise({ code, signal });
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  };
  return {
    pid: child.pid,
    done,
    kill(graceMs = 3000) {
      if (exited) return;
      signalGroup("SIGTERM");
      const t = setTimeout(() => signalGroup("SIGKILL"), graceMs);
      t.unref();
      void done.then(() => {
        clearTimeout(t);
        // Anything left in the group (a JVM that ignored SIGTERM) goes too.
        signalGroup("SIGKILL");
      });
    },
  };
}
