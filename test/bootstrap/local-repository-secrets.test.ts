import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { localProvider } from "../../src/bootstrap/local/provider.js";
import { forgePaths, readLocalSecrets } from "../../src/bootstrap/local/store.js";
import { bootstrap } from "../../src/bootstrap/orchestrate.js";
import type { BootstrapRequest } from "../../src/bootstrap/types.js";
import { Secret } from "../../src/lib/secret.js";

const root = mkdtempSync(join(tmpdir(), "lakeforge-local-repo-secrets-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("local forge: repository-level secrets", () => {
  it("seals them with the repository's key, converges, and removes them with the repository", async () => {
    const forgeDir = join(root, "forge");
    const canary = `CANARY-CI-${randomBytes(8).toString("hex")}`;
    const req: BootstrapRequest = {
      name: "demo",
      visibility: "private",
      defaultBranch: "main",
      releaseBranch: "release",
      files: new Map([["README.md", Buffer.from("# demo\n")]]),
      teams: [],
      variables: { DATABRICKS_CLIENT_ID: "99999999-2222-3333-4444-555555555555" },
      secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(canary) },
      environments: [],
    };
    const first = await bootstrap(localProvider(), { forgeDir }, req);
    expect(first.plan.actions.map((a) => a.address)).toContain("local.secrets.repository");
    const values = await readLocalSecrets(forgeDir, "demo", null);
    expect(values.DATABRICKS_CLIENT_SECRET?.reveal()).toBe(canary);
    const paths = forgePaths(forgeDir, "demo");
    expect(readFileSync(paths.repositorySecrets, "utf8")).not.toContain(canary);
    expect(readFileSync(paths.state, "utf8")).not.toContain(canary);
    await expect(readLocalSecrets(forgeDir, "demo", null, new Uint8Array(32))).rejects.toThrow(/cannot be decrypted/);

    const again = await bootstrap(localProvider(), { forgeDir }, req);
    expect(again.summary).toMatchObject({ create: 0, update: 0, delete: 0, recreate: 0 });
  });
});
