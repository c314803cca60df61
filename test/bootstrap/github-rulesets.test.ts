import { afterEach, describe, expect, it } from "vitest";
import { githubProvider, withGithubOwner } from "../../src/bootstrap/github/index.js";
import type { GithubProviderOptions } from "../../src/bootstrap/github/provider.js";
import type { BootstrapRequest } from "../../src/bootstrap/types.js";
import { specCodec } from "../../src/config/refs.js";
import { apply, destroyPlan, plan } from "../../src/engine/engine.js";
import { emptyState, type StateFile } from "../../src/engine/state.js";
import { Secret } from "../../src/lib/secret.js";
import { type GithubFake, request, setup } from "./github-helpers.js";

let fake: GithubFake | undefined;

afterEach(async () => {
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

const writesOf = (f: GithubFake) => f.requests.filter((r) => r.method !== "GET");
const meta = { environment: "bootstrap", configFingerprint: "test" };

/** Plans and applies a request with a provider configured by `options`. */
async function run(
  ctx: Parameters<ReturnType<typeof githubProvider>["preflight"]>[0],
  req: BootstrapRequest,
  options: GithubProviderOptions = {},
  state: StateFile = emptyState("bootstrap"),
) {
  const provider = githubProvider(options);
  const opts = { adapters: provider.adapters(), ctx, codec: specCodec, concurrency: 4, saveState: async () => {} };
  const desired = provider.desired(await withGithubOwner(ctx, req));
  const p = await plan(desired, state, opts, meta);
  const result = await apply(p, desired, state, opts);
  return { plan: p, result, state, opts };
}

const changed = (p: Awaited<ReturnType<typeof run>>["plan"]) =>
  p.actions.filter((a) => a.action !== "skip").map((a) => `${a.action} ${a.address}`);

describe("GitHub branch rulesets", () => {
  it("updates a ruleset in place when the options change or someone edits it, and writes nothing when equal", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries);
    const first = await run(s.ctx(), req);
    expect(first.result.failed).toEqual([]);
    const repo = s.fake.repo("acme", "churn-model");
    const ids = [...(repo?.rulesets.keys() ?? [])];

    // New required checks and two approvals: both rulesets are replaced in place (PUT), nothing else changes.
    const options = { protection: { requiredApprovals: 2, requiredChecks: ["ci / unit-tests"] } };
    const before = writesOf(s.fake).length;
    const second = await run(s.ctx(), req, options, first.state);
    expect(changed(second.plan).sort()).toEqual(["update github.ruleset.main", "update github.ruleset.release"]);
    expect(
      writesOf(s.fake)
        .slice(before)
        .map((w) => w.operationId),
    ).toEqual(Array(2).fill("repos/update-repo-ruleset"));
    expect([...(repo?.rulesets.keys() ?? [])]).toEqual(ids);
    const main = [...(repo?.rulesets.values() ?? [])].find((x) => x.name === "lakeforge: main");
    expect(main?.rules).toContainEqual({
      type: "required_status_checks",
      parameters: { strict_required_status_checks_policy: true, required_status_checks: [{ context: "ci / unit-tests" }] },
    });
    expect(main?.rules).toContainEqual(
      expect.objectContaining({
        type: "pull_request",
        parameters: expect.objectContaining({ required_approving_review_count: 2 }),
      }),
    );

    // Equal: no write.
    const same = writesOf(s.fake).length;
    const third = await run(s.ctx(), req, options, second.state);
    expect(changed(third.plan)).toEqual([]);
    expect(writesOf(s.fake).length).toBe(same);

    // Someone allows force pushes on main (drops the rule): the next run puts it back.
    if (main) main.rules = main.rules.filter((r) => (r as { type: string }).type !== "non_fast_forward");
    const fourth = await run(s.ctx(), req, options, third.state);
    expect(changed(fourth.plan)).toEqual(["update github.ruleset.main"]);
    expect(repo?.rulesets.get(main?.id ?? 0)?.rules).toContainEqual({ type: "non_fast_forward" });
  });

  it("adopts an existing ruleset by name when state is lost, and rollback deletes the ones it made", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries);
    await run(s.ctx(), req);
    const before = writesOf(s.fake).length;
    const again = await run(s.ctx(), req, {}, emptyState("bootstrap"));
    // Adopted (recorded in state) with no change: no ruleset is written again.
    expect(again.plan.actions.filter((a) => a.kind === "github.ruleset").map((a) => a.changes)).toEqual([[], []]);
    expect(
      writesOf(s.fake)
        .slice(before)
        .filter((w) => /ruleset/.test(w.operationId ?? "")),
    ).toEqual([]);
    expect(s.fake.repo("acme", "churn-model")?.rulesets.size).toBe(2);

    // Destroying only the rulesets (as a rollback of a run that made them) removes them.
    const only = new Set(Object.keys(again.state.resources).filter((a) => a.startsWith("github.ruleset.")));
    const d = await apply(destroyPlan(again.state, { ...meta, only }), [], again.state, again.opts);
    expect(d.failed).toEqual([]);
    expect(s.fake.repo("acme", "churn-model")?.rulesets.size).toBe(0);
  });

  it("keeps classic branch protection as an option", async () => {
    const s = await setup();
    fake = s.fake;
    const r = await run(s.ctx(), request(s.canaries), { protection: { kind: "branch-protection" } });
    expect(r.result.failed).toEqual([]);
    const repo = s.fake.repo("acme", "churn-model");
    expect(repo?.rulesets.size).toBe(0);
    expect([...(repo?.protection.keys() ?? [])].sort()).toEqual(["main", "release"]);
    expect(repo?.protection.get("main")).toMatchObject({
      required_pull_request_reviews: { required_approving_review_count: 1, require_code_owner_reviews: true },
      allow_force_pushes: false,
      allow_deletions: false,
    });
    expect(() => githubProvider({ protection: { kind: "both" as never } })).toThrow(/rulesets or branch-protection/);
  });

  it("protects a user's own repository with rulesets", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries, { owner: undefined, teams: [], environments: [] });
    const r = await run(s.ctx(), req);
    expect(r.result.failed).toEqual([]);
    expect(s.fake.repo("octo", "churn-model")?.rulesets.size).toBe(2);
  });
});

