import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeArm, startFakeArm } from "../fakes/azure-arm/server.js";
import { runCli, tempDir } from "../unit/convert/helpers.js";
import { EXAMPLE, EXAMPLE_ENV, TOKEN, useFakeArm } from "./helpers.js";

let fake: FakeArm;
let restore: () => void;
beforeAll(async () => {
  fake = await startFakeArm();
  restore = useFakeArm(fake, EXAMPLE_ENV);
});
afterAll(async () => {
  restore();
  await fake.stop();
});

const run = async (args: string[]) => {
  const r = await runCli(args);
  expect(r.stdout + r.stderr).not.toContain(TOKEN);
  expect(r.stdout + r.stderr).not.toContain(EXAMPLE_ENV.ML_SP_CLIENT_SECRET);
  return r;
};

describe("lakeforge infra", () => {
  it("exports the environment's subscription-scope ARM template", async () => {
    const file = join(tempDir(), "uat.json");
    const r = await run(["infra", "export", "-C", EXAMPLE, "-e", "uat", "--out", file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Wrote the ARM template of uat (deployment lakeforge-ml-platform-uat, westeurope)");
    const template = JSON.parse(readFileSync(file, "utf8"));
    expect(template).toMatchSnapshot();
    const stdout = await run(["infra", "export", "-C", EXAMPLE, "-e", "uat"]);
    expect(JSON.parse(stdout.stdout)).toEqual(template);
  });

  it("plan -e shows the infrastructure and defers the workspace part until it exists", async () => {
    const r = await run(["plan", "-C", EXAMPLE, "-e", "uat", "--detailed-exitcode"]);
    expect(r.stderr).toContain("Lakeforge will make these changes in uat (Azure):");
    expect(r.stderr).toContain("+   azure.Microsoft.Databricks/workspaces.ml-platform-uat-dbw");
    expect(r.stderr).toContain("The workspace part of uat is planned once its infrastructure exists (lakeforge apply).");
    expect(r.code).toBe(2);
  });

  it("surfaces a failed deployment with the inner error and exits 1", async () => {
    fake.failNextDeployment("Microsoft.KeyVault/vaults", {
      code: "VaultAlreadyExists",
      message: "The vault name 'ml-platform-uat-kv' is already in use.",
    });
    const r = await run(["infra", "apply", "-C", EXAMPLE, "-e", "uat", "--auto-approve"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "error: azure deployment lakeforge-ml-platform-uat failed: DeploymentFailed: At least one resource deployment operation failed. Please list deployment operations for details. / VaultAlreadyExists: The vault name 'ml-platform-uat-kv' is already in use.",
    );
    expect(r.stderr).toContain("azure.Microsoft.KeyVault/vaults.ml-platform-uat-kv: failed");
  });

  it("honours 429 Retry-After and completes the deployment; a second plan shows no changes", async () => {
    const before = fake.requests.length;
    fake.throttle(2, 1);
    const r = await run(["infra", "apply", "-C", EXAMPLE, "-e", "uat", "--auto-approve"]);
    expect(r.code).toBe(0);
    const mine = fake.requests.slice(before);
    expect(mine.slice(0, 2).map((q) => q.status)).toEqual([429, 429]);
    expect(mine[2]?.status).toBeLessThan(300);
    expect(r.stderr).toContain("Apply complete: lakeforge-ml-platform-uat.");
    expect(r.stderr).toMatch(/\$\{azure\.databricks\.url\} = https:\/\/adb-\d+\.\d+\.azuredatabricks\.net/);
    const again = await run(["infra", "plan", "-C", EXAMPLE, "-e", "uat", "--detailed-exitcode"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("No changes: uat (Azure) matches the configuration.");
  });

  it("destroy deletes the managed resource group, and refuses with prevent_destroy", async () => {
    await run(["infra", "apply", "-C", EXAMPLE, "-e", "production", "--auto-approve"]);
    const refused = await run(["infra", "destroy", "-C", EXAMPLE, "-e", "production", "--auto-approve"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "refusing to delete resource group ml-platform-production-rg of production: it has prevent_destroy",
    );
    expect([...fake.resources.keys()].some((k) => k.includes("ml-platform-production-rg"))).toBe(true);

    const r = await run(["infra", "destroy", "-C", EXAMPLE, "-e", "uat", "--auto-approve"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("-   azure.resource_group.ml-platform-uat-rg (delete");
    expect(r.stderr).toContain("Destroy complete: 1 resource group(s) deleted.");
    expect([...fake.resources.keys()].some((k) => k.includes("ml-platform-uat-rg"))).toBe(false);
  });
});
