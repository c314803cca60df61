import { afterEach, describe, expect, it } from "vitest";
import { azureDevopsProvider } from "../../src/bootstrap/azure-devops/index.js";
import { bootstrap } from "../../src/bootstrap/orchestrate.js";
import { Secret } from "../../src/lib/secret.js";
import { type AzureDevopsFake, memoryState, request, run, setup, writesOf } from "./azure-devops-helpers.js";

let fake: AzureDevopsFake | undefined;

afterEach(async () => {
  // Every request had a known route, an api-version and a body the library's interfaces describe.
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

describe("Azure DevOps bootstrap against the fake", () => {
  it("bootstraps repository, files, branches, variable groups, environments, approvals, pipelines and policies", async () => {
    const s = await setup();
    fake = s.fake;
    const ctx = s.ctx();
    const req = request(s.canaries);
    expect(await azureDevopsProvider().preflight(ctx, req)).toEqual([]);
    const r = await run(ctx, req);
    expect(r.result.failed).toEqual([]);
    expect(r.plan.actions.every((a) => a.action === "create")).toBe(true);

    const repo = s.fake.repo("ml", "churn-model");
    expect(repo).toBeDefined();
    if (!repo) return;
    expect(repo.defaultBranch).toBe("refs/heads/main");
    expect(repo.git.file("refs/heads/main", "src/churn/train.py")?.toString()).toBe("print('train')\n");
    expect(repo.git.refs.get("refs/heads/release")).toBe(repo.git.refs.get("refs/heads/main"));
    expect(repo.pushes).toBe(1);

    const groups = Object.fromEntries(s.fake.variableGroups().map((g) => [g.name, g.variables]));
    expect(Object.keys(groups).sort()).toEqual(["churn-model-prod", "churn-model-staging"]);
    expect(groups["churn-model-staging"]).toEqual({
      DATABRICKS_HOST: { value: "https://staging.example.net", isSecret: false },
      DATABRICKS_CLIENT_ID: { value: "11111111-2222-3333-4444-555555555555", isSecret: false },
      DATABRICKS_CLIENT_SECRET: { value: s.canaries.stagingSecret, isSecret: true },
    });
    expect(groups["churn-model-prod"]?.DATABRICKS_CLIENT_SECRET).toEqual({ value: s.canaries.prodSecret, isSecret: true });

    expect(
      s.fake
        .environments()
        .map((e) => e.name)
        .sort(),
    ).toEqual(["churn-model-prod", "churn-model-staging"]);
    const prodEnv = s.fake.environments().find((e) => e.name === "churn-model-prod");
    const checks = s.fake.checks();
    expect(checks).toHaveLength(1);
    expect(checks[0]?.resource).toMatchObject({ type: "environment", id: String(prodEnv?.id) });
    expect(checks[0]?.settings?.approvers?.map((a) => a.id)).toEqual([s.admins.id]);

    expect(
      s.fake
        .pipelines()
        .map((p) => `${p.folder}\\${p.name} ${p.path}`)
        .sort(),
    ).toEqual([
      "\\churn-model\\churn-model-ci /azure-pipelines/ci.yml",
      "\\churn-model\\churn-model-deploy /azure-pipelines/deploy.yml",
    ]);
    const ci = s.fake.pipelines().find((p) => p.name === "churn-model-ci");
    const policies = s.fake.policies().map((p) => {
      const st = p.settings as { scope: { refName: string }[]; minimumApproverCount?: number; buildDefinitionId?: number };
      return `${st.scope[0]?.refName} ${st.minimumApproverCount !== undefined ? `reviewers=${st.minimumApproverCount}` : `build=${st.buildDefinitionId}`}`;
    });
    expect(policies.sort()).toEqual(
      [
        `refs/heads/main build=${ci?.id}`,
        "refs/heads/main reviewers=1",
        `refs/heads/release build=${ci?.id}`,
        "refs/heads/release reviewers=1",
      ].sort(),
    );
  });

  it("makes no write on a second run, and adopts everything by name when state is lost (resending only secrets)", async () => {
    const s = await setup();
    fake = s.fake;
    const first = await run(s.ctx(), request(s.canaries));
    expect(first.result.failed).toEqual([]);
    const before = writesOf(s.fake).length;
    const second = await run(s.ctx(), request(s.canaries), first.state);
    expect(second.result.failed).toEqual([]);
    expect(second.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
    expect(writesOf(s.fake).length).toBe(before);

    const { emptyState } = await import("../../src/engine/state.js");
    const again = await run(s.ctx(), request(s.canaries), emptyState("bootstrap"));
    expect(again.result.failed).toEqual([]);
    const writes = writesOf(s.fake).slice(before);
    // Only the variable groups holding secrets are written again (their values are never read back).
    expect(writes.map((w) => w.method).sort()).toEqual(["PUT", "PUT"]);
    expect(writes.every((w) => /distributedtask\/variablegroups\/\d+/.test(w.url))).toBe(true);
    const third = await run(s.ctx(), request(s.canaries), again.state);
    expect(third.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
  });

  it("pushes a changed project as one commit of adds, edits and deletes, and rotates a secret alone", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries);
    const first = await run(s.ctx(), req);
    const head = s.fake.repo("ml", "churn-model")?.git.refs.get("refs/heads/main");
    const files = new Map(req.files);
    files.set("src/churn/train.py", Buffer.from("print('train v2')\n"));
    files.delete("src/churn/__init__.py");
    files.set("src/churn/score.py", Buffer.from("print('score')\n"));
    const rotated = `CANARY-ROTATED-${Date.now()}`;
    const environments = req.environments.map((e) =>
      e.name === "prod" ? { ...e, secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(rotated) } } : e,
    );
    const changed = await run(s.ctx(), { ...req, files, environments }, first.state);
    expect(changed.result.failed).toEqual([]);
    expect(
      changed.plan.actions
        .filter((a) => a.action !== "skip")
        .map((a) => `${a.action} ${a.address}`)
        .sort(),
    ).toEqual(["update azure-devops.files.main", "update azure-devops.variable_group.churn-model-prod"]);
    const repo = s.fake.repo("ml", "churn-model");
    const newHead = repo?.git.refs.get("refs/heads/main") as string;
    expect(repo?.git.get(newHead, "commit")?.parents).toEqual([head]);
    expect(repo?.git.file("refs/heads/main", "src/churn/score.py")?.toString()).toBe("print('score')\n");
    expect(repo?.git.file("refs/heads/main", "src/churn/__init__.py")).toBeUndefined();
    expect(s.fake.variableGroups().find((g) => g.name === "churn-model-prod")?.variables.DATABRICKS_CLIENT_SECRET?.value).toBe(
      rotated,
    );
    expect(JSON.stringify(changed.plan) + changed.saved.join("\n")).not.toContain(rotated);
  });

  it("retries a rate-limited request after Retry-After", async () => {
    const s = await setup();
    fake = s.fake;
    s.fake.rateLimit(2, 0);
    const r = await run(s.ctx(), request(s.canaries));
    expect(r.result.failed).toEqual([]);
    expect(s.fake.requests.filter((q) => q.status === 429)).toHaveLength(2);
  });

  describe("pre-flight", () => {
    it("reports a missing project, a rejected token, and writes nothing", async () => {
      const s = await setup();
      fake = s.fake;
      const missing = await azureDevopsProvider().preflight(s.ctx(), request(s.canaries, { owner: "nowhere" }));
      expect(missing.map((i) => i.message)).toEqual([
        `project nowhere does not exist in ${s.fake.url} or the token cannot see it`,
      ]);
      const rejected = await azureDevopsProvider().preflight(s.ctx("x".repeat(52)), request(s.canaries));
      expect(rejected.map((i) => i.message)).toEqual([`Azure DevOps (${s.fake.url}) rejected the token`]);
      expect(writesOf(s.fake)).toEqual([]);
    });

    it("refuses a repository or a variable group someone else made, and an unknown approver team", async () => {
      const s = await setup();
      fake = s.fake;
      const ctx = s.ctx();
      const git = await ctx.git();
      const project = (await (await ctx.core()).getProject("ml")).id as string;
      await git.createRepository({ name: "taken", project: { id: project } }, "ml");
      const agent = await ctx.taskAgent();
      await agent.addVariableGroup({
        name: "fresh-staging",
        type: "Vsts",
        variables: { A: { value: "1" } },
        variableGroupProjectReferences: [{ name: "fresh-staging", projectReference: { id: project, name: "ml" } }],
      });
      const writes = writesOf(s.fake).length;
      const taken = await azureDevopsProvider().preflight(ctx, request(s.canaries, { name: "taken" }));
      expect(taken.map((i) => i.message)).toEqual([
        "repository ml/taken already exists and was not created by a Lakeforge bootstrap",
      ]);
      const base = request(s.canaries, { name: "fresh" });
      const envs = base.environments.map((e) => (e.name === "prod" ? { ...e, reviewers: ["ghosts"] } : e));
      const issues = await azureDevopsProvider().preflight(ctx, { ...base, environments: envs });
      expect(issues.map((i) => i.message)).toEqual([
        "variable group fresh-staging already exists in project ml, but repository fresh does not",
        "environment prod: approver ghosts is not a team of project ml",
      ]);
      expect(writesOf(s.fake).length).toBe(writes);
    });

    it("accepts a repository of an earlier bootstrap, by its marker file or by the state", async () => {
      const s = await setup();
      fake = s.fake;
      const m = memoryState();
      await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), request(s.canaries));
      expect(await azureDevopsProvider().preflight(s.ctx(), request(s.canaries))).toEqual([]);
      const files = new Map(request(s.canaries).files);
      files.delete(".lakeforge/project.json");
      const noMarker = request(s.canaries, { files });
      await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), noMarker);
      expect((await azureDevopsProvider().preflight(s.ctx(), noMarker)).map((i) => i.message)).toEqual([
        "repository ml/churn-model already exists and was not created by a Lakeforge bootstrap",
      ]);
      expect(await azureDevopsProvider({ state: m.backend }).preflight(s.ctx(), noMarker)).toEqual([]);
    });
  });
});
