import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";
import type { RequestLogEntry } from "../../src/workspace/workspace.js";
import { type FakeArm, startFakeArm } from "../fakes/azure-arm/server.js";
import { runCli, tempDir } from "../unit/convert/helpers.js";
import { EXAMPLE, EXAMPLE_ENV, TOKEN, useFakeArm, workspaceGet } from "./helpers.js";

/**
 * One `lakeforge apply -e uat` of examples/platform: the infrastructure (through the official ARM
 * clients against the local Resource Manager), then the workspace configuration at the URL the
 * deployment outputs. The fake gives the Databricks workspace resource the URL of a running local
 * workspace, which the CLI reaches with a personal access token from DATABRICKS_TOKEN (pat auth: the
 * `azure_workspace_resource_id` the example sets matters only to Azure auth).
 */

let fake: FakeArm;
let ws: RunningWorkspace;
let project: string;
let restore: (() => void) | undefined;

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
  fake = await startFakeArm({ workspaceUrl: ws.url });
  restore = useFakeArm(fake, { ...EXAMPLE_ENV, DATABRICKS_TOKEN: ws.token });
  // A copy: the CLI keeps a state cache next to the configuration, and one test edits it.
  project = join(tempDir("lakeforge-azure-e2e-"), "platform");
  cpSync(EXAMPLE, project, { recursive: true });
}, 60_000);

afterAll(async () => {
  restore?.();
  await fake?.stop();
  await ws?.stop();
});

const run = async (args: string[]) => {
  const r = await runCli([...args, "-C", project, "-e", "uat"]);
  for (const secret of [TOKEN, ws.token, EXAMPLE_ENV.ML_SP_CLIENT_SECRET, EXAMPLE_ENV.GITHUB_TOKEN]) {
    expect(r.stdout + r.stderr).not.toContain(secret);
  }
  return r;
};

/** Requests the workspace served after `seq` (the test control API's own are not logged). */
const workspaceRequests = (seq: number): RequestLogEntry[] => ws.workspace.requestLog.since(seq);
const deployments = () => fake.requests.filter((r) => r.method === "PUT" && r.path.includes("/deployments/"));

const KV_ID =
  "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/ml-platform-uat-rg/providers/Microsoft.KeyVault/vaults/ml-platform-uat-kv";

const api = <T>(path: string) => workspaceGet<T>(ws, path);

