import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { infraFor, isPrivilegedRole } from "../../src/azure/index.js";
import { checkName, NAME_RULES, type NamedKind, resourceName } from "../../src/azure/naming.js";
import { roleName } from "../../src/azure/roles.js";
import { loadConfig, validateConfig } from "../../src/config/config.js";
import { EXAMPLE, EXAMPLE_ENV } from "./helpers.js";

const ENVIRONMENTS = ["development", "uat", "preproduction", "production"];

const project = (azure: string) => {
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-azure-"));
  writeFileSync(
    join(dir, "lakeforge.yaml"),
    `project:\n  name: p\nazure:\n${azure}environments:\n  dev:\n    workspace: local\n`,
  );
  return dir;
};

describe("role policy", () => {
  it.each(ENVIRONMENTS)(
    "no role assignment of %s grants Owner or User Access Administrator at subscription scope",
    async (environment) => {
      const infra = infraFor(await loadConfig(EXAMPLE, { environment, env: EXAMPLE_ENV }));
      expect(infra.roleAssignments.length).toBeGreaterThan(0);
      for (const ra of infra.roleAssignments) {
        const guid = ra.roleDefinitionId.split("/").pop() as string;
        expect(isPrivilegedRole(guid) && ra.scopeKind === "subscription", `${roleName(guid)} on ${ra.scope}`).toBe(false);
      }
      // The emitted template holds the same: nothing at subscription level but the group and the nested deployment.
      expect(infra.template.resources.map((r) => r.type)).toEqual([
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Resources/deployments",
      ]);
    },
  );

  it("refuses Owner at subscription scope with a located error unless explicitly allowed", () => {
    const azure = `  subscription_id: 00000000-0000-0000-0000-000000000001
  location: westeurope
  role_assignments:
    - principal_id: 00000000-0000-0000-0000-0000000000aa
      role: Owner
      scope: subscription
`;
    const dir = project(azure);
    const result = validateConfig(dir, { relativeTo: dir });
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({
      loc: { line: 8, col: 13 },
      path: "azure.role_assignments.0.role",
      message: "Owner at subscription scope is refused: it can grant anyone anything in the subscription",
    });
    const allowed = validateConfig(project(`${azure}  allow_privileged_subscription_roles: true\n`));
    expect(allowed.issues).toEqual([]);
    const infra = infraFor(allowed.config as NonNullable<typeof allowed.config>);
    expect(infra.template.resources.some((r) => r.type === "Microsoft.Authorization/roleAssignments")).toBe(true);
  });

  it("refuses User Access Administrator by GUID on the federated identity too, and unknown roles", () => {
    const dir = project(`  subscription_id: 00000000-0000-0000-0000-000000000001
  location: westeurope
  federated_credentials:
    github:
      repository: org/repo
      subjects: [environment:dev]
    roles:
      - role: 18d7d88d-d35e-4fb5-a5c3-7773c20a72d9
        scope: subscription
      - role: Contributer
`);
    const messages = validateConfig(dir).issues.map((i) => `${i.loc.line}:${i.loc.col} ${i.path}: ${i.message}`);
    expect(messages).toEqual([
      "11:15 azure.federated_credentials.roles.0.role: 18d7d88d-d35e-4fb5-a5c3-7773c20a72d9 at subscription scope is refused: it can grant anyone anything in the subscription",
      '13:15 azure.federated_credentials.roles.1.role: unknown role "Contributer"; did you mean "Contributor"?',
    ]);
  });

  it("reports bad fields of the merged section where they are written", () => {
    const dir = project(`  subscription_id: not-a-guid
  location: westeurope
  key_vault:
    soft_delete_retention_days: 3
  naming: "{project}-{stage}"
`);
    const messages = validateConfig(dir).issues.map((i) => `${i.loc.line}:${i.loc.col} ${i.path}: ${i.message}`);
    expect(messages).toEqual([
      "4:20 azure.subscription_id: expected a GUID, e.g. 00000000-0000-0000-0000-000000000000",
      "7:33 azure.key_vault.soft_delete_retention_days: must be at least 7",
      "8:11 azure.naming: unknown token {stage} in the naming pattern",
      "8:11 azure.naming: the naming pattern must contain {kind}",
    ]);
  });
});

describe("naming", () => {
  it("gives every resource a valid, deterministic name, cutting long ones with a hash", () => {
    const long = {
      pattern: "{project}-{env}-{kind}-{location}",
      project: "a-very-long-project-name-for-testing",
      environment: "preproduction",
      location: "westeurope",
    };
    for (const kind of Object.keys(NAME_RULES) as NamedKind[]) {
      const name = resourceName(kind, long);
      expect(checkName(kind, name), `${kind}: ${name}`).toBeUndefined();
      expect(resourceName(kind, long)).toBe(name);
    }
    expect(resourceName("storage", long)).toMatch(/^[a-z0-9]{24}$/);
    expect(resourceName("key_vault", long)).toHaveLength(24);
    expect(resourceName("storage", { ...long, project: "ml-platform", environment: "uat" })).toMatch(
      /^mlplatformuatstweste[0-9a-f]{4}$/,
    );
    expect(
      resourceName("storage", { ...long, pattern: "{project}{env}{kind}", project: "ml-platform", environment: "uat" }),
    ).toBe("mlplatformuatst");
  });
});
