import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { jupyterToSource, parseMultipart, sourceToJupyter, zip } from "../../../src/workspace/server/workspace.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";
import { Store } from "../../../src/workspace/store/store.js";
import {
  classifyFile,
  displayPath,
  FileTree,
  normalizePath,
  parentOf,
  parseJupyter,
  resolveWorkspacePath,
} from "../../../src/workspace/tree.js";

const dirs: string[] = [];
const running: RunningWorkspace[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "lakeforge-tree-"));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  for (const ws of running.splice(0)) await ws.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("paths", () => {
  it("normalizes and rejects relative or dotted paths", () => {
    expect(normalizePath("//Users///a/")).toBe("/Users/a");
    expect(normalizePath("/")).toBe("/");
    expect(() => normalizePath("Users/a")).toThrow(/not absolute/);
    expect(() => normalizePath("/Users/../etc")).toThrow(/not a valid path/);
  });

  it("treats /Workspace as an alias and names objects the way the caller did", () => {
    expect(resolveWorkspacePath("/Workspace/Users/a")).toEqual({ path: "/Users/a", prefix: "/Workspace" });
    expect(resolveWorkspacePath("/Workspace")).toEqual({ path: "/", prefix: "/Workspace" });
    expect(resolveWorkspacePath("/WorkspaceX/a")).toEqual({ path: "/WorkspaceX/a", prefix: "" });
    expect(displayPath("/", "/Workspace")).toBe("/Workspace");
    expect(displayPath("/Users/a", "/Workspace")).toBe("/Workspace/Users/a");
    expect(parentOf("/a")).toBe("/");
    expect(parentOf("/")).toBeUndefined();
  });
});

describe("classifyFile", () => {
  it("detects source notebooks by extension and header, per language", () => {
    expect(classifyFile("/x/etl.py", Buffer.from("# Databricks notebook source\n1"))).toEqual({
      path: "/x/etl",
      type: "NOTEBOOK",
      language: "PYTHON",
      format: "SOURCE",
    });
    expect(classifyFile("/x/q.sql", Buffer.from("-- Databricks notebook source\r\nSELECT 1")).language).toBe("SQL");
    expect(classifyFile("/x/M.scala", Buffer.from("// Databricks notebook source\n")).language).toBe("SCALA");
    expect(classifyFile("/x/a.R", Buffer.from("# Databricks notebook source\n")).language).toBe("R");
    // A header of another language, or no header, is a plain file.
    expect(classifyFile("/x/q.sql", Buffer.from("# Databricks notebook source\n")).type).toBe("FILE");
    expect(classifyFile("/x/lib.py", Buffer.from("import os\n"))).toEqual({ path: "/x/lib.py", type: "FILE" });
  });

  it("detects Jupyter notebooks and their language", () => {
    const doc = { cells: [], metadata: { kernelspec: { language: "scala" } }, nbformat: 4 };
    expect(classifyFile("/x/a.ipynb", Buffer.from(JSON.stringify(doc)))).toMatchObject({
      path: "/x/a",
      type: "NOTEBOOK",
      language: "SCALA",
      format: "JUPYTER",
    });
    expect(classifyFile("/x/a.ipynb", Buffer.from("not json")).type).toBe("FILE");
  });
});

describe("notebook conversion", () => {
  it("round-trips markdown and code cells between source and Jupyter", () => {
    const source = "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Title\n\n# COMMAND ----------\n\nx = 1\nprint(x)\n";
    const doc = sourceToJupyter(source, "PYTHON", "nb");
    expect(doc.cells.map((c) => c.cell_type)).toEqual(["markdown", "code"]);
    expect(doc.cells[1]?.source).toEqual(["x = 1\n", "print(x)"]);
    const back = jupyterToSource(parseJupyter(Buffer.from(JSON.stringify(doc))) ?? { cells: [] }, "PYTHON");
    expect(back).toBe(source);
  });

  it("uses the comment syntax of the language", () => {
    const doc = {
      cells: [
        { cell_type: "code", source: "SELECT 1" },
        { cell_type: "code", source: ["SELECT 2\n"] },
      ],
    };
    expect(jupyterToSource(doc, "SQL")).toBe("-- Databricks notebook source\nSELECT 1\n\n-- COMMAND ----------\n\nSELECT 2\n");
  });
});

