import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { summaryLines } from "../../src/cli/quickstart.js";
import type { QuickstartResult } from "../../src/quickstart/index.js";
import { lakeforgeBin, openQuickstartWorkspace, type QuickstartWorkspace } from "../../src/quickstart/workspace.js";
import { runningLocalWorkspace } from "../../src/workspace/connect.js";

/**
 * `lakeforge quickstart --keep` without the ML pipeline: the workspace it leaves behind is a detached
 * `lakeforge workspace serve` (the built CLI, `bin/lakeforge.js` → dist/), which outlives the handle,
 * is reused by the next quickstart, never shows its token, and goes away — with its MLflow tracking
 * server — when its pid is killed, as the summary says.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = join(ROOT, ".cache/venv-project/bin/python");
const hasMlflow = existsSync(PYTHON);

const dataDir = mkdtempSync(join(tmpdir(), "lakeforge-keep-"));

interface Proc {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  argv: string[];
}

/** A process from /proc, or undefined when it is gone (a zombie counts as gone). */
function proc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = fields[0] ?? "";
    if (state === "Z" || state === "X") return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    return { pid, ppid: Number(fields[1]), pgrp: Number(fields[2]), state, argv };
  } catch {
    return undefined;
  }
}

function allProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const p = proc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** Every live process whose command line names this test's data directory (the server, its MLflow child). */
const processesOfDataDir = () => allProcs().filter((p) => p.argv.some((a) => a.includes(dataDir)));

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ends every process of the data directory: SIGTERM, then SIGKILL for what is left. */
async function killAll(): Promise<void> {
  for (const p of processesOfDataDir()) process.kill(p.pid, "SIGTERM");
  try {
    await until("the background workspace is gone", () => processesOfDataDir().length === 0, 15_000);
  } catch {
    for (const p of processesOfDataDir()) process.kill(p.pid, "SIGKILL");
  }
}

afterAll(async () => {
  await killAll();
  rmSync(dataDir, { recursive: true, force: true });
});

const skipReason = existsSync("/proc/self/cmdline") ? undefined : "reads processes from /proc (Linux)";

