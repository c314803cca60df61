import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CliResult,
  makeProject,
  type Obj,
  projectDocument,
  readRecorded,
  requireBuild,
  runCli,
  show,
  startTestWorkspace,
  type TestWorkspace,
  tempDir,
  writeProject,
} from "./helpers.js";

/**
 * Canary secrets: values read from the environment and from a file are planned, applied, rotated,
 * made to fail and destroyed through the CLI, and must never appear — as they are, or base64-encoded —
 * in stdout, stderr, saved plans, the local state cache, the state file in the workspace, the
 * workspace's request log, or any request URL. They must reach the workspace as the secret values.
 */

const STATE = "/Shared/.lakeforge/e2e/test/state.json";

const canary = () => `canary-${randomBytes(12).toString("hex")}`;
const forms = (v: string) => [v, Buffer.from(v).toString("base64"), encodeURIComponent(v)];

let ws: TestWorkspace;
let dir: string;
let requestLogFile: string;
const outputs: { what: string; text: string }[] = [];
let runs = 0;

function resources(): Obj {
  return {
    secret_scopes: {
      app: {
        name: "canary-scope",
        secrets: {
          from_env: { from_env: "APP_SECRET" },
          from_file: { from_file: "secrets/value.txt" },
        },
      },
    },
    git_credentials: {
      github: { git_provider: "gitHub", git_username: "bot", personal_access_token: { from_env: "GITHUB_PAT" } },
    },
    jobs: { j: { name: "canary-job", tasks: [{ task_key: "t", notebook_task: { notebook_path: "/Shared/x" } }] } },
  };
}

beforeAll(async () => {
  requireBuild();
  requestLogFile = join(tempDir(), "requests.jsonl");
  ws = await startTestWorkspace({ requestLogFile });
  dir = makeProject({ "lakeforge.yaml": projectDocument(ws.url, resources()) });
});

async function cli(values: Record<string, string>, ...args: string[]): Promise<CliResult> {
  const n = ++runs;
  const recordTo = join(dir, ".requests", `${n}.jsonl`);
  const r = await runCli(args, {
    cwd: dir,
    env: { DATABRICKS_TOKEN: ws.token, APP_SECRET: values.env as string, GITHUB_PAT: values.pat as string },
    recordTo,
  });
  outputs.push({ what: `stdout of ${args.join(" ")}`, text: r.stdout }, { what: `stderr of ${args.join(" ")}`, text: r.stderr });
  outputs.push({
    what: `URLs of ${args.join(" ")}`,
    text: readRecorded(recordTo)
      .map((q) => `${q.method} ${q.url}`)
      .join("\n"),
  });
  return r;
}

async function secretValue(key: string): Promise<string> {
  const res = await ws.api.get<{ value: string }>("/api/2.0/secrets/get", { scope: "canary-scope", key });
  return Buffer.from(res.value, "base64").toString("utf8");
}

/** Every file below `root`, skipping the given names. */
function files(root: string, skip: Set<string>): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    if (skip.has(p)) continue;
    if (statSync(p).isDirectory()) out.push(...files(p, skip));
    else out.push(p);
  }
  return out;
}

describe("secret values", () => {
  it("never appear in output, plans, state, logs or URLs", async () => {
    const first = { env: canary(), file: canary(), pat: canary() };
    const second = { env: canary(), file: canary(), pat: canary() };
    const all = [...Object.values(first), ...Object.values(second)];
    writeProject(dir, { "secrets/value.txt": `${first.file}\n` });

    expect((await cli(first, "validate")).code).toBe(0);
    const saved = await cli(first, "plan", "--out", "plan.json");
    expect(saved.code, show(saved)).toBe(0);
    expect(saved.stderr).toContain("string_value: (sensitive)");
    expect(saved.stderr).toContain("personal_access_token: (sensitive)");
    expect((await cli(first, "plan", "--json")).code).toBe(0);
    const applied = await cli(first, "apply", "plan.json");
    expect(applied.code, show(applied)).toBe(0);
    expect(await secretValue("from_env")).toBe(first.env);
    expect(await secretValue("from_file")).toBe(first.file);

    // Rotation: the plan says which secrets changed, by name only.
    writeProject(dir, { "secrets/value.txt": `${second.file}\n` });
    const rotated = await cli(second, "plan", "--out", "rotated.json");
    expect(rotated.code, show(rotated)).toBe(0);
    expect(rotated.stderr).toContain("databricks.secret.app.from_env");
    expect(rotated.stderr).toContain("databricks.git_credential.github");
    const json = await cli(second, "apply", "--auto-approve", "--json");
    expect(json.code, show(json)).toBe(0);
    expect(await secretValue("from_env")).toBe(second.env);
    expect(await secretValue("from_file")).toBe(second.file);

    // A failing apply: the error messages name requests, never their bodies.
    await ws.addFault({ method: "POST", path: "/api/2.0/secrets/put", status: 400, message: "Injected refusal" });
    await ws.addFault({ method: "PATCH", path: "/api/2.0/git-credentials/*", status: 400, message: "Injected refusal" });
    try {
      writeProject(dir, { "secrets/value.txt": `${first.file}\n` });
      const failed = await cli(first, "apply", "--auto-approve");
      expect(failed.code, show(failed)).toBe(1);
      expect(failed.stderr).toContain("Injected refusal");
    } finally {
      await ws.clearFaults();
    }
    const destroyed = await cli(first, "destroy", "--auto-approve");
    expect(destroyed.code, show(destroyed)).toBe(0);

    // Where the values could have leaked.
    const scanned: { what: string; text: string }[] = [...outputs];
    for (const file of files(dir, new Set([join(dir, "secrets"), join(dir, ".requests")]))) {
      scanned.push({ what: file, text: readFileSync(file, "utf8") });
    }
    expect(scanned.some((s) => s.what.endsWith("plan.json"))).toBe(true);
    expect(scanned.some((s) => s.what.includes(join(".lakeforge", "state")))).toBe(true);
    const state = await ws.api.get<{ content: string }>("/api/2.0/workspace/export", { path: STATE, format: "SOURCE" });
    scanned.push({ what: "the state file in the workspace", text: Buffer.from(state.content, "base64").toString("utf8") });
    scanned.push({ what: "the workspace's request log", text: JSON.stringify(await ws.requestsSince(0)) });
    scanned.push({ what: "the workspace's request log file", text: readFileSync(requestLogFile, "utf8") });
    // Every command but validate talked to the workspace, so its URLs were recorded.
    const urls = scanned.filter((s) => s.what.startsWith("URLs of"));
    expect(urls.filter((s) => s.text.length === 0).map((s) => s.what)).toEqual(["URLs of validate"]);

    const leaks = scanned.flatMap((s) =>
      all
        .flatMap(forms)
        .filter((v) => s.text.includes(v))
        .map(() => s.what),
    );
    expect(leaks).toEqual([]);
  });
});
