import { afterEach, describe, expect, it } from "vitest";
import { githubProvider, withGithubOwner } from "../../src/bootstrap/github/index.js";
import type { BootstrapEnvironment } from "../../src/bootstrap/types.js";
import { emptyState } from "../../src/engine/state.js";
import { destroy, type GithubFake, request, run, setup } from "./github-helpers.js";

let fake: GithubFake | undefined;

afterEach(async () => {
  // Every request the provider sent and every answer the fake gave were allowed by GitHub's description.
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

const writesOf = (f: GithubFake) => f.requests.filter((r) => r.method !== "GET");

describe("GitHub bootstrap against the OpenAPI-checked fake", () => {
  it("bootstraps repository, teams, variables, environments, secrets, branches, protection, files and OIDC", async () => {
    const s = await setup();
    fake = s.fake;
    const ctx = s.ctx();
    const req = request(s.canaries);
    expect(await githubProvider().preflight(ctx, req)).toEqual([]);

    const r = await run(ctx, req);
    expect(r.result.failed).toEqual([]);
    expect(r.plan.actions.every((a) => a.action === "create")).toBe(true);

    const repo = s.fake.repo("acme", "churn-model");
    expect(repo).toBeDefined();
    if (!repo) return;
    expect(repo.private).toBe(true);
    expect(repo.description).toBe("Churn model");
    expect(repo.topics).toEqual(["lakeforge-bootstrap", "mlops"]);
    expect(Object.fromEntries(repo.teams)).toEqual({ "ml-admins": "admin", "ml-contributors": "push" });
    expect(Object.fromEntries([...repo.variables].map(([k, v]) => [k, v.value]))).toEqual({
      DATABRICKS_STAGING_WORKSPACE_HOST: "https://staging.example.net",
      DATABRICKS_PROD_WORKSPACE_HOST: "https://prod.example.net",
    });

    // Environments: reviewers by id, wait timer, custom branch and tag policies.
    const prod = repo.environments.get("prod");
    expect(prod?.waitTimer).toBe(5);
    expect(prod?.reviewers.map((x) => x.type).sort()).toEqual(["Team", "User"]);
    expect(prod?.branchPolicy).toEqual({ protected_branches: false, custom_branch_policies: true });
    expect([...(prod?.policies.values() ?? [])].map((p) => `${p.type}:${p.name}`).sort()).toEqual(["branch:release", "tag:v*"]);
    const staging = repo.environments.get("staging");
    expect(staging?.reviewers).toEqual([]);
    expect([...(staging?.policies.values() ?? [])].map((p) => p.name)).toEqual(["main"]);
    expect(staging?.variables.get("DATABRICKS_CLIENT_ID")?.value).toBe("11111111-2222-3333-4444-555555555555");

    // Sealed secrets open with the environment's private key to the right values.
    expect(s.fake.decryptSecret("acme", "churn-model", "staging", "DATABRICKS_TOKEN")).toBe(s.canaries.stagingToken);
    expect(s.fake.decryptSecret("acme", "churn-model", "prod", "DATABRICKS_TOKEN")).toBe(s.canaries.prodToken);
    expect(s.fake.decryptSecret("acme", "churn-model", "prod", "DATABRICKS_CLIENT_SECRET")).toBe(s.canaries.prodSecret);

    // Files through the Git Data API, CODEOWNERS naming the admin team; default and release branches, protected.
    expect(repo.defaultBranch).toBe("main");
    expect(repo.git.file("refs/heads/main", "src/churn/train.py")?.toString()).toBe("print('train')\n");
    expect(repo.git.file("refs/heads/main", ".github/CODEOWNERS")?.toString()).toBe("* @acme/ml-admins\n");
    expect(repo.git.file("refs/heads/main", "README.md")?.toString()).toBe("# churn-model\n");
    expect(repo.git.refs.get("refs/heads/release")).toBe(repo.git.refs.get("refs/heads/main"));
    // Both branches protected by repository rulesets (the default): pull requests with a review, no force push or deletion.
    expect(repo.protection.size).toBe(0);
    const rulesets = [...repo.rulesets.values()].sort((a, b) => a.name.localeCompare(b.name));
    expect(rulesets.map((x) => x.name)).toEqual(["lakeforge: main", "lakeforge: release"]);
    expect(rulesets[0]).toMatchObject({
      target: "branch",
      enforcement: "active",
      conditions: { ref_name: { include: ["refs/heads/main"], exclude: [] } },
    });
    expect(rulesets[0]?.rules).toEqual([
      { type: "deletion" },
      { type: "non_fast_forward" },
      {
        type: "pull_request",
        parameters: {
          required_approving_review_count: 1,
          dismiss_stale_reviews_on_push: true,
          require_code_owner_review: true,
          require_last_push_approval: false,
          required_review_thread_resolution: false,
        },
      },
    ]);
    expect(repo.oidc).toEqual({ use_default: false, include_claim_keys: ["repo", "context"] });
  });

  it("makes no write on a second run", async () => {
    const s = await setup();
    fake = s.fake;
    const first = await run(s.ctx(), request(s.canaries));
    expect(first.result.failed).toEqual([]);
    const before = writesOf(s.fake).length;

    const second = await run(s.ctx(), request(s.canaries), first.state);
    expect(second.result.failed).toEqual([]);
    expect(second.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
    expect(writesOf(s.fake).length).toBe(before);
  });

  it("adopts everything by natural key when state is lost, sending only the secrets again", async () => {
    const s = await setup();
    fake = s.fake;
    await run(s.ctx(), request(s.canaries));
    const before = writesOf(s.fake).length;

    const again = await run(s.ctx(), request(s.canaries), emptyState("bootstrap"));
    expect(again.result.failed).toEqual([]);
    const writes = writesOf(s.fake).slice(before);
    expect(writes.map((w) => `${w.method} ${w.operationId}`)).toEqual(
      Array(3).fill("PUT actions/create-or-update-environment-secret"),
    );
    const third = await run(s.ctx(), request(s.canaries), again.state);
    expect(third.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
  });

  it("commits a changed project once, and an identical one never", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries);
    const first = await run(s.ctx(), req);
    const head = s.fake.repo("acme", "churn-model")?.git.refs.get("refs/heads/main");

    const files = new Map(req.files);
    files.set("src/churn/train.py", Buffer.from("print('train v2')\n"));
    const changed = await run(s.ctx(), { ...req, files }, first.state);
    expect(changed.plan.actions.filter((a) => a.action !== "skip").map((a) => a.address)).toEqual(["github.files.main"]);
    const repo = s.fake.repo("acme", "churn-model");
    const newHead = repo?.git.refs.get("refs/heads/main") as string;
    expect(newHead).not.toBe(head);
    expect(repo?.git.get(newHead, "commit")?.parents).toEqual([head]);
    expect(repo?.git.file("refs/heads/main", "src/churn/train.py")?.toString()).toBe("print('train v2')\n");

    const before = writesOf(s.fake).length;
    const same = await run(s.ctx(), { ...req, files }, changed.state);
    expect(same.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
    expect(writesOf(s.fake).length).toBe(before);
  });

  it("re-seals a changed secret and updates a changed reviewer list", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries);
    const first = await run(s.ctx(), req);
    const { Secret } = await import("../../src/lib/secret.js");
    const rotated = `CANARY-ROTATED-${Date.now()}`;
    const envs = req.environments.map((e) =>
      e.name === "prod" ? { ...e, reviewers: ["alice"], secrets: { ...e.secrets, DATABRICKS_TOKEN: Secret.from(rotated) } } : e,
    );
    const second = await run(s.ctx(), { ...req, environments: envs }, first.state);
    expect(second.result.failed).toEqual([]);
    expect(
      second.plan.actions
        .filter((a) => a.action !== "skip")
        .map((a) => a.address)
        .sort(),
    ).toEqual(["github.environment.prod", "github.environment_secret.prod/DATABRICKS_TOKEN"]);
    expect(s.fake.decryptSecret("acme", "churn-model", "prod", "DATABRICKS_TOKEN")).toBe(rotated);
    expect(
      s.fake
        .repo("acme", "churn-model")
        ?.environments.get("prod")
        ?.reviewers.map((r) => r.type),
    ).toEqual(["User"]);
    expect(JSON.stringify(second.plan)).not.toContain(rotated);
  });

  describe("pre-flight", () => {
    it("reports a missing team, a missing reviewer and a foreign repository, and writes nothing", async () => {
      const s = await setup();
      fake = s.fake;
      const ctx = s.ctx();
      // A repository of the same name not made by a bootstrap.
      await ctx.octokit.request("POST /orgs/{org}/repos", { org: "acme", name: "taken" });
      const writes = writesOf(s.fake).length;
      const req = request(s.canaries, {
        name: "taken",
        teams: [{ name: "no-such-team", permission: "push" }],
        environments: [{ ...(request(s.canaries).environments[1] as BootstrapEnvironment), reviewers: ["bob", "acme/ghosts"] }],
      });
      const issues = await githubProvider().preflight(ctx, req);
      expect(issues.map((i) => i.message)).toEqual([
        "team no-such-team does not exist in organisation acme",
        "repository acme/taken already exists and was not created by a Lakeforge bootstrap",
        "environment prod: reviewer bob is not a GitHub user",
        "environment prod: reviewer team ghosts does not exist in organisation acme",
      ]);
      expect(writesOf(s.fake).length).toBe(writes);
    });

    it("reports a rejected token, an unknown organisation and missing token scopes", async () => {
      const s = await setup({ scopes: ["read:user"] });
      fake = s.fake;
      const { createGithubContext } = await import("../../src/bootstrap/github/index.js");
      const bad = createGithubContext({ token: "ghp_wrong0000000000", baseUrl: s.fake.url });
      const rejected = await githubProvider().preflight(bad, request(s.canaries));
      expect(rejected.map((i) => i.message)).toEqual([`GitHub (${s.fake.url}) rejected the token`]);

      const issues = await githubProvider().preflight(s.ctx(), request(s.canaries, { owner: "nowhere" }));
      expect(issues.map((i) => i.message)).toEqual([
        "the GitHub token lacks the repo scope, needed to create the repository and write its settings",
        "the GitHub token lacks the read:org scope, needed to read the organisation's teams",
        "the GitHub token lacks the workflow scope, needed to push workflow files",
        "GitHub organisation nowhere does not exist or the token cannot see it",
      ]);
      expect(writesOf(s.fake)).toEqual([]);
    });

    it("accepts a repository made by an earlier bootstrap, and a classic token with the needed scopes", async () => {
      const s = await setup({ scopes: ["repo", "read:org", "workflow"] });
      fake = s.fake;
      await run(s.ctx(), request(s.canaries));
      expect(await githubProvider().preflight(s.ctx(), request(s.canaries))).toEqual([]);
    });
  });

  it("bootstraps a user's own repository with no teams", async () => {
    const s = await setup();
    fake = s.fake;
    const ctx = s.ctx();
    const req = request(s.canaries, {
      owner: undefined,
      teams: [],
      environments: [request(s.canaries).environments[0] as BootstrapEnvironment],
    });
    expect(await githubProvider().preflight(ctx, req)).toEqual([]);
    const full = await withGithubOwner(ctx, req);
    expect(full.owner).toBe("octo");
    const r = await run(ctx, req);
    expect(r.result.failed).toEqual([]);
    const repo = s.fake.repo("octo", "churn-model");
    expect(repo?.ownerType).toBe("User");
    expect(repo?.git.file("refs/heads/main", ".github/CODEOWNERS")).toBeUndefined();
    expect((await run(ctx, req, r.state)).plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
  });

  it("fails after every number of writes without leaking, and destroying the recorded state leaves nothing", async () => {
    const s = await setup();
    fake = s.fake;
    // The number of writes of a full bootstrap.
    await run(s.ctx(), request(s.canaries, { name: "probe" }));
    const total = s.fake.writes();
    await destroy(s.ctx(), (await run(s.ctx(), request(s.canaries, { name: "probe" }))).state);
    expect(s.fake.repo("acme", "probe")).toBeUndefined();

    let failedRuns = 0;
    for (let n = 0; n < total; n++) {
      const name = `fail-${n}`;
      s.fake.failAfterWrites(n, { status: 403 });
      const r = await run(s.ctx(), request(s.canaries, { name }));
      s.fake.clearFaults();
      // A create whose follow-up write failed is found by its natural key and completed, so not
      // every injected failure fails the run.
      if (r.result.failed.length > 0) failedRuns++;
      const texts = [
        JSON.stringify(r.plan),
        ...r.saved,
        ...r.result.failed.map((f) => `${(f.error as Error).message} ${JSON.stringify(f.error)}`),
        JSON.stringify(r.progress),
      ].join("\n");
      for (const c of Object.values(s.canaries)) expect(texts, `canary after ${n} writes`).not.toContain(c);

      const d = await destroy(s.ctx(), r.state);
      expect(d.failed).toEqual([]);
      expect(s.fake.repo("acme", name), `repository left after failing at write ${n + 1}`).toBeUndefined();
      expect(Object.keys(r.state.resources)).toEqual([]);
    }
    expect(failedRuns).toBeGreaterThan(total / 2);
  });

  it("keeps the token and secret values out of plans, state, progress, errors, URLs and request bodies", async () => {
    const s = await setup();
    fake = s.fake;
    const r = await run(s.ctx(), request(s.canaries));
    // An error answer to a secret write.
    s.fake.addHook((q) =>
      q.operationId === "actions/create-or-update-environment-secret"
        ? { status: 422, body: { message: "Validation Failed" } }
        : undefined,
    );
    const { Secret } = await import("../../src/lib/secret.js");
    const req = request(s.canaries);
    const envs = req.environments.map((e) => ({
      ...e,
      secrets: Object.fromEntries(Object.keys(e.secrets).map((k) => [k, Secret.from(`${s.canaries.prodSecret}-2`)])),
    }));
    const failed = await run(s.ctx(), { ...req, environments: envs }, r.state);
    expect(failed.result.failed.length).toBeGreaterThan(0);
    const errorTexts = failed.result.failed.map(
      (f) => `${(f.error as Error).message} ${(f.error as Error).stack} ${JSON.stringify(f.error)}`,
    );
    expect(errorTexts.join("\n")).toContain("github PUT /repos/acme/churn-model/environments/");

    const everything = [
      JSON.stringify(r.plan),
      JSON.stringify(failed.plan),
      ...r.saved,
      ...failed.saved,
      JSON.stringify(r.state),
      JSON.stringify(r.progress),
      JSON.stringify(failed.progress),
      ...errorTexts,
      ...s.fake.requests.map((q) => q.url),
      ...s.fake.requests.map((q) => q.body),
    ].join("\n");
    for (const c of [...Object.values(s.canaries), `${s.canaries.prodSecret}-2`]) expect(everything).not.toContain(c);
    // The token travels only in the Authorization header.
    expect(s.fake.requests.every((q) => q.headers.authorization === `token ${s.token}`)).toBe(true);
  });
});