describe.skipIf(skipReason !== undefined)(`quickstart --keep workspace${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  const progress: string[] = [];
  const open = (keep: boolean) =>
    openQuickstartWorkspace({
      dataDir,
      port: 0,
      keep,
      python: hasMlflow ? PYTHON : "python3",
      mlflowPython: hasMlflow ? PYTHON : "python3",
      progress: (line) => progress.push(line),
    });
  let first: QuickstartWorkspace | undefined;

  it("starts a detached `lakeforge workspace serve` of the data directory that answers its admin only", async () => {
    const built = join(ROOT, "dist/cli/main.js");
    expect(existsSync(built), `${lakeforgeBin()} runs ${built}: run \`npm run build\` first`).toBe(true);

    first = await open(true);
    expect(first.mode).toBe("background");
    expect(first.dataDir).toBe(resolve(dataDir));
    expect(first.pid).toBeTypeOf("number");
    const pid = first.pid as number;

    const server = proc(pid);
    expect(server, "the background server is running").toBeDefined();
    expect(server?.argv.slice(1)).toEqual(
      expect.arrayContaining([lakeforgeBin(), "workspace", "serve", "--data-dir", resolve(dataDir)]),
    );
    // Detached: a process group of its own, so the quickstart's terminal signals do not reach it.
    expect(server?.pgrp).toBe(pid);
    // The token is in no command line.
    expect(server?.argv.join(" ")).not.toContain(first.token);

    // The data directory's lock names it.
    expect(runningLocalWorkspace(dataDir)).toEqual({ url: first.url, token: first.token, pid });

    const me = await first.client.get<{ userName: string }>("/api/2.0/preview/scim/v2/Me");
    expect(me.userName).toBe("admin@lakeforge.local");
    const anonymous = await fetch(`${first.url}/api/2.0/preview/scim/v2/Me`);
    expect(anonymous.status).toBe(401);
    await anonymous.text();
    const wrong = await fetch(`${first.url}/api/2.0/preview/scim/v2/Me`, {
      headers: { authorization: "Bearer dapi-not-the-token" },
    });
    expect([401, 403]).toContain(wrong.status);
    await wrong.text();

    expect(progress.join("\n")).toContain(`(pid ${pid}, data in ${resolve(dataDir)})`);
  });

  it("stays running after stop(), and the next quickstart reuses it instead of starting another", async () => {
    expect(first).toBeDefined();
    const { pid, url } = first as QuickstartWorkspace & { pid: number };
    await first?.stop();
    expect(proc(pid), "stop() leaves the background workspace running").toBeDefined();
    await first?.client.get("/api/2.0/preview/scim/v2/Me");

    for (const keep of [true, false]) {
      const again = await open(keep);
      expect(again.mode).toBe("reused");
      expect(again.pid).toBe(pid);
      expect(again.url).toBe(url);
      await again.client.get("/api/2.0/preview/scim/v2/Me");
      await again.stop();
      expect(proc(pid)).toBeDefined();
    }
    const servers = processesOfDataDir().filter((p) => p.argv.includes("serve"));
    expect(servers.map((p) => p.pid)).toEqual([pid]);
    expect(progress.at(-1)).toBe(`Reusing the workspace serving ${resolve(dataDir)} at ${url} (pid ${pid})`);
  });

  it("prints how to stop it (kill <pid>) and never its token", () => {
    expect(first).toBeDefined();
    const ws = first as QuickstartWorkspace;
    const result: QuickstartResult = {
      ok: true,
      project: { dir: "/p", action: "unchanged", written: [], conflicts: [], repository: "/f", forgeChanged: false },
      workspace: { url: ws.url, data_dir: ws.dataDir, mode: ws.mode, pid: ws.pid as number, mlflow_ui: `${ws.url}/ml/` },
      runtime_python: PYTHON,
      deploy: { changed: false, summary: { create: 0, update: 0, recreate: 0, delete: 0, skip: 0 }, failed: [] },
      runs: [],
      duration_ms: 1000,
    };
    const summary = summaryLines(result).join("\n");
    expect(summary).toContain(`${ws.url} (running)`);
    expect(summary).toContain(`Stop it: kill ${ws.pid}`);
    expect(summary).toContain(`DATABRICKS_TOKEN="$(cat ${join(ws.dataDir, "admin-token")})"`);
    expect(summary).not.toContain(ws.token);
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line).not.toContain(ws.token);
  });

  it.runIf(hasMlflow)("goes away with its MLflow tracking server when its pid is killed", { timeout: 120_000 }, async () => {
    expect(first).toBeDefined();
    const ws = first as QuickstartWorkspace & { pid: number };
    // An MLflow call starts the tracking server, a child of the background workspace.
    const found = await ws.client.post<{ runs?: unknown[] }>("/api/2.0/mlflow/runs/search", { experiment_ids: [] });
    expect(found.runs ?? []).toEqual([]);
    const mlflow = allProcs().filter((p) => p.ppid === ws.pid);
    expect(mlflow.length, "the MLflow tracking server runs under the background workspace").toBeGreaterThan(0);

    process.kill(ws.pid, "SIGTERM");
    await until("the background workspace exits", () => proc(ws.pid) === undefined);
    await until("its MLflow tracking server exits", () => mlflow.every((p) => proc(p.pid) === undefined));
    expect(processesOfDataDir()).toEqual([]);
    expect(runningLocalWorkspace(dataDir)).toBeUndefined();
  });

  it("outlives the process that started it", async () => {
    await killAll(); // the workspace of the tests above, when the MLflow test did not run
    expect(processesOfDataDir()).toEqual([]);
    // The built quickstart module in a process of its own, which ends once the workspace is up.
    const script = `
      const { openQuickstartWorkspace } = await import(${JSON.stringify(join(ROOT, "dist/quickstart/workspace.js"))});
      const lines = [];
      const ws = await openQuickstartWorkspace({ dataDir: process.argv[1], port: 0, keep: true, python: "python3",
        mlflowPython: "python3", progress: (l) => lines.push(l) });
      await ws.stop();
      console.log(JSON.stringify({ mode: ws.mode, pid: ws.pid, url: ws.url, lines }));`;
    const opener = spawn(process.execPath, ["--input-type=module", "-e", script, dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    opener.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    opener.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((done) => opener.on("close", done));
    expect(code, stderr).toBe(0);
    const opened = JSON.parse(stdout.trim()) as { mode: string; pid: number; url: string; lines: string[] };
    expect(opened.mode).toBe("background");
    const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
    expect(stdout).not.toContain(token);

    expect(proc(opened.pid), "the workspace is still running after its opener exited").toBeDefined();
    const again = await open(true);
    expect(again).toMatchObject({ mode: "reused", pid: opened.pid, url: opened.url });
    await again.client.get("/api/2.0/preview/scim/v2/Me");

    process.kill(opened.pid, "SIGTERM");
    await until("the background workspace exits", () => proc(opened.pid) === undefined);
    expect(processesOfDataDir()).toEqual([]);
  });
});
