import { describe, expect, it } from "vitest";
import { groupAdapter, servicePrincipalAdapter } from "../../../src/resources/databricks/index.js";
import { compare, lifecycle, useWorkspace } from "./helpers.js";

const { ctx } = useWorkspace();

const SCIM = "/api/2.0/preview/scim/v2";

describe("databricks.service_principal", () => {
  it("goes through create, find by application id, update and delete", async () => {
    const spec = {
      display_name: "lf-deployer",
      application_id: "00000000-0000-0000-0000-00000000abcd",
      entitlements: ["allow-cluster-create"],
    };
    await lifecycle(servicePrincipalAdapter, ctx(), {
      spec,
      changed: { ...spec, display_name: "lf-deployer-ci", entitlements: ["workspace-access", "allow-cluster-create"] },
      changedPaths: ["display_name", "entitlements"],
      updated: (r) => expect(r.displayName).toBe("lf-deployer-ci"),
    });
  });

  it("is found by display name without an application id, and outputs the one the service gave", async () => {
    const spec = { display_name: "lf-anonymous" };
    const { id, remote } = await servicePrincipalAdapter.create(ctx(), spec);
    const appId = servicePrincipalAdapter.outputs?.(id, remote).application_id;
    expect(typeof appId).toBe("string");
    expect((await servicePrincipalAdapter.find(ctx(), spec))?.id).toBe(id);
    expect(compare(servicePrincipalAdapter, { ...spec, application_id: "other" }, remote ?? {}, spec)).toMatchObject([
      { path: "application_id", forcesRecreate: true },
    ]);
    await servicePrincipalAdapter.delete(ctx(), id);
  });
});

describe("databricks.group", () => {
  it("resolves members by name, compares them in any order, and adds and removes exactly the difference", async () => {
    await ctx().client.post(`${SCIM}/Users`, { userName: "ada@example.com" });
    await ctx().client.post(`${SCIM}/Users`, { userName: "grace@example.com" });
    await ctx().client.post(`${SCIM}/Groups`, { displayName: "lf-inner" });
    const sp = await servicePrincipalAdapter.create(ctx(), {
      display_name: "lf-member-sp",
      application_id: "11111111-0000-0000-0000-000000000001",
    });
    const spec = {
      display_name: "lf-team",
      entitlements: ["workspace-access"],
      members: [
        { user_name: "Ada@example.com" },
        { group_name: "lf-inner" },
        { service_principal_name: "11111111-0000-0000-0000-000000000001" },
      ],
    };
    await lifecycle(groupAdapter, ctx(), {
      spec,
      changed: {
        ...spec,
        members: [{ group_name: "lf-inner" }, { user_name: "grace@example.com" }, { user_name: "ada@example.com" }],
      },
      changedPaths: ["members"],
      updated: (r) => {
        const names = (r.member_names as { user_name?: string }[]).map((m) => m.user_name).filter(Boolean);
        expect(names.sort()).toEqual(["ada@example.com", "grace@example.com"]);
      },
    });
    await servicePrincipalAdapter.delete(ctx(), sp.id);
  });

  it("names a member that does not exist", async () => {
    await expect(
      groupAdapter.create(ctx(), { display_name: "lf-broken", members: [{ user_name: "nobody@example.com" }] }),
    ).rejects.toThrow(/user nobody@example.com does not exist/);
  });
});
