// Benchmarks of `lakeforge plan / apply` against the local workspace, each part on a fresh
// `lakeforge workspace serve --ephemeral` child process, with Lakeforge itself run as its own child
// process (`bin/lakeforge.js`, the built CLI):
//   a. a no-op plan of BENCH_RESOURCES (1,000) applied resources with BENCH_LATENCY_MS (25 ms) injected on
//      every request: requests sent against the minimum the APIs allow, wall time against
//      requests x latency / concurrency;
//   b. an apply of BENCH_RESOURCES creates under a server limit of BENCH_WRITE_RATE (30) writes/s: wall
//      time against the creates / rate bound, failures, and the CLI's peak resident set;
//   c. the same BENCH_CLI_JOBS (200) jobs deployed by the official Databricks CLI (`bundle deploy`, direct
//      engine) and by `lakeforge apply`, each on a fresh workspace with the same latency.
// Nothing asserts: every figure is printed with its target. See bench/README.md for how to read them.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check, cleanEnv, control, fmt, LAKEFORGE, lastSeq, log, ROOT, requestsSince, run, serve, table } from "./lib.mjs";

const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 1000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 25);
const WRITE_RATE = Number(process.env.BENCH_WRITE_RATE ?? 30);
/** The server's bucket size; by default as large as one second of writes. */
const WRITE_BURST = process.env.BENCH_WRITE_BURST ? Number(process.env.BENCH_WRITE_BURST) : undefined;
const CLI_JOBS = Number(process.env.BENCH_CLI_JOBS ?? 200);
/**
 * The official CLI's own client-side limit (`DATABRICKS_RATE_LIMIT`, requests/s). Unset: the Go SDK's
 * default (15 requests/s), as users run it.
 */
const CLI_RATE_LIMIT = process.env.BENCH_CLI_RATE_LIMIT;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const DATABRICKS_CLI = join(ROOT, ".cache", "bin", "databricks");
const PEAK_RSS = join(ROOT, "bench", "peak-rss.mjs");

const TARGET_REQUEST_RATIO = 1.1;
const TARGET_RATE_RATIO = 1.15;
const TARGET_CLI_RSS_MB = 400;

const SECRET_VALUE = "bench-secret-value";
const WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"];

// ---------------------------------------------------------------------------------------------
// The generated configuration

/**
 * How `n` resources are split across kinds. Scopes hold 10 secrets and 2 ACLs each; notebooks sit 20 to
 * a folder; permissions go on notebooks and jobs, half each.
 */
export function mixOf(n) {
  const scopes = Math.max(1, Math.round(n * 0.02));
  const secrets = scopes * 10;
  const acls = scopes * 2;
  const jobs = Math.round(n * 0.4);
  const clusters = Math.round(n * 0.05);
  const notebooks = Math.round(n * 0.14);
  const permissions = Math.max(0, n - scopes - secrets - acls - jobs - clusters - notebooks);
  const folders = Math.ceil(notebooks / 20);
  const notebookPermissions = Math.min(notebooks, Math.floor(permissions / 2));
  const jobPermissions = Math.min(jobs, permissions - notebookPermissions);
  return { jobs, clusters, scopes, secrets, acls, notebooks, folders, permissions, jobPermissions, notebookPermissions };
}

const pad = (i, width = 4) => String(i).padStart(width, "0");

function jobYaml(i, permissions) {
  return [
    `    job_${pad(i)}:`,
    `      name: bench-job-${pad(i)}`,
    "      max_concurrent_runs: 1",
    "      tags: { team: bench }",
    "      tasks:",
    "        - task_key: main",
    `          notebook_task: { notebook_path: /Shared/bench/train, base_parameters: { run: "${i}" } }`,
    "          new_cluster: { spark_version: 15.4.x-scala2.12, node_type_id: i3.xlarge, num_workers: 1 }",
    ...(permissions ? ["      permissions:", "        - group_name: users", "          level: CAN_VIEW"] : []),
  ].join("\n");
}

