import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isolatedCliEnv } from "../support/databricks-cli.js";
import { type Api, HAVE_RUNTIME, NO_RUNTIME_REASON, startRunsWorkspace } from "./runs-helpers.js";

/* The official Databricks CLI deploys a bundle to the local workspace and runs its jobs there. */

const CLI = resolve(".cache/bin/databricks");
const HAVE_CLI = existsSync(CLI);
const reason = !HAVE_CLI ? `no Databricks CLI at ${CLI} (run npm run setup)` : NO_RUNTIME_REASON;

const BUNDLE = `bundle:
  name: runs-cli

workspace:
  root_path: /Workspace/Users/admin@lakeforge.local/.bundle/runs-cli

resources:
  jobs:
    hello:
      name: hello
      environments:
        - environment_key: default
          spec:
            environment_version: "2"
      tasks:
        - task_key: greet
          environment_key: default
          spark_python_task:
            python_file: ./src/hello.py
            parameters: ["--who", "cli"]
        - task_key: check
          depends_on:
            - task_key: greet
          condition_task:
            op: EQUAL_TO
            left: "{{tasks.greet.values.status}}"
            right: "ok"
    broken:
      name: broken
      environments:
        - environment_key: default
          spec:
            environment_version: "2"
      tasks:
        - task_key: boom
          environment_key: default
          spark_python_task:
            python_file: ./src/boom.py

targets:
  dev:
    default: true
`;

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(CLI, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.stdout.on("data", (d: Buffer) => chunks.push(d));
    child.stderr.on("data", (d: Buffer) => chunks.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, out: Buffer.concat(chunks).toString("utf8") });
    });
  });
}

describe.skipIf(!HAVE_CLI || !HAVE_RUNTIME)(
  `databricks bundle run on the local workspace ${HAVE_CLI && HAVE_RUNTIME ? "" : `(skipped: ${reason})`}`,
  () => {
    let api: Api;
    let home: string;
    let dir: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      api = await startRunsWorkspace();
      home = mkdtempSync(join(tmpdir(), "lakeforge-runs-cli-home-"));
      dir = mkdtempSync(join(tmpdir(), "lakeforge-runs-cli-"));
      mkdirSync(join(dir, "src"));
      writeFileSync(join(dir, "databricks.yml"), BUNDLE);
      writeFileSync(
        join(dir, "src", "hello.py"),
        [
          "import argparse",
          "from greeting import text",
          "args = argparse.ArgumentParser()",
          "args.add_argument('--who')",
          "print(text(args.parse_args().who))",
          "dbutils.jobs.taskValues.set('status', 'ok')",
        ].join("\n"),
      );
      writeFileSync(join(dir, "src", "greeting.py"), "def text(who):\n    return f'greetings from the bundle, {who}'\n");
      writeFileSync(join(dir, "src", "boom.py"), "raise RuntimeError('boom in the bundle')\n");
      env = isolatedCliEnv({ home, url: api.ws.url, token: api.ws.token });
      const deployed = await run(["bundle", "deploy"], dir, env);
      expect(deployed.code, deployed.out).toBe(0);
    }, 240_000);

    afterAll(async () => {
      await api?.ws.stop();
      for (const d of [home, dir]) if (d) rmSync(d, { recursive: true, force: true });
    });

    it("runs a deployed job to success and prints its output", async () => {
      const r = await run(["bundle", "run", "hello"], dir, env);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`${api.ws.url}/jobs/`);
      expect(r.out).toContain("greetings from the bundle, cli");
      const runs = await api.ok("GET", "/api/2.1/jobs/runs/list?expand_tasks=true");
      const hello = runs.runs.find((x: { run_name: string }) => x.run_name === "hello");
      expect(hello.state.result_state).toBe("SUCCESS");
      expect(hello.tasks.find((t: { task_key: string }) => t.task_key === "check").condition_task.outcome).toBe("true");
    }, 240_000);

    it("exits non-zero when the job fails, showing the error", async () => {
      const r = await run(["bundle", "run", "broken"], dir, env);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain("boom in the bundle");
    }, 240_000);
  },
);
