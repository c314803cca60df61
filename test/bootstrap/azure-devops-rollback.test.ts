import { afterEach, describe, expect, it } from "vitest";
import { azureDevopsProvider } from "../../src/bootstrap/azure-devops/index.js";
import { BootstrapError, bootstrap, PreflightError } from "../../src/bootstrap/orchestrate.js";
import { Secret } from "../../src/lib/secret.js";
import { type AzureDevopsFake, memoryState, request, run, setup, writesOf } from "./azure-devops-helpers.js";

let fake: AzureDevopsFake | undefined;

afterEach(async () => {
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

/** Everything the fake holds for the request named `name` (nothing, after a rollback). */
function leftovers(f: AzureDevopsFake, name: string): string[] {
  return [
    ...f
      .repositories()
      .filter((r) => r.name === name)
      .map((r) => `repository ${r.name}`),
    ...f
      .variableGroups()
      .filter((g) => g.name.startsWith(`${name}-`))
      .map((g) => `variable group ${g.name}`),
    ...f
      .environments()
      .filter((e) => e.name.startsWith(`${name}-`))
      .map((e) => `environment ${e.name}`),
    ...f
      .pipelines()
      .filter((p) => p.name.startsWith(`${name}-`))
      .map((p) => `pipeline ${p.name}`),
    // A deleted repository's access control list stays (recycle bin): its entries must be removed.
    ...f
      .repositoryAces()
      .filter((e) => e.repository === name)
      .map((e) => `access of ${e.team}`),
  ];
}

describe("Azure DevOps bootstrap through the orchestrator", () => {
  it("writes nothing when pre-flight fails (missing project, rejected token, name taken)", async () => {
    const s = await setup();
    fake = s.fake;
    const m = memoryState();
    for (const [ctx, req] of [
      [s.ctx(), request(s.canaries, { owner: "nowhere" })],
      [s.ctx("y".repeat(52)), request(s.canaries)],
    ] as const) {
      const err = await bootstrap(azureDevopsProvider({ state: m.backend }), ctx, req).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PreflightError);
    }
    // A repository of the same name made by someone else.
    await bootstrap(
      azureDevopsProvider(),
      s.ctx(),
      request(s.canaries, { name: "other", files: new Map([["x", Buffer.from("x")]]) }),
      {
        state: memoryState().backend,
      },
    );
    const before = writesOf(s.fake).length;
    const err = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), request(s.canaries, { name: "other" })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PreflightError);
    expect((err as Error).message).toContain("repository ml/other already exists and was not created by a Lakeforge bootstrap");
    expect(writesOf(s.fake).length).toBe(before);
    expect(m.saved).toEqual([]);
  });

  it("rolls back to nothing after a failure at every write, leaking no secret", async () => {
    const s = await setup();
    fake = s.fake;
    await bootstrap(azureDevopsProvider(), s.ctx(), request(s.canaries, { name: "probe" }), { state: memoryState().backend });
    const total = s.fake.writes();
    // 14 objects, the pipelines' permissions on 2 variable groups and 2 environments, and 2 teams' access.
    expect(total).toBe(20);

    let rolledBack = 0;
    for (let n = 0; n < total; n++) {
      const name = `rb-${n}`;
      const m = memoryState();
      const progress: string[] = [];
      s.fake.failAfterWrites(n, { status: 403 });
      const err = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), request(s.canaries, { name }), {
        progress: (e) => progress.push(JSON.stringify(e)),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      s.fake.clearFaults();
      const texts = [
        err instanceof Error ? `${err.message} ${err.stack} ${JSON.stringify(err)}` : "",
        ...m.saved,
        ...progress,
      ].join("\n");
      for (const c of Object.values(s.canaries)) expect(texts, `canary after ${n} writes`).not.toContain(c);
      if (err === undefined) {
        // The failed write was a follow-up the engine completed on its own: a whole bootstrap.
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

  it("keeps the token and secret values out of plans, state, progress, errors, URLs and git objects", async () => {
    const s = await setup();
    fake = s.fake;
    const m = memoryState();
    const progress: string[] = [];
    const ok = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), request(s.canaries), {
      progress: (e) => progress.push(JSON.stringify(e)),
    });
    const dry = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), request(s.canaries), { dryRun: true });
    // An error answer to a secret write.
    s.fake.addHook((q) => (q.method === "PUT" && q.path.includes("variablegroups") ? { status: 500 } : undefined));
    const rotated = `${s.canaries.prodSecret}-2`;
    const req = request(s.canaries);
    const envs = req.environments.map((e) => ({ ...e, secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(rotated) } }));
    const err = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), { ...req, environments: envs }).catch(
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(BootstrapError);
    expect((err as Error).message).toContain("azure-devops PUT /_apis/distributedtask/variablegroups/");

    const gitObjects = s.fake
      .repositories()
      .flatMap((r) => [...r.git.objects.values()].map((o) => (o.type === "blob" ? o.data.toString() : JSON.stringify(o))));
    const everything = [
      ok.rendered,
      JSON.stringify(ok.plan),
      dry.rendered,
      JSON.stringify(dry.plan),
      ...m.saved,
      ...progress,
      `${(err as Error).message} ${(err as Error).stack} ${JSON.stringify(err)}`,
      ...s.fake.requests.map((q) => q.url),
      ...gitObjects,
    ].join("\n");
    for (const c of [...Object.values(s.canaries), rotated]) expect(everything).not.toContain(c);
    expect(ok.rendered).toContain("azure-devops.variable_group");
    // Secret values travel only in the variable group bodies, the token only in the Authorization header.
    const carrying = s.fake.requests.filter((q) => q.body.includes(s.canaries.prodSecret) || q.body.includes(rotated));
    expect(carrying.length).toBeGreaterThan(0);
    expect(carrying.every((q) => q.url.includes("/_apis/distributedtask/variablegroups"))).toBe(true);
    const basic = `Basic ${Buffer.from(`PAT:${s.token}`).toString("base64")}`;
    expect(s.fake.requests.every((q) => q.headers.authorization === basic)).toBe(true);
    expect(s.fake.requests.some((q) => q.body.includes(s.token))).toBe(false);
  });

  it("works with a pipeline's bearer token (System.AccessToken)", async () => {
    const s = await setup();
    fake = s.fake;
    s.fake.addToken("pipeline-bearer-token", "bearer");
    const { createAzureDevopsContext } = await import("../../src/bootstrap/azure-devops/index.js");
    const ctx = createAzureDevopsContext({ orgUrl: s.fake.url, token: "pipeline-bearer-token", auth: "bearer" });
    const r = await run(ctx, request(s.canaries, { name: "bearer" }));
    expect(r.result.failed).toEqual([]);
    expect(s.fake.requests.at(-1)?.headers.authorization).toBe("Bearer pipeline-bearer-token");
  });
});
