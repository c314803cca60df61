import { beforeAll, describe, expect, it } from "vitest";
import type { StateFile } from "../../src/engine/state.js";
import {
  type CliResult,
  changing,
  inventory,
  makeProject,
  planHere,
  projectDocument,
  requireBuild,
  runCli,
  seeded,
  show,
  spawnCli,
  startTestWorkspace,
  suiteSeed,
  type TestWorkspace,
  tempDir,
  writeProject,
} from "./helpers.js";
import { NOTEBOOK_ROOT, type PlatformSize, platform } from "./platform.js";

/**
 * Crash safety: `lakeforge apply` is killed with SIGKILL at 20+ random points (after a random number
 * of requests reached the workspace), while moving between variants of a configuration (creates,
 * updates, replacements, deletes). After each kill, running apply again — as a user would — must
 * converge: exit 0 (taking over the lock the dead process left, with a warning), a plan without
 * changes, every configured object exactly once, nothing that is neither configured nor in state,
 * and a state without unfinished creates. The workspace keeps its data in a folder and runs in this
 * process, so it outlives the killed CLI.
 */

const SIZE: PlatformSize = {
  groups: 3,
  servicePrincipals: 2,
  clusters: 2,
  notebooks: 6,
  jobs: 10,
  scopes: 3,
  secretsPerScope: 3,
  catalogs: 2,
  schemasPerCatalog: 2,
  experiments: 4,
};
const KILLS = 20;
const STATE = "/Shared/.lakeforge/e2e/test/state.json";
const LOCK = "/Shared/.lakeforge/e2e/test/deploy.lock";

let ws: TestWorkspace;
/** Called after every request the workspace answers. */
let onRequest: (() => void) | undefined;

beforeAll(async () => {
  requireBuild();
  ws = await startTestWorkspace({ dataDir: tempDir("lakeforge-e2e-data-") });
  const log = ws.running.workspace.requestLog;
  const record = log.record.bind(log);
  log.record = (entry) => {
    const out = record(entry);
    onRequest?.();
    return out;
  };
});

async function exists(path: string): Promise<boolean> {
  return ws.api.get("/api/2.0/workspace/get-status", { path }).then(
    () => true,
    () => false,
  );
}

async function remoteState(): Promise<StateFile> {
  const res = await ws.api.get<{ content: string }>("/api/2.0/workspace/export", { path: STATE, format: "SOURCE" });
  return JSON.parse(Buffer.from(res.content, "base64").toString("utf8")) as StateFile;
}

describe("apply killed at random points", () => {
  it(`converges after each of ${KILLS} kills, without duplicates or orphans`, { timeout: 600_000 }, async () => {
    const seed = suiteSeed();
    const random = seeded(seed);
    const replay = `seed ${seed} (replay with LAKEFORGE_E2E_SEED=${seed})`;
    const variants = [0, 1, 2].map((v) => platform(SIZE, v));
    const dir = makeProject({ "lakeforge.yaml": projectDocument(ws.url, variants[0]?.resources ?? {}) });
    const use = (v: number) => {
      const p = variants[v] as (typeof variants)[number];
      writeProject(dir, { "lakeforge.yaml": projectDocument(ws.url, p.resources), ...p.files });
      return p;
    };
    const envOf = (p: (typeof variants)[number]) => ({ DATABRICKS_TOKEN: ws.token, ...p.env });

    // A first apply without a kill; kill points are drawn below the number of requests an apply takes
    // (learnt from the applies that finish before their kill point).
    let p = use(0);
    let requests = 0;
    onRequest = () => requests++;
    const first = await runCli(["apply", "--auto-approve"], { cwd: dir, env: envOf(p) });
    expect(first.code, show(first)).toBe(0);
    let estimate = Math.ceil(requests * 0.7);

    let kills = 0;
    const history: string[] = [];
    for (let round = 1; kills < KILLS && round <= KILLS * 2; round++) {
      p = use(round % 3);
      const killAt = 1 + Math.floor(random() * estimate);
      requests = 0;
      const run = spawnCli(["apply", "--auto-approve"], { cwd: dir, env: envOf(p) });
      onRequest = () => {
        if (++requests === killAt) run.child.kill("SIGKILL");
      };
      const killed: CliResult = await run.done;
      onRequest = undefined;
      const where = `${replay}, round ${round}, variant ${round % 3}, kill after request ${killAt}`;
      if (killed.signal === "SIGKILL") kills++;
      else {
        expect(killed.code, `${where}\n${show(killed)}`).toBe(0);
        estimate = requests;
      }
      history.push(`${where}: ${killed.signal ?? `exit ${killed.code}`}`);
      const lockLeft = await exists(LOCK);

      const again = await runCli(["apply", "--auto-approve"], { cwd: dir, env: envOf(p) });
      expect(again.code, `${where}\n${show(again)}`).toBe(0);
      if (lockLeft) expect(again.stderr, where).toMatch(/warning: took over the lock left by .*\(pid \d+\).*no longer running/);
      expect(await exists(LOCK), where).toBe(false);

      const plan = await planHere(dir, envOf(p));
      expect(changing(plan), where).toEqual([]);
      expect(await inventory(ws.api, NOTEBOOK_ROOT), where).toEqual(p.expected);
      const state = await remoteState();
      expect(Object.keys(state.resources).length, where).toBe(p.count);
      expect(
        Object.entries(state.resources)
          .filter(([, e]) => !e.id || e.pending)
          .map(([a]) => a),
        where,
      ).toEqual([]);
    }
    expect(kills, history.join("\n")).toBeGreaterThanOrEqual(KILLS);
  });
});
