import { describe, expect, it } from "vitest";
import type { FieldChange } from "../../../src/engine/diff.js";
import { apply, plan, type SpecCodec } from "../../../src/engine/engine.js";
import { emptyState } from "../../../src/engine/state.js";
import type { DesiredResource, ResourceAdapter } from "../../../src/engine/types.js";

/** The optional adapter hooks: normalizeDesired, the previous spec given to normalize, and the changes given to update. */

const codec: SpecCodec = {
  resolveRefs: (spec) => spec,
  sensitive: (spec) => ({ clean: spec, values: {} }),
};

interface Remote {
  objects: Map<string, Record<string, unknown>>;
  updates: { spec: Record<string, unknown>; changes: FieldChange[] | undefined }[];
  previous: (Record<string, unknown> | undefined)[];
}

/** A list kept as a set by the remote (sorted), and a write-only `mode` the remote never returns. */
function adapter(): ResourceAdapter<Remote> {
  return {
    kind: "test.acl",
    naturalKey: (s) => String(s.name),
    async read(r, id) {
      return r.objects.get(id);
    },
    async find() {
      return undefined;
    },
    async create(r, spec) {
      r.objects.set("1", { name: spec.name, members: [...(spec.members as string[])].sort() });
      return { id: "1" };
    },
    async update(r, id, spec, _remote, changes) {
      r.updates.push({ spec, changes });
      r.objects.set(id, { name: spec.name, members: [...(spec.members as string[])].sort() });
      return undefined;
    },
    async delete(r, id) {
      r.objects.delete(id);
    },
    normalize(remote, previous) {
      return { ...remote, mode: previous?.mode };
    },
    normalizeDesired(spec) {
      return { ...spec, members: [...(spec.members as string[])].sort() };
    },
    rules: {},
  };
}

function setup() {
  const remote: Remote = { objects: new Map(), updates: [], previous: [] };
  const a = adapter();
  const normalize = a.normalize?.bind(a);
  a.normalize = (r, previous) => {
    remote.previous.push(previous);
    return normalize?.(r, previous) ?? r;
  };
  const opts = { adapters: new Map([["test.acl", a]]), ctx: remote, codec, saveState: async () => {} };
  return { remote, opts };
}

const meta = { environment: "dev", configFingerprint: "c" };
const acl = (members: string[], mode = "strict"): DesiredResource[] => [
  { kind: "test.acl", name: "a", spec: { name: "a", members, mode }, dependsOn: [] },
];

describe("adapter hooks", () => {
  it("compares the desired spec in its comparison form and reads write-only fields from the last applied spec", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    await apply(await plan(acl(["b", "a"]), state, opts, meta), acl(["b", "a"]), state, opts);

    // The remote keeps the members sorted and never returns `mode`: neither is a change.
    const again = await plan(acl(["b", "a"]), state, opts, meta);
    expect(again.actions.map((a) => a.action)).toEqual(["skip"]);
    expect(remote.previous.at(-1)).toMatchObject({ mode: "strict" });

    const changed = await plan(acl(["b", "a"], "loose"), state, opts, meta);
    expect(changed.actions[0]?.changes).toMatchObject([{ path: "mode", before: "strict", after: "loose" }]);
  });

  it("gives update the planned changes, so an adapter can clear what was removed", async () => {
    const { remote, opts } = setup();
    const state = emptyState("dev");
    await apply(await plan(acl(["a", "b"]), state, opts, meta), acl(["a", "b"]), state, opts);
    const next = acl(["c", "a"]);
    const p = await plan(next, state, opts, meta);
    expect(p.actions[0]).toMatchObject({ action: "update", changes: [{ path: "members", after: ["a", "c"] }] });
    await apply(p, next, state, opts);
    expect(remote.updates).toHaveLength(1);
    expect(remote.updates[0]?.changes).toEqual(p.actions[0]?.changes);
    expect(remote.objects.get("1")?.members).toEqual(["a", "c"]);
  });
});
