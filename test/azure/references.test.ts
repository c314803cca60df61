// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the configuration and its plans are full of ${...} references
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { AzureOutputRef, Template } from "../../src/config/refs.js";
import { openEnvironment } from "../../src/deploy/environment.js";
import { UserError } from "../../src/lib/errors.js";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";
import { type FakeArm, startFakeArm } from "../fakes/azure-arm/server.js";
import { runCli, tempDir } from "../unit/convert/helpers.js";
import { TOKEN, useFakeArm, workspaceGet } from "./helpers.js";

/**
 * `${azure.<part>.<field>}` inside resource fields: a secret scope backed by the deployed Key Vault
 * and job parameters naming the deployed storage. Before the infrastructure exists, plans show them
 * as known after apply (the workspace is reachable: its host does not come from Azure); apply deploys
 * the infrastructure and sends the real values; nothing ever sends `${azure...}` to the workspace.
 */

const SUB = "55555555-5555-5555-5555-555555555555";
const KV_ID = `/subscriptions/${SUB}/resourceGroups/refs-dev-rg/providers/Microsoft.KeyVault/vaults/refs-dev-kv`;
const KV_URI = "https://refs-dev-kv.vault.azure.net/";

const CONFIG = `project:
  name: refs
environments:
  dev:
    workspace:
      host: \${env.REFS_WORKSPACE_HOST}
    azure:
      subscription_id: ${SUB}
      location: westeurope
resources:
  secret_scopes:
    vault:
      name: refs-vault
      backend_type: AZURE_KEYVAULT
      keyvault_metadata:
        resource_id: \${azure.key_vault.id}
        dns_name: \${azure.key_vault.uri}
  jobs:
    ingest:
      name: refs-ingest
      parameters:
        - name: landing
          default: abfss://bronze@\${azure.storage.name}.dfs.core.windows.net/landing
        - name: vault
          default: \${azure.key_vault.uri}
      tasks:
        - task_key: main
          notebook_task:
            notebook_path: /Shared/refs/ingest
          new_cluster:
            spark_version: 15.4.x-scala2.12
            node_type_id: Standard_DS3_v2
            num_workers: 1
`;

let fake: FakeArm;
let ws: RunningWorkspace;
let project: string;
let restore: (() => void) | undefined;

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0 });
  fake = await startFakeArm();
  restore = useFakeArm(fake, { REFS_WORKSPACE_HOST: ws.url, DATABRICKS_TOKEN: ws.token });
  project = join(tempDir("lakeforge-azure-refs-"), "refs");
  mkdirSync(project);
  writeFileSync(join(project, "lakeforge.yaml"), CONFIG);
}, 60_000);

afterAll(async () => {
  restore?.();
  await fake?.stop();
  await ws?.stop();
});

const run = async (args: string[]) => {
  const r = await runCli([...args, "-C", project, "-e", "dev"]);
  expect(r.stdout + r.stderr).not.toContain(TOKEN);
  expect(r.stdout + r.stderr).not.toContain(ws.token);
  return r;
};

const writes = (seq: number) => ws.workspace.requestLog.since(seq).filter((q) => q.method !== "GET");

const api = <T>(path: string) => workspaceGet<T>(ws, path);

