import type { GitPush, GitRefUpdate, GitRepositoryCreateOptions } from "azure-devops-node-api/interfaces/GitInterfaces.js";
import { ItemContentType, VersionControlChangeType } from "azure-devops-node-api/interfaces/GitInterfaces.js";
import type { PolicyConfiguration } from "azure-devops-node-api/interfaces/PolicyInterfaces.js";
import type {
  EnvironmentCreateParameter,
  VariableGroupParameters,
} from "azure-devops-node-api/interfaces/TaskAgentInterfaces.js";
import { afterEach, describe, expect, it } from "vitest";
import {
  conformance,
  environmentSchema,
  policyConfigurationSchema,
  pushSchema,
  refUpdatesSchema,
  repositoryCreateSchema,
  variableGroupSchema,
} from "../fakes/azure-devops/schemas.js";
import { type AzureDevopsFake, setup } from "./azure-devops-helpers.js";

let fake: AzureDevopsFake | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

const ID = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c";
const SHA = "a".repeat(40);

describe("the Azure DevOps fake's request schemas", () => {
  it("conform to the library's interfaces (checked by tsc) and accept bodies typed with them", () => {
    expect(Object.values(conformance).every((v) => v === true)).toBe(true);
    const create: GitRepositoryCreateOptions = { name: "r", project: { id: ID } };
    const push: GitPush = {
      refUpdates: [{ name: "refs/heads/main", oldObjectId: "0".repeat(40) }],
      commits: [
        {
          comment: "c",
          changes: [
            {
              changeType: VersionControlChangeType.Add,
              item: { path: "/a.txt" },
              newContent: { content: "YQ==", contentType: ItemContentType.Base64Encoded },
            },
            { changeType: VersionControlChangeType.Delete, item: { path: "/b.txt" } },
          ],
        },
      ],
    };
    const refs: GitRefUpdate[] = [{ name: "refs/heads/release", oldObjectId: "0".repeat(40), newObjectId: SHA }];
    const group: VariableGroupParameters = {
      name: "g",
      type: "Vsts",
      variables: { A: { value: "1" }, S: { value: "s", isSecret: true } },
      variableGroupProjectReferences: [{ name: "g", projectReference: { id: ID, name: "ml" } }],
    };
    const env: EnvironmentCreateParameter = { name: "e", description: "d" };
    const policy: PolicyConfiguration = {
      isEnabled: true,
      isBlocking: true,
      type: { id: ID },
      settings: {
        minimumApproverCount: 1,
        creatorVoteCounts: false,
        allowDownvotes: false,
        resetOnSourcePush: true,
        scope: [{ repositoryId: ID, refName: "refs/heads/main", matchKind: "Exact" }],
      },
    };
    expect(repositoryCreateSchema.safeParse(create).success).toBe(true);
    expect(pushSchema.safeParse(push).success).toBe(true);
    expect(refUpdatesSchema.safeParse(refs).success).toBe(true);
    expect(variableGroupSchema.safeParse(group).success).toBe(true);
    expect(environmentSchema.safeParse(env).success).toBe(true);
    expect(policyConfigurationSchema.safeParse(policy).success).toBe(true);
    // A field the interface does not declare is refused.
    expect(environmentSchema.safeParse({ ...env, colour: "blue" }).success).toBe(false);
  });

  it("records a malformed body and an unknown route as violations", async () => {
    const s = await setup();
    fake = s.fake;
    const ctx = s.ctx();
    const agent = await ctx.taskAgent();
    await expect(agent.addEnvironment({ name: "" }, "ml")).rejects.toMatchObject({ statusCode: 400 });
    // A 404 answer, which the library's REST client reads as "no such object".
    expect((await ctx.api.rest.get(`${s.fake.url}/ml/_apis/wiki/wikis`)).result).toBeNull();
    expect(s.fake.violations.some((v) => v.includes("malformed body"))).toBe(true);
    expect(s.fake.violations.some((v) => v.includes("unknown area") || v.includes("no such route"))).toBe(true);
  });
});
