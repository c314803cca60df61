import { afterEach, describe, expect, it } from "vitest";
import { azureDevopsProvider } from "../../src/bootstrap/azure-devops/index.js";
import { BootstrapError, bootstrap } from "../../src/bootstrap/orchestrate.js";
import { Secret } from "../../src/lib/secret.js";
import { type AzureDevopsFake, memoryState, request, run, setup, writesOf } from "./azure-devops-helpers.js";

let fake: AzureDevopsFake | undefined;

afterEach(async () => {
  // Every request matched a route of the fake and every body its schema.
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

/** The request with a repository-level CI identity (the `<name>-ci` group the PR pipeline reads). */
const withCi = (c: Parameters<typeof request>[0], name = "churn-model") =>
  request(c, {
    name,
    variables: { DATABRICKS_CLIENT_ID: "99999999-2222-3333-4444-555555555555" },
    secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(`${c.prodSecret}-ci`) },
  });

/** What a bootstrap of `name` left in the fake. */
function leftovers(f: AzureDevopsFake, name: string): string[] {
  const groups = f.variableGroups().filter((g) => g.name.startsWith(`${name}-`));
  const envs = f.environments().filter((e) => e.name.startsWith(`${name}-`));
  const ids = new Set([...groups.map((g) => `variablegroup/${g.id}`), ...envs.map((e) => `environment/${e.id}`)]);
  return [
    ...f
      .repositories()
      .filter((r) => r.name === name)
      .map((r) => `repository ${r.name}`),
    ...groups.map((g) => `variable group ${g.name}`),
    ...envs.map((e) => `environment ${e.name}`),
    ...f
      .pipelines()
      .filter((p) => p.folder === `\\${name}`)
      .map((p) => `pipeline ${p.name}`),
    ...[...f.pipelinePermissions().keys()].filter((k) => ids.has(k)).map((k) => `permission ${k}`),
    ...f
      .repositoryAces()
      .filter((e) => e.repository === name)
      .map((e) => `access of ${e.team}`),
  ];
}

describe("Azure DevOps: the CI variable group and pipeline permissions", () => {
  it("creates <name>-ci with the CI identity and authorises every pipeline of the repository for its groups and environments", async () => {
    const s = await setup();
    fake = s.fake;
    const r = await run(s.ctx(), withCi(s.canaries));
    expect(r.result.failed).toEqual([]);

    const ci = s.fake.variableGroups().find((g) => g.name === "churn-model-ci");
    expect(ci?.variables).toEqual({
      DATABRICKS_CLIENT_ID: { value: "99999999-2222-3333-4444-555555555555", isSecret: false },
      DATABRICKS_CLIENT_SECRET: { value: `${s.canaries.prodSecret}-ci`, isSecret: true },
    });

    const pipelineIds = s.fake
      .pipelines()
      .filter((p) => p.folder === "\\churn-model")
      .map((p) => p.id)
      .sort();
    expect(pipelineIds).toHaveLength(2);
    const perms = s.fake.pipelinePermissions();
    const groupId = (n: string) => s.fake.variableGroups().find((g) => g.name === n)?.id;
    const envId = (n: string) => s.fake.environments().find((e) => e.name === n)?.id;
    const expected = [
      `variablegroup/${groupId("churn-model-ci")}`,
      `variablegroup/${groupId("churn-model-staging")}`,
      `variablegroup/${groupId("churn-model-prod")}`,
      `environment/${envId("churn-model-staging")}`,
      `environment/${envId("churn-model-prod")}`,
    ];
    expect([...perms.keys()].sort()).toEqual([...expected].sort());
    for (const k of expected) expect(perms.get(k)).toEqual(pipelineIds);

    // A second run makes no write.
    const before = writesOf(s.fake).length;
    const second = await run(s.ctx(), withCi(s.canaries), r.state);
    expect(second.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
    expect(writesOf(s.fake).length).toBe(before);
  });

  it("re-authorises a pipeline whose permission was revoked, and only that", async () => {
    const s = await setup();
    fake = s.fake;
    const r = await run(s.ctx(), withCi(s.canaries));
    const envId = s.fake.environments().find((e) => e.name === "churn-model-prod")?.id;
    const pipelineId = s.fake.pipelines()[0]?.id as number;
    // Someone revokes one pipeline's permission on the prod environment.
    const { rawRequest } = await import("../../src/bootstrap/azure-devops/context.js");
    await rawRequest(s.ctx(), "PATCH", `ml/_apis/pipelines/pipelinePermissions/environment/${envId}`, "7.1-preview.1", {
      pipelines: [{ id: pipelineId, authorized: false }],
    });
    const before = writesOf(s.fake).length;
    const again = await run(s.ctx(), withCi(s.canaries), r.state);
    expect(again.plan.actions.filter((a) => a.action !== "skip").map((a) => a.address)).toEqual([
      "azure-devops.pipeline_permission.environment/churn-model-prod",
    ]);
    const writes = writesOf(s.fake).slice(before);
    expect(writes.map((w) => `${w.method} ${w.url.split("?")[0]}`)).toEqual([
      `PATCH /acme/ml/_apis/pipelines/pipelinePermissions/environment/${envId}`,
    ]);
    expect(JSON.parse(writes[0]?.body ?? "{}").pipelines).toEqual([{ id: pipelineId, authorized: true }]);
    expect(s.fake.pipelinePermissions().get(`environment/${envId}`)).toHaveLength(2);
  });

  it("makes no <name>-ci group and no permission for it when the request has no repository-level values", async () => {
    const s = await setup();
    fake = s.fake;
    const r = await run(s.ctx(), request(s.canaries));
    expect(r.result.failed).toEqual([]);
    expect(s.fake.variableGroups().map((g) => g.name)).not.toContain("churn-model-ci");
    expect(s.fake.pipelinePermissions().size).toBe(4);
  });

  it("rolls back to nothing after a failure at every write, the CI group and permissions included, leaking no secret", async () => {
    const s = await setup();
    fake = s.fake;
    await bootstrap(azureDevopsProvider(), s.ctx(), withCi(s.canaries, "probe"), { state: memoryState().backend });
    const total = s.fake.writes();
    // And 2 teams' access to the repository.
    expect(total).toBe(22);

    let rolledBack = 0;
    for (let n = 0; n < total; n++) {
      const name = `ci-rb-${n}`;
      const m = memoryState();
      s.fake.failAfterWrites(n, { status: 403 });
      const err = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), withCi(s.canaries, name)).then(
        () => undefined,
        (e: unknown) => e,
      );
      s.fake.clearFaults();
      const texts = [err instanceof Error ? `${err.message} ${err.stack} ${JSON.stringify(err)}` : "", ...m.saved].join("\n");
      for (const c of Object.values(s.canaries)) expect(texts, `canary after ${n} writes`).not.toContain(c);
      if (err === undefined) {
        expect(leftovers(s.fake, name).length).toBeGreaterThan(0);
        continue;
      }
      expect(err, `failure after ${n} writes`).toBeInstanceOf(BootstrapError);
      expect((err as BootstrapError).rolledBack, (err as Error).message).toBe(true);
      rolledBack++;
      expect(leftovers(s.fake, name), `left after failing at write ${n + 1}`).toEqual([]);
      expect(m.current()).toBeUndefined();
    }
    expect(rolledBack).toBeGreaterThan(total / 2);
  });
});
