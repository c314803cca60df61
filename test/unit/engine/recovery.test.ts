import { describe, expect, it } from "vitest";
import { apply, destroyPlan, plan, type SpecCodec } from "../../../src/engine/engine.js";
import { emptyState, type StateFile } from "../../../src/engine/state.js";
import type { DesiredResource, Ref, ResourceAdapter } from "../../../src/engine/types.js";

/**
 * The engine's recovery paths, against an in-memory remote: creates that are never repeated blindly,
 * interrupted creates found again (also when their resource left the configuration), references to
 * objects being replaced, objects taken along by the replacement of what they belong to, and
 * `prevent_destroy` as configured.
 */

type Obj = Record<string, unknown>;

class Remote {
  objects = new Map<string, Obj>();
  next = 1;
  calls: string[] = [];
  /** Fail the next create this way (after making the object when `applied`). */
  failCreate?: { applied: boolean };
  failFind = false;
  /** Deleting these ids also deletes the objects whose `parent` is them. */
  cascade = true;
}

function adapter(kind = "test.thing"): ResourceAdapter<Remote> {
  return {
    kind,
    naturalKey: (s) => String(s.name),
    async read(r, id) {
      r.calls.push(`read ${id}`);
      const o = r.objects.get(id);
      return o ? { ...o } : undefined;
    },
    async find(r, spec) {
      r.calls.push(`find ${String(spec.name)}`);
      if (r.failFind) throw Object.assign(new Error("find failed"), { status: 500 });
      for (const [id, o] of r.objects) if (o.name === spec.name) return { id, remote: { ...o } };
      return undefined;
    },
    async create(r, spec) {
      r.calls.push(`create ${String(spec.name)}`);
      const failure = r.failCreate;
      r.failCreate = undefined;
      if (failure && !failure.applied) throw Object.assign(new Error("not applied"), { status: 500, maybeApplied: true });
      const id = String(r.next++);
      r.objects.set(id, { ...spec });
      if (failure) throw Object.assign(new Error("lost response"), { status: 500, maybeApplied: true });
      return { id };
    },
    async update(r, id, spec) {
      r.calls.push(`update ${id}`);
      r.objects.set(id, { ...spec });
      return undefined;
    },
    async delete(r, id) {
      r.calls.push(`delete ${id}`);
      r.objects.delete(id);
      if (r.cascade) for (const [k, o] of r.objects) if (o.parent === id) r.objects.delete(k);
    },
    rules: { recreateOn: ["region"], sensitive: [] },
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
    return walk(spec) as Obj;
  },
  sensitive(spec) {
    const { secret, ...clean } = spec;
    const values: Record<string, string> = typeof secret === "string" ? { secret } : {};
    return { clean, values };
  },
};

function setup() {
  const remote = new Remote();
  const opts = {
    adapters: new Map([["test.thing", adapter()]]),
    ctx: remote,
    codec,
    saveState: async (_s: StateFile) => {},
  };
  return { remote, opts };
}

const meta = { environment: "dev", configFingerprint: "c" };
const ref = (name: string): Ref => ({ kind: "test.thing", name, field: "id" });
const thing = (name: string, spec: Obj = {}, deps: string[] = []): DesiredResource => ({
  kind: "test.thing",
  name,
  spec: { name, ...spec },
  dependsOn: deps.map(ref),
});
const child = (name: string, parent: string, spec: Obj = {}) => thing(name, { parent: { $ref: ref(parent) }, ...spec }, [parent]);

