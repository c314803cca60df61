import { describe, expect, it } from "vitest";
import { apply, destroyPlan, plan, type SpecCodec } from "../../../src/engine/engine.js";
import { emptyState, type StateFile } from "../../../src/engine/state.js";
import type { DesiredResource, Ref, ResourceAdapter } from "../../../src/engine/types.js";

/** An in-memory object store standing in for a remote API, to test the engine's own logic. */
class MemoryRemote {
  objects = new Map<string, Record<string, unknown>>();
  next = 1;
  calls: string[] = [];
  /** When set, the next create is applied but its response is lost. */
  loseNextCreate = false;
}

function adapter(_remote: MemoryRemote, kind = "test.thing"): ResourceAdapter<MemoryRemote> {
  return {
    kind,
    naturalKey: (s) => String(s.name),
    async read(r, id) {
      r.calls.push(`read ${id}`);
      const o = r.objects.get(id);
      return o ? { ...o, server_default: 7 } : undefined;
    },
    async find(r, spec) {
      r.calls.push(`find ${spec.name}`);
      for (const [id, o] of r.objects) if (o.kind === kind && o.name === spec.name) return { id, remote: o };
      return undefined;
    },
    async create(r, spec) {
      r.calls.push(`create ${spec.name}`);
      const id = String(r.next++);
      r.objects.set(id, { ...spec, kind });
      if (r.loseNextCreate) {
        r.loseNextCreate = false;
        throw Object.assign(new Error("lost response"), { status: 500, maybeApplied: true });
      }
      return { id };
    },
    async update(r, id, spec) {
      r.calls.push(`update ${id}`);
      r.objects.set(id, { ...spec, kind });
      return undefined;
    },
    async delete(r, id) {
      r.calls.push(`delete ${id}`);
      r.objects.delete(id);
    },
    rules: { recreateOn: ["region"] },
  };
}

