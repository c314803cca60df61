import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyInfra, currentOutputs, infraFor, planInfra } from "../../src/azure/index.js";
import { loadConfig } from "../../src/config/config.js";
import { renderPlan } from "../../src/engine/render.js";
import { type FakeArm, startFakeArm } from "../fakes/azure-arm/server.js";
import { armOptions, EXAMPLE, EXAMPLE_ENV } from "./helpers.js";

let fake: FakeArm;
beforeAll(async () => {
  fake = await startFakeArm();
});
afterAll(async () => {
  await fake.stop();
});

const uat = async () => infraFor(await loadConfig(EXAMPLE, { environment: "uat", env: EXAMPLE_ENV }));

describe("Azure plan and apply against Resource Manager", () => {
  it("plans creates from empty, applies, then plans no changes", async () => {
    const infra = await uat();
    const plan = await planInfra(infra, "uat", armOptions(fake));
    expect(plan.actions.length).toBeGreaterThan(10);
    expect(plan.actions.every((a) => a.action === "create")).toBe(true);
    const text = renderPlan(plan);
    expect(text).toContain(
      "+   azure.resource_group.ml-platform-uat-rg (create, id /subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/ml-platform-uat-rg, not in Azure)",
    );
    expect(text).toContain("azure.Microsoft.Databricks/workspaces.ml-platform-uat-dbw");

    const lines: string[] = [];
    const outputs = await applyInfra(infra, armOptions(fake, lines));
    expect(outputs["databricks.url"]).toMatch(/^https:\/\/adb-\d+\.\d+\.azuredatabricks\.net$/);
    expect(outputs["key_vault.uri"]).toBe(`https://${infra.names.keyVault}.vault.azure.net/`);
    expect(outputs["storage.dfs_endpoint"]).toBe(`https://${infra.names.storage}.dfs.core.windows.net/`);
    expect(outputs["databricks.id"]).toContain("/providers/Microsoft.Databricks/workspaces/ml-platform-uat-dbw");
    expect(outputs["identity.client_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines.some((l) => l.includes("azure.Microsoft.KeyVault/vaults.ml-platform-uat-kv: done"))).toBe(true);
    expect(await currentOutputs(infra, armOptions(fake))).toEqual(outputs);

    const again = await planInfra(infra, "uat", armOptions(fake));
    expect(again.actions.filter((a) => a.action !== "skip")).toEqual([]);
    expect(renderPlan(again)).toContain("No changes");
  });

  it("shows a modify with the property delta when the configuration changes", async () => {
    const config = await loadConfig(EXAMPLE, { environment: "uat", env: EXAMPLE_ENV });
    const azure = config.azure;
    if (!azure) throw new Error("no azure section");
    azure.settings.log_analytics = { retention_days: 60 };
    const plan = await planInfra(infraFor(config), "uat", armOptions(fake));
    const changing = plan.actions.filter((a) => a.action !== "skip");
    expect(changing.map((a) => a.address)).toEqual(["azure.Microsoft.OperationalInsights/workspaces.ml-platform-uat-log"]);
    expect(changing[0]?.changes).toEqual([{ path: "properties.retentionInDays", before: 30, after: 60 }]);
    expect(renderPlan(plan)).toContain("~ properties.retentionInDays: 30 → 60");
  });

  it("sends a bearer token on every request and only api-versions Resource Manager publishes", () => {
    expect(fake.requests.length).toBeGreaterThan(5);
    expect(fake.requests.every((r) => r.authorized)).toBe(true);
    expect(fake.requests.every((r) => r.status < 400 || r.status === 404)).toBe(true);
  });
});