describe("GitHub repository secrets", () => {
  it("seals repository-level secrets with the repository's key, re-seals on change and converges", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries, { secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(s.canaries.stagingToken) } });
    const first = await run(s.ctx(), req);
    expect(first.result.failed).toEqual([]);
    expect(s.fake.decryptRepositorySecret("acme", "churn-model", "DATABRICKS_CLIENT_SECRET")).toBe(s.canaries.stagingToken);
    const put = s.fake.requests.find((r) => r.operationId === "actions/create-or-update-repo-secret");
    expect(put?.body).not.toContain(s.canaries.stagingToken);

    const same = await run(s.ctx(), req, {}, first.state);
    expect(changed(same.plan)).toEqual([]);

    const rotated = { ...req, secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(s.canaries.prodToken) } };
    const second = await run(s.ctx(), rotated, {}, same.state);
    expect(changed(second.plan)).toEqual(["update github.secret.DATABRICKS_CLIENT_SECRET"]);
    expect(s.fake.decryptRepositorySecret("acme", "churn-model", "DATABRICKS_CLIENT_SECRET")).toBe(s.canaries.prodToken);
    expect(JSON.stringify(second.plan) + JSON.stringify(second.state)).not.toContain(s.canaries.prodToken);

    const gone = await run(s.ctx(), { ...req, secrets: {} }, {}, second.state);
    expect(changed(gone.plan)).toEqual(["delete github.secret.DATABRICKS_CLIENT_SECRET"]);
    expect(s.fake.repo("acme", "churn-model")?.secrets.size).toBe(0);
  });
});