const isRef = (v: unknown): v is { $ref: Ref } => typeof v === "object" && v !== null && "$ref" in v;
const codec: SpecCodec = {
  resolveRefs(spec, lookup) {
    const walk = (v: unknown): unknown => {
      if (isRef(v)) return lookup(v.$ref);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    return walk(spec) as Record<string, unknown>;
  },
  sensitive(spec) {
    const { secret, ...clean } = spec as { secret?: string };
    const values: Record<string, string> = secret === undefined ? {} : { secret };
    return { clean, values };
  },
};

function setup() {
  const remote = new MemoryRemote();
  const saved: StateFile[] = [];
  const opts = {
    adapters: new Map([["test.thing", adapter(remote)]]),
    ctx: remote,
    codec,
    saveState: async (s: StateFile) => {
      saved.push(structuredClone(s));
    },
  };
  return { remote, saved, opts };
}

const meta = { environment: "dev", configFingerprint: "c" };
const thing = (name: string, spec: Record<string, unknown> = {}, dependsOn: Ref[] = []): DesiredResource => ({
  kind: "test.thing",
  name,
  spec: { name, ...spec },
  dependsOn,
});

describe("engine", () => {
  it("creates, then plans no changes with no writes, then updates exactly one field", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    const desired = [
      thing("a", { size: 1 }),
      thing("b", { parent: { $ref: { kind: "test.thing", name: "a", field: "id" } } }, [
        { kind: "test.thing", name: "a", field: "id" },
      ]),
    ];
    const p1 = await plan(desired, state, opts, meta);
    expect(p1.actions.map((a) => a.action)).toEqual(["create", "create"]);
    const r1 = await apply(p1, desired, state, opts);
    expect(r1.failed).toEqual([]);
    const idA = state.resources["test.thing.a"]?.id;
    expect(remote.objects.get(state.resources["test.thing.b"]?.id as string)?.parent).toBe(idA);

    remote.calls = [];
    const p2 = await plan(desired, state, opts, meta);
    expect(p2.actions.map((a) => a.action)).toEqual(["skip", "skip"]);
    expect(remote.calls.every((c) => c.startsWith("read"))).toBe(true);

    desired[0] = thing("a", { size: 2 });
    const p3 = await plan(desired, state, opts, meta);
    expect(p3.actions.filter((a) => a.action !== "skip")).toMatchObject([
      { address: "test.thing.a", action: "update", changes: [{ path: "size", before: 1, after: 2 }] },
    ]);
    await apply(p3, desired, state, opts);
    expect(remote.objects.get(idA as string)?.size).toBe(2);
  });

  it("deletes what left the configuration, dependants first, and honours prevent_destroy", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    const ref = { kind: "test.thing", name: "a", field: "id" };
    const desired = [thing("a"), thing("b", { p: { $ref: ref } }, [ref])];
    await apply(await plan(desired, state, opts, meta), desired, state, opts);
    remote.calls = [];
    const gone = await plan([], state, opts, meta);
    expect(gone.actions.map((a) => a.action)).toEqual(["delete", "delete"]);
    await apply(gone, [], state, opts);
    const deletes = remote.calls.filter((c) => c.startsWith("delete"));
    expect(deletes).toEqual([`delete 2`, `delete 1`]);
    expect(remote.objects.size).toBe(0);

    const kept = [{ ...thing("k"), preventDestroy: true }];
    await apply(await plan(kept, state, opts, meta), kept, state, opts);
    await expect(plan([], state, opts, meta)).rejects.toThrow(/prevent_destroy/);
    expect(() => destroyPlan(state, meta)).toThrow(/prevent_destroy/);
  });

  it("recovers from a lost create response without a duplicate", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    remote.loseNextCreate = true;
    const desired = [thing("a")];
    const r = await apply(await plan(desired, state, opts, meta), desired, state, opts);
    expect(r.failed).toEqual([]);
    expect(remote.objects.size).toBe(1);
    expect(state.resources["test.thing.a"]?.id).toBe("1");
  });

  it("adopts an object left by an interrupted create instead of creating another", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    remote.objects.set("9", { name: "a", kind: "test.thing" });
    state.resources["test.thing.a"] = {
      kind: "test.thing",
      name: "a",
      naturalKey: "a",
      applied: {},
      fingerprints: {},
      outputs: {},
      dependsOn: [],
      pending: "create",
    };
    const p = await plan([thing("a")], state, opts, meta);
    expect(p.actions[0]).toMatchObject({ action: "update", id: "9", reason: "found after an interrupted create" });
    await apply(p, [thing("a")], state, opts);
    expect(remote.objects.size).toBe(1);
    expect(state.resources["test.thing.a"]?.id).toBe("9");
  });

  it("shows drift made outside and recreates on recreate-on fields", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    const desired = [thing("a", { size: 1, region: "eu" })];
    await apply(await plan(desired, state, opts, meta), desired, state, opts);
    remote.objects.set("1", { ...remote.objects.get("1"), size: 5 });
    const drift = await plan(desired, state, opts, meta);
    expect(drift.actions[0]).toMatchObject({ action: "update", changes: [{ path: "size", before: 5, after: 1 }] });
    const moved = [thing("a", { size: 1, region: "us" })];
    const p = await plan(moved, state, opts, meta);
    expect(p.actions[0]?.action).toBe("recreate");
    await apply(p, moved, state, opts);
    expect([...remote.objects.values()]).toEqual([{ name: "a", size: 1, region: "us", kind: "test.thing" }]);
  });

  it("keeps secret values out of state, and plans an update when only a secret changed", async () => {
    const { opts, saved } = setup();
    const state = emptyState("dev");
    const desired = [thing("s", { secret: "canary-secret-1" })];
    await apply(await plan(desired, state, opts, meta), desired, state, opts);
    expect(JSON.stringify(saved)).not.toContain("canary-secret");
    expect((await plan(desired, state, opts, meta)).actions[0]?.action).toBe("skip");
    const changed = await plan([thing("s", { secret: "canary-secret-2" })], state, opts, meta);
    expect(changed.actions[0]).toMatchObject({ action: "update", changes: [{ path: "secret", sensitive: true }] });
    expect(JSON.stringify(changed)).not.toContain("canary-secret");
  });

  it("skips dependants of a failed action and carries on with independent ones", async () => {
    const { remote, opts } = setup();
    const failing = {
      ...adapter(remote),
      create: async () => Promise.reject(Object.assign(new Error("bad spec"), { status: 400 })),
    };
    const opts2 = {
      ...opts,
      adapters: new Map([
        ["test.thing", adapter(remote)],
        ["test.bad", { ...failing, kind: "test.bad" }],
      ]),
    };
    const state = emptyState("dev");
    const ref = { kind: "test.bad", name: "x", field: "id" };
    const desired: DesiredResource[] = [
      { kind: "test.bad", name: "x", spec: { name: "x" }, dependsOn: [] },
      thing("dep", { p: { $ref: ref } }, [ref]),
      thing("free"),
    ];
    const r = await apply(await plan(desired, state, opts2, meta), desired, state, opts2);
    expect(r.failed.map((f) => f.address).sort()).toEqual(["test.bad.x", "test.thing.dep"]);
    expect(r.done).toEqual(["test.thing.free"]);
  });
});
