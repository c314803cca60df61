/**
 * `lakeforge deploy` of a bundle with a model serving endpoint, against the local workspace: the
 * endpoint with its tags and access list, a second deploy without writes, a new model version as one
 * configuration update, and `lakeforge destroy -t`; then the same bundle deployed by the official
 * `databricks bundle deploy` into another workspace makes the same endpoint.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployBundle, openBundle } from "../../src/bundle/deploy.js";
import { readBundle } from "../../src/bundle/source.js";
import { DatabricksClient } from "../../src/clients/databricks/client.js";
import { ConfigError } from "../../src/config/errors.js";
import { type RunningWorkspace, startWorkspace } from "../../src/workspace/server.js";
import { runCli } from "../support/cli.js";
import { isolatedCliEnv } from "../support/databricks-cli.js";
import { finished } from "../support/process.js";

type Obj = Record<string, unknown>;

const CLI = join(resolve(dirname(fileURLToPath(import.meta.url)), "../.."), ".cache", "bin", "databricks");
const HAVE_CLI = existsSync(CLI);
if (!HAVE_CLI) console.warn(`Skipping the serving endpoint equality test: ${CLI} is missing. Run \`npm run setup\` to build it.`);

const work = mkdtempSync(join(tmpdir(), "lakeforge-bundle-serving-"));
const dir = join(work, "serving");
let ws: RunningWorkspace;
let api: DatabricksClient;
const ENDPOINT = "dev_admin_churn-endpoint";

const YML = `bundle:
  name: serving
permissions:
  - group_name: users
    level: CAN_RUN
resources:
  model_serving_endpoints:
    churn:
      name: churn-endpoint
      config:
        served_models:
          - model_name: main.default.churn
            model_version: 1
            workload_size: Small
            scale_to_zero_enabled: true
      tags:
        - key: team
          value: ml
targets:
  dev:
    mode: development
    default: true
`;

const env = () => ({
  DATABRICKS_HOST: ws.url,
  DATABRICKS_TOKEN: ws.token,
  HOME: work,
  DATABRICKS_CONFIG_FILE: join(work, "none"),
});

async function newVersion(client = api): Promise<void> {
  const created = await client.post<{ model_version: { version: string } }>(
    "/api/2.0/mlflow/unity-catalog/model-versions/create",
    {
      name: "main.default.churn",
      source: "dbfs:/tmp/churn",
    },
  );
  await client.post("/api/2.0/mlflow/unity-catalog/model-versions/finalize", {
    name: "main.default.churn",
    version: created.model_version.version,
  });
}

async function withModel(client: DatabricksClient): Promise<void> {
  await client.post("/api/2.1/unity-catalog/models", { catalog_name: "main", schema_name: "default", name: "churn" });
  await newVersion(client);
  await newVersion(client);
}

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0, servingUpdateDelayMs: 30 });
  api = new DatabricksClient({ host: ws.url, auth: async () => ({ Authorization: `Bearer ${ws.token}` }) });
  await withModel(api);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "databricks.yml"), YML);
});

afterAll(async () => {
  await ws?.stop();
  rmSync(work, { recursive: true, force: true });
});

const lastSeq = () => ws.workspace.requestLog.lastSeq;
/** Writes since `seq`, without the synchronisation of state files and the lock under the bundle's root. */
const writesSince = (seq: number) =>
  ws.workspace.requestLog
    .since(seq)
    .filter((q) => q.method !== "GET" && !q.path.startsWith("/api/2.0/workspace/"))
    .map((q) => `${q.method} ${q.path}`);

async function deploy(): Promise<Awaited<ReturnType<typeof deployBundle>>> {
  const b = await openBundle({ dir, env: env() });
  try {
    return await deployBundle(b);
  } finally {
    await b.close();
  }
}

