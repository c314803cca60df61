import { readdirSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../../src/config/config.js";
import { ConfigError } from "../../../src/config/errors.js";
import { UserError } from "../../../src/lib/errors.js";

/**
 * The corpus of malformed configurations: each file (or folder with a lakeforge.yaml) starts with
 * `# expect: <file>:<line>:<col> <path>: <message>`, optionally `# hint: ...` and `# env: NAME=value`
 * lines, and must produce exactly that one located error without a single network request.
 */

const dir = resolve("test/fixtures/config/invalid");

interface Case {
  name: string;
  target: string;
  expect: string;
  hint?: string;
  env: Record<string, string>;
}

function cases(): Case[] {
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const target = join(dir, name);
      const main = statSync(target).isDirectory() ? join(target, "lakeforge.yaml") : target;
      const text = readFileSync(main, "utf8");
      const expectLine = /^# expect: (.*)$/m.exec(text)?.[1];
      if (!expectLine) throw new Error(`${name}: no "# expect:" line`);
      const env: Record<string, string> = {};
      for (const m of text.matchAll(/^# env: (\w+)=(.*)$/gm)) env[m[1] as string] = m[2] as string;
      return { name, target, expect: expectLine, hint: /^# hint: (.*)$/m.exec(text)?.[1], env };
    });
}

const all = cases();
const network = { fetch: vi.fn(), request: vi.fn(), connect: vi.fn() };
const restore: (() => void)[] = [];

beforeAll(() => {
  const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (...args) => {
    network.fetch(...args);
    throw new Error("no network");
  });
  const httpSpy = vi.spyOn(http, "request").mockImplementation(((...args: unknown[]) => {
    network.request(...args);
    throw new Error("no network");
  }) as typeof http.request);
  const httpsSpy = vi.spyOn(https, "request").mockImplementation(((...args: unknown[]) => {
    network.request(...args);
    throw new Error("no network");
  }) as typeof https.request);
  const connectSpy = vi.spyOn(net.Socket.prototype, "connect").mockImplementation(function (
    this: net.Socket,
    ...args: unknown[]
  ) {
    network.connect(...args);
    throw new Error("no network");
  } as typeof net.Socket.prototype.connect);
  restore.push(
    () => fetchSpy.mockRestore(),
    () => httpSpy.mockRestore(),
    () => httpsSpy.mockRestore(),
    () => connectSpy.mockRestore(),
  );
});

afterAll(() => {
  for (const r of restore) r();
});

describe("malformed configurations", () => {
  it("has at least 40 cases, each with a distinct expectation", () => {
    expect(all.length).toBeGreaterThanOrEqual(40);
    expect(new Set(all.map((c) => c.expect)).size).toBe(all.length);
  });

  it.each(all.map((c) => [c.name, c] as const))("%s gives exactly its located error", async (_name, c) => {
    const error = await loadConfig(c.target, { env: c.env, relativeTo: dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(UserError);
    const e = error as ConfigError;
    expect(e.issues).toHaveLength(1);
    expect(e.message).toBe(c.expect);
    if (c.hint !== undefined) expect(e.hint).toBe(c.hint);
    // One line: what and where; the location is file:line:col.
    expect(e.message.split("\n")).toHaveLength(1);
    expect(e.message).toMatch(/^[\w./-]+\.yaml:\d+:\d+ /);
  });

  it("sent no request while loading any of them", () => {
    expect(network.fetch).not.toHaveBeenCalled();
    expect(network.request).not.toHaveBeenCalled();
    expect(network.connect).not.toHaveBeenCalled();
  });
});
