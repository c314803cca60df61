import { describe, expect, it } from "vitest";
import { apply, limiter, plan, type SpecCodec } from "../../../src/engine/engine.js";
import { emptyState, type StateFile } from "../../../src/engine/state.js";
import type { DesiredResource, ResourceAdapter } from "../../../src/engine/types.js";

/**
 * Batch reads in plans (`readMany`, `findMany`), the shared bound on calls in flight, and the group
 * commit of state saves during apply.
 */

const codec: SpecCodec = {
  resolveRefs: (spec) => spec,
  sensitive: (spec) => ({ clean: spec, values: {} }),
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An in-memory remote that records calls and how many were in flight at most. */
class Remote {
  objects = new Map<string, Record<string, unknown>>();
  next = 1;
  calls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;

  async call<T>(name: string, fn: () => T): Promise<T> {
    this.calls.push(name);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await sleep(2);
      return fn();
    } finally {
      this.inFlight--;
    }
  }
}

type Batch = Map<string, Record<string, unknown> | undefined>;

function adapter(options: {
  readMany?: (r: Remote, ids: readonly string[]) => Batch;
  findMany?: (r: Remote, names: string[]) => Map<string, { id: string; remote: Record<string, unknown> } | undefined>;
}): ResourceAdapter<Remote> {
  const a: ResourceAdapter<Remote> = {
    kind: "test.thing",
    naturalKey: (s) => String(s.name),
    read: (r, id) => r.call(`read ${id}`, () => r.objects.get(id)),
    find: (r, spec) =>
      r.call(`find ${spec.name}`, () => {
        for (const [id, o] of r.objects) if (o.name === spec.name) return { id, remote: o };
        return undefined;
      }),
    create: (r, spec) =>
      r.call(`create ${spec.name}`, () => {
        const id = String(r.next++);
        r.objects.set(id, { ...spec });
        return { id };
      }),
    update: (r, id, spec) => r.call(`update ${id}`, () => void r.objects.set(id, { ...spec })),
    delete: (r, id) => r.call(`delete ${id}`, () => void r.objects.delete(id)),
    rules: {},
  };
  const { readMany, findMany } = options;
  if (readMany) a.readMany = (r, ids, limit) => limit(() => r.call("readMany", () => readMany(r, ids)));
  if (findMany) {
    a.findMany = (r, specs, limit) =>
      limit(() =>
        r.call("findMany", () =>
          findMany(
            r,
            specs.map((s) => String(s.name)),
          ),
        ),
      );
  }
  return a;
}

const things = (n: number): DesiredResource[] =>
  Array.from({ length: n }, (_, i) => ({ kind: "test.thing", name: `t${i}`, spec: { name: `t${i}`, size: i }, dependsOn: [] }));

const meta = { environment: "dev", configFingerprint: "c" };

function options(remote: Remote, a: ResourceAdapter<Remote>, saveState: (s: StateFile) => Promise<void> = async () => {}) {
  return { adapters: new Map([["test.thing", a]]), ctx: remote, codec, concurrency: 3, saveState };
}

/** A state recording `n` things created through the plain adapter. */
async function applied(remote: Remote, n: number): Promise<StateFile> {
  const plain = adapter({});
  const state = emptyState("dev");
  const desired = things(n);
  const p = await plan(desired, state, options(remote, plain), meta);
  const r = await apply(p, desired, state, options(remote, plain));
  expect(r.failed).toEqual([]);
  return state;
}

