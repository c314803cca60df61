import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CliResult,
  ROOT,
  readRecorded,
  requireBuild,
  runCli,
  startTestWorkspace,
  type TestWorkspace,
  tempDir,
} from "./helpers.js";

/**
 * The corpus of malformed configurations (test/fixtures/config/invalid, see test/unit/config) through
 * the CLI: `lakeforge plan -C <case>` exits 1 with exactly the case's one located error line (and
 * its hint) on stderr, no stack trace, and not a single request. The corpus is copied next to a
 * running local workspace — the one a valid configuration without a workspace would deploy to — and
 * DATABRICKS_HOST names it too, so any request would reach it and show in its request log.
 */

const CORPUS = join(ROOT, "test/fixtures/config/invalid");
const PARALLEL = 4;

interface Case {
  name: string;
  expect: string;
  hint?: string;
  env: Record<string, string>;
}

function cases(): Case[] {
  return readdirSync(CORPUS)
    .sort()
    .map((name) => {
      const target = join(CORPUS, name);
      const main = statSync(target).isDirectory() ? join(target, "lakeforge.yaml") : target;
      const text = readFileSync(main, "utf8");
      const env: Record<string, string> = {};
      for (const m of text.matchAll(/^# env: (\w+)=(.*)$/gm)) env[m[1] as string] = m[2] as string;
      const hint = /^# hint: (.*)$/m.exec(text)?.[1];
      return { name, expect: /^# expect: (.*)$/m.exec(text)?.[1] ?? "", ...(hint ? { hint } : {}), env };
    });
}

let ws: TestWorkspace;
let dir: string;

beforeAll(async () => {
  requireBuild();
  dir = tempDir();
  cpSync(CORPUS, dir, { recursive: true });
  // The local workspace of configurations in `dir`: a CLI would use this running one.
  ws = await startTestWorkspace({ dataDir: join(dir, ".lakeforge", "workspace") });
});

async function inParallel<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

describe("malformed configurations through the CLI", () => {
  it("each gives exit 1 and its one located error, and no request reaches the workspace", { timeout: 300_000 }, async () => {
    const all = cases();
    expect(all.length).toBeGreaterThanOrEqual(40);
    const before = await ws.lastSeq();
    const results = await inParallel(all, PARALLEL, async (c) => {
      const recordTo = join(dir, ".requests", `${c.name}.jsonl`);
      const result: CliResult = await runCli(["plan", "-C", c.name], {
        cwd: dir,
        env: { ...c.env, DATABRICKS_HOST: ws.url, DATABRICKS_TOKEN: ws.token },
        recordTo,
      });
      return { c, result, requests: readRecorded(recordTo) };
    });

    const wrong: string[] = [];
    for (const { c, result, requests } of results) {
      const expected = [`error: ${c.expect}`, ...(c.hint ? [`  hint: ${c.hint}`] : [])];
      const lines = result.stderr.replace(/\n$/, "").split("\n");
      const problems = [
        result.code !== 1 ? `exit ${result.code}` : "",
        lines[0] !== expected[0] ? `first line ${JSON.stringify(lines[0])}` : "",
        c.hint !== undefined && lines[1] !== expected[1] ? `hint ${JSON.stringify(lines[1])}` : "",
        lines.slice(1).some((l) => !l.startsWith("  hint: ")) ? "more than the error and its hint" : "",
        result.stdout !== "" ? "stdout not empty" : "",
        requests.length > 0 ? `${requests.length} requests` : "",
      ].filter(Boolean);
      if (problems.length > 0) wrong.push(`${c.name}: ${problems.join("; ")}\n${result.stderr}`);
    }
    expect(wrong).toEqual([]);
    expect(await ws.lastSeq()).toBe(before);
    // No case started a workspace of its own.
    for (const c of all) expect(existsSync(join(dir, c.name, ".lakeforge")), c.name).toBe(false);

    // The control: a valid configuration in the same place does reach this workspace.
    writeFileSync(join(dir, "valid.yaml"), "project:\n  name: demo\nresources:\n  groups:\n    g:\n      display_name: g\n");
    const valid = await runCli(["plan", "-C", "valid.yaml"], { cwd: dir, env: {} });
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stderr).toContain("+   databricks.group.g (create, not in state)");
    expect(await ws.lastSeq()).toBeGreaterThan(before);
  });
});
