// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the converted configuration is full of ${...} references
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { infraFor } from "../../../src/azure/index.js";
import { loadConfig } from "../../../src/config/config.js";
import { convertDstoolkit, type DstoolkitConversion } from "../../../src/convert/dstoolkit.js";
import { FIXTURES, runCli, tempDir } from "./helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is walked freely in assertions
type Obj = Record<string, any>;

/** `databricks_configs/<env>/` with `infrastructure/bicep/params/<env>/bicep.parameters.json` beside it. */
const CONFIGS = join(FIXTURES, "azure-configs");
/** `Pipeline_Param/<Env>.json` naming `Bicep_Params/<Env>/Bicep.parameters.json` in `TemplateParamFilePath`. */
const PIPELINE = join(FIXTURES, "azure-pipeline-param");

const convert = (dir: string) => convertDstoolkit(dir, { relativeTo: FIXTURES });
const notes = (c: DstoolkitConversion) => c.notConverted.map((n) => `${n.subject} (${n.environments.join(",")}): ${n.message}`);
const SUBSCRIPTION = "9d1c4e2a-6b7f-4a3e-8c5d-0f2e4a6b8c10";

describe("Bicep parameters and RBAC files → azure:", () => {
  const c = convert(CONFIGS);
  const doc = parse(c.text) as Obj;

  it("shares what every environment's Bicep parameters agree on, the rest per environment", () => {
    expect(c.problems).toEqual([]);
    expect(doc.azure).toMatchObject({
      subscription_id: "${env.AZURE_SUBSCRIPTION_ID}",
      location: "northeurope",
      databricks: { sku: "premium" },
      key_vault: { sku: "premium" },
      storage: { containers: ["landing", "curated"] },
    });
    expect(doc.environments.development.azure).toEqual({
      resource_group: "churn-dev-rg",
      databricks: { name: "churnwsdev" },
      storage: { name: "churnlakedev", sku: "Standard_LRS" },
      log_analytics: { name: "churnlogsdev" },
      app_insights: { name: "churninsightsdev" },
    });
    expect(doc.environments.production.azure.storage).toEqual({ name: "churnlakeprod", sku: "Standard_GRS" });
    expect(c.environmentVariables.find((v) => v.name === "AZURE_SUBSCRIPTION_ID")?.environments).toEqual([
      "development",
      "uat",
      "production",
    ]);
  });

  it("maps each role of RBAC_Assignments to a role assignment on the resource group", () => {
    expect(doc.azure.role_assignments).toEqual([
      {
        principal_id: "0c5e7d1a-9b44-4f0e-8a61-2d3f5b7c9e01",
        principal_type: "User",
        role: "Key Vault Administrator",
        description: "Your Object ID",
      },
      ...["Contributor", "Key Vault Administrator", "Storage Blob Data Contributor"].map((role) => ({
        principal_id: "6a2f9c3e-1d8b-4e57-b0a4-7c9d2e6f1a35",
        principal_type: "ServicePrincipal",
        role,
        description: "Databricks SPN",
      })),
    ]);
    expect(JSON.stringify(doc)).not.toContain('"Owner"');
    expect(JSON.stringify(doc)).not.toContain("DBX_Custom_Role_DSToolkit");
  });

  it("refuses Owner at subscription scope, reporting it with a least-privilege equivalent", () => {
    const owner = c.notConverted.find((n) => n.message.startsWith("Owner at subscription scope"));
    expect(owner?.environments).toEqual(["uat", "production"]);
    expect(owner?.locations).toEqual(["databricks_configs/uat/rbac.json:23:48", "databricks_configs/production/rbac.json:23:48"]);
    expect(owner?.message).toContain("refused, not converted");
    expect(owner?.message).toContain(
      "Least-privilege equivalent: Contributor on the environment's resource group (role_assignments: [{ principal_id: 6a2f9c3e-1d8b-4e57-b0a4-7c9d2e6f1a35, role: Contributor }]), plus Role Based Access Control Administrator",
    );
    expect(c.text).toContain("#   - RBAC_Assignments[2].roles (uat, production): Owner at subscription scope");
  });

  it("reports what the azure section does not carry", () => {
    const all = notes(c);
    expect(all).toContainEqual(
      expect.stringMatching(
        /^RBAC_Assignments\[1\]\.roles \(development\): role "DBX_Custom_Role_DSToolkit" .* not a built-in role/,
      ),
    );
    expect(all).toContainEqual(
      expect.stringMatching(/^Key Vault name \(uat\): the accelerator's template names the Key Vault keyvault-uat-</),
    );
    expect(all).toContainEqual(
      expect.stringMatching(
        /^parameters\.storageConfig\.value\.allowBlobPublicAccess \(development,uat,production\): public blob access/,
      ),
    );
    expect(all).toContainEqual(
      expect.stringMatching(/^parameters\.amlwsname \(development\): an Azure Machine Learning resource/),
    );
  });

  it("writes a configuration whose infrastructure builds in every environment", async () => {
    const dir = tempDir();
    const file = join(dir, "lakeforge.yaml");
    const r = await runCli(["convert", "dstoolkit", CONFIGS, "--out", file]);
    expect(r.code).toBe(0);
    const env = {
      AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
      DEVELOPMENT_DATABRICKS_HOST: "https://adb-1.1.azuredatabricks.net",
      UAT_DATABRICKS_HOST: "https://adb-2.2.azuredatabricks.net",
      PRODUCTION_DATABRICKS_HOST: "https://adb-3.3.azuredatabricks.net",
    };
    const config = await loadConfig(dir, { environment: "production", env });
    const infra = infraFor(config);
    expect(infra.subscriptionId).toBe(SUBSCRIPTION);
    expect(infra.location).toBe("northeurope");
    expect(infra.names.storage).toBe("churnlakeprod");
    expect(infra.template.resources[0]).toMatchObject({ type: "Microsoft.Resources/resourceGroups", name: "churn-prod-rg" });
    expect(infra.roleAssignments.length).toBeGreaterThanOrEqual(4);
  });

  it("reads the Bicep parameters Pipeline_Param names in TemplateParamFilePath, with its subscription", () => {
    const p = convert(PIPELINE);
    const d = parse(p.text) as Obj;
    expect(p.problems).toEqual([]);
    expect(d.azure).toMatchObject({ subscription_id: SUBSCRIPTION, location: "eastus", storage: { sku: "Standard_LRS" } });
    expect(d.environments.uat.azure.resource_group).toBe("scoring-uat-rg");
    expect(d.azure.role_assignments.map((a: Obj) => a.role)).toEqual(["Contributor", "Storage Blob Data Contributor"]);
    // Consumed by the azure section, so no longer reported.
    expect(notes(p).some((n) => /^(SubscriptionId|Location|TemplateParamFilePath|RBAC_Assignments)/.test(n))).toBe(false);
    expect(notes(p)).toContainEqual(
      expect.stringMatching(/^TemplateFilePath \(development,uat\): .*replaced by the `azure:` section/),
    );
  });

  it("keeps reporting role assignments when no Bicep parameters are found", () => {
    const dir = tempDir();
    cpSync(PIPELINE, dir, { recursive: true });
    rmSync(join(dir, "Infrastructure"), { recursive: true });
    const p = convertDstoolkit(dir);
    expect(parse(p.text).azure).toBeUndefined();
    expect(notes(p)).toContainEqual(
      expect.stringMatching(
        /^RBAC_Assignments\[0\] \(development,uat\): Azure role assignment: .*no Bicep parameter file was found/,
      ),
    );
  });

  it("writes per-environment sections when some environments have no Bicep parameters", () => {
    const dir = tempDir();
    cpSync(CONFIGS, dir, { recursive: true });
    rmSync(join(dir, "infrastructure/bicep/params/uat"), { recursive: true });
    const p = convertDstoolkit(dir);
    const d = parse(p.text) as Obj;
    expect(d.azure).toBeUndefined();
    expect(d.environments.uat.azure).toBeUndefined();
    expect(d.environments.development.azure.subscription_id).toBe("${env.AZURE_SUBSCRIPTION_ID}");
    expect(d.environments.production.azure.location).toBe("northeurope");
    expect(p.problems).toEqual([]);
  });
});
