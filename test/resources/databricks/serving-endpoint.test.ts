/**
 * `databricks.model_serving_endpoint` against the local workspace, whose configuration updates stay
 * IN_PROGRESS for a while: the adapter waits for them before and after changing the configuration.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabricksClient } from "../../../src/clients/databricks/client.js";
import { RemoteError } from "../../../src/clients/http.js";
import type { DatabricksCtx } from "../../../src/resources/databricks/index.js";
import { servingEndpointAdapter } from "../../../src/resources/databricks/index.js";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";
import { compare, lifecycle } from "./helpers.js";

type Obj = Record<string, unknown>;

let ws: RunningWorkspace;
let ctx: DatabricksCtx;
const MODEL = "main.default.churn";

async function newVersion(): Promise<string> {
  const created = await ctx.client.post<{ model_version: { version: string } }>(
    "/api/2.0/mlflow/unity-catalog/model-versions/create",
    { name: MODEL, source: "dbfs:/tmp/model" },
  );
  await ctx.client.post("/api/2.0/mlflow/unity-catalog/model-versions/finalize", {
    name: MODEL,
    version: created.model_version.version,
  });
  return created.model_version.version;
}

async function writes(since: number): Promise<string[]> {
  const res = await fetch(`${ws.url}/__lakeforge/requests?since=${since}`, {
    headers: { authorization: `Bearer ${ws.token}` },
  });
  const { requests } = (await res.json()) as { requests: { method: string; path: string }[] };
  return requests.filter((q) => q.method !== "GET").map((q) => `${q.method} ${q.path}`);
}

const lastSeq = () => ws.workspace.requestLog.lastSeq;

beforeAll(async () => {
  ws = await startWorkspace({ ephemeral: true, port: 0, servingUpdateDelayMs: 60 });
  const token = ws.token;
  ctx = {
    client: new DatabricksClient({
      host: ws.url,
      auth: async () => ({ Authorization: `Bearer ${token}` }),
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    }),
    pollIntervalMs: 10,
    settleTimeoutMs: 10_000,
  };
  await ctx.client.post("/api/2.1/unity-catalog/models", { catalog_name: "main", schema_name: "default", name: "churn" });
  await newVersion();
  await newVersion();
});

afterAll(async () => {
  await ws?.stop();
});

const entity = (version: string, extra: Obj = {}) => ({
  entity_name: MODEL,
  entity_version: version,
  workload_size: "Small",
  scale_to_zero_enabled: true,
  ...extra,
});

describe("databricks.model_serving_endpoint", () => {
  it("goes through create, find, update of the served version and delete, waiting out each update", async () => {
    const spec = {
      name: "churn-dev",
      config: { served_entities: [entity("1")] },
      tags: [{ key: "team", value: "ml" }],
    };
    const id = await lifecycle(servingEndpointAdapter, ctx, {
      spec,
      changed: { ...spec, config: { served_entities: [entity("2")] } },
      // The served entity's default name follows its version: another entity, not an edit of one.
      changedPaths: [
        "config.served_entities.churn-1",
        ...["entity_name", "entity_version", "name", "scale_to_zero_enabled", "workload_size"].map(
          (f) => `config.served_entities.churn-2.${f}`,
        ),
      ],
      updated: (r) => {
        expect(r.state).toEqual({ ready: "READY", config_update: "NOT_UPDATING" });
        const served = (r.config as { served_entities: Obj[] }).served_entities;
        expect(served.map((e) => [e.name, e.entity_version])).toEqual([["churn-2", "2"]]);
        expect((r.config as Obj).config_version).toBe(2);
      },
    });
    expect(id).toBe("churn-dev");
  });

  it("creates ready to serve and outputs the endpoint id that permissions use", async () => {
    const spec = { name: "churn-ids", config: { served_entities: [entity("1", { name: "current" })] } };
    const { id, remote } = await servingEndpointAdapter.create(ctx, spec);
    expect(remote?.state).toEqual({ ready: "READY", config_update: "NOT_UPDATING" });
    const outputs = servingEndpointAdapter.outputs?.(id, remote) as Obj;
    expect(outputs.name).toBe("churn-ids");
    expect(outputs.endpoint_id).toMatch(/^[0-9a-f]{32}$/);
    const acl = await ctx.client.get<Obj>(`/api/2.0/permissions/serving-endpoints/${String(outputs.endpoint_id)}`);
    expect(acl.object_type).toBe("serving-endpoint");
    expect(acl.object_id).toBe(`/serving-endpoints/${String(outputs.endpoint_id)}`);
    await servingEndpointAdapter.delete(ctx, id);
  });

  it("changes traffic, tags and the AI gateway with their own calls, and nothing when nothing changed", async () => {
    const two = {
      name: "churn-ab",
      config: {
        served_entities: [entity("1", { name: "a" }), entity("2", { name: "b" })],
        traffic_config: {
          routes: [
            { served_model_name: "a", traffic_percentage: 80 },
            { served_model_name: "b", traffic_percentage: 20 },
          ],
        },
      },
      tags: [
        { key: "team", value: "ml" },
        { key: "tier", value: "gold" },
      ],
    };
    const { id, remote } = await servingEndpointAdapter.create(ctx, two);
    const fresh = (await servingEndpointAdapter.read(ctx, id)) as Obj;
    expect(compare(servingEndpointAdapter, two, fresh, two)).toEqual([]);

    const changed = {
      ...two,
      config: {
        ...two.config,
        traffic_config: {
          routes: [
            { served_entity_name: "a", traffic_percentage: 50 },
            { served_entity_name: "b", traffic_percentage: 50 },
          ],
        },
      },
      tags: [{ key: "team", value: "data" }],
      ai_gateway: { usage_tracking_config: { enabled: true } },
    };
    const changes = compare(servingEndpointAdapter, changed, fresh, two);
    expect(changes.map((c) => c.path).sort()).toEqual([
      "ai_gateway.usage_tracking_config.enabled",
      "config.traffic_config.routes.a.traffic_percentage",
      "config.traffic_config.routes.b.traffic_percentage",
      "tags.team.value",
      "tags.tier",
    ]);
    const seq = lastSeq();
    await servingEndpointAdapter.update(ctx, id, changed, remote as Obj, changes);
    expect(await writes(seq)).toEqual([
      "PUT /api/2.0/serving-endpoints/churn-ab/config",
      "PATCH /api/2.0/serving-endpoints/churn-ab/tags",
      "PUT /api/2.0/serving-endpoints/churn-ab/ai-gateway",
    ]);
    const after = (await servingEndpointAdapter.read(ctx, id)) as Obj;
    expect(after.tags).toEqual([{ key: "team", value: "data" }]);
    expect(after.ai_gateway).toEqual({ usage_tracking_config: { enabled: true } });
    expect(compare(servingEndpointAdapter, changed, after, changed)).toEqual([]);
    await servingEndpointAdapter.delete(ctx, id);
  });

  it("takes served_models as served entities, and replaces the endpoint for a new description", async () => {
    const spec = {
      name: "churn-legacy",
      description: "churn",
      config: { served_models: [{ model_name: MODEL, model_version: "1", workload_size: "Small", scale_to_zero_enabled: true }] },
    };
    const { id } = await servingEndpointAdapter.create(ctx, spec);
    const remote = (await servingEndpointAdapter.read(ctx, id)) as Obj;
    const served = (remote.config as { served_entities: Obj[] }).served_entities;
    expect(served).toMatchObject([{ name: "churn-1", entity_name: MODEL, entity_version: "1" }]);
    expect(compare(servingEndpointAdapter, spec, remote, spec)).toEqual([]);
    expect(compare(servingEndpointAdapter, { ...spec, description: "churn v2" }, remote, spec)).toMatchObject([
      { path: "description", forcesRecreate: true },
    ]);
    await servingEndpointAdapter.delete(ctx, id);
  });

  it("surfaces the workspace's refusal of a model version that does not exist, creating nothing", async () => {
    const spec = { name: "churn-missing", config: { served_entities: [entity("9")] } };
    const err = await servingEndpointAdapter.create(ctx, spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((err as RemoteError).message).toMatch(/Model version 9 of model 'main\.default\.churn' does not exist/);
    expect(await servingEndpointAdapter.find(ctx, spec)).toBeUndefined();
  });
});
