import { describe, expect, it } from "vitest";
import { decide } from "../../src/workspace/runner/engine.js";
import { NotebookError, notebookProgram, resolveRunPath, splitCells } from "../../src/workspace/runner/notebook.js";
import { LogBuffer } from "../../src/workspace/runner/process.js";
import { type ReferenceContext, resolveReferences, UnresolvedReference } from "../../src/workspace/runner/refs.js";
import type { ResultState, TaskRun } from "../../src/workspace/server/runs-model.js";

/* The pure parts of job runs: notebook programs, references, run_if decisions, the log buffer. */

describe("notebook programs", () => {
  const books: Record<string, string> = {
    "/p/main": [
      "# Databricks notebook source",
      "# MAGIC %pip install pandas==2.2.3 -q -r /p/reqs.txt",
      "# COMMAND ----------",
      "# MAGIC %run ./lib/common",
      "# COMMAND ----------",
      "# MAGIC %sql",
      "# MAGIC SELECT 1",
      "# COMMAND ----------",
      "print(x)",
    ].join("\n"),
    "/p/lib/common": "# Databricks notebook source\nx = 1\n# COMMAND ----------\n# MAGIC %md\n# MAGIC notes\n",
    "/p/loop": "# Databricks notebook source\n# MAGIC %run ./loop\n",
    "/p/scala": "// Databricks notebook source\nval x = 1\n",
  };
  const read = (p: string) => {
    const source = books[p];
    if (source === undefined) return undefined;
    return { source, language: source.startsWith("//") ? "SCALA" : "PYTHON" };
  };

  it("splits cells, collects %pip requirements and inlines %run", () => {
    const program = notebookProgram("/p/main", read);
    expect(program.pip).toEqual(["pandas==2.2.3", "-r /p/reqs.txt"]);
    expect(program.included).toEqual(["/p/lib/common"]);
    expect(program.cells.map((c) => [c.kind, c.source.trim()])).toEqual([
      ["python", "x = 1"],
      ["sql", "SELECT 1"],
      ["python", "print(x)"],
    ]);
    expect(program.cells[0]?.origin).toBe("/p/lib/common cell 1");
  });

  it("reports %run cycles, missing notebooks and other languages", () => {
    expect(() => notebookProgram("/p/loop", read)).toThrow(/%run cycle: \/p\/loop -> \/p\/loop/);
    expect(() => notebookProgram("/p/none", read)).toThrow(NotebookError);
    expect(() => notebookProgram("/p/scala", read)).toThrow(/Only Python notebooks/);
  });

  it("resolves %run paths relative to the notebook's folder", () => {
    expect(resolveRunPath("/Users/a/proj/nb", "./lib/x")).toBe("/Users/a/proj/lib/x");
    expect(resolveRunPath("/Users/a/proj/nb", "../other")).toBe("/Users/a/other");
    expect(resolveRunPath("/Users/a/proj/nb", "/Workspace/Shared/y.py")).toBe("/Shared/y");
    expect(splitCells("# Databricks notebook source\na\n# COMMAND ----------\n\n# COMMAND ----------\nb")).toEqual(["a", "b"]);
  });
});

describe("dynamic value references", () => {
  const ctx: ReferenceContext = {
    jobId: 7,
    jobName: "etl",
    runId: 70,
    repairCount: 0,
    startTime: Date.UTC(2024, 0, 2, 3, 4, 5),
    triggerType: "one_time",
    parameters: { env: "dev" },
    task: { key: "t", runId: 71, executionCount: 1 },
    tasks: { up: { values: { n: 3, ok: true, s: "text" }, resultState: "SUCCESS", runId: 72, executionCount: 1 } },
    workspaceId: "123",
    workspaceUrl: "http://localhost",
  };

  it("resolves job, task, upstream values and times; leaves unknown references alone", () => {
    expect(
      resolveReferences(
        "{{job.id}}/{{job.run_id}}/{{task.name}}/{{job.parameters.env}}/{{tasks.up.values.n}}/{{tasks.up.values.ok}}/{{tasks.up.result_state}}",
        ctx,
      ),
    ).toBe("7/70/t/dev/3/true/success");
    expect(resolveReferences("{{job.start_time.iso_date}} {{ job.start_time.hour }}", ctx)).toBe("2024-01-02 3");
    expect(resolveReferences("{{secrets/scope/key}}", ctx)).toBe("{{secrets/scope/key}}");
  });

  it("refuses references that cannot be resolved", () => {
    expect(() => resolveReferences("{{tasks.up.values.missing}}", ctx)).toThrow(UnresolvedReference);
    expect(() => resolveReferences("{{tasks.other.values.x}}", ctx)).toThrow(/not an upstream task/);
    expect(() => resolveReferences("{{job.parameters.nope}}", ctx)).toThrow(/not defined/);
  });
});

