import { describe, expect, it } from "vitest";
import { diffSpec, equalLoose, UNKNOWN } from "../../../src/engine/diff.js";
import { CycleError, topoSort } from "../../../src/engine/graph.js";

describe("diffSpec", () => {
  it("ignores server defaults the configuration does not manage", () => {
    const remote = { name: "etl", max_concurrent_runs: 1, format: "MULTI_TASK", created_time: 123 };
    expect(diffSpec({ name: "etl" }, remote)).toEqual([]);
  });

  it("reports a changed field with before and after", () => {
    expect(diffSpec({ name: "etl", timeout_seconds: 60 }, { name: "etl", timeout_seconds: 0 })).toEqual([
      { path: "timeout_seconds", before: 0, after: 60, forcesRecreate: false },
    ]);
  });

  it("treats a field removed from the configuration as a change when the remote still has it", () => {
    const changes = diffSpec({ name: "a" }, { name: "a", tags: { team: "x" } }, {}, { name: "a", tags: { team: "x" } });
    expect(changes).toEqual([{ path: "tags", before: { team: "x" }, after: undefined, forcesRecreate: false }]);
  });

  it("compares keyed arrays by key, so reordering is not a change", () => {
    const rules = { keyedArrays: { tasks: "task_key" } };
    const want = {
      tasks: [
        { task_key: "a", x: 1 },
        { task_key: "b", x: 2 },
      ],
    };
    const have = {
      tasks: [
        { task_key: "b", x: 2, extra: true },
        { task_key: "a", x: 1 },
      ],
    };
    expect(diffSpec(want, have, rules)).toEqual([]);
    const changed = diffSpec({ tasks: [{ task_key: "a", x: 5 }] }, have, rules);
    expect(changed.map((c) => c.path).sort()).toEqual(["tasks.a.x", "tasks.b"]);
  });

  it("marks recreate-on fields", () => {
    const changes = diffSpec(
      { name: "s", backend: { kind: "KV" } },
      { name: "s", backend: { kind: "DB" } },
      { recreateOn: ["backend"] },
    );
    expect(changes[0]?.forcesRecreate).toBe(true);
  });

  it("compares sensitive fields by fingerprint and never shows values", () => {
    const rules = { sensitive: ["value"] };
    const same = diffSpec({ value: "canary-1" }, {}, rules, {}, { desired: { value: "fp1" }, previous: { value: "fp1" } });
    expect(same).toEqual([]);
    const changed = diffSpec({ value: "canary-2" }, {}, rules, {}, { desired: { value: "fp2" }, previous: { value: "fp1" } });
    expect(changed).toHaveLength(1);
    expect(JSON.stringify(changed)).not.toContain("canary");
  });

  it("treats values known only after apply as changes", () => {
    expect(diffSpec({ cluster_id: UNKNOWN }, { cluster_id: "c1" })[0]?.after).toBe(UNKNOWN);
  });

  it("ignores listed paths", () => {
    expect(diffSpec({ a: 1, b: 2 }, { a: 1, b: 3 }, { ignore: ["b"] })).toEqual([]);
  });

  it("compares numbers with numeric strings and ignores key order", () => {
    expect(equalLoose({ a: 1, b: "2" }, { b: 2, a: "1" })).toBe(true);
    expect(equalLoose([1, 2], [2, 1])).toBe(false);
  });
});

describe("topoSort", () => {
  it("orders dependencies first", () => {
    const deps: Record<string, string[]> = { job: ["cluster", "scope"], cluster: ["policy"], scope: [], policy: [] };
    const order = topoSort(Object.keys(deps), (n) => deps[n] ?? []);
    expect(order.indexOf("policy")).toBeLessThan(order.indexOf("cluster"));
    expect(order.indexOf("cluster")).toBeLessThan(order.indexOf("job"));
    expect(order.indexOf("scope")).toBeLessThan(order.indexOf("job"));
  });

  it("names the cycle", () => {
    const deps: Record<string, string[]> = { a: ["b"], b: ["c"], c: ["a"] };
    expect(() => topoSort(["a", "b", "c"], (n) => deps[n] ?? [])).toThrow(CycleError);
    try {
      topoSort(["a", "b", "c"], (n) => deps[n] ?? []);
    } catch (e) {
      expect((e as CycleError).cycle).toEqual(["a", "b", "c", "a"]);
    }
  });
});
