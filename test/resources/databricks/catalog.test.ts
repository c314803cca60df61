import { describe, expect, it } from "vitest";
import {
  catalogAdapter,
  experimentAdapter,
  grantAdapter,
  registeredModelAdapter,
  schemaAdapter,
  volumeAdapter,
} from "../../../src/resources/databricks/index.js";
import { compare, lifecycle, useWorkspace } from "./helpers.js";

const { ctx } = useWorkspace();

describe("databricks.catalog", () => {
  it("goes through create, find, update and delete; names compare case-insensitively", async () => {
    const spec = { name: "LF_Sales", comment: "sales data", properties: { team: "sales" } };
    const id = await lifecycle(catalogAdapter, ctx(), {
      spec,
      changed: { ...spec, comment: "all sales data" },
      changedPaths: ["comment"],
      updated: (r) => expect(r.comment).toBe("all sales data"),
    });
    expect(id).toBe("lf_sales");
    const stored = { name: "lf_sales", comment: "sales data", properties: { team: "sales" } };
    expect(compare(catalogAdapter, { ...spec, storage_root: "s3://b/x" }, stored, spec)).toMatchObject([
      { path: "storage_root", forcesRecreate: true },
    ]);
  });

  it("clears a comment removed from the configuration and sets the owner after creating", async () => {
    await ctx().client.post("/api/2.0/preview/scim/v2/Groups", { displayName: "lf-owners" });
    const spec = { name: "lf_owned", comment: "to be removed", owner: "lf-owners" };
    const { id, remote } = await catalogAdapter.create(ctx(), spec);
    expect(remote?.owner).toBe("lf-owners");
    const without = { name: "lf_owned", owner: "lf-owners" };
    const changes = compare(catalogAdapter, without, remote as Record<string, unknown>, spec);
    expect(changes).toMatchObject([{ path: "comment", before: "to be removed", after: undefined }]);
    await catalogAdapter.update(ctx(), id, without, remote as Record<string, unknown>, changes);
    const after = (await catalogAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(after.comment ?? "").toBe("");
    expect(compare(catalogAdapter, without, after, without)).toEqual([]);
    await catalogAdapter.delete(ctx(), id);
  });
});

describe("databricks.schema, databricks.volume and databricks.registered_model", () => {
  it("each go through create, find, update and delete", async () => {
    await catalogAdapter.create(ctx(), { name: "lf_ml" });
    const schema = { name: "features", catalog_name: "lf_ml", comment: "features" };
    expect(
      await lifecycle(schemaAdapter, ctx(), {
        spec: schema,
        changed: { ...schema, properties: { tier: "gold" } },
        changedPaths: ["properties.tier"],
        updated: (r) => expect(r.properties).toMatchObject({ tier: "gold" }),
      }),
    ).toBe("lf_ml.features");

    await schemaAdapter.create(ctx(), { name: "models", catalog_name: "lf_ml" });
    const volume = { name: "raw", catalog_name: "lf_ml", schema_name: "models", comment: "raw files" };
    expect(
      await lifecycle(volumeAdapter, ctx(), {
        spec: volume,
        changed: { ...volume, comment: "raw input files" },
        changedPaths: ["comment"],
        updated: (r) => expect(r.volume_type).toBe("MANAGED"),
      }),
    ).toBe("lf_ml.models.raw");

    const model = { name: "churn", catalog_name: "lf_ml", schema_name: "models", comment: "churn model" };
    expect(
      await lifecycle(registeredModelAdapter, ctx(), {
        spec: model,
        changed: { ...model, comment: "churn classifier" },
        changedPaths: ["comment"],
        updated: (r) => expect(r.comment).toBe("churn classifier"),
      }),
    ).toBe("lf_ml.models.churn");
    const { remote } = await registeredModelAdapter.create(ctx(), model);
    expect(registeredModelAdapter.outputs?.("lf_ml.models.churn", remote)).toEqual({ full_name: "lf_ml.models.churn" });
  });
});

describe("databricks.grant", () => {
  it("manages exactly one principal's privileges and leaves other principals alone", async () => {
    await catalogAdapter.create(ctx(), { name: "lf_granted" });
    await ctx().client.post("/api/2.0/preview/scim/v2/Groups", { displayName: "lf-analysts" });
    await ctx().client.post("/api/2.0/preview/scim/v2/Groups", { displayName: "lf-others" });
    await ctx().client.patch("/api/2.1/unity-catalog/permissions/catalog/lf_granted", {
      changes: [{ principal: "lf-others", add: ["BROWSE"] }],
    });
    const spec = {
      securable: { type: "catalog", name: "lf_granted" },
      principal: "lf-analysts",
      privileges: ["USE_CATALOG", "USE_SCHEMA"],
    };
    const id = await lifecycle(grantAdapter, ctx(), {
      spec,
      changed: { ...spec, privileges: ["USE_CATALOG", "SELECT"] },
      changedPaths: ["privileges"],
      updated: (r) => expect(r.privileges).toEqual(["SELECT", "USE_CATALOG"]),
    });
    expect(id).toBe("catalog/lf_granted/lf-analysts");
    const others = await ctx().client.get<{ privilege_assignments: unknown[] }>(
      "/api/2.1/unity-catalog/permissions/catalog/lf_granted",
    );
    expect(others.privilege_assignments).toEqual([{ principal: "lf-others", privileges: ["BROWSE"] }]);
    expect(compare(grantAdapter, { ...spec, principal: "lf-others" }, { ...spec }, spec)).toMatchObject([
      { path: "principal", forcesRecreate: true },
    ]);
  });

  it("grants on a registered model through its FUNCTION securable", async () => {
    await catalogAdapter.create(ctx(), { name: "lf_models" });
    await schemaAdapter.create(ctx(), { name: "s", catalog_name: "lf_models" });
    await registeredModelAdapter.create(ctx(), { name: "m", catalog_name: "lf_models", schema_name: "s" });
    const spec = { securable: { type: "registered_model", name: "lf_models.s.m" }, principal: "users", privileges: ["EXECUTE"] };
    const { id } = await grantAdapter.create(ctx(), spec);
    const remote = (await grantAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(remote.privileges).toEqual(["EXECUTE"]);
    expect(compare(grantAdapter, spec, remote, spec)).toEqual([]);
    await grantAdapter.delete(ctx(), id);
    expect(await grantAdapter.read(ctx(), id)).toBeUndefined();
  });
});

describe("databricks.experiment", () => {
  it("goes through create, find by name, rename and tag changes, and delete", async () => {
    const spec = { name: "/Shared/lakeforge/ml/churn", tags: [{ key: "team", value: "ml" }] };
    await lifecycle(experimentAdapter, ctx(), {
      spec,
      changed: {
        ...spec,
        tags: [
          { key: "team", value: "data" },
          { key: "stage", value: "dev" },
        ],
      },
      changedPaths: ["tags.team.value", "tags.stage.key", "tags.stage.value"],
      updated: (r) => {
        const tags = r.tags as { key: string; value: string }[];
        expect(tags.filter((t) => !t.key.startsWith("mlflow."))).toEqual([
          { key: "team", value: "data" },
          { key: "stage", value: "dev" },
        ]);
      },
    });
  });

  it("renames in place and removes tags that left the configuration", async () => {
    const spec = {
      name: "/Shared/lakeforge/ml/old",
      tags: [
        { key: "a", value: "1" },
        { key: "b", value: "2" },
      ],
    };
    const { id } = await experimentAdapter.create(ctx(), spec);
    const remote = (await experimentAdapter.read(ctx(), id)) as Record<string, unknown>;
    const next = { name: "/Shared/lakeforge/ml/new", tags: [{ key: "a", value: "1" }] };
    const changes = compare(experimentAdapter, next, remote, spec);
    expect(changes.map((c) => c.path).sort()).toEqual(["name", "tags.b"]);
    await experimentAdapter.update(ctx(), id, next, remote, changes);
    const after = (await experimentAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(after.name).toBe("/Shared/lakeforge/ml/new");
    expect(compare(experimentAdapter, next, after, next)).toEqual([]);
    // No tags configured any more: the ones applied before are removed.
    const bare = { name: "/Shared/lakeforge/ml/new" };
    const removal = compare(experimentAdapter, bare, after, next);
    expect(removal.map((c) => c.path)).toEqual(["tags"]);
    await experimentAdapter.update(ctx(), id, bare, after, removal);
    const untagged = (await experimentAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(experimentAdapter.normalize?.(untagged)).toMatchObject({ tags: [] });
    await experimentAdapter.delete(ctx(), id);
    expect(await experimentAdapter.read(ctx(), id)).toBeUndefined();
    expect(await experimentAdapter.find(ctx(), next)).toBeUndefined();
  });
});