describe("run_if", () => {
  const taskRun = (key: string, result: ResultState | undefined, extra: Partial<TaskRun> = {}): TaskRun => ({
    run_id: 1,
    task_key: key,
    attempt_number: 0,
    settings: { task_key: key },
    state: {
      life_cycle_state: "TERMINATED",
      ...(result ? { result_state: result } : {}),
      state_message: "",
      user_cancelled_or_timedout: false,
    },
    start_time: 0,
    end_time: 0,
    setup_duration: 0,
    execution_duration: 0,
    cleanup_duration: 0,
    ...extra,
  });
  const verdict = (runIf: string, results: ResultState[]) => {
    const t = taskRun("me", undefined, { settings: { task_key: "me", run_if: runIf } });
    const d = decide(
      t,
      results.map((r, i) => ({ dep: { task_key: `d${i}` }, run: taskRun(`d${i}`, r) })),
    );
    return d.run ? "RUN" : d.state?.result_state;
  };

  it("decides each condition from the upstream results", () => {
    expect(verdict("ALL_SUCCESS", ["SUCCESS", "SUCCESS"])).toBe("RUN");
    expect(verdict("ALL_SUCCESS", ["SUCCESS", "FAILED"])).toBe("UPSTREAM_FAILED");
    expect(verdict("ALL_SUCCESS", ["SUCCESS", "CANCELED"])).toBe("UPSTREAM_CANCELED");
    expect(verdict("ALL_SUCCESS", ["SUCCESS", "EXCLUDED"])).toBe("EXCLUDED");
    expect(verdict("AT_LEAST_ONE_SUCCESS", ["FAILED", "SUCCESS"])).toBe("RUN");
    expect(verdict("AT_LEAST_ONE_SUCCESS", ["FAILED", "FAILED"])).toBe("UPSTREAM_FAILED");
    expect(verdict("NONE_FAILED", ["SUCCESS", "EXCLUDED"])).toBe("RUN");
    expect(verdict("NONE_FAILED", ["SUCCESS", "TIMEDOUT"])).toBe("UPSTREAM_FAILED");
    expect(verdict("ALL_DONE", ["FAILED", "CANCELED"])).toBe("RUN");
    expect(verdict("ALL_DONE", ["EXCLUDED"])).toBe("EXCLUDED");
    expect(verdict("AT_LEAST_ONE_FAILED", ["SUCCESS", "UPSTREAM_FAILED"])).toBe("RUN");
    expect(verdict("AT_LEAST_ONE_FAILED", ["SUCCESS"])).toBe("EXCLUDED");
    expect(verdict("ALL_FAILED", ["FAILED", "FAILED"])).toBe("RUN");
    expect(verdict("ALL_FAILED", ["FAILED", "SUCCESS"])).toBe("EXCLUDED");
  });

  it("excludes dependants of a condition task whose outcome does not match", () => {
    const cond = taskRun("c", "SUCCESS", { condition: { left: "1", right: "2", outcome: "false" } });
    const t = taskRun("me", undefined);
    expect(decide(t, [{ dep: { task_key: "c", outcome: "true" }, run: cond }]).state?.result_state).toBe("EXCLUDED");
    expect(decide(t, [{ dep: { task_key: "c", outcome: "false" }, run: cond }]).run).toBe(true);
  });
});

describe("log buffer", () => {
  it("keeps the last bytes up to the limit and says when it dropped some", () => {
    const log = new LogBuffer(10);
    log.append("0123456789");
    expect(log.truncated).toBe(false);
    log.append("abcdefghijklmnopqrstuvwxyz");
    expect(log.text()).toBe("qrstuvwxyz");
    expect(log.truncated).toBe(true);
  });
});