/** A project folder holding `lakeforge.yaml` (environment `bench` on DATABRICKS_HOST) and its notebooks. */
export function writeProject(dir, mix) {
  mkdirSync(join(dir, "notebooks"), { recursive: true });
  const lines = [
    "project:",
    "  name: bench",
    "environments:",
    "  bench:",
    "    workspace:",
    // A reference lakeforge.yaml resolves from the process environment at load time.
    `      host: \${env.DATABRICKS_HOST}`,
    "      auth_type: pat",
    "resources:",
  ];
  if (mix.jobs > 0) {
    lines.push("  jobs:");
    for (let i = 0; i < mix.jobs; i++) lines.push(jobYaml(i, i < (mix.jobPermissions ?? 0)));
  }
  if (mix.clusters > 0) {
    lines.push("  clusters:");
    for (let i = 0; i < mix.clusters; i++) {
      lines.push(
        `    cluster_${pad(i)}:`,
        `      cluster_name: bench-cluster-${pad(i)}`,
        "      spark_version: 15.4.x-scala2.12",
        "      node_type_id: i3.xlarge",
        "      num_workers: 1",
        "      autotermination_minutes: 30",
      );
    }
  }
  if (mix.scopes > 0) {
    lines.push("  secret_scopes:");
    for (let s = 0; s < mix.scopes; s++) {
      lines.push(`    scope_${pad(s)}:`, `      name: bench-scope-${pad(s)}`, "      secrets:");
      for (let k = 0; k < mix.secrets / mix.scopes; k++) lines.push(`        key-${pad(k, 2)}: { from_env: BENCH_SECRET }`);
      lines.push(
        "      acls:",
        "        - { principal: users, permission: READ }",
        "        - { principal: admins, permission: MANAGE }",
      );
    }
  }
  if (mix.notebooks > 0) {
    lines.push("  notebooks:");
    for (let i = 0; i < mix.notebooks; i++) {
      const file = join(dir, "notebooks", `nb_${pad(i)}.py`);
      writeFileSync(file, `# Databricks notebook source\nprint("notebook ${i}")\n`);
      lines.push(
        `    nb_${pad(i)}:`,
        `      source: notebooks/nb_${pad(i)}.py`,
        `      path: /Shared/bench/folder-${pad(Math.floor(i / 20), 2)}/nb_${pad(i)}`,
      );
      if (i < (mix.notebookPermissions ?? 0))
        lines.push("      permissions:", "        - group_name: users", "          level: CAN_READ");
    }
  }
  writeFileSync(join(dir, "lakeforge.yaml"), `${lines.join("\n")}\n`);
}

/** A bundle folder holding `databricks.yml` with the same jobs. */
function writeBundle(dir, jobs) {
  const lines = [
    "bundle:",
    "  name: bench",
    "  engine: direct",
    "targets:",
    "  bench:",
    "    default: true",
    "resources:",
    "  jobs:",
  ];
  for (let i = 0; i < jobs; i++) lines.push(jobYaml(i, false));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "databricks.yml"), `${lines.join("\n")}\n`);
}

// ---------------------------------------------------------------------------------------------
// Running the CLIs

function lakeforgeEnv(ws) {
  return {
    ...cleanEnv(),
    DATABRICKS_HOST: ws.url,
    DATABRICKS_TOKEN: ws.token,
    DATABRICKS_CONFIG_FILE: join(tmpdir(), "lakeforge-bench-no-databrickscfg"),
    BENCH_SECRET: SECRET_VALUE,
    NO_COLOR: "1",
  };
}

/** `lakeforge <args>` in `dir`; resolves with the run and the process's peak resident set in MB. */
async function lakeforge(ws, dir, args) {
  const peakFile = join(dir, `.peak-rss-${Date.now()}`);
  // BENCH_CPU_PROF=<dir> writes a CPU profile of every Lakeforge run there (open it in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
  const result = await run(process.execPath, [...profile, "--import", PEAK_RSS, LAKEFORGE, ...args], {
    cwd: dir,
    env: { ...lakeforgeEnv(ws), BENCH_PEAK_RSS_FILE: peakFile },
  });
  const peakMb = existsSync(peakFile) ? Number(readFileSync(peakFile, "utf8")) / 1024 : Number.NaN;
  return { ...result, peakMb };
}

const common = ["-C", ".", "-e", "bench", "--concurrency", String(CONCURRENCY)];

async function applyAll(ws, dir) {
  return check(await lakeforge(ws, dir, ["apply", ...common, "--auto-approve", "--json"]), "lakeforge apply");
}

