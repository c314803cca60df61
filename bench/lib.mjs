// Shared by the benchmarks: the local workspace as a child process, its control API, the Lakeforge CLI
// as a child process, /proc readings and the result table.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const LAKEFORGE = join(ROOT, "bin", "lakeforge.js");

export const log = (line) => process.stderr.write(`${line}\n`);

/** The parent's environment without any Databricks or Lakeforge settings that could leak in. */
export function cleanEnv() {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith("DATABRICKS_") && !k.startsWith("LAKEFORGE_") && k !== "NODE_OPTIONS",
    ),
  );
}

/**
 * Starts `lakeforge workspace serve --ephemeral` as a child process; resolves with its url, admin
 * token, pid and `stop()`.
 */
export async function serve() {
  const child = spawn(process.execPath, [LAKEFORGE, "workspace", "serve", "--ephemeral", "--port", "0", "--json"], {
    cwd: ROOT,
    env: cleanEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => line),
    once(child, "exit").then(([code]) => {
      throw new Error(`the workspace exited with ${code} before it was ready:\n${stderr}`);
    }),
  ]);
  lines.close();
  const info = JSON.parse(first);
  return {
    ...info,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** One JSON request to the workspace as its admin. */
export async function request(ws, method, path, body) {
  const res = await fetch(`${ws.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ws.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** Like `request`, but throws unless the answer is 2xx. */
export async function control(ws, method, path, body) {
  const res = await request(ws, method, path, body);
  if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The sequence number of the newest entry of the workspace's request log. */
export async function lastSeq(ws) {
  return (await control(ws, "GET", "/__lakeforge/requests?since=1000000000000")).last_seq;
}

/** Entries of the request log after `seq` (method, path without query, status, ms, time). */
export async function requestsSince(ws, seq) {
  return (await control(ws, "GET", `/__lakeforge/requests?since=${seq}`)).requests;
}

/** Peak and current resident set of a process, in MB, from /proc. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { peakMb: kb("VmHWM") / 1024, rssMb: kb("VmRSS") / 1024 };
}

/**
 * Runs a command to completion; resolves with its exit code, output, wall time in milliseconds and
 * the epoch milliseconds it started and ended at.
 */
export function run(command, args, { cwd = ROOT, env = cleanEnv(), timeoutMs = 30 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const startedAt = Date.now();
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    const err = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code,
        ms: performance.now() - started,
        startedAt,
        endedAt: Date.now(),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

/** Throws with the command's output unless it exited with one of `codes`. */
export function check(result, what, codes = [0]) {
  if (!codes.includes(result.code)) {
    throw new Error(
      `${what} exited ${result.code}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`,
    );
  }
  return result;
}

export const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "-";

export function table(rows, header = ["measure", "result", "target", "ratio", ""]) {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? "").length)));
  const line = (r) =>
    r
      .map((c, i) => (i === 0 ? String(c ?? "").padEnd(widths[i]) : String(c ?? "").padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