describe("engine recovery", () => {
  it("does not create again when the look-up after a failed create fails too", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    const desired = [thing("a")];
    const p = await plan(desired, state, opts, meta);
    remote.failCreate = { applied: true };
    remote.failFind = true;
    const result = await apply(p, desired, state, opts);
    expect(result.failed.map((f) => f.address)).toEqual(["test.thing.a"]);
    expect(remote.calls.filter((c) => c.startsWith("create"))).toEqual(["create a"]);
    // State remembers the unfinished create with what it takes to find the object again.
    expect(state.resources["test.thing.a"]).toMatchObject({ pending: "create", applied: { name: "a" } });

    remote.failFind = false;
    const again = await plan(desired, state, opts, meta);
    expect(again.actions[0]).toMatchObject({ action: "update", id: "1", reason: "found after an interrupted create" });
    await apply(again, desired, state, opts);
    expect(remote.objects.size).toBe(1);
    expect(state.resources["test.thing.a"]?.pending).toBeUndefined();
  });

  it("tries a create again when the object was not made", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    const desired = [thing("a")];
    remote.failCreate = { applied: false };
    const result = await apply(await plan(desired, state, opts, meta), desired, state, opts);
    expect(result.failed).toEqual([]);
    expect(remote.calls.filter((c) => c.startsWith("create"))).toEqual(["create a", "create a"]);
    expect(remote.objects.size).toBe(1);
  });

  it("looks before creating what was planned with values known only after apply", async () => {
    const { remote, opts } = setup();
    // State was lost: the parent and the child both exist already.
    remote.objects.set("7", { name: "p" });
    remote.objects.set("8", { name: "c", parent: "7" });
    remote.next = 9;
    const state = emptyState("dev");
    const desired = [thing("p"), child("c", "p")];
    const p = await plan(desired, state, opts, meta);
    expect(p.actions.map((a) => `${a.action} ${a.address}`)).toEqual(["update test.thing.p", "create test.thing.c"]);
    const result = await apply(p, desired, state, opts);
    expect(result.failed).toEqual([]);
    expect(remote.calls.filter((c) => c.startsWith("create"))).toEqual([]);
    expect(remote.objects.size).toBe(2);
    expect(state.resources["test.thing.c"]?.id).toBe("8");
  });

  it("sends secrets again to an object it adopts", async () => {
    const { remote, opts } = setup();
    remote.objects.set("5", { name: "s" });
    const state = emptyState("dev");
    state.resources["test.thing.s"] = {
      kind: "test.thing",
      name: "s",
      naturalKey: "s",
      applied: { name: "s" },
      fingerprints: {},
      outputs: {},
      dependsOn: [],
      pending: "create",
    };
    const desired = [thing("s", { secret: "v" })];
    const p = await plan(desired, state, opts, meta);
    expect(p.actions[0]).toMatchObject({ action: "update", id: "5", changes: [{ path: "secret", sensitive: true }] });
    await apply(p, desired, state, opts);
    expect(remote.calls).toContain("update 5");
    expect(remote.objects.get("5")).toEqual({ name: "s", secret: "v" });
  });

  it("deletes the object of an interrupted create whose resource left the configuration", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    const desired = [thing("gone")];
    const first = await plan(desired, state, opts, meta);
    remote.failCreate = { applied: true };
    remote.failFind = true;
    await apply(first, desired, state, opts);
    expect(remote.objects.size).toBe(1);
    remote.failFind = false;

    const p = await plan([], state, opts, meta);
    expect(p.actions.map((a) => `${a.action} ${a.address}`)).toEqual(["delete test.thing.gone"]);
    const result = await apply(p, [], state, opts);
    expect(result.failed).toEqual([]);
    expect(remote.objects.size).toBe(0);
    expect(state.resources).toEqual({});
  });

  it("plans references to an object being replaced as known after apply, and updates them", async () => {
    const { remote, opts } = setup();
    remote.cascade = false;
    const state = emptyState("dev");
    const v1 = [thing("p", { region: "eu" }), child("c", "p")];
    await apply(await plan(v1, state, opts, meta), v1, state, opts);
    const oldParent = state.resources["test.thing.p"]?.id as string;

    const v2 = [thing("p", { region: "us" }), child("c", "p")];
    const p = await plan(v2, state, opts, meta);
    expect(p.actions.map((a) => `${a.action} ${a.address}`)).toEqual(["recreate test.thing.p", "update test.thing.c"]);
    expect(p.actions[1]?.changes).toMatchObject([{ path: "parent", before: oldParent }]);
    await apply(p, v2, state, opts);
    const newParent = state.resources["test.thing.p"]?.id as string;
    expect(newParent).not.toBe(oldParent);
    expect(remote.objects.get(state.resources["test.thing.c"]?.id as string)?.parent).toBe(newParent);
    expect((await plan(v2, state, opts, meta)).actions.every((a) => a.action === "skip")).toBe(true);
  });

  it("makes anew what the replacement of its parent took along", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    // The child names its parent by name, not by id: replacing the parent does not change its spec.
    const desired = (region: string) => [thing("p", { region }), thing("c", { parent_name: "p" }, ["p"])];
    await apply(await plan(desired("eu"), state, opts, meta), desired("eu"), state, opts);
    remote.objects.set("2", { ...remote.objects.get("2"), parent: "1" }); // the remote ties the child to the parent

    const p = await plan(desired("us"), state, opts, meta);
    expect(p.actions.map((a) => `${a.action} ${a.address}`)).toEqual(["recreate test.thing.p", "skip test.thing.c"]);
    const result = await apply(p, desired("us"), state, opts);
    expect(result.failed).toEqual([]);
    expect([...remote.objects.values()].map((o) => o.name).sort()).toEqual(["c", "p"]);
    expect((await plan(desired("us"), state, opts, meta)).actions.every((a) => a.action === "skip")).toBe(true);
  });

  it("destroys as the configuration says about prevent_destroy, and as state says for the rest", async () => {
    const { opts } = setup();
    const state = emptyState("dev");
    const kept = [{ ...thing("k"), preventDestroy: true }];
    await apply(await plan(kept, state, opts, meta), kept, state, opts);
    expect(() => destroyPlan(state, meta, kept)).toThrow(/test.thing.k has prevent_destroy set/);
    expect(() => destroyPlan(state, meta)).toThrow(/prevent_destroy/);
    expect(destroyPlan(state, meta, [thing("k")]).actions.map((a) => a.action)).toEqual(["delete"]);
  });
});