/** Request counts by `METHOD path` and in all, with the time the requests spanned. */
function tally(entries) {
  const byEndpoint = new Map();
  let writes = 0;
  let limited = 0;
  let failed = 0;
  for (const e of entries) {
    const key = `${e.method} ${e.path.replace(/\/\d+$/, "/{id}").replace(/^(\/api\/2\.0\/permissions\/[^/]+)\/.*$/, "$1/{id}")}`;
    byEndpoint.set(key, (byEndpoint.get(key) ?? 0) + 1);
    if (WRITE_METHODS.includes(e.method)) writes++;
    if (e.status === 429) limited++;
    else if (e.status >= 400 || e.status === 0) failed++;
  }
  // The log records when each request finished and how long it took.
  const first = entries.length ? Math.min(...entries.map((e) => Date.parse(e.time) - e.ms)) : 0;
  const last = entries.length ? Math.max(...entries.map((e) => Date.parse(e.time))) : 0;
  return { total: entries.length, writes, limited, failed, byEndpoint, first, last, spanMs: last - first };
}

// ---------------------------------------------------------------------------------------------
// (a) no-op plan

/**
 * The fewest requests a no-op plan of `mix` can make, by endpoint (see bench/README.md): the state
 * file; list pages for kinds that have a list carrying what the comparison needs; one read per object
 * only where no list answers it (notebook content, access control lists).
 */
function minimumPlan(mix) {
  const pages = (n, size) => Math.ceil(n / size);
  const min = new Map([
    ["GET /api/2.0/workspace/export", 1 + mix.notebooks],
    ["GET /api/2.2/jobs/list", pages(mix.jobs, 100)],
    ["GET /api/2.1/clusters/list", pages(mix.clusters, 100)],
    ["GET /api/2.0/libraries/all-cluster-statuses", mix.clusters > 0 ? 1 : 0],
    ["GET /api/2.0/secrets/scopes/list", mix.scopes > 0 ? 1 : 0],
    ["GET /api/2.0/secrets/list", mix.scopes],
    ["GET /api/2.0/secrets/acls/list", mix.scopes],
    ["GET /api/2.0/workspace/list", mix.folders],
    ["GET /api/2.0/permissions/jobs/{id}", mix.jobPermissions],
    ["GET /api/2.0/permissions/notebooks/{id}", mix.notebookPermissions],
  ]);
  for (const [k, v] of min) if (v === 0) min.delete(k);
  return min;
}