describe("lakeforge deploy of a model serving endpoint", () => {
  it("deploys the endpoint (dev prefix, served models as served entities, tags) and its access list", async () => {
    const { result } = await deploy();
    expect(result?.failed ?? []).toEqual([]);
    const endpoint = await api.get<Obj>(`/api/2.0/serving-endpoints/${ENDPOINT}`);
    expect(endpoint.state).toEqual({ ready: "READY", config_update: "NOT_UPDATING" });
    expect(endpoint.tags).toEqual([{ key: "team", value: "ml" }]);
    const served = (endpoint.config as { served_entities: Obj[] }).served_entities;
    expect(served).toMatchObject([
      { name: "churn-1", entity_name: "main.default.churn", entity_version: "1", workload_size: "Small" },
    ]);
    const acl = await api.get<{ access_control_list: Obj[] }>(`/api/2.0/permissions/serving-endpoints/${String(endpoint.id)}`);
    const direct = acl.access_control_list.map((e) => [
      e.user_name ?? e.group_name,
      (e.all_permissions as Obj[]).filter((p) => !p.inherited).map((p) => p.permission_level),
    ]);
    expect(direct).toEqual(
      expect.arrayContaining([
        ["users", ["CAN_QUERY"]],
        ["admin@lakeforge.local", ["CAN_MANAGE"]],
      ]),
    );
  });

  it("deploys again without a single write", async () => {
    const seq = lastSeq();
    const { result } = await deploy();
    expect(result).toBeUndefined();
    expect(ws.workspace.requestLog.since(seq).filter((q) => q.method !== "GET")).toEqual([]);
  });

  it("deploys a new model version as one configuration update", async () => {
    writeFileSync(join(dir, "databricks.yml"), YML.replace("model_version: 1", "model_version: 2"));
    const seq = lastSeq();
    const { result } = await deploy();
    expect(result?.failed).toEqual([]);
    expect(writesSince(seq)).toEqual([`PUT /api/2.0/serving-endpoints/${ENDPOINT}/config`]);
    const endpoint = await api.get<Obj>(`/api/2.0/serving-endpoints/${ENDPOINT}`);
    expect((endpoint.config as { served_entities: Obj[] }).served_entities).toMatchObject([
      { name: "churn-2", entity_version: "2" },
    ]);
    const again = lastSeq();
    expect((await deploy()).result).toBeUndefined();
    expect(writesSince(again)).toEqual([]);
  });

  it("lakeforge destroy -t removes the endpoint", async () => {
    const res = await runCli(["destroy", "-C", dir, "-t", "dev", "--auto-approve"], { env: env() });
    expect(res.code, res.stderr).toBe(0);
    const gone = await api.get(`/api/2.0/serving-endpoints/${ENDPOINT}`).then(
      () => 200,
      (e: { status?: number }) => e.status,
    );
    expect(gone).toBe(404);
    expect((await api.get<{ endpoints: Obj[] }>("/api/2.0/serving-endpoints")).endpoints).toEqual([]);
  });

  it("recovers from a lost create response by finding the endpoint: one endpoint, one create", async () => {
    ws.workspace.faults.addFault({ method: "POST", path: "/api/2.0/serving-endpoints", apply_then_status: 500, count: 1 });
    const seq = lastSeq();
    const { result } = await deploy();
    expect(result?.failed).toEqual([]);
    expect(writesSince(seq).filter((w) => w.startsWith("POST /api/2.0/serving-endpoints"))).toEqual([
      "POST /api/2.0/serving-endpoints",
    ]);
    const names = (await api.get<{ endpoints: Obj[] }>("/api/2.0/serving-endpoints")).endpoints.map((e) => e.name);
    expect(names).toEqual([ENDPOINT]);
    expect((await deploy()).result).toBeUndefined();
    const res = await runCli(["destroy", "-C", dir, "-t", "dev", "--auto-approve"], { env: env() });
    expect(res.code, res.stderr).toBe(0);
  });

  it("refuses served_models with served_entities, and a bad endpoint name, located, before any request", () => {
    const broken = YML.replace(
      "      tags:",
      "        served_entities:\n          - entity_name: main.default.churn\n            entity_version: 1\n      tags:",
    ).replace("name: churn-endpoint", "name: churn endpoint");
    writeFileSync(join(dir, "databricks.yml"), broken);
    const seq = lastSeq();
    let message = "";
    try {
      readBundle(dir);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message).toMatch(
      /databricks\.yml:9:13 resources\.model_serving_endpoints\.churn\.name: an endpoint name consists of letters, digits, dashes and underscores/,
    );
    expect(message).toMatch(
      /databricks\.yml:11:9 resources\.model_serving_endpoints\.churn\.config\.served_models: use served_entities or served_models, not both/,
    );
    expect(lastSeq()).toBe(seq);
  });
});

/** What a deploy made, without ids and timestamps: the endpoint and its direct access list. */
async function made(client: DatabricksClient): Promise<Obj> {
  const {
    id,
    creation_timestamp: _c,
    last_updated_timestamp: _u,
    ...endpoint
  } = await client.get<Obj>(`/api/2.0/serving-endpoints/${ENDPOINT}`);
  const config = endpoint.config as { served_entities: Obj[] };
  for (const e of config.served_entities) delete e.creation_timestamp;
  const acl = await client.get<{ access_control_list: Obj[] }>(`/api/2.0/permissions/serving-endpoints/${String(id)}`);
  const direct = acl.access_control_list
    .map((e) => ({
      who: e.user_name ?? e.group_name ?? e.service_principal_name,
      levels: (e.all_permissions as Obj[]).filter((p) => !p.inherited).map((p) => p.permission_level),
    }))
    .filter((e) => e.levels.length > 0)
    .sort((a, b) => String(a.who).localeCompare(String(b.who)));
  return { endpoint, direct };
}

describe.skipIf(!HAVE_CLI)("the official databricks bundle deploy", () => {
  it("makes the same endpoint and access list as lakeforge deploy", async () => {
    const lfDir = join(work, "lakeforge", "serving");
    const cliDir = join(work, "cli", "serving");
    for (const d of [lfDir, cliDir]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, "databricks.yml"), YML);
    }
    const b = await openBundle({ dir: lfDir, env: env() });
    try {
      expect((await deployBundle(b)).result?.failed).toEqual([]);
    } finally {
      await b.close();
    }

    const other = await startWorkspace({ ephemeral: true, port: 0 });
    try {
      const otherApi = new DatabricksClient({ host: other.url, auth: async () => ({ Authorization: `Bearer ${other.token}` }) });
      await withModel(otherApi);
      const res = await finished(
        spawn(CLI, ["bundle", "deploy"], {
          cwd: cliDir,
          env: isolatedCliEnv({ home: work, url: other.url, token: other.token }),
          stdio: ["ignore", "pipe", "pipe"],
        }),
      );
      expect(res.code, res.stderr).toBe(0);
      expect(await made(otherApi)).toEqual(await made(api));
    } finally {
      await other.stop();
    }
  }, 120_000);
});