describe("${azure.*} in resource fields", () => {
  it("loads as references known after apply, and as values once the outputs are given", async () => {
    const env = { REFS_WORKSPACE_HOST: "http://127.0.0.1:1" };
    const pending = await loadConfig(project, { environment: "dev", env });
    expect(pending.azure?.pending).toEqual(["key_vault.id", "key_vault.uri", "storage.name"]);
    expect(pending.azure?.workspacePending).toEqual([]);
    const scope = pending.resources.find((r) => r.name === "vault")?.spec as { keyvault_metadata: Record<string, unknown> };
    expect(scope.keyvault_metadata.resource_id).toBeInstanceOf(AzureOutputRef);
    expect(JSON.stringify(scope.keyvault_metadata)).toBe(
      '{"resource_id":"${azure.key_vault.id}","dns_name":"${azure.key_vault.uri}"}',
    );
    const job = pending.resources.find((r) => r.name === "ingest")?.spec as { parameters: { default: unknown }[] };
    expect(job.parameters[0]?.default).toBeInstanceOf(Template);
    expect(String(job.parameters[0]?.default)).toBe("abfss://bronze@${azure.storage.name}.dfs.core.windows.net/landing");

    const known = await loadConfig(project, {
      environment: "dev",
      env,
      azureOutputs: { "key_vault.id": KV_ID, "key_vault.uri": KV_URI, "storage.name": "refsdevst" },
    });
    expect(known.azure?.pending).toEqual([]);
    expect(known.resources.find((r) => r.name === "vault")?.spec).toMatchObject({
      keyvault_metadata: { resource_id: KV_ID, dns_name: KV_URI },
    });
    expect(known.resources.find((r) => r.name === "ingest")?.spec).toMatchObject({
      parameters: [
        { name: "landing", default: "abfss://bronze@refsdevst.dfs.core.windows.net/landing" },
        { name: "vault", default: KV_URI },
      ],
    });
  });

  it("refuses to open the environment for apply while its infrastructure is not deployed", async () => {
    const opening = openEnvironment({ target: project, environment: "dev", env: { REFS_WORKSPACE_HOST: ws.url } });
    await expect(opening).rejects.toThrow(UserError);
    await expect(opening).rejects.toThrow(
      "environment dev uses ${azure.key_vault.id} but its Azure infrastructure is not deployed",
    );
  });

  it("plans before the infrastructure exists with the outputs known after apply", async () => {
    const seq = ws.workspace.requestLog.lastSeq;
    const r = await run(["plan", "--detailed-exitcode"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("+   azure.Microsoft.KeyVault/vaults.refs-dev-kv (create");
    expect(r.stderr).toContain("Azure outputs used by the workspace part of dev are known after apply.");
    expect(r.stderr).toContain("+   databricks.secret_scope.vault (create, not in state)");
    expect(r.stderr).toContain('+ keyvault_metadata: {"resource_id":"(known after apply)","dns_name":"(known after apply)"}');
    expect(r.stderr).toContain(
      '+ parameters: [{"name":"landing","default":"(known after apply)"},{"name":"vault","default":"(known after apply)"}]',
    );
    expect(r.stderr).not.toContain("${azure");

    const json = await run(["plan", "--json"]);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout) as { actions: { address: string; changes: { path: string; after: unknown }[] }[] };
    const scope = plan.actions.find((a) => a.address === "databricks.secret_scope.vault");
    expect(scope?.changes.find((c) => c.path === "keyvault_metadata")?.after).toEqual({
      resource_id: { $unknown: true },
      dns_name: { $unknown: true },
    });
    expect(json.stdout).not.toContain("${azure");
    expect(writes(seq).filter((q) => !q.path.includes("/.lakeforge/"))).toEqual([]);
  });

  it("apply deploys the infrastructure, then sends the output values to the workspace", async () => {
    const r = await run(["apply", "--auto-approve"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Azure infrastructure of dev is deployed");
    expect(r.stderr).not.toContain("(known after apply)");
    expect(r.stderr).toMatch(/Apply complete: 2 created/);

    const scopes = await api<{ scopes: { name: string; keyvault_metadata?: unknown }[] }>("/api/2.0/secrets/scopes/list");
    expect(scopes.scopes.find((s) => s.name === "refs-vault")?.keyvault_metadata).toEqual({
      resource_id: KV_ID,
      dns_name: KV_URI,
    });
    const jobs = await api<{ jobs: { job_id: number; settings: { name: string } }[] }>("/api/2.2/jobs/list");
    const id = jobs.jobs.find((j) => j.settings.name === "refs-ingest")?.job_id;
    const job = await api<{ settings: { parameters: { name: string; default: string }[] } }>(`/api/2.2/jobs/get?job_id=${id}`);
    expect(job.settings.parameters).toEqual([
      { name: "landing", default: "abfss://bronze@refsdevst.dfs.core.windows.net/landing" },
      { name: "vault", default: KV_URI },
    ]);

    const again = await run(["plan", "--detailed-exitcode"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("No changes: dev (Azure) matches the configuration.");
    expect(again.stderr).toContain("No changes: dev matches the configuration.");
  });
});
