import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Api,
  createJob,
  HAVE_RUNTIME,
  makeWheel,
  NO_RUNTIME_REASON,
  output,
  putFile,
  runNow,
  startRunsWorkspace,
  task,
} from "./runs-helpers.js";

/* Task environments (libraries, serverless dependencies, %pip) and the local SparkSession. */

const DIR = "/Workspace/Users/admin@lakeforge.local/env";

describe.skipIf(!HAVE_RUNTIME)(
  `job runs: environments and spark ${HAVE_RUNTIME ? "" : `(skipped: ${NO_RUNTIME_REASON})`}`,
  () => {
    let api: Api;
    beforeAll(async () => {
      api = await startRunsWorkspace();
      for (const name of ["lfpip", "lfenv"]) {
        const wheel = makeWheel(name, "0.1.0", { [`${name}/__init__.py`]: `NAME = '${name}'\n` });
        await putFile(api, `${DIR}/dist/${name}-0.1.0-py3-none-any.whl`, wheel);
      }
    });
    afterAll(async () => api?.ws.stop());

    it("installs %pip cells and serverless dependencies into a cached environment layered over the runtime", async () => {
      await putFile(
        api,
        `${DIR}/nb.py`,
        [
          "# Databricks notebook source",
          `# MAGIC %pip install ${DIR}/dist/lfpip-0.1.0-py3-none-any.whl`,
          "",
          "# COMMAND ----------",
          "",
          "import sys, lfpip, pyspark",
          "print('env', sys.prefix, lfpip.NAME, 'pyspark from', pyspark.__file__)",
        ].join("\n"),
      );
      // The runtime's pandas, pinned as it is installed: satisfied without a download.
      const pandas = (await import("node:child_process"))
        .execFileSync(".cache/venv-project/bin/python", ["-c", "import pandas; print(pandas.__version__)"])
        .toString()
        .trim();
      await putFile(api, `${DIR}/requirements.txt`, `pandas==${pandas}\n`);
      await putFile(
        api,
        `${DIR}/use_env.py`,
        "import sys, lfenv, pandas\nprint('env', sys.prefix, lfenv.NAME, pandas.__version__)\n",
      );
      const jobId = await createJob(api, {
        name: "envs",
        environments: [
          {
            environment_key: "default",
            spec: {
              environment_version: "2",
              dependencies: [`-r ${DIR}/requirements.txt`, `${DIR}/dist/lfenv-0.1.0-py3-none-any.whl`],
            },
          },
        ],
        tasks: [
          { task_key: "nb", notebook_task: { notebook_path: `${DIR}/nb` } },
          { task_key: "serverless", environment_key: "default", spark_python_task: { python_file: `${DIR}/use_env.py` } },
        ],
      });
      const first = await runNow(api, jobId);
      const nb = await output(api, first, "nb");
      const serverless = await output(api, first, "serverless");
      expect(first.state.result_state, `${nb.logs}\n${serverless.logs}`).toBe("SUCCESS");
      const prefix = (logs: string) => /env (\S+)/.exec(logs)?.[1];
      expect(nb.logs).toContain("lfpip");
      expect(nb.logs).toContain(".cache/venv-project/"); // pyspark comes from the runtime, not reinstalled
      expect(serverless.logs).toContain(`lfenv ${pandas}`);
      expect(prefix(nb.logs)).toContain("envs");
      expect(prefix(nb.logs)).not.toBe(prefix(serverless.logs));

      const second = await runNow(api, jobId);
      const again = await output(api, second, "serverless");
      expect(prefix(again.logs)).toBe(prefix(serverless.logs));
      expect(again.logs).not.toContain("Building the task environment");
    });

    it("fails the task with the installation error when a requirement cannot be installed", async () => {
      const jobId = await createJob(api, {
        name: "bad lib",
        tasks: [
          {
            task_key: "t",
            spark_python_task: { python_file: `${DIR}/use_env.py` },
            libraries: [{ whl: `${DIR}/dist/missing-0.1.0-py3-none-any.whl` }],
          },
        ],
      });
      const run = await runNow(api, jobId);
      expect(run.state.result_state).toBe("FAILED");
      expect((await output(api, run, "t")).error).toContain("does not exist");
    });

    it("gives tasks a lazy local SparkSession where catalog.schema.table names work and tables outlive the task", async () => {
      await putFile(
        api,
        `${DIR}/write.py`,
        [
          "df = spark.createDataFrame([(1, 'a'), (2, 'b'), (3, 'c')], ['id', 'v'])",
          "df.write.mode('overwrite').saveAsTable('dev.ml.letters')",
          "print('wrote', spark.table('dev.ml.letters').count())",
        ].join("\n"),
      );
      await putFile(
        api,
        `${DIR}/read.py`,
        [
          "print('tables', spark.catalog.tableExists('dev.ml.letters'))",
          "print('count', spark.sql('SELECT count(*) AS n FROM dev.ml.letters').collect()[0].n)",
          "print('nothing', repr(spark).startswith('<lazy'))",
        ].join("\n"),
      );
      await putFile(api, `${DIR}/nospark.py`, "print('lazy', repr(spark))\n");
      const jobId = await createJob(api, {
        name: "spark",
        tasks: [
          { task_key: "lazy", spark_python_task: { python_file: `${DIR}/nospark.py` } },
          { task_key: "write", spark_python_task: { python_file: `${DIR}/write.py` } },
          { task_key: "read", depends_on: [{ task_key: "write" }], spark_python_task: { python_file: `${DIR}/read.py` } },
        ],
      });
      const run = await runNow(api, jobId);
      const read = await output(api, run, "read");
      expect(run.state.result_state, `${(await output(api, run, "write")).logs}\n${read.logs}`).toBe("SUCCESS");
      expect((await output(api, run, "lazy")).logs).toContain("lazy <lazy local SparkSession>");
      expect((await output(api, run, "write")).logs).toContain("wrote 3");
      expect(read.logs).toContain("tables True");
      expect(read.logs).toContain("count 3");
      expect(task(run, "read").state.result_state).toBe("SUCCESS");
    }, 180_000);
  },
);