describe("limiter", () => {
  it("runs at most `max` functions at once, the others in call order", async () => {
    const limit = limiter(2);
    const started: number[] = [];
    let running = 0;
    let most = 0;
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        limit(async () => {
          started.push(i);
          running++;
          most = Math.max(most, running);
          await sleep(3);
          running--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it("frees the slot of a function that throws", async () => {
    const limit = limiter(1);
    await expect(limit(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(limit(async () => 7)).resolves.toBe(7);
  });
});

describe("readMany in plans", () => {
  it("answers the reads of a kind in one call; ids it leaves out are read one by one", async () => {
    const remote = new Remote();
    const state = await applied(remote, 6);
    const ids = Object.values(state.resources).map((e) => e.id as string);
    // The batch knows all but the last object (as a list that does not show it).
    const a = adapter({
      readMany: (r, wanted) => new Map(wanted.filter((id) => id !== ids[5]).map((id) => [id, r.objects.get(id)])),
    });
    remote.calls = [];
    const p = await plan(things(6), state, options(remote, a), meta);
    expect(p.actions.map((x) => x.action)).toEqual(Array(6).fill("skip"));
    expect(remote.calls.sort()).toEqual(["readMany", `read ${ids[5]}`].sort());
  });

  it("an id the batch says is gone is planned for creation without another read", async () => {
    const remote = new Remote();
    const state = await applied(remote, 3);
    const gone = state.resources["test.thing.t1"]?.id as string;
    remote.objects.delete(gone);
    const a = adapter({ readMany: (r, wanted) => new Map(wanted.map((id) => [id, r.objects.get(id)])) });
    remote.calls = [];
    const p = await plan(things(3), state, options(remote, a), meta);
    expect(p.actions.find((x) => x.address === "test.thing.t1")).toMatchObject({
      action: "create",
      reason: "deleted outside Lakeforge",
    });
    // Not in state any more: looked for by natural key (one find), never read again.
    expect(remote.calls.sort()).toEqual(["find t1", "readMany"]);
  });

  it("keeps every adapter call, batch or single, within the concurrency bound", async () => {
    const remote = new Remote();
    const state = await applied(remote, 20);
    // The batch knows nothing: all 20 reads go one by one, alongside it.
    const a = adapter({ readMany: () => new Map() });
    remote.maxInFlight = 0;
    await plan(things(20), state, options(remote, a), meta);
    expect(remote.maxInFlight).toBeLessThanOrEqual(3);
    expect(remote.maxInFlight).toBeGreaterThan(1);
  });
});

describe("findMany in plans", () => {
  it("looks for the resources with no id in state in one call; keys it leaves out use find", async () => {
    const remote = new Remote();
    remote.objects.set("42", { name: "t0", size: 0 }); // exists already: adopted
    const a = adapter({
      findMany: (r, names) => {
        const out = new Map<string, { id: string; remote: Record<string, unknown> } | undefined>();
        for (const name of names.filter((n) => n !== "t3")) {
          const hit = [...r.objects].find(([, o]) => o.name === name);
          out.set(name, hit ? { id: hit[0], remote: hit[1] } : undefined);
        }
        return out;
      },
    });
    const p = await plan(things(4), emptyState("dev"), options(remote, a), meta);
    expect(p.actions.map((x) => [x.name, x.action, x.id])).toEqual([
      ["t0", "update", "42"],
      ["t1", "create", undefined],
      ["t2", "create", undefined],
      ["t3", "create", undefined],
    ]);
    expect(p.actions[0]?.reason).toBe("adopted by natural key");
    expect(remote.calls.sort()).toEqual(["find t3", "findMany"]);
  });
});

describe("state saves during apply", () => {
  it("shares writes between concurrent saves, and writes the pending marker before each create", async () => {
    const remote = new Remote();
    const writes: StateFile[] = [];
    const a = adapter({});
    const create = a.create.bind(a);
    const violations: string[] = [];
    a.create = async (r, spec) => {
      // The last completed write must already hold this create's pending marker.
      const last = writes.at(-1);
      if (last?.resources[`test.thing.${spec.name}`]?.pending !== "create") violations.push(String(spec.name));
      return create(r, spec);
    };
    const saveState = async (s: StateFile) => {
      const copy = JSON.parse(JSON.stringify(s)) as StateFile; // taken before the first await, as required
      await sleep(5);
      writes.push(copy);
    };
    const state = emptyState("dev");
    const desired = things(30);
    const p = await plan(desired, state, options(remote, a, saveState), meta);
    const r = await apply(p, desired, state, options(remote, a, saveState));
    expect(r.failed).toEqual([]);
    expect(violations).toEqual([]);
    // Two saves per create, but concurrent ones share a write.
    expect(writes.length).toBeLessThan(60);
    // The last write holds the final state.
    expect(writes.at(-1)).toEqual(JSON.parse(JSON.stringify(state)));
    expect(Object.values(writes.at(-1)?.resources ?? {}).every((e) => e.id && !e.pending)).toBe(true);
  });
});
