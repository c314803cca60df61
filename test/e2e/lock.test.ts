import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import {
  changing,
  inventory,
  makeProject,
  type Obj,
  planHere,
  projectDocument,
  requireBuild,
  runCli,
  show,
  spawnCli,
  startTestWorkspace,
  type TestWorkspace,
} from "./helpers.js";

/**
 * The deploy lock through the CLI: a second apply of the same environment fails fast naming the
 * holder and since when, while the first completes; a lock left by a dead process of this host is
 * taken over with a warning; one from another host is refused until `--force-unlock`.
 */

const ROOT = "/Shared/.lakeforge/e2e/test";
const LOCK = `${ROOT}/deploy.lock`;
const JOBS = 20;

function resources(timeout: number): Obj {
  const jobs: Obj = {};
  for (let i = 0; i < JOBS; i++) {
    jobs[`j${i}`] = {
      name: `lock-job-${i}`,
      timeout_seconds: timeout,
      tasks: [
        { task_key: "main", notebook_task: { notebook_path: "/Shared/lock/main" }, existing_cluster_id: "0000-000000-none" },
      ],
    };
  }
  return { jobs };
}

let ws: TestWorkspace;
let dir: string;
const env = () => ({ DATABRICKS_TOKEN: ws.token });

beforeAll(async () => {
  requireBuild();
  ws = await startTestWorkspace();
  dir = makeProject({ "lakeforge.yaml": projectDocument(ws.url, resources(60)) });
});

async function lockExists(): Promise<boolean> {
  return ws.api.get("/api/2.0/workspace/get-status", { path: LOCK }).then(
    () => true,
    () => false,
  );
}

/** Writes a lock file as another deploy would have left it. */
async function plantLock(lock: Obj): Promise<void> {
  await ws.api.post("/api/2.0/workspace/mkdirs", { path: ROOT });
  await ws.api.post("/api/2.0/workspace/import", {
    path: LOCK,
    format: "AUTO",
    overwrite: true,
    content: Buffer.from(JSON.stringify(lock)).toString("base64"),
  });
}

/** The id of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(child.stdout);
}

describe("the deploy lock", () => {
  it("makes a second concurrent apply fail fast with the holder and time, while the first completes", async () => {
    // Slow creates keep the first apply inside its lock long enough for the second to meet it.
    await ws.addFault({ method: "POST", path: "/api/2.2/jobs/create", latency_ms: 300 });
    try {
      const first = spawnCli(["apply", "--auto-approve", "--concurrency", "2"], { cwd: dir, env: env() });
      let firstExited = false;
      void first.done.then(() => {
        firstExited = true;
      });
      while (!(await lockExists())) {
        expect(firstExited, "the first apply ended before taking the lock").toBe(false);
        await new Promise((r) => setTimeout(r, 20));
      }
      const second = await runCli(["apply", "--auto-approve"], { cwd: dir, env: env() });
      expect(firstExited, "the second apply waited for the first").toBe(false);
      expect(second.code, show(second)).toBe(1);
      const line = second.stderr.trim().split("\n")[0] as string;
      expect(line).toMatch(
        new RegExp(
          `^error: the environment is locked by \\S+@${hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(pid ${first.child.pid}\\) since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z \\(apply\\)$`,
        ),
      );
      expect(second.stderr).toContain("hint: wait for it to finish");
      expect(second.stderr).not.toMatch(/\n\s+at /);

      const done = await first.done;
      expect(done.code, show(done)).toBe(0);
      expect(done.stderr).toContain(`Apply complete: ${JOBS} created`);
    } finally {
      await ws.clearFaults();
    }
    expect(await lockExists()).toBe(false);
    expect((await inventory(ws.api, "/Shared/lock")).jobs).toHaveLength(JOBS);
    expect(changing(await planHere(dir, env()))).toEqual([]);
  });

  it("takes over, with a warning, a lock whose holder on this host is no longer running", async () => {
    const pid = deadPid();
    await plantLock({
      holder: `someone@${hostname()} (pid ${pid})`,
      acquired_at: "2026-01-02T03:04:05.000Z",
      operation: "apply",
      id: "left-behind",
      hostname: hostname(),
      pid,
    });
    const result = await runCli(["apply", "--auto-approve"], { cwd: dir, env: env() });
    expect(result.code, show(result)).toBe(0);
    expect(result.stderr).toContain(
      `warning: took over the lock left by someone@${hostname()} (pid ${pid}) since 2026-01-02T03:04:05.000Z (apply): that process is no longer running`,
    );
    expect(await lockExists()).toBe(false);
  });

  it("refuses a lock held by a live process, or by a process of another host, until --force-unlock", async () => {
    const live = {
      holder: `someone@${hostname()} (pid ${process.pid})`,
      acquired_at: "2026-01-02T03:04:05.000Z",
      operation: "destroy",
      id: "live",
      hostname: hostname(),
      pid: process.pid,
    };
    await plantLock(live);
    const refused = await runCli(["apply", "--auto-approve"], { cwd: dir, env: env() });
    expect(refused.code, show(refused)).toBe(1);
    expect(refused.stderr).toContain(
      `error: the environment is locked by someone@${hostname()} (pid ${process.pid}) since 2026-01-02T03:04:05.000Z (destroy)`,
    );

    await plantLock({ ...live, holder: "ci@runner-7 (pid 1234)", hostname: "runner-7", pid: 1234, id: "elsewhere" });
    const elsewhere = await runCli(["apply", "--auto-approve"], { cwd: dir, env: env() });
    expect(elsewhere.code, show(elsewhere)).toBe(1);
    expect(elsewhere.stderr).toContain(
      "error: the environment is locked by ci@runner-7 (pid 1234) since 2026-01-02T03:04:05.000Z",
    );
    expect(elsewhere.stderr).toContain("--force-unlock");
    expect(await lockExists()).toBe(true);

    const forced = await runCli(["apply", "--auto-approve", "--force-unlock"], { cwd: dir, env: env() });
    expect(forced.code, show(forced)).toBe(0);
    expect(forced.stderr).toContain("warning: removed the lock held by ci@runner-7 (pid 1234) since 2026-01-02T03:04:05.000Z");
    expect(await lockExists()).toBe(false);
  });
});
