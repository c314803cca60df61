// Benchmarks of the local workspace, each run against `lakeforge workspace serve --ephemeral` started as
// its own process (so the load generator does not share its event loop):
//   1. throughput: authenticated GETs from keep-alive connections (autocannon), against 2,000 req/s;
//   2. memory: the server's peak resident set (VmHWM) after storing 10,000 objects through the API,
//      against 300 MB.
// Prints a table; tune with BENCH_DURATION (seconds per throughput run), BENCH_CONNECTIONS and BENCH_OBJECTS.
import { availableParallelism } from "node:os";
import autocannon from "autocannon";
import { fmt, log, memory, request, serve, table } from "./lib.mjs";

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const OBJECTS = Number(process.env.BENCH_OBJECTS ?? 10_000);
const WRITERS = 32;
const TARGET_RPS = 2_000;
const TARGET_RSS_MB = 300;

async function load(ws, path, seconds) {
  const result = await autocannon({
    url: `${ws.url}${path}`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${ws.token}` },
  });
  return {
    path,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

/**
 * Small objects to read in the throughput run and to store in the memory run, most representative
 * first; the first whose create answers 200 is used. `body(i)` is the create request of object `i`.
 */
const kinds = [
  {
    name: "jobs",
    path: "/api/2.2/jobs/create",
    body: (i) => ({
      name: `bench-job-${i}`,
      max_concurrent_runs: 1,
      tasks: [
        {
          task_key: "train",
          notebook_task: { notebook_path: "/Shared/bench/train" },
          new_cluster: { spark_version: "15.4.x-scala2.12", node_type_id: "i3.xlarge", num_workers: 1 },
        },
      ],
      tags: { project: "bench" },
    }),
    readPath: (created) => `/api/2.2/jobs/get?job_id=${created.job_id}`,
  },
  {
    name: "notebooks",
    setup: (ws) => request(ws, "POST", "/api/2.0/workspace/mkdirs", { path: "/Shared/bench" }),
    path: "/api/2.0/workspace/import",
    body: (i) => ({
      path: `/Shared/bench/notebook-${i}`,
      format: "SOURCE",
      language: "PYTHON",
      content: Buffer.from(`# Databricks notebook source\nprint(${JSON.stringify(String(i))})\n`).toString("base64"),
    }),
    readPath: () => "/api/2.0/workspace/get-status?path=/Shared/bench/notebook-probe",
  },
  {
    name: "SCIM groups",
    path: "/api/2.0/preview/scim/v2/Groups",
    body: (i) => ({ displayName: `bench-group-${i}` }),
    readPath: (created) => `/api/2.0/preview/scim/v2/Groups/${created.id}`,
  },
  {
    // Always there: personal access tokens issued through the test control API.
    name: "tokens",
    path: "/__lakeforge/tokens",
    body: () => ({ user_name: "admin@lakeforge.local" }),
    readPath: () => "/api/2.0/preview/scim/v2/Me?attributes=userName",
  },
];

async function pickKind(ws) {
  for (const kind of kinds) {
    if (kind.setup) await kind.setup(ws);
    const probe = await request(ws, "POST", kind.path, kind.body("probe"));
    if (probe.status >= 200 && probe.status < 300) return { kind, created: probe.body };
  }
  throw new Error(`none of ${kinds.map((k) => k.name).join(", ")} can be created: is the workspace complete?`);
}

async function throughput() {
  const ws = await serve();
  try {
    const { kind, created } = await pickKind(ws);
    const objectPath = kind.readPath(created);
    log(`throughput: warming up, then ${DURATION} s per endpoint with ${CONNECTIONS} keep-alive connections`);
    await load(ws, "/api/2.0/preview/scim/v2/Me", 2);
    const runs = [];
    for (const path of ["/api/2.0/preview/scim/v2/Me", objectPath]) {
      const run = await load(ws, path, DURATION);
      log(`  GET ${path}: ${Math.round(run.rps)} req/s`);
      runs.push(run);
    }
    return { runs, underLoad: memory(ws.pid) };
  } finally {
    await ws.stop();
  }
}

async function storage() {
  const ws = await serve();
  try {
    const { kind } = await pickKind(ws);
    log(`memory: storing ${OBJECTS.toLocaleString("en")} ${kind.name} with ${WRITERS} concurrent writers`);
    const before = memory(ws.pid);
    let i = 0;
    const began = performance.now();
    // Exactly OBJECTS creates, each with its own body, over keep-alive connections.
    const result = await autocannon({
      url: `${ws.url}${kind.path}`,
      connections: WRITERS,
      amount: OBJECTS,
      headers: { authorization: `Bearer ${ws.token}`, "content-type": "application/json" },
      requests: [{ method: "POST", setupRequest: (req) => ({ ...req, body: JSON.stringify(kind.body(i++)) }) }],
    });
    const seconds = (performance.now() - began) / 1000;
    const failed = result.non2xx + result.errors + result.timeouts;
    return { kind: kind.name, before, after: memory(ws.pid), writesPerSecond: OBJECTS / seconds, failed };
  } finally {
    await ws.stop();
  }
}

/** Runs both parts, prints their table and resolves with the figures (for `--json`). */
export async function runWorkspace() {
  const t = await throughput();
  const m = await storage();
  const rows = [];
  for (const run of t.runs) {
    const ratio = run.rps / TARGET_RPS;
    rows.push([
      `GET ${run.path.split("?")[0]} (p50 ${run.p50} ms, p99 ${run.p99} ms)`,
      `${fmt(run.rps)} req/s`,
      `${fmt(TARGET_RPS)} req/s`,
      `${fmt(ratio, 2)}x`,
      run.failed > 0 ? `FAILED ${run.failed} of ${run.total} requests` : ratio >= 1 ? "meets" : "BELOW TARGET",
    ]);
  }
  const rssRatio = m.after.peakMb / TARGET_RSS_MB;
  rows.push([
    `peak RSS after storing ${fmt(OBJECTS)} ${m.kind}`,
    `${fmt(m.after.peakMb, 1)} MB`,
    `${fmt(TARGET_RSS_MB)} MB`,
    `${fmt(rssRatio, 2)}x`,
    m.failed > 0 ? `FAILED ${m.failed} writes` : rssRatio <= 1 ? "meets" : "ABOVE TARGET",
  ]);
  rows.push([`  (idle before: ${fmt(m.before.peakMb, 1)} MB; RSS after: ${fmt(m.after.rssMb, 1)} MB)`, "", "", "", ""]);
  rows.push([`creating ${m.kind}, ${WRITERS} concurrent writers`, `${fmt(m.writesPerSecond)} /s`, "", "", ""]);
  rows.push([`peak RSS of the throughput server`, `${fmt(t.underLoad.peakMb, 1)} MB`, "", "", ""]);

  process.stderr.write(
    `\nLakeforge workspace benchmark — node ${process.version}, ${availableParallelism()} CPUs, ` +
      `${CONNECTIONS} connections, ${DURATION} s per run\n\n${table(rows)}\n\n`,
  );
  return {
    throughput: t.runs.map((r) => ({ path: r.path, rps: r.rps, p50_ms: r.p50, p99_ms: r.p99, failed: r.failed })),
    target_rps: TARGET_RPS,
    memory: { kind: m.kind, objects: OBJECTS, peak_rss_mb: m.after.peakMb, failed_writes: m.failed },
    target_rss_mb: TARGET_RSS_MB,
  };
}