describe("lakeforge apply -e uat: infrastructure, then the workspace at its URL", () => {
  it("plans from empty: the infrastructure's creation, and the workspace part follows it", async () => {
    const seq = ws.workspace.requestLog.lastSeq;
    const r = await run(["plan", "--detailed-exitcode"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Lakeforge will make these changes in uat (Azure):");
    expect(r.stderr).toContain("+   azure.resource_group.ml-platform-uat-rg (create");
    expect(r.stderr).toContain("+   azure.Microsoft.Databricks/workspaces.ml-platform-uat-dbw (create");
    expect(r.stderr).toContain("The workspace part of uat is planned once its infrastructure exists (lakeforge apply).");
    expect(r.stderr).not.toContain("databricks.");
    expect(workspaceRequests(seq)).toEqual([]);
  });

  it("leaves the workspace untouched when the infrastructure fails", async () => {
    const seq = ws.workspace.requestLog.lastSeq;
    fake.failNextDeployment("Microsoft.Storage/storageAccounts", {
      code: "StorageAccountAlreadyTaken",
      message: "The storage account named mlplatformuatst is already taken.",
    });
    const r = await run(["apply", "--auto-approve"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("StorageAccountAlreadyTaken: The storage account named mlplatformuatst is already taken.");
    expect(r.stderr).not.toContain("Apply complete:");
    expect(workspaceRequests(seq)).toEqual([]);
  });

  it("applies the infrastructure, then creates the workspace resources at the deployed workspace's URL", async () => {
    const before = deployments().length;
    const seq = ws.workspace.requestLog.lastSeq;
    const r = await run(["apply", "--auto-approve"]);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(deployments().length).toBe(before + 1);
    expect(r.stderr).toContain(`Azure infrastructure of uat is deployed; workspace ${ws.url}.`);
    // The infrastructure first, then the workspace's plan and apply.
    const infraAt = r.stderr.indexOf("Azure infrastructure of uat is deployed");
    const workspacePlanAt = r.stderr.indexOf("Lakeforge will make these changes in uat:");
    expect(infraAt).toBeGreaterThan(0);
    expect(workspacePlanAt).toBeGreaterThan(infraAt);
    expect(r.stderr).toMatch(/Apply complete: \d+ created, 0 updated, 0 recreated, 0 deleted\./);

    const writes = workspaceRequests(seq).filter((q) => q.method !== "GET");
    expect(writes.length).toBeGreaterThan(20);
    expect(writes.every((q) => q.status < 400)).toBe(true);

    const clusters = await api<{ clusters: { cluster_name: string; autoscale?: { max_workers: number } }[] }>(
      "/api/2.1/clusters/list",
    );
    expect(clusters.clusters.find((c) => c.cluster_name === "ml-uat")?.autoscale?.max_workers).toBe(4);
    const scopes = await api<{ scopes: { name: string; backend_type: string; keyvault_metadata?: unknown }[] }>(
      "/api/2.0/secrets/scopes/list",
    );
    expect(scopes.scopes.find((s) => s.name === "ml-platform-vault")).toEqual({
      name: "ml-platform-vault",
      backend_type: "AZURE_KEYVAULT",
      keyvault_metadata: { resource_id: KV_ID, dns_name: "https://ml-platform-uat-kv.vault.azure.net/" },
    });
    expect(scopes.scopes.map((s) => s.name).sort()).toEqual(["ml-platform", "ml-platform-vault"]);
  });

  it("plans no changes in either part once applied", async () => {
    const r = await run(["plan", "--detailed-exitcode"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("No changes: uat (Azure) matches the configuration.");
    expect(r.stderr).toContain("No changes: uat matches the configuration.");
  });

  it("a change in the workspace section only updates the workspace", async () => {
    const file = join(project, "lakeforge.yaml");
    const text = readFileSync(file, "utf8");
    const changed = text.replace(
      "      catalog: ml_uat\n      max_workers: 4\n",
      "      catalog: ml_uat\n      max_workers: 6\n",
    );
    expect(changed).not.toBe(text);
    writeFileSync(file, changed);

    const plan = await run(["plan", "--detailed-exitcode"]);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toContain("No changes: uat (Azure) matches the configuration.");
    expect(plan.stderr).toContain("~   databricks.cluster.ml (update");
    expect(plan.stderr).toContain("Plan: 0 to create, 1 to update, 0 to recreate, 0 to delete");

    const before = deployments().length;
    const seq = ws.workspace.requestLog.lastSeq;
    const r = await run(["apply", "--auto-approve"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Apply complete: 0 created, 1 updated, 0 recreated, 0 deleted.");
    expect(deployments().length).toBe(before);
    const writes = workspaceRequests(seq).filter((q) => q.method !== "GET" && !q.path.includes("/.lakeforge/"));
    expect(writes.map((q) => `${q.method} ${q.path}`)).toContain("POST /api/2.1/clusters/edit");
  });

  it("destroy reaches the workspace through the deployed outputs and leaves the infrastructure", async () => {
    const before = fake.requests.length;
    const r = await run(["destroy", "--auto-approve"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("-   databricks.secret_scope.vault (delete");
    const scopes = await api<{ scopes?: { name: string }[] }>("/api/2.0/secrets/scopes/list");
    expect(scopes.scopes ?? []).toEqual([]);
    // Resource Manager was only read.
    expect(fake.requests.slice(before).every((q) => q.method === "GET")).toBe(true);
    expect([...fake.resources.keys()].some((k) => k.endsWith("/ml-platform-uat-kv"))).toBe(true);
  });
});
