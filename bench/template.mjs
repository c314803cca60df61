// Render time of the default ML project (`lakeforge init <name> --no-input`), in process, against the
// 300 ms target: the first render (reading and compiling the template) and the median of later renders
// (template cached). Renders into memory only. Printed, never asserted. Uses the built package (dist/).
import { performance } from "node:perf_hooks";
import { resolveOptions } from "../dist/template/input.js";
import { renderProject } from "../dist/template/project.js";

const TARGET_MS = 300;
const RUNS = Number(process.env.BENCH_TEMPLATE_RUNS ?? 20);

const began = performance.now();
const { answers } = resolveOptions({ flags: [["--project-name", "churn-model"]] });
const files = renderProject(answers);
const first = performance.now() - began;
const times = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  renderProject(resolveOptions({ flags: [["--project-name", "churn-model"]] }).answers);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const bytes = files.reduce((n, f) => n + f.content.length, 0);
const row = (label, ms) =>
  `  ${label.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms   target ${TARGET_MS} ms   ${ms <= TARGET_MS ? "meets" : "ABOVE TARGET"}`;
process.stderr.write(
  `\nML project template: default project, ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB, rendered in memory\n` +
    `${row("first render (loads and compiles the template)", first)}\n${row(`median of ${RUNS} further renders`, median)}\n\n`,
);
