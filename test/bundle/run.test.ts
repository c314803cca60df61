/**
 * `lakeforge run <job>` on a bundle deployed to the local workspace, whose tasks run as local
 * Python processes: live task states, the run's URL, each task's output or error, the exit code,
 * job parameters, and cancelling with Ctrl-C.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployBundle, type OpenBundle, openBundle } from "../../src/bundle/deploy.js";
import { followRun } from "../../src/bundle/run.js";
import type { Output } from "../../src/cli/output.js";
import { plainStyle } from "../../src/engine/render.js";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";

const PYTHON = resolve(".cache/venv-project/bin/python");
const HAVE_PYTHON = existsSync(PYTHON);
if (!HAVE_PYTHON) console.warn(`Skipping the lakeforge run suite: no runtime interpreter at ${PYTHON} (run npm run setup)`);

const FILES: Record<string, string> = {
  "databricks.yml": `bundle:
  name: runs
resources:
  jobs:
    hello:
      name: hello
      parameters:
        - name: who
          default: world
      tasks:
        - task_key: greet
          spark_python_task:
            python_file: ./greet.py
            parameters: ["{{job.parameters.who}}"]
        - task_key: after
          depends_on: [{ task_key: greet }]
          spark_python_task:
            python_file: ./after.py
    broken:
      name: broken
      tasks:
        - task_key: boom
          spark_python_task:
            python_file: ./boom.py
    slow:
      name: slow
      tasks:
        - task_key: wait
          spark_python_task:
            python_file: ./slow.py
`,
  "greet.py": "import sys\nprint(f'hello {sys.argv[1]}')\n",
  "after.py": "print('after greet')\n",
  "boom.py": "raise ValueError('boom in the task')\n",
  "slow.py": "import time\nprint('waiting', flush=True)\ntime.sleep(120)\n",
};

/** Output lines collected in memory; `onLine` sees each one as it is printed. */
function capture(onLine?: (line: string) => void): Output & { lines: string[] } {
  const lines: string[] = [];
  const push = (s: string) => {
    lines.push(s);
    onLine?.(s);
  };
  return {
    lines,
    info: push,
    warn: (s) => push(`warning: ${s}`),
    error: (s) => push(`error: ${s}`),
    json: (v) => push(JSON.stringify(v)),
    bold: (s) => s,
    dim: (s) => s,
    style: plainStyle,
  };
}

describe.skipIf(!HAVE_PYTHON)("lakeforge run", () => {
  const work = mkdtempSync(join(tmpdir(), "lakeforge-bundle-run-"));
  let ws: RunningWorkspace;
  let b: OpenBundle;

  beforeAll(async () => {
    ws = await startWorkspace({ ephemeral: true, port: 0, runs: { python: PYTHON } });
    const dir = join(work, "runs");
    for (const [p, text] of Object.entries(FILES)) {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), text);
    }
    b = await openBundle({
      dir,
      env: { DATABRICKS_HOST: ws.url, DATABRICKS_TOKEN: ws.token, HOME: work, DATABRICKS_CONFIG_FILE: join(work, "none") },
    });
    const { result } = await deployBundle(b);
    expect(result?.failed).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await ws?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("follows a successful run: task states, the run URL, each task's output, exit 0", async () => {
    const out = capture();
    const code = await followRun(b, "hello", { params: { who: "lakeforge" }, wait: true, json: false, out, pollMs: 100 });
    const text = out.lines.join("\n");
    expect(code, text).toBe(0);
    expect(text).toMatch(new RegExp(`^Run \\d+ of hello: ${ws.url.replace(/[.]/g, "\\.")}/`, "m"));
    expect(text).toMatch(/^ {2}greet: SUCCESS$/m);
    expect(text).toMatch(/^ {2}after: SUCCESS$/m);
    expect(text).toMatch(/--- greet \(SUCCESS\)\nhello lakeforge/);
    expect(text).toContain("after greet");
    expect(text).toMatch(/Run \d+ succeeded/);
  }, 120_000);

  it("reports a failed task's error and trace, exit 1", async () => {
    const out = capture();
    const code = await followRun(b, "broken", { params: {}, wait: true, json: false, out, pollMs: 100 });
    const text = out.lines.join("\n");
    expect(code, text).toBe(1);
    expect(text).toMatch(/^ {2}boom: FAILED$/m);
    expect(text).toContain("boom in the task");
    expect(text.match(/Traceback/g)).toHaveLength(1);
    // The run's own state message, as the workspace words it, names the failed task.
    expect(text).toMatch(/Run \d+ ended: FAILED \([^)]*boom[^)]*\)/);
  }, 120_000);

  it("cancels the run on Ctrl-C and exits 1", async () => {
    let cancel: (() => void) | undefined;
    const out = capture((line) => {
      if (/wait: RUNNING/.test(line)) cancel?.();
    });
    const code = await followRun(b, "slow", {
      params: {},
      wait: true,
      json: false,
      out,
      pollMs: 100,
      interrupt: (c) => {
        cancel = c;
        return () => undefined;
      },
    });
    const text = out.lines.join("\n");
    expect(code, text).toBe(1);
    expect(text).toContain("Cancelling the run...");
    expect(text).toMatch(/^ {2}wait: CANCELED$/m);
    expect(text).toMatch(/Run \d+ ended: CANCELED/);
  }, 120_000);

  it("refuses a job the bundle does not have", async () => {
    await expect(followRun(b, "nope", { params: {}, wait: true, json: false, out: capture() })).rejects.toThrow(
      /no job nope in runs/,
    );
  });
});
