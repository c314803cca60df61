#!/usr/bin/env node
// Runs the benchmarks (all of them, or the parts named on the command line) and prints their tables on
// stderr; with --json, also one JSON line of figures on stdout. Nothing here asserts. Run with
// `npm run bench` (which builds first), e.g. `npm run bench -- environments --json`. See bench/README.md.
//
//   template            render time of the default ML project (bench/template.mjs)
//   workspace           the local workspace: request throughput and memory (bench/workspace.mjs)
//   environments        plan / apply at scale (bench/environments.mjs), i.e. the three below:
//   noop-plan           (a) a no-op plan of 1,000 resources with injected latency
//   rate-limited-apply  (b) 1,000 creates under a server write limit
//   databricks-cli      (c) the same jobs deployed by the official Databricks CLI and by Lakeforge
//   quickstart          lakeforge quickstart: first and repeat run (bench/quickstart.mjs; not in the default set)
const ENVIRONMENT_PARTS = { "noop-plan": "a", "rate-limited-apply": "b", "databricks-cli": "c" };
const PARTS = ["template", "workspace", "environments", ...Object.keys(ENVIRONMENT_PARTS), "quickstart"];

const args = process.argv.slice(2);
const json = args.includes("--json");
const named = args.filter((a) => !a.startsWith("--"));
const unknown = named.filter((a) => !PARTS.includes(a));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(", ")}; choose from ${PARTS.join(", ")}\n`);
  process.exit(2);
}
const wanted = new Set(named.length > 0 ? named : ["template", "workspace", "environments"]);

const figures = {};
if (wanted.has("template")) await import("./template.mjs"); // prints its own lines
if (wanted.has("workspace")) {
  const { runWorkspace } = await import("./workspace.mjs");
  figures.workspace = await runWorkspace();
}
const environmentParts = wanted.has("environments")
  ? ["a", "b", "c"]
  : Object.entries(ENVIRONMENT_PARTS)
      .filter(([name]) => wanted.has(name))
      .map(([, part]) => part);
if (environmentParts.length > 0) {
  const { runEnvironments } = await import("./environments.mjs");
  figures.environments = await runEnvironments({ parts: environmentParts });
}
if (wanted.has("quickstart")) {
  const { runQuickstartBench } = await import("./quickstart.mjs");
  figures.quickstart = await runQuickstartBench();
}
if (json) process.stdout.write(`${JSON.stringify(figures)}\n`);
