import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openEnvironment } from "../../../src/deploy/environment.js";
import { UserError } from "../../../src/lib/errors.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  vi.restoreAllMocks();
});

describe("Azure Key Vault secret sources", () => {
  it("are refused before any request, located at the resource", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lakeforge-kv-"));
    dirs.push(dir);
    writeFileSync(
      join(dir, "lakeforge.yaml"),
      [
        "project:",
        "  name: kv",
        "environments:",
        "  dev:",
        "    workspace:",
        "      host: https://adb-1.azuredatabricks.net",
        "resources:",
        "  secret_scopes:",
        "    app:",
        "      name: app",
        "      secrets:",
        "        storage-key:",
        "          azure_key_vault:",
        "            vault: kv-ml-prod",
        "            secret: storage-key",
        "",
      ].join("\n"),
    );
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    const error = await openEnvironment({ target: dir, env: { DATABRICKS_TOKEN: "dapi-unused" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/lakeforge\.yaml:\d+:\d+ databricks\.secret\.app\.storage-key .*Azure Key Vault/);
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
