import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll } from "vitest";

export { runCli } from "../../support/cli.js";

export const FIXTURES = resolve("test/fixtures/dstoolkit");
/** `Pipeline_Param/<Env>.json`, as under .github/workflows/ of the accelerator. */
export const PIPELINE_PARAM = join(FIXTURES, "pipeline-param");
/** `databricks_configs/<env>/{clusters,rbac,repos}.json`, as under infrastructure/databricks/. */
export const DATABRICKS_CONFIGS = join(FIXTURES, "databricks-configs");

/** Literal secrets written in the fixtures: none may reach any output. */
export const FIXTURE_CANARIES = ["lakeforge-canary-pat-7f3d9c1e5a2b4f60", "lakeforge-canary-storage-key-93b1e2"];

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = "lakeforge-convert-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** A copy of a fixture folder to change freely. */
export function copyFixture(from: string): string {
  const dir = tempDir();
  cpSync(from, dir, { recursive: true });
  return dir;
}
