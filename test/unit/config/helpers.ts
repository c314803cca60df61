import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll } from "vitest";
import { type LoadOptions, loadConfig } from "../../../src/config/config.js";
import { ConfigError } from "../../../src/config/errors.js";
import type { ResolvedConfig, ResolvedResource } from "../../../src/config/resolve.js";

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A project folder holding `files` (path → content); the main file is `lakeforge.yaml`. */
export function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-config-"));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

export const HEADER = "project:\n  name: demo\n";

/** Loads a project and returns its configuration. */
export function load(dir: string, options: LoadOptions = {}): Promise<ResolvedConfig> {
  return loadConfig(dir, { env: {}, relativeTo: dir, ...options });
}

/** Loads a project expected to be invalid and returns the error. */
export async function loadError(dir: string, options: LoadOptions = {}): Promise<ConfigError> {
  try {
    await load(dir, options);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a configuration error");
}

export function find(config: ResolvedConfig, kind: string, name: string): ResolvedResource {
  const r = config.resources.find((x) => x.kind === kind && x.name === name);
  if (!r) throw new Error(`no ${kind} ${name} in ${config.resources.map((x) => `${x.kind}.${x.name}`).join(", ")}`);
  return r;
}
