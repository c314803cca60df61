import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Identity } from "../../../src/workspace/identity.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";

/*
 * The identity indexes (names, application ids, memberships) behind SCIM and authentication: they
 * must answer exactly what a scan of the stored records answers, after any sequence of writes and
 * after a restart.
 */

delete process.env.LAKEFORGE_WORKSPACE_TOKEN;

const SCIM = "/api/2.0/preview/scim/v2";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

const running: RunningWorkspace[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const ws of running.splice(0)) await ws.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir?: string): Promise<RunningWorkspace> {
  const ws = await startWorkspace({ port: 0, ...(dataDir ? { dataDir } : { ephemeral: true }) });
  running.push(ws);
  return ws;
}

type Target = { url: string; token: string };

async function call(ws: Target, method: string, path: string, body?: unknown) {
  const res = await fetch(`${ws.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ws.token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function createGroup(ws: Target, displayName: string, members: string[] = []): Promise<string> {
  const r = await call(ws, "POST", `${SCIM}/Groups`, {
    schemas: [GROUP],
    displayName,
    members: members.map((value) => ({ value })),
  });
  expect(r.status, `${displayName}: ${JSON.stringify(r.body)}`).toBe(201);
  return String(r.body.id);
}

async function groupsNamed(ws: Target, displayName: string): Promise<string[]> {
  const filter = encodeURIComponent(`displayName eq "${displayName}"`);
  const r = await call(ws, "GET", `${SCIM}/Groups?filter=${filter}`);
  expect(r.status).toBe(200);
  return ((r.body.Resources ?? []) as { id: string }[]).map((g) => g.id);
}

const patchMembers = (op: "add" | "remove", ids: string[]) => ({
  schemas: [PATCH_OP],
  Operations: [
    op === "add"
      ? { op, path: "members", value: ids.map((value) => ({ value })) }
      : { op, path: `members[value eq "${ids[0]}"]` },
  ],
});

/** Compares every indexed answer with one computed by scanning the stored records. */
function expectIndexesMatchScan(identity: Identity): void {
  const groups = [...identity.groups.values()];
  const direct = new Map<string, string[]>();
  for (const g of groups) {
    expect(identity.groupByName(g.displayName)?.id).toBe(g.id);
    for (const m of g.members) direct.set(m.value, [...(direct.get(m.value) ?? []), g.id]);
  }
  for (const u of identity.users.values()) expect(identity.userByName(u.userName.toUpperCase())?.id).toBe(u.id);
  for (const sp of identity.servicePrincipals.values())
    expect(identity.servicePrincipalByAppId(sp.applicationId)?.id).toBe(sp.id);
  const members = [...identity.users.keys(), ...identity.servicePrincipals.keys(), ...identity.groups.keys()];
  for (const id of members) {
    const want = (direct.get(id) ?? []).sort((a, b) => a.length - b.length || a.localeCompare(b));
    expect(identity.directGroupIds(id), `direct groups of ${id}`).toEqual(want);
    // Every group reachable upwards, by scanning.
    const names = new Set<string>();
    const queue = [id];
    const seen = new Set<string>();
    while (queue.length > 0) {
      const cur = queue.pop() as string;
      for (const g of groups) {
        if (seen.has(g.id) || !g.members.some((m) => m.value === cur)) continue;
        seen.add(g.id);
        names.add(g.displayName);
        queue.push(g.id);
      }
    }
    expect(new Set(identity.groupsOf(id)), `groups of ${id}`).toEqual(names);
  }
}

describe("SCIM indexes", () => {
  it("creates 5,000 groups and finds each by name, refusing duplicates", async () => {
    const ws = await start();
    const ids: string[] = [];
    // Twenty clients at a time, as an identity provider's sync does.
    for (let batch = 0; batch < 5000; batch += 20) {
      const made = await Promise.all(
        Array.from({ length: 20 }, (_, i) => createGroup(ws, `team-${String(batch + i).padStart(4, "0")}`)),
      );
      ids.push(...made);
    }
    expect(new Set(ids).size).toBe(5000);
    expect(ws.workspace.identity.groups.size).toBe(5002); // with admins and users

    expect(await groupsNamed(ws, "team-4321")).toEqual([ids[4321]]);
    // SCIM `eq` compares display names ignoring case.
    expect(await groupsNamed(ws, "TEAM-0007")).toEqual([ids[7]]);
    expect(await groupsNamed(ws, "team-5000")).toEqual([]);
    const dup = await call(ws, "POST", `${SCIM}/Groups`, { schemas: [GROUP], displayName: "team-0042" });
    expect(dup.status).toBe(409);
    expect(dup.body.error_code).toBe("RESOURCE_ALREADY_EXISTS");
    // Other filters still see every group.
    const co = await call(ws, "GET", `${SCIM}/Groups?filter=${encodeURIComponent('displayName co "team-49"')}&count=5`);
    expect(co.body.totalResults).toBe(100);

    // A user in a group nested in another: both resolved for its requests, and on its SCIM record.
    const user = await call(ws, "POST", `${SCIM}/Users`, { userName: "nested@example.com" });
    const userId = String(user.body.id);
    await call(ws, "PATCH", `${SCIM}/Groups/${ids[10]}`, patchMembers("add", [userId]));
    await call(ws, "PATCH", `${SCIM}/Groups/${ids[20]}`, patchMembers("add", [ids[10] as string]));
    const me = await call(ws, "GET", `${SCIM}/Users/${userId}`);
    const groups = (me.body.groups as { display: string; type: string }[]).map((g) => `${g.display}:${g.type}`);
    expect(groups.sort()).toEqual(["team-0010:direct", "team-0020:indirect", "users:direct"]);
    expectIndexesMatchScan(ws.workspace.identity);
  }, 120_000);

  it("keeps the indexes right through renames, replacements, deletes and a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-scim-"));
    dirs.push(dir);
    let ws = await start(dir);
    const admins = await groupsNamed(ws, "admins");
    const a = await createGroup(ws, "alpha");
    const b = await createGroup(ws, "beta", [a]);
    const user = String((await call(ws, "POST", `${SCIM}/Users`, { userName: "Ida@Example.com" })).body.id);
    const sp = await call(ws, "POST", `${SCIM}/ServicePrincipals`, { applicationId: "app-1", displayName: "robot" });
    const spId = String(sp.body.id);
    await call(ws, "PATCH", `${SCIM}/Groups/${a}`, patchMembers("add", [user, spId]));

    // Rename through PATCH: the old name is free, the new one taken.
    const rename = await call(ws, "PATCH", `${SCIM}/Groups/${a}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "replace", path: "displayName", value: "alpha-2" }],
    });
    expect(rename.status).toBe(200);
    expect(await groupsNamed(ws, "alpha")).toEqual([]);
    expect(await groupsNamed(ws, "alpha-2")).toEqual([a]);
    expect((await call(ws, "POST", `${SCIM}/Groups`, { schemas: [GROUP], displayName: "alpha-2" })).status).toBe(409);
    const alphaAgain = await createGroup(ws, "alpha");

    // A user rename moves the name lookup; the old name is free for a new user (a PUT without `groups`
    // also leaves every group but `users`).
    const renamed = await call(ws, "PUT", `${SCIM}/Users/${user}`, { userName: "ida.new@example.com" });
    expect(renamed.status).toBe(200);
    expect(ws.workspace.identity.userByName("ida@example.com")).toBeUndefined();
    expect(ws.workspace.identity.userByName("IDA.NEW@example.com")?.id).toBe(user);
    expect(ws.workspace.identity.directGroupIds(user)).not.toContain(a);
    expect((await call(ws, "POST", `${SCIM}/Users`, { userName: "ida@example.com" })).status).toBe(201);

    // Rename and replace the members through PUT.
    const put = await call(ws, "PUT", `${SCIM}/Groups/${b}`, {
      schemas: [GROUP],
      displayName: "gamma",
      members: [{ value: user }],
    });
    expect(put.status).toBe(200);
    expect(await groupsNamed(ws, "beta")).toEqual([]);
    expect(ws.workspace.identity.directGroupIds(a)).toEqual([]);
    expect(ws.workspace.identity.directGroupIds(user)).toContain(b);

    // Membership of admins, through a nested group, decides what a token may do, on each request.
    const token = String((await call(ws, "POST", "/__lakeforge/tokens", { user_name: "ida.new@example.com" })).body.token_value);
    const asIda = { url: ws.url, token };
    expect((await call(asIda, "POST", `${SCIM}/Groups`, { schemas: [GROUP], displayName: "x" })).status).toBe(403);
    const nest = await call(ws, "PATCH", `${SCIM}/Groups/${admins[0]}`, patchMembers("add", [b]));
    expect(nest.status, JSON.stringify(nest.body)).toBe(200);
    expect((await call(asIda, "POST", `${SCIM}/Groups`, { schemas: [GROUP], displayName: "made-by-ida" })).status).toBe(201);
    await call(ws, "PATCH", `${SCIM}/Groups/${b}`, patchMembers("remove", [user]));
    expect((await call(asIda, "POST", `${SCIM}/Groups`, { schemas: [GROUP], displayName: "y" })).status).toBe(403);

    // Deletes free names and memberships.
    expect((await call(ws, "DELETE", `${SCIM}/Groups/${alphaAgain}`)).status).toBe(204);
    expect(await groupsNamed(ws, "alpha")).toEqual([]);
    expect((await call(ws, "DELETE", `${SCIM}/ServicePrincipals/${spId}`)).status).toBe(204);
    expect(ws.workspace.identity.servicePrincipalByAppId("app-1")).toBeUndefined();
    expect(ws.workspace.identity.directGroupIds(spId)).toEqual([]);
    expect((await call(ws, "POST", `${SCIM}/ServicePrincipals`, { applicationId: "app-1" })).status).toBe(201);
    expectIndexesMatchScan(ws.workspace.identity);

    // Rebuilt from the store on start.
    await ws.stop();
    running.splice(0);
    ws = await start(dir);
    expect(await groupsNamed(ws, "alpha-2")).toEqual([a]);
    expect(await groupsNamed(ws, "gamma")).toEqual([b]);
    expect(ws.workspace.identity.directGroupIds(b)).toEqual(admins);
    expectIndexesMatchScan(ws.workspace.identity);
  });
});
