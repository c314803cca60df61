import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorkspace, startWorkspace, WorkspaceLockedError } from "../../../src/workspace/server.js";
import { finished } from "../../support/process.js";

/*
 * The local workspace's HTTP behaviour, persistence and concurrency, driven with plain fetch (and, for
 * the CLI and crash tests, through `bin/lakeforge.js`, which needs `npm run build` first).
 */

const ROOT = resolve(import.meta.dirname, "../../..");
const BIN = join(ROOT, "bin", "lakeforge.js");
const ME = "/api/2.0/preview/scim/v2/Me";
const SCIM = "/api/2.0/preview/scim/v2";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ADMIN = "admin@lakeforge.local";

// A token in the environment would override the one kept in the data directory.
delete process.env.LAKEFORGE_WORKSPACE_TOKEN;

const running: RunningWorkspace[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];

const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "lakeforge-ws-"));
  dirs.push(d);
  return d;
};

async function start(options: Parameters<typeof startWorkspace>[0] = { ephemeral: true }): Promise<RunningWorkspace> {
  const ws = await startWorkspace({ port: 0, ...options });
  running.push(ws);
  return ws;
}

async function stop(ws: RunningWorkspace): Promise<void> {
  await ws.stop();
  running.splice(running.indexOf(ws), 1);
}