describe("parseMultipart", () => {
  it("reads fields and file parts", () => {
    const body = Buffer.from(
      '--XyZ\r\nContent-Disposition: form-data; name="path"\r\n\r\n/a/b\r\n' +
        '--XyZ\r\nContent-Disposition: form-data; name="content"; filename="content"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\n\r\n' +
        "--XyZ--\r\n",
      "latin1",
    );
    const parts = parseMultipart(body, "multipart/form-data; boundary=XyZ");
    expect(parts.get("path")?.data.toString()).toBe("/a/b");
    expect([...(parts.get("content")?.data ?? [])]).toEqual([0, 1, 13, 10]);
    expect(parts.get("content")?.filename).toBe("content");
  });
});

describe("zip", () => {
  it("writes stored entries with their CRC-32", () => {
    const archive = zip([{ name: "a/hello.txt", data: Buffer.from("hello") }]);
    expect(archive.readUInt32LE(0)).toBe(0x04034b50);
    expect(archive.readUInt32LE(14)).toBe(0x3610a686); // crc32("hello")
    expect(archive.subarray(30, 41).toString()).toBe("a/hello.txt");
    expect(archive.readUInt32LE(archive.length - 22)).toBe(0x06054b50);
  });
});

describe("FileTree", () => {
  it("indexes children, creates parents, removes subtrees", () => {
    const tree = new FileTree(new Store(), "t", "t", 100);
    tree.mkdirs("/a/b/c");
    tree.add({ path: "/a/b/f.txt", object_type: "FILE", ...tree.putContent(Buffer.from("hi")) });
    expect(tree.list("/a/b").map((n) => n.path)).toEqual(["/a/b/c", "/a/b/f.txt"]);
    expect(tree.get("/a/b/c")?.object_id).toBeGreaterThan(100);
    expect(tree.blockerOf("/a/b/f.txt/x")?.path).toBe("/a/b/f.txt");
    expect(tree.content(tree.get("/a/b/f.txt") as never).toString()).toBe("hi");
    const id = tree.get("/a/b/f.txt")?.object_id as number;
    expect(tree.byId(String(id))?.path).toBe("/a/b/f.txt");
    expect(tree.removeSubtree("/a/b").map((n) => n.path)).toEqual(["/a/b/f.txt", "/a/b/c", "/a/b"]);
    expect(tree.hasChildren("/a")).toBe(false);
    expect(tree.byId(id)).toBeUndefined();
    expect(() => tree.add({ path: "/x/y", object_type: "FILE" })).toThrow();
  });

  it("rebuilds its indexes from a persisted store", () => {
    const dir = tempDir();
    const first = new Store(dir);
    const tree = new FileTree(first, "t", "t", 0);
    tree.mkdirs("/p/q");
    const id = tree.get("/p/q")?.object_id;
    first.close();
    const again = new FileTree(new Store(dir), "t", "t", 0);
    expect(again.list("/p").map((n) => n.object_id)).toEqual([id]);
    expect(again.newId()).toBeGreaterThan(id as number);
  });
});

describe("workspace tree over HTTP", () => {
  it("keeps objects and Git folders across a restart", async () => {
    const dataDir = tempDir();
    let ws = await startWorkspace({ port: 0, dataDir, token: "dapi-tree-test" });
    running.push(ws);
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${ws.url}${path}`, {
        method,
        headers: { authorization: "Bearer dapi-tree-test", "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const dir = "/Users/admin@lakeforge.local/keep";
    expect((await call("POST", "/api/2.0/workspace/mkdirs", { path: dir })).status).toBe(200);
    const content = Buffer.from("# Databricks notebook source\n1").toString("base64");
    expect((await call("POST", "/api/2.0/workspace/import", { path: `${dir}/nb.py`, content, format: "AUTO" })).status).toBe(200);
    const repo = await call("POST", "/api/2.0/repos", { url: "https://github.com/a/b.git", provider: "gitHub" });
    const before = await call("GET", `/api/2.0/workspace/get-status?path=${encodeURIComponent(`${dir}/nb`)}`);
    await ws.stop();
    running.splice(0);

    ws = await startWorkspace({ port: 0, dataDir, token: "dapi-tree-test" });
    running.push(ws);
    const after = await call("GET", `/api/2.0/workspace/get-status?path=${encodeURIComponent(`${dir}/nb`)}`);
    expect(after.body).toEqual(before.body);
    expect((await call("GET", `/api/2.0/repos/${repo.body.id}`)).body.path).toBe("/Repos/admin@lakeforge.local/b");
    const missing = await call("GET", "/api/2.0/workspace/get-status?path=/nope");
    expect(missing).toEqual({
      status: 404,
      body: { error_code: "RESOURCE_DOES_NOT_EXIST", message: "Path (/nope) doesn't exist." },
    });
  });
});
