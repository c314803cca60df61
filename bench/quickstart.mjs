// `lakeforge quickstart` wall time: a first run into an empty folder (the runtime interpreter already
// built: LAKEFORGE_RUNTIME_PYTHON, else .cache/venv-project from scripts/setup.sh) and a repeat run on
// the same folder (workspace data, forge repository and task environments reused; nothing to render
// or deploy). Target: repeat run <= 90 s. Each run is the built CLI as a child process. Printed, never
// asserted.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { cleanEnv, LAKEFORGE, log, ROOT } from "./lib.mjs";

const TARGET_REPEAT_S = 90;

function quickstart(dir, python) {
  return new Promise((resolve) => {
    const began = performance.now();
    const child = spawn(process.execPath, [LAKEFORGE, "quickstart", "--dir", dir, "--python", python, "--json"], {
      cwd: ROOT,
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    child.once("exit", (code) => {
      const seconds = (performance.now() - began) / 1000;
      let result;
      try {
        result = JSON.parse(stdout.trim().split("\n").at(-1));
      } catch {
        result = undefined;
      }
      resolve({ code, seconds, result, stderr });
    });
  });
}

export async function runQuickstartBench() {
  const python = process.env.LAKEFORGE_RUNTIME_PYTHON || join(ROOT, ".cache/venv-project/bin/python");
  if (!existsSync(python)) {
    log(`\nquickstart: skipped: no runtime interpreter (${python}; npm run setup builds it)\n`);
    return { skipped: true };
  }
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-bench-quickstart-"));
  try {
    log(`\nlakeforge quickstart (runtime ${python}, folder ${dir})`);
    const first = await quickstart(dir, python);
    const repeat = first.code === 0 ? await quickstart(dir, python) : undefined;
    const jobs = (r) => (r?.result?.runs ?? []).map((x) => `${x.job} ${(x.duration_ms / 1000).toFixed(0)} s`).join(", ") || "-";
    const row = (label, r, extra = "") =>
      `  ${label.padEnd(12)} ${r ? `${r.seconds.toFixed(1).padStart(7)} s  exit ${r.code}` : "      -"}  ${extra}`;
    log(row("first run", first, `(jobs: ${jobs(first)})`));
    const meets = repeat && repeat.code === 0 && repeat.seconds <= TARGET_REPEAT_S;
    log(
      row(
        "repeat run",
        repeat,
        repeat
          ? `target ${TARGET_REPEAT_S} s  ratio ${(repeat.seconds / TARGET_REPEAT_S).toFixed(2)}  ${meets ? "meets" : repeat.code === 0 ? "ABOVE TARGET" : "FAILED"}  (jobs: ${jobs(repeat)}; deploy ${repeat.result?.deploy?.changed ? "changed something" : "no-op"})`
          : "not run: the first run failed",
      ),
    );
    const ratio = repeat ? repeat.seconds / first.seconds : undefined;
    if (ratio !== undefined) log(`  repeat / first: ${ratio.toFixed(2)}`);
    for (const r of [first, repeat]) if (r && r.code !== 0) log(`\n  the run failed; its last output:\n${r.stderr}`);
    log("");
    return {
      first_s: first.seconds,
      first_exit: first.code,
      repeat_s: repeat?.seconds,
      repeat_exit: repeat?.code,
      repeat_over_first: ratio,
      repeat_over_target: repeat ? repeat.seconds / TARGET_REPEAT_S : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