afterEach(async () => {
  for (const ws of running.splice(0)) await ws.stop();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** One request; `token: null` sends no Authorization header. */
async function call(
  ws: { url: string; token: string },
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ws.token,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${ws.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Like `call`, but fails the test unless the answer is a success (SCIM creates answer 201). */
async function ok(ws: { url: string; token: string }, method: string, path: string, body?: unknown) {
  const r = await call(ws, method, path, body);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const createUser = async (ws: RunningWorkspace, userName: string) =>
  (await ok(ws, "POST", `${SCIM}/Users`, { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName })).id as string;

const createGroup = async (ws: { url: string; token: string }, displayName: string) =>
  (await ok(ws, "POST", `${SCIM}/Groups`, { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName }))
    .id as string;

/** A token for another identity, issued by the test control API. */
const tokenFor = async (ws: { url: string; token: string }, userName: string) =>
  (await ok(ws, "POST", "/__lakeforge/tokens", { user_name: userName })).token_value as string;

/** Starts `lakeforge workspace serve ... --json` and resolves once it printed its JSON line. */
async function serveChild(args: string[]): Promise<{ child: ChildProcess; url: string; token: string; pid: number }> {
  if (!existsSync(join(ROOT, "dist", "cli", "main.js"))) throw new Error("dist/ is missing: run npm run build first");
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("DATABRICKS_") && k !== "LAKEFORGE_WORKSPACE_TOKEN"),
  );
  const child = spawn(process.execPath, [BIN, "workspace", "serve", "--port", "0", "--json", ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => line as string),
    once(child, "exit").then(([code]) => {
      throw new Error(`lakeforge workspace serve exited with ${code}: ${stderr}`);
    }),
  ]);
  lines.close();
  const info = JSON.parse(first) as { url: string; token: string; pid: number };
  return { child, ...info };
}

/** Runs the CLI to completion. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return finished(child);
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = once(child, "exit");
  child.kill(signal);
  await exited;
}

/** The pid of a process that has exited, for a stale lock file. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  return child.pid as number;
}

describe("authentication and errors", () => {
  it("answers 401 with error_code and message without a token or with a bad one", async () => {
    const ws = await start();
    const none = await call(ws, "GET", ME, undefined, null);
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error_code: "UNAUTHENTICATED", message: expect.any(String) });
    expect(none.body.message).not.toBe("");

    const bad = await call(ws, "GET", ME, undefined, "dapi0123456789abcdef0123456789abcdef");
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error_code: "UNAUTHENTICATED", message: "Invalid access token." });

    const basic = await fetch(`${ws.url}${ME}`, { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as { error_code: string }).error_code).toBe("UNAUTHENTICATED");

    const good = await call(ws, "GET", ME);
    expect(good.status).toBe(200);
    expect(good.body.userName).toBe(ADMIN);
  });

  it("serves the health endpoint without a token", async () => {
    const ws = await start();
    const r = await call(ws, "GET", "/__lakeforge/health", undefined, null);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: "ok", workspace_id: ws.workspace.workspaceId });
  });

  it("answers 501 NOT_IMPLEMENTED naming the method and path of an unknown endpoint", async () => {
    const ws = await start();
    const r = await call(ws, "POST", "/api/2.0/no-such-service/do-it", { a: 1 });
    expect(r.status).toBe(501);
    expect(r.body).toEqual({ error_code: "NOT_IMPLEMENTED", message: "POST /api/2.0/no-such-service/do-it is not implemented" });
  });

  it("logs every endpoint it does not serve, also under a prefix a service answers in part", async () => {
    const lines: string[] = [];
    const ws = await start({ ephemeral: true, log: (line) => lines.push(line) });
    const path = "/api/2.0/mlflow/unity-catalog/prompts/create";
    const r = await call(ws, "POST", path, {});
    expect(r.status).toBe(501);
    expect(r.body).toEqual({ error_code: "NOT_IMPLEMENTED", message: `POST ${path} is not implemented` });
    await call(ws, "GET", "/api/2.0/no-such-service/list");
    expect(lines.filter((l) => l.startsWith("not implemented: "))).toEqual([
      `not implemented: POST ${path}`,
      "not implemented: GET /api/2.0/no-such-service/list",
    ]);
  });

  it("puts x-databricks-org-id on every response", async () => {
    const ws = await start();
    const id = ws.workspace.workspaceId;
    expect(id).toMatch(/^\d+$/);
    const replies = [
      await call(ws, "GET", ME),
      await call(ws, "GET", ME, undefined, null),
      await call(ws, "GET", "/api/2.0/nothing-here"),
      await call(ws, "GET", "/__lakeforge/health", undefined, null),
      await call(ws, "GET", "/__lakeforge/faults"),
    ];
    for (const r of replies) expect(r.headers.get("x-databricks-org-id")).toBe(id);
  });
});

describe("fault rules and the test control API", () => {
  it("answers an injected status with Retry-After for `count` matching requests, then recovers", async () => {
    const ws = await start();
    const rule = await ok(ws, "POST", "/__lakeforge/faults", {
      method: "GET",
      path: ME,
      status: 503,
      retry_after: 7,
      count: 2,
    });
    expect(rule).toMatchObject({ id: expect.any(String), method: "GET", path: ME, status: 503, count: 2, fired: 0 });

    for (let i = 0; i < 2; i++) {
      const r = await call(ws, "GET", ME);
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBe("7");
      expect(r.headers.get("x-databricks-org-id")).toBe(ws.workspace.workspaceId);
      expect(r.body).toEqual({ error_code: "TEMPORARILY_UNAVAILABLE", message: expect.any(String) });
    }
    expect((await call(ws, "GET", ME)).status).toBe(200);
    // Other methods and paths never matched.
    expect((await call(ws, "GET", `${ME}x`)).status).toBe(501);

    const listed = (await ok(ws, "GET", "/__lakeforge/faults")).faults as { id: string; fired: number }[];
    expect(listed).toEqual([expect.objectContaining({ id: rule.id, fired: 2 })]);
  });

  it("takes a custom error_code and message, and globs in the path", async () => {
    const ws = await start();
    await ok(ws, "POST", "/__lakeforge/faults", {
      path: "/api/2.0/preview/**",
      status: 409,
      error_code: "RESOURCE_CONFLICT",
      message: "busy",
      count: 1,
    });
    const r = await call(ws, "GET", ME);
    expect(r.status).toBe(409);
    expect(r.body).toEqual({ error_code: "RESOURCE_CONFLICT", message: "busy" });
    expect(r.headers.get("retry-after")).toBeNull();
  });

  it("fires with the given probability", async () => {
    const ws = await start();
    const never = await ok(ws, "POST", "/__lakeforge/faults", { method: "GET", path: ME, status: 500, probability: 0 });
    for (let i = 0; i < 20; i++) expect((await call(ws, "GET", ME)).status).toBe(200);
    await ok(ws, "DELETE", `/__lakeforge/faults/${never.id}`);

    await ok(ws, "POST", "/__lakeforge/faults", { method: "GET", path: ME, status: 500, probability: 0.5 });
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await call(ws, "GET", ME)).status);
    const failed = statuses.filter((s) => s === 500).length;
    expect(statuses.every((s) => s === 200 || s === 500)).toBe(true);
    // Binomial(200, 0.5): outside [50, 150] with a probability below 1e-12.
    expect(failed).toBeGreaterThan(50);
    expect(failed).toBeLessThan(150);
    const [rule] = (await ok(ws, "GET", "/__lakeforge/faults")).faults as { fired: number }[];
    expect(rule?.fired).toBe(failed);
  });

  it("rejects a rule with no effect or with two effects", async () => {
    const ws = await start();
    const none = await call(ws, "POST", "/__lakeforge/faults", { path: ME });
    expect(none.status).toBe(400);
    expect(none.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    const two = await call(ws, "POST", "/__lakeforge/faults", { path: ME, status: 500, drop: true });
    expect(two.status).toBe(400);
  });

  it("delays a request by latency_ms and then handles it", async () => {
    const ws = await start();
    await ok(ws, "POST", "/__lakeforge/faults", { method: "GET", path: ME, latency_ms: 1500, count: 1 });
    const order: string[] = [];
    const slow = call(ws, "GET", ME).then((r) => {
      order.push("delayed");
      return r;
    });
    // Faults never apply to the control API, so this one is answered while the other waits.
    const fast = call(ws, "GET", "/__lakeforge/health", undefined, null).then((r) => {
      order.push("undelayed");
      return r;
    });
    const [s, f] = await Promise.all([slow, fast]);
    expect(s.status).toBe(200);
    expect(s.body.userName).toBe(ADMIN);
    expect(f.status).toBe(200);
    expect(order).toEqual(["undelayed", "delayed"]);
  });

  it("drops the connection: the client sees a reset, and the next request succeeds", async () => {
    const ws = await start();
    await ok(ws, "POST", "/__lakeforge/faults", { method: "GET", path: ME, drop: true, count: 1 });
    const before = (await ok(ws, "GET", "/__lakeforge/requests")).last_seq as number;
    const error = await fetch(`${ws.url}${ME}`, { headers: { authorization: `Bearer ${ws.token}` } }).then(
      () => undefined,
      (e: unknown) => e as Error & { cause?: { code?: string } },
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.message).toBe("fetch failed");
    expect(error?.cause?.code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET)$/);
    expect((await call(ws, "GET", ME)).status).toBe(200);
    const log = (await ok(ws, "GET", `/__lakeforge/requests?since=${before}`)).requests as Record<string, unknown>[];
    expect(log.map((e) => [e.status, e.fault ?? null])).toEqual([
      [0, "drop"],
      [200, null],
    ]);
  });

  it("apply_then_status makes the change but answers the error", async () => {
    const ws = await start();
    await ok(ws, "POST", "/__lakeforge/faults", {
      method: "POST",
      path: `${SCIM}/Groups`,
      apply_then_status: 500,
      count: 1,
    });
    const lost = await call(ws, "POST", `${SCIM}/Groups`, { displayName: "lost-response" });
    expect(lost.status).toBe(500);
    expect(lost.body).toEqual({ error_code: "INTERNAL_ERROR", message: expect.any(String) });

    // The group was created all the same: a retry of the create now conflicts, and it can be read.
    const created = ws.workspace.identity.groupByName("lost-response");
    expect(created).toBeDefined();
    const read = await ok(ws, "GET", `${SCIM}/Groups/${created?.id}`);
    expect(read.displayName).toBe("lost-response");
    const retry = await call(ws, "POST", `${SCIM}/Groups`, { displayName: "lost-response" });
    expect(retry.status).toBe(409);
  });

  it("rate limits answer 429 REQUEST_LIMIT_EXCEEDED with Retry-After once the burst is spent", async () => {
    const ws = await start();
    // One request per 100 s after a burst of two: the third request is limited however slow the machine.
    const limit = await ok(ws, "POST", "/__lakeforge/rate-limits", { method: "GET", path: ME, rate: 0.01, burst: 2 });
    expect((await call(ws, "GET", ME)).status).toBe(200);
    expect((await call(ws, "GET", ME)).status).toBe(200);
    const limited = await call(ws, "GET", ME);
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error_code: "REQUEST_LIMIT_EXCEEDED", message: expect.any(String) });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Other paths are not limited, and neither is the control API.
    expect((await call(ws, "GET", "/__lakeforge/faults")).status).toBe(200);
    const listed = (await ok(ws, "GET", "/__lakeforge/rate-limits")).rate_limits as { id: string; limited: number }[];
    expect(listed).toEqual([expect.objectContaining({ id: limit.id, limited: 1 })]);
    await ok(ws, "DELETE", `/__lakeforge/rate-limits/${limit.id}`);
    expect((await call(ws, "GET", ME)).status).toBe(200);
  });

  it("logs every request with method, path, status, ms and identity, filtered by since", async () => {
    const ws = await start();
    const start0 = (await ok(ws, "GET", "/__lakeforge/requests")).last_seq as number;
    await call(ws, "GET", ME);
    await call(ws, "GET", `${ME}?attributes=userName`);
    await call(ws, "GET", ME, undefined, null);
    await call(ws, "DELETE", "/api/2.0/unknown");
    const log = await ok(ws, "GET", `/__lakeforge/requests?since=${start0}`);
    const entries = log.requests as Record<string, unknown>[];
    expect(entries.map((e) => [e.method, e.path, e.status, e.identity ?? null])).toEqual([
      ["GET", ME, 200, ADMIN],
      ["GET", ME, 200, ADMIN],
      ["GET", ME, 401, null],
      ["DELETE", "/api/2.0/unknown", 501, null],
    ]);
    for (const e of entries) {
      expect(typeof e.ms).toBe("number");
      expect(e.ms as number).toBeGreaterThanOrEqual(0);
      expect(typeof e.seq).toBe("number");
    }
    expect(entries[2]?.error_code).toBe("UNAUTHENTICATED");
    expect(log.last_seq).toBe(entries[3]?.seq);
    // Reading the log is not logged, and `since` the last entry is empty.
    expect((await ok(ws, "GET", `/__lakeforge/requests?since=${log.last_seq}`)).requests).toEqual([]);
  });

  it("reset clears faults, rate limits and the request log", async () => {
    const ws = await start();
    await ok(ws, "POST", "/__lakeforge/faults", { path: ME, status: 500 });
    await ok(ws, "POST", "/__lakeforge/rate-limits", { path: ME, rate: 5 });
    await call(ws, "GET", ME);
    await ok(ws, "POST", "/__lakeforge/reset");
    expect((await ok(ws, "GET", "/__lakeforge/faults")).faults).toEqual([]);
    expect((await ok(ws, "GET", "/__lakeforge/rate-limits")).rate_limits).toEqual([]);
    const log = (await ok(ws, "GET", "/__lakeforge/requests")).requests as { path: string }[];
    expect(log.some((e) => e.path === ME)).toBe(false);
    expect((await call(ws, "GET", ME)).status).toBe(200);
  });

  it("refuses the control API to a non-admin (403) but still serves them the workspace", async () => {
    const ws = await start();
    await createUser(ws, "ana@example.com");
    const token = await tokenFor(ws, "ana@example.com");
    const asAna = { url: ws.url, token };
    const me = await call(asAna, "GET", ME);
    expect(me.status).toBe(200);
    expect(me.body.userName).toBe("ana@example.com");
    for (const [method, path] of [
      ["GET", "/__lakeforge/faults"],
      ["POST", "/__lakeforge/faults"],
      ["GET", "/__lakeforge/requests"],
      ["POST", "/__lakeforge/tokens"],
      ["POST", "/__lakeforge/reset"],
      ["POST", "/__lakeforge/rate-limits"],
    ] as const) {
      const r = await call(asAna, method, path, method === "POST" ? { path: ME, status: 500 } : undefined);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error_code).toBe("PERMISSION_DENIED");
    }
    expect((await ok(ws, "GET", "/__lakeforge/faults")).faults).toEqual([]);
    expect((await call(asAna, "GET", "/__lakeforge/health", undefined, null)).status).toBe(200);
  });
});

describe("persistence", () => {
  it("keeps state, the admin token and the workspace id across a stop and start", async () => {
    const dir = tempDir();
    const first = await start({ dataDir: dir });
    const extraToken = await tokenFor(first, ADMIN);
    const groupId = await createGroup(first, "data-scientists");
    const userId = await createUser(first, "bo@example.com");
    await ok(first, "PATCH", `${SCIM}/Groups/${groupId}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "add", path: "members", value: [{ value: userId }] }],
    });
    // The store directly: a collection and a sequence.
    const notes = first.workspace.store.collection<{ text: string }>("test_notes");
    notes.set("a", { text: "kept" });
    notes.set("b", { text: "dropped" });
    notes.delete("b");
    expect(first.workspace.store.nextId("test_seq", 100)).toBe(101);
    const { token, url } = first;
    const workspaceId = first.workspace.workspaceId;
    await stop(first);
    expect((await fetch(`${url}/__lakeforge/health`).catch(() => undefined))?.status).toBeUndefined();

    const second = await start({ dataDir: dir });
    expect(second.token).toBe(token);
    expect(second.workspace.workspaceId).toBe(workspaceId);
    const me = await call(second, "GET", ME);
    expect(me.status).toBe(200);
    expect(me.headers.get("x-databricks-org-id")).toBe(workspaceId);
    expect((await call({ url: second.url, token: extraToken }, "GET", ME)).body.userName).toBe(ADMIN);
    const group = await ok(second, "GET", `${SCIM}/Groups/${groupId}`);
    expect(group.displayName).toBe("data-scientists");
    expect((group.members as { value: string }[]).map((m) => m.value)).toEqual([userId]);
    expect((await ok(second, "GET", `${SCIM}/Users/${userId}`)).userName).toBe("bo@example.com");
    const kept = second.workspace.store.collection<{ text: string }>("test_notes");
    expect([...kept.entries()]).toEqual([["a", { text: "kept" }]]);
    expect(second.workspace.store.nextId("test_seq", 100)).toBe(102);
    // One admin, however often the workspace started.
    expect(second.workspace.identity.users.filter((u) => u.userName === ADMIN)).toHaveLength(1);
  });

  it("loses no acknowledged write when the server process is killed", async () => {
    const dir = tempDir();
    const a = await serveChild(["--data-dir", dir]);
    // Acknowledged writes: tokens (through the control API) and SCIM groups, some of them concurrent.
    const tokens = await Promise.all(Array.from({ length: 25 }, () => tokenFor(a, ADMIN)));
    const groups = await Promise.all(Array.from({ length: 25 }, (_, i) => createGroup(a, `killed-${i}`)));
    expect(existsSync(join(dir, "server.lock"))).toBe(true);
    await kill(a.child, "SIGKILL");

    // The lock of the killed process is stale and is taken over.
    const b = await serveChild(["--data-dir", dir]);
    expect(b.token).toBe(a.token);
    expect(JSON.parse(readFileSync(join(dir, "server.lock"), "utf8")).pid).toBe(b.pid);
    for (const t of tokens) expect((await call({ url: b.url, token: t }, "GET", ME)).status).toBe(200);
    for (const [i, id] of groups.entries()) expect((await ok(b, "GET", `${SCIM}/Groups/${id}`)).displayName).toBe(`killed-${i}`);
    // Ids keep counting after the crash instead of reusing an acknowledged one.
    const after = await createGroup(b, "after-crash");
    expect(groups).not.toContain(after);
    await kill(b.child, "SIGTERM");
    expect(b.child.exitCode).toBe(0);
    expect(existsSync(join(dir, "server.lock"))).toBe(false);
  });

  it("refuses a second server on a data directory in use, naming the holder", async () => {
    const dir = tempDir();
    const holder = await serveChild(["--data-dir", dir]);
    const error = await startWorkspace({ port: 0, dataDir: dir }).then(
      (ws) => {
        running.push(ws);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkspaceLockedError);
    expect((error as WorkspaceLockedError).pid).toBe(holder.pid);
    expect((error as WorkspaceLockedError).url).toBe(holder.url);
    expect((error as Error).message).toContain(`in use by process ${holder.pid}`);

    const second = await cli(["workspace", "serve", "--port", "0", "--data-dir", dir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`error: the workspace data directory ${dir} is in use by process ${holder.pid}`);
    expect(second.stderr).toContain(`hint: use the running workspace at ${holder.url}`);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    // The holder is unaffected.
    expect((await call(holder, "GET", ME)).status).toBe(200);
  });

  it("refuses a second server on the same data directory within one process, and frees it on stop", async () => {
    const dir = tempDir();
    const first = await start({ dataDir: dir });
    const error = await startWorkspace({ port: 0, dataDir: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkspaceLockedError);
    expect((error as WorkspaceLockedError).url).toBe(first.url);
    await stop(first);
    const again = await start({ dataDir: dir });
    expect((await call(again, "GET", ME)).status).toBe(200);
  });

  it("takes over a stale lock left by a dead process", async () => {
    const dir = tempDir();
    const pid = await deadPid();
    writeFileSync(join(dir, "server.lock"), JSON.stringify({ pid, url: "http://127.0.0.1:1" }));
    const ws = await start({ dataDir: dir });
    expect((await call(ws, "GET", ME)).status).toBe(200);
    expect(JSON.parse(readFileSync(join(dir, "server.lock"), "utf8"))).toEqual({ pid: process.pid, url: ws.url });
    await stop(ws);
    expect(existsSync(join(dir, "server.lock"))).toBe(false);
  });
});

describe("concurrency", () => {
  it("loses none of 200 concurrent changes to one object, nor of 200 concurrent creates", async () => {
    const dir = tempDir();
    const ws = await start({ dataDir: dir });
    const groupId = await createGroup(ws, "crowd");
    // 200 creates at once: 200 distinct ids.
    const userIds = await Promise.all(Array.from({ length: 200 }, (_, i) => createUser(ws, `user${i}@example.com`)));
    expect(new Set(userIds).size).toBe(200);
    // 200 read-modify-writes of the same group at once: every member stays.
    const replies = await Promise.all(
      userIds.map((id) =>
        call(ws, "PATCH", `${SCIM}/Groups/${groupId}`, {
          schemas: [PATCH_OP],
          Operations: [{ op: "add", path: "members", value: [{ value: id }] }],
        }),
      ),
    );
    expect(replies.filter((r) => r.status !== 200 && r.status !== 204)).toEqual([]);
    const members = async (w: RunningWorkspace) =>
      ((await ok(w, "GET", `${SCIM}/Groups/${groupId}`)).members as { value: string }[]).map((m) => m.value).sort();
    expect(await members(ws)).toEqual([...userIds].sort());

    // And the journal kept all of it.
    await stop(ws);
    const again = await start({ dataDir: dir });
    expect(await members(again)).toEqual([...userIds].sort());
    expect(again.workspace.identity.users.filter((u) => u.userName.endsWith("@example.com"))).toHaveLength(200);
  });

  it("keeps all of 200 concurrent secret puts into one scope", async () => {
    const ws = await start();
    await ok(ws, "POST", "/api/2.0/secrets/scopes/create", { scope: "crowd" });
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        call(ws, "POST", "/api/2.0/secrets/put", { scope: "crowd", key: `key-${i}`, string_value: `value-${i}` }),
      ),
    );
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    const listed = (await ok(ws, "GET", "/api/2.0/secrets/list?scope=crowd")).secrets as { key: string }[];
    expect(listed.map((s) => s.key).sort()).toEqual(Array.from({ length: 200 }, (_, i) => `key-${i}`).sort());
  });
});

describe("the lakeforge CLI", () => {
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

  beforeAll(() => {
    if (!existsSync(join(ROOT, "dist", "cli", "main.js"))) throw new Error("dist/ is missing: run npm run build first");
  });

  it("prints the package version", async () => {
    const r = await cli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it("lists the workspace command in --help", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s+workspace\b/m);
  });

  it("rejects a bad port with one line and no stack trace", async () => {
    const r = await cli(["workspace", "serve", "--port", "99999", "--ephemeral"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual(["error: --port: 99999 is not a port number"]);
    expect(r.stdout).toBe("");
  });

  it("prints a databrickscfg profile whose host and token work", async () => {
    const child = spawn(process.execPath, [BIN, "workspace", "serve", "--ephemeral", "--port", "0", "--print-profile", "local"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "LAKEFORGE_WORKSPACE_TOKEN")),
    });
    children.push(child);
    const lines: string[] = [];
    const reader = createInterface({ input: child.stdout });
    for await (const line of reader) {
      lines.push(line);
      if (lines.length === 3) break;
    }
    expect(lines[0]).toBe("[local]");
    const host = /^host\s*=\s*(\S+)$/.exec(lines[1] ?? "")?.[1];
    const token = /^token\s*=\s*(\S+)$/.exec(lines[2] ?? "")?.[1];
    expect(host).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(token).toMatch(/^dapi[0-9a-f]{32}$/);
    const me = await call({ url: host as string, token: token as string }, "GET", ME);
    expect(me.body.userName).toBe(ADMIN);
    await kill(child, "SIGTERM");
    expect(child.exitCode).toBe(0);
  });
});