async function noopPlan() {
  const mix = mixOf(RESOURCES);
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-bench-plan-"));
  const ws = await serve();
  try {
    writeProject(dir, mix);
    log(`(a) no-op plan: applying ${fmt(RESOURCES)} resources (${describeMix(mix)}) without latency first`);
    await applyAll(ws, dir);
    await control(ws, "POST", "/__lakeforge/faults", { method: "*", path: "**", latency_ms: LATENCY_MS });
    const since = await lastSeq(ws);
    log(`(a) no-op plan: lakeforge plan with ${LATENCY_MS} ms on every request, concurrency ${CONCURRENCY}`);
    const result = await lakeforge(ws, dir, ["plan", ...common, "--json", "--detailed-exitcode"]);
    check(result, "lakeforge plan", [0, 2]);
    const planned = JSON.parse(result.stdout);
    const changes = planned.actions.filter((a) => a.action !== "skip").length;
    const entries = await requestsSince(ws, since);
    const t = tally(entries);
    if (process.env.BENCH_DUMP) writeFileSync(process.env.BENCH_DUMP, JSON.stringify(entries));
    const minimum = minimumPlan(mix);
    const minTotal = [...minimum.values()].reduce((a, b) => a + b, 0);
    return {
      mix,
      wallMs: result.ms,
      startupMs: t.first - result.startedAt,
      finishMs: result.endedAt - t.last,
      peakMb: result.peakMb,
      changes,
      tally: t,
      minimum,
      minTotal,
    };
  } finally {
    await ws.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const describeMix = (m) =>
  `${m.jobs} jobs, ${m.clusters} clusters, ${m.scopes} secret scopes, ${m.secrets} secrets, ${m.acls} secret ACLs, ` +
  `${m.notebooks} notebooks in ${m.folders} folders, ${m.permissions} permissions`;

// ---------------------------------------------------------------------------------------------
// (b) apply under a write rate limit

async function rateLimitedApply() {
  const mix = mixOf(RESOURCES);
  // One write per resource: no notebooks (a folder and an import each) and no permissions (a read first).
  const creates = {
    ...mix,
    jobs: mix.jobs + mix.notebooks + mix.permissions,
    notebooks: 0,
    folders: 0,
    permissions: 0,
    jobPermissions: 0,
    notebookPermissions: 0,
  };
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-bench-apply-"));
  const ws = await serve();
  try {
    writeProject(dir, creates);
    for (const method of WRITE_METHODS) {
      await control(ws, "POST", "/__lakeforge/rate-limits", {
        method,
        path: "/api/**",
        rate: WRITE_RATE,
        ...(WRITE_BURST ? { burst: WRITE_BURST } : {}),
      });
    }
    const since = await lastSeq(ws);
    log(`(b) rate-limited apply: ${fmt(RESOURCES)} creates (${describeMix(creates)}) at ${WRITE_RATE} writes/s`);
    const result = await lakeforge(ws, dir, ["apply", ...common, "--auto-approve", "--json"]);
    const out = result.stdout.trim() ? JSON.parse(result.stdout.trim().split("\n").at(-1)) : {};
    const entries = await requestsSince(ws, since);
    const t = tally(entries);
    if (process.env.BENCH_DUMP) writeFileSync(process.env.BENCH_DUMP, JSON.stringify(entries));
    return {
      creates: RESOURCES,
      wallMs: result.ms,
      startupMs: t.first - result.startedAt,
      finishMs: result.endedAt - t.last,
      peakMb: result.peakMb,
      code: result.code,
      failedResources: out.failed?.length ?? Number.NaN,
      done: out.done?.length ?? 0,
      tally: t,
      stderr: result.code === 0 ? "" : result.stderr.slice(-2000),
    };
  } finally {
    await ws.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// (c) the official Databricks CLI and Lakeforge, the same jobs

async function sideBySide() {
  if (!existsSync(DATABRICKS_CLI)) {
    return { skipped: `${DATABRICKS_CLI} is missing (run \`npm run setup\` to build the official CLI)` };
  }
  const rows = [];
  const home = mkdtempSync(join(tmpdir(), "lakeforge-bench-home-"));
  try {
    // The official CLI: bundle deploy, then a second deploy with nothing to change.
    {
      const ws = await serve();
      const dir = join(home, "bundle");
      try {
        writeBundle(dir, CLI_JOBS);
        await control(ws, "POST", "/__lakeforge/faults", { method: "*", path: "**", latency_ms: LATENCY_MS });
        const env = {
          ...cleanEnv(),
          HOME: home,
          DATABRICKS_HOST: ws.url,
          DATABRICKS_TOKEN: ws.token,
          DATABRICKS_CONFIG_FILE: join(home, "no-such-databrickscfg"),
          DATABRICKS_CLI_DISABLE_TELEMETRY: "1",
          DATABRICKS_BUNDLE_ENGINE: "direct",
          ...(CLI_RATE_LIMIT ? { DATABRICKS_RATE_LIMIT: CLI_RATE_LIMIT } : {}),
          NO_COLOR: "1",
        };
        for (const label of ["deploy", "no-op redeploy"]) {
          log(`(c) databricks bundle deploy (${label}): ${CLI_JOBS} jobs, ${LATENCY_MS} ms latency`);
          const since = await lastSeq(ws);
          const r = check(await run(DATABRICKS_CLI, ["bundle", "deploy"], { cwd: dir, env }), "databricks bundle deploy");
          rows.push({ tool: "databricks bundle deploy", label, ms: r.ms, tally: tally(await requestsSince(ws, since)) });
        }
      } finally {
        await ws.stop();
      }
    }
    // Lakeforge: apply, then an apply with nothing to change.
    {
      const ws = await serve();
      const dir = join(home, "lakeforge");
      try {
        writeProject(dir, {
          jobs: CLI_JOBS,
          clusters: 0,
          scopes: 0,
          secrets: 0,
          acls: 0,
          notebooks: 0,
          folders: 0,
          permissions: 0,
        });
        await control(ws, "POST", "/__lakeforge/faults", { method: "*", path: "**", latency_ms: LATENCY_MS });
        for (const label of ["deploy", "no-op redeploy"]) {
          log(`(c) lakeforge apply (${label}): ${CLI_JOBS} jobs, ${LATENCY_MS} ms latency`);
          const since = await lastSeq(ws);
          const r = await applyAll(ws, dir);
          rows.push({ tool: "lakeforge apply", label, ms: r.ms, tally: tally(await requestsSince(ws, since)) });
        }
      } finally {
        await ws.stop();
      }
    }
    return { rows };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const seconds = (ms) => `${fmt(ms / 1000, 2)} s`;

/** Runs the parts named (`a`, `b`, `c`), prints their tables and resolves with the figures (for `--json`). */
export async function runEnvironments({ parts = ["a", "b", "c"] } = {}) {
  const results = {};
  if (parts.includes("a")) results.a = await noopPlan();
  if (parts.includes("b")) results.b = await rateLimitedApply();
  if (parts.includes("c")) results.c = await sideBySide();

  const sections = [];
  if (results.a) {
    const a = results.a;
    const rows = [];
    const endpoints = new Set([...a.minimum.keys(), ...a.tally.byEndpoint.keys()]);
    for (const e of [...endpoints].sort()) {
      const sent = a.tally.byEndpoint.get(e) ?? 0;
      const min = a.minimum.get(e) ?? 0;
      rows.push([`  ${e}`, fmt(sent), fmt(min), min > 0 ? `${fmt(sent / min, 2)}x` : sent > 0 ? "extra" : ""]);
    }
    const ratio = a.tally.total / a.minTotal;
    const ideal = (a.tally.total * LATENCY_MS) / CONCURRENCY;
    const idealMin = (a.minTotal * LATENCY_MS) / CONCURRENCY;
    const summary = [
      [
        "requests sent / minimum",
        `${fmt(a.tally.total)} / ${fmt(a.minTotal)}`,
        `<= ${TARGET_REQUEST_RATIO}x`,
        `${fmt(ratio, 2)}x`,
        ratio <= TARGET_REQUEST_RATIO ? "meets" : "ABOVE TARGET",
      ],
      ["write requests", fmt(a.tally.writes), "0", "", a.tally.writes === 0 ? "meets" : "WRITES SENT"],
      ["changes planned", fmt(a.changes), "0", "", a.changes === 0 ? "meets" : "NOT A NO-OP"],
      [
        `wall time of \`lakeforge plan\` / (sent x ${LATENCY_MS} ms / ${CONCURRENCY})`,
        seconds(a.wallMs),
        seconds(ideal),
        `${fmt(a.wallMs / ideal, 2)}x`,
        "",
      ],
      ["  first to last request / the same", seconds(a.tally.spanMs), seconds(ideal), `${fmt(a.tally.spanMs / ideal, 2)}x`, ""],
      ["  (with the minimum requests instead of those sent)", "", seconds(idealMin), `${fmt(a.wallMs / idealMin, 2)}x`, ""],
      ["  process start to first request (start-up, configuration)", seconds(a.startupMs), "", "", ""],
      ["  last request to exit (rendering, exit)", seconds(a.finishMs), "", "", ""],
      ["peak RSS of the CLI", `${fmt(a.peakMb, 1)} MB`, "", "", ""],
    ];
    sections.push(
      `(a) no-op plan of ${fmt(RESOURCES)} resources, ${LATENCY_MS} ms latency per request, concurrency ${CONCURRENCY}\n` +
        `    ${describeMix(a.mix)}\n\n${table(summary)}\n\n${table(rows, ["requests by endpoint", "sent", "minimum", "ratio"])}`,
    );
  }
  if (results.b) {
    const b = results.b;
    const bound = (b.creates / WRITE_RATE) * 1000;
    const ratio = b.wallMs / bound;
    const ok = b.code === 0 && b.failedResources === 0;
    const rows = [
      [
        `wall time / (${fmt(b.creates)} creates / ${WRITE_RATE} per s)`,
        seconds(b.wallMs),
        seconds(bound),
        `${fmt(ratio, 2)}x`,
        !ok
          ? `FAILED (exit ${b.code}, ${b.failedResources} resources failed)`
          : ratio <= TARGET_RATE_RATIO
            ? "meets"
            : "ABOVE TARGET",
      ],
      ["  process start to first request (start-up, configuration)", seconds(b.startupMs), "", "", ""],
      ["  last request to exit", seconds(b.finishMs), "", "", ""],
      ["resources created / failed", `${fmt(b.done)} / ${fmt(b.failedResources)}`, "0 failed", "", ok ? "meets" : "FAILED"],
      [
        "peak RSS of the CLI (VmHWM)",
        `${fmt(b.peakMb, 1)} MB`,
        `${TARGET_CLI_RSS_MB} MB`,
        `${fmt(b.peakMb / TARGET_CLI_RSS_MB, 2)}x`,
        b.peakMb <= TARGET_CLI_RSS_MB ? "meets" : "ABOVE TARGET",
      ],
      ["write requests (creates + state pushes + lock)", fmt(b.tally.writes), "", "", ""],
      ["answered 429 (rate limited)", fmt(b.tally.limited), "", "", ""],
      ["other error answers", fmt(b.tally.failed), "", "", ""],
      ["requests in all", fmt(b.tally.total), "", "", ""],
    ];
    sections.push(
      `(b) apply of ${fmt(b.creates)} creates under ${WRITE_RATE} writes/s, concurrency ${CONCURRENCY}\n\n${table(rows)}` +
        (b.stderr ? `\n\n${b.stderr}` : ""),
    );
  }
  if (results.c) {
    const c = results.c;
    if (c.skipped) sections.push(`(c) official Databricks CLI vs Lakeforge: skipped: ${c.skipped}`);
    else {
      const rows = [];
      for (const label of ["deploy", "no-op redeploy"]) {
        const cli = c.rows.find((r) => r.tool === "databricks bundle deploy" && r.label === label);
        const lf = c.rows.find((r) => r.tool === "lakeforge apply" && r.label === label);
        for (const r of [cli, lf]) {
          rows.push([`${label}: ${r.tool}`, seconds(r.ms), fmt(r.tally.total), fmt(r.tally.writes)]);
        }
        rows.push([
          `${label}: lakeforge / databricks`,
          `${fmt(lf.ms / cli.ms, 2)}x`,
          `${fmt(lf.tally.total / cli.tally.total, 2)}x`,
          `${fmt(lf.tally.writes / Math.max(1, cli.tally.writes), 2)}x`,
        ]);
      }
      sections.push(
        `(c) ${CLI_JOBS} jobs: official Databricks CLI (bundle deploy, direct engine) vs lakeforge apply, ${LATENCY_MS} ms latency\n` +
          `    the CLI's client-side limit: ${CLI_RATE_LIMIT ? `${CLI_RATE_LIMIT} requests/s (DATABRICKS_RATE_LIMIT)` : "its SDK's default (15 requests/s)"}; ` +
          `lakeforge --concurrency ${CONCURRENCY}\n\n` +
          table(rows, ["run", "wall time", "requests", "writes"]),
      );
    }
  }
  process.stderr.write(`\nLakeforge environments benchmark — node ${process.version}\n\n${sections.join("\n\n")}\n\n`);

  const figures = {};
  if (results.a) {
    const a = results.a;
    figures.noop_plan = {
      resources: RESOURCES,
      latency_ms: LATENCY_MS,
      concurrency: CONCURRENCY,
      requests: a.tally.total,
      minimum_requests: a.minTotal,
      request_ratio: a.tally.total / a.minTotal,
      writes: a.tally.writes,
      changes: a.changes,
      wall_ms: a.wallMs,
      request_span_ms: a.tally.spanMs,
      ideal_ms: (a.tally.total * LATENCY_MS) / CONCURRENCY,
      by_endpoint: Object.fromEntries(a.tally.byEndpoint),
    };
  }
  if (results.b) {
    const b = results.b;
    figures.rate_limited_apply = {
      creates: b.creates,
      write_rate: WRITE_RATE,
      wall_ms: b.wallMs,
      bound_ms: (b.creates / WRITE_RATE) * 1000,
      ratio: b.wallMs / ((b.creates / WRITE_RATE) * 1000),
      failed_resources: b.failedResources,
      exit_code: b.code,
      peak_rss_mb: b.peakMb,
      writes: b.tally.writes,
      rate_limited: b.tally.limited,
    };
  }
  if (results.c) {
    figures.databricks_cli = results.c.skipped
      ? { skipped: results.c.skipped }
      : {
          jobs: CLI_JOBS,
          runs: results.c.rows.map((r) => ({
            tool: r.tool,
            run: r.label,
            wall_ms: r.ms,
            requests: r.tally.total,
            writes: r.tally.writes,
          })),
        };
  }
  return figures;
}
