import { beforeAll, describe, expect, it, vi } from "vitest";
import {
  inventory,
  type LogEntry,
  makeProject,
  type Obj,
  projectDocument,
  requireBuild,
  runCli,
  seeded,
  show,
  startTestWorkspace,
  suiteSeed,
  type TestWorkspace,
  writeProject,
} from "./helpers.js";
import { NOTEBOOK_ROOT, type PlatformSize, platform } from "./platform.js";

/**
 * The fault matrix: one `lakeforge apply` of a configuration of more than 300 resources while about
 * one request in ten fails — 429 with Retry-After, 500, 503, dropped connections, and changes that
 * are made but answered with a 500 (lost responses) — must converge: exit 0, then a plan without
 * changes, and exactly the configured objects in the workspace, none twice.
 *
 * The workspace decides which requests fail with `Math.random`, seeded here: a failing run prints its
 * seed, and `LAKEFORGE_E2E_SEED=<seed>` replays the same decisions (the order of concurrent requests
 * may still differ from run to run).
 */

const SIZE: PlatformSize = {
  groups: 8,
  servicePrincipals: 4,
  clusters: 6,
  notebooks: 20,
  jobs: 50,
  scopes: 10,
  secretsPerScope: 5,
  catalogs: 4,
  schemasPerCatalog: 4,
  experiments: 15,
};

/** About 10% of API requests fail, in every way the retry policy and the engine must handle. */
const FAULTS: Obj[] = [
  { method: "*", path: "/api/**", status: 429, retry_after: 1, probability: 0.004 },
  { method: "*", path: "/api/**", status: 429, retry_after: 0, probability: 0.016 },
  { method: "*", path: "/api/**", status: 503, retry_after: 0, probability: 0.02 },
  { method: "*", path: "/api/**", status: 500, probability: 0.02 },
  { method: "*", path: "/api/**", drop: true, probability: 0.02 },
  ...["POST", "PUT", "PATCH", "DELETE"].map((method) => ({
    method,
    path: "/api/**",
    apply_then_status: 500,
    probability: 0.03,
  })),
];

let ws: TestWorkspace;

beforeAll(async () => {
  requireBuild();
  ws = await startTestWorkspace();
});

function faultKinds(log: LogEntry[]): Record<string, number> {
  const out: Record<string, number> = { "429": 0, "500": 0, "503": 0, drop: 0, lost: 0 };
  for (const e of log) {
    if (e.fault === "drop") out.drop = (out.drop ?? 0) + 1;
    else if (e.fault === "apply_then_status") out.lost = (out.lost ?? 0) + 1;
    else if (e.fault === "status") out[String(e.status)] = (out[String(e.status)] ?? 0) + 1;
  }
  return out;
}

/** Applies `p` once under the faults, with Math.random (the workspace's fault dice) seeded. */
async function applyUnderFaults(dir: string, env: Record<string, string>, seed: number) {
  const since = await ws.lastSeq();
  const random = vi.spyOn(Math, "random").mockImplementation(seeded(seed));
  for (const rule of FAULTS) await ws.addFault(rule);
  try {
    const result = await runCli(["apply", "--auto-approve"], { cwd: dir, env });
    const log = (await ws.requestsSince(since)).filter((e) => e.path.startsWith("/api/"));
    return { result, log };
  } finally {
    random.mockRestore();
    await ws.clearFaults();
  }
}

/** Checks that the faults happened, in every kind, at about the intended rate. */
function expectFaults(log: LogEntry[], replay: string): void {
  const kinds = faultKinds(log);
  for (const [kind, n] of Object.entries(kinds))
    expect(n, `${replay}: ${kind} faults ${JSON.stringify(kinds)}`).toBeGreaterThan(0);
  const failed = Object.values(kinds).reduce((a, b) => a + b, 0);
  expect(failed / log.length, `${replay}: ${failed} of ${log.length} requests failed`).toBeGreaterThan(0.06);
}

describe("apply under injected faults", () => {
  const seed = suiteSeed();
  const replay = `seed ${seed} (replay with LAKEFORGE_E2E_SEED=${seed})`;
  const base = platform(SIZE);
  let dir: string;

  it("converges in one apply of 300+ resources with ~10% of requests failing, without duplicates", {
    timeout: 300_000,
  }, async () => {
    expect(base.count).toBeGreaterThanOrEqual(300);
    dir = makeProject({ "lakeforge.yaml": projectDocument(ws.url, base.resources), ...base.files });
    const env = { DATABRICKS_TOKEN: ws.token, ...base.env };

    const { result, log } = await applyUnderFaults(dir, env, seed);
    expect(result.code, `${replay}\n${show(result)}`).toBe(0);
    expect(result.stderr, replay).toContain(`Apply complete: ${base.count} created, 0 updated, 0 recreated, 0 deleted.`);
    expectFaults(log, replay);

    const plan = await runCli(["plan", "--detailed-exitcode"], { cwd: dir, env });
    expect(plan.code, `${replay}\n${show(plan)}`).toBe(0);
    expect(await inventory(ws.api, NOTEBOOK_ROOT), replay).toEqual(base.expected);
  });

  it("converges in one apply of updates, replacements and deletes with ~10% of requests failing", {
    timeout: 300_000,
  }, async () => {
    const next = platform(SIZE, 1, "rotated");
    writeProject(dir, { "lakeforge.yaml": projectDocument(ws.url, next.resources), ...next.files });
    const env = { DATABRICKS_TOKEN: ws.token, ...next.env };

    const { result, log } = await applyUnderFaults(dir, env, seed + 1);
    expect(result.code, `${replay}\n${show(result)}`).toBe(0);
    const summary = /Apply complete: (\d+) created, (\d+) updated, (\d+) recreated, (\d+) deleted\./.exec(result.stderr);
    expect(summary, `${replay}\n${show(result)}`).not.toBeNull();
    const [, , updated, recreated, deleted] = (summary as RegExpExecArray).map(Number);
    expect(updated, replay).toBeGreaterThan(50);
    expect(recreated, replay).toBeGreaterThan(0);
    expect(deleted, replay).toBeGreaterThan(20);
    expectFaults(log, replay);

    const plan = await runCli(["plan", "--detailed-exitcode"], { cwd: dir, env });
    expect(plan.code, `${replay}\n${show(plan)}`).toBe(0);
    expect(await inventory(ws.api, NOTEBOOK_ROOT), replay).toEqual(next.expected);
  });
});
