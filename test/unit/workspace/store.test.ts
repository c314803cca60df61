import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Store } from "../../../src/workspace/store/store.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "lakeforge-store-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("Store", () => {
  it("keeps collections, sequences and blobs across a reopen", () => {
    const dir = tempDir();
    const a = new Store(dir);
    a.collection<{ n: number }>("jobs").set(1, { n: 1 });
    a.collection<{ n: number }>("jobs").set(2, { n: 2 });
    a.collection("jobs").delete(1);
    expect(a.nextId("job")).toBe(1);
    expect(a.nextId("job")).toBe(2);
    const hash = a.putBlob(Buffer.from("print('hi')"));
    a.close(); // no compaction: the journal alone must carry the changes

    const b = new Store(dir);
    expect([...b.collection("jobs").entries()]).toEqual([["2", { n: 2 }]]);
    expect(b.nextId("job")).toBe(3);
    expect(b.getBlob(hash).toString()).toBe("print('hi')");
    b.close();
  });

  it("ignores a torn last journal line left by a killed process", () => {
    const dir = tempDir();
    const a = new Store(dir);
    a.collection("x").set("k", { v: 1 });
    a.close();
    appendFileSync(join(dir, "journal.jsonl"), '{"c":"x","k":"k2","v":{"v":');
    const b = new Store(dir);
    expect(b.collection("x").get("k")).toEqual({ v: 1 });
    expect(b.collection("x").has("k2")).toBe(false);
    b.close();
  });

  it("compacts the journal into an atomically written snapshot", () => {
    const dir = tempDir();
    const a = new Store(dir);
    for (let i = 0; i < 100; i++) a.collection("c").set(i, { i });
    a.compact();
    a.collection("c").set("late", { i: -1 });
    a.close();
    writeFileSync(join(dir, "snapshot.json.tmp"), "garbage from an interrupted compaction");
    const b = new Store(dir);
    expect(b.collection("c").size).toBe(101);
    b.close();
  });

  it("keeps nothing on disk without a data directory", () => {
    const s = new Store();
    s.collection("c").set("a", 1);
    expect(s.persistent).toBe(false);
    expect(s.getBlob(s.putBlob(Buffer.from("x"))).toString()).toBe("x");
  });
});
