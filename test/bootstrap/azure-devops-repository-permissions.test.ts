import { afterEach, describe, expect, it } from "vitest";
import { rawRequest } from "../../src/bootstrap/azure-devops/context.js";
import { azureDevopsProvider } from "../../src/bootstrap/azure-devops/index.js";
import {
  ACCESS_LEVELS,
  accessLevelOf,
  GIT_REPOSITORIES_NAMESPACE,
} from "../../src/bootstrap/azure-devops/resources/repository-permission.js";
import { BootstrapError, bootstrap, PreflightError } from "../../src/bootstrap/orchestrate.js";
import { type AzureDevopsFake, memoryState, request, run, setup, writesOf } from "./azure-devops-helpers.js";

let fake: AzureDevopsFake | undefined;

afterEach(async () => {
  // Every request matched a route of the fake and every body its schema.
  if (fake) expect(fake.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

/** The teams' entries on the repository `name`, as `team allow/deny`. */
const entries = (f: AzureDevopsFake, name: string) =>
  f
    .repositoryAces()
    .filter((e) => e.repository === name)
    .map((e) => `${e.team} ${e.allow}/${e.deny}`)
    .sort();

describe("Azure DevOps: teams' access to the repository", () => {
  it("maps the request's permissions to read, contribute and administer bits", () => {
    expect(ACCESS_LEVELS.read).toBe(2 | 16384);
    // GenericRead, GenericContribute, CreateBranch, CreateTag, ManageNote, PullRequestContribute.
    expect(ACCESS_LEVELS.contribute).toBe(2 + 4 + 16 + 32 + 64 + 16384);
    // ... and ForcePush, RenameRepository, EditPolicies, RemoveOthersLocks, ManagePermissions.
    expect(ACCESS_LEVELS.administer).toBe(ACCESS_LEVELS.contribute + 8 + 1024 + 2048 + 4096 + 8192);
    // Never deleting the repository (512), exempting from or bypassing policies (128, 32768).
    for (const bits of Object.values(ACCESS_LEVELS)) expect(bits & (512 | 128 | 32768)).toBe(0);
    expect(["pull", "triage", "push", "maintain", "admin"].map(accessLevelOf)).toEqual([
      "read",
      "read",
      "contribute",
      "contribute",
      "administer",
    ]);
  });

  it("grants each team its access on the repository's token, and a second run makes no write", async () => {
    const s = await setup();
    fake = s.fake;
    const r = await run(s.ctx(), request(s.canaries));
    expect(r.result.failed).toEqual([]);
    const repo = s.fake.repo("ml", "churn-model");
    const project = repo?.project.id;
    expect(s.fake.repositoryAces().map((e) => e.token)).toEqual([
      `repoV2/${project}/${repo?.id}`,
      `repoV2/${project}/${repo?.id}`,
    ]);
    expect(entries(s.fake, "churn-model")).toEqual([
      `ml-admins ${ACCESS_LEVELS.administer}/0`,
      `ml-team ${ACCESS_LEVELS.contribute}/0`,
    ]);
    // Each entry is written whole, under the team's identity descriptor.
    const sets = writesOf(s.fake).filter((w) => w.url.includes("/_apis/accesscontrolentries/"));
    expect(sets.map((w) => `${w.method} ${w.url.split("?")[0]}`)).toEqual([
      `POST /acme/_apis/accesscontrolentries/${GIT_REPOSITORIES_NAMESPACE}`,
      `POST /acme/_apis/accesscontrolentries/${GIT_REPOSITORIES_NAMESPACE}`,
    ]);
    const admins = [...(repo?.project.teams.values() ?? [])].find((t) => t.name === "ml-admins");
    const adminSet = sets.map((w) => JSON.parse(w.body)).find((b) => b.accessControlEntries[0].descriptor === admins?.descriptor);
    expect(adminSet).toEqual({
      token: `repoV2/${project}/${repo?.id}`,
      merge: false,
      accessControlEntries: [{ descriptor: admins?.descriptor, allow: ACCESS_LEVELS.administer, deny: 0 }],
    });
    // Descriptors come from the identities service, found through its resource area, by team id.
    const lookups = s.fake.requests.filter((q) => q.url.includes("/_apis/identities?"));
    expect(lookups.map((q) => new URL(q.url, "http://x").searchParams.get("identityIds")).sort()).toEqual(
      [...(repo?.project.teams.values() ?? [])].map((t) => t.id).sort(),
    );
    expect(
      r.plan.actions
        .filter((a) => a.kind === "azure-devops.repository_permission")
        .map((a) => a.name)
        .sort(),
    ).toEqual(["ml-admins", "ml-team"]);

    const before = writesOf(s.fake).length;
    const second = await run(s.ctx(), request(s.canaries), r.state);
    expect(second.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
    expect(writesOf(s.fake).length).toBe(before);
  });

  it("restores a removed entry and resets a changed one, one write each; a changed permission is one write", async () => {
    const s = await setup();
    fake = s.fake;
    const r = await run(s.ctx(), request(s.canaries));
    const repo = s.fake.repo("ml", "churn-model");
    const token = `repoV2/${repo?.project.id}/${repo?.id}`;
    const team = (name: string) => [...(repo?.project.teams.values() ?? [])].find((t) => t.name === name);
    const ns = `_apis/accesscontrolentries/${GIT_REPOSITORIES_NAMESPACE}`;

    // Someone removes the contributors' entry and narrows the admins' one.
    await rawRequest(
      s.ctx(),
      "DELETE",
      `${ns}?${new URLSearchParams({ token, descriptors: team("ml-team")?.descriptor ?? "" })}`,
      "7.1",
    );
    await rawRequest(s.ctx(), "POST", ns, "7.1", {
      token,
      merge: false,
      accessControlEntries: [{ descriptor: team("ml-admins")?.descriptor, allow: ACCESS_LEVELS.read, deny: 0 }],
    });
    expect(entries(s.fake, "churn-model")).toEqual([`ml-admins ${ACCESS_LEVELS.read}/0`]);

    const before = writesOf(s.fake).length;
    const again = await run(s.ctx(), request(s.canaries), r.state);
    expect(again.result.failed).toEqual([]);
    expect(
      again.plan.actions
        .filter((a) => a.action !== "skip")
        .map((a) => `${a.action} ${a.address}`)
        .sort(),
    ).toEqual(["create azure-devops.repository_permission.ml-team", "update azure-devops.repository_permission.ml-admins"]);
    expect(
      writesOf(s.fake)
        .slice(before)
        .map((w) => w.method),
    ).toEqual(["POST", "POST"]);
    expect(entries(s.fake, "churn-model")).toEqual([
      `ml-admins ${ACCESS_LEVELS.administer}/0`,
      `ml-team ${ACCESS_LEVELS.contribute}/0`,
    ]);

    // The contributors become admins: one write.
    const promoted = request(s.canaries, {
      teams: [
        { name: "ml-admins", permission: "admin" },
        { name: "ml-team", permission: "admin" },
      ],
    });
    const mid = writesOf(s.fake).length;
    const third = await run(s.ctx(), promoted, again.state);
    expect(third.plan.actions.filter((a) => a.action !== "skip").map((a) => `${a.action} ${a.address}`)).toEqual([
      "update azure-devops.repository_permission.ml-team",
    ]);
    expect(writesOf(s.fake).length).toBe(mid + 1);
    expect(entries(s.fake, "churn-model")).toContain(`ml-team ${ACCESS_LEVELS.administer}/0`);
    const fourth = await run(s.ctx(), promoted, third.state);
    expect(fourth.plan.actions.filter((a) => a.action !== "skip")).toEqual([]);
  });

  it("fails pre-flight with nothing written when a team is not in the project, naming every missing one", async () => {
    const s = await setup();
    fake = s.fake;
    const req = request(s.canaries, {
      teams: [
        { name: "ml-admins", permission: "admin" },
        { name: "ghost-writers", permission: "push" },
        { name: "ghost-readers", permission: "pull" },
      ],
    });
    const m = memoryState();
    const err = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreflightError);
    expect((err as Error).message).toContain("team ghost-writers (push access to churn-model) is not a team of project ml");
    expect((err as Error).message).toContain("team ghost-readers (pull access to churn-model) is not a team of project ml");
    expect((err as Error).message).not.toContain("team ml-admins");
    expect(writesOf(s.fake)).toEqual([]);
    expect(m.saved).toEqual([]);
  });

  it("removes the entries it made when a bootstrap is rolled back", async () => {
    const s = await setup();
    fake = s.fake;
    // The first write after both entries are set fails.
    let set = 0;
    let failed = false;
    s.fake.addHook((q) => {
      if (q.method === "GET") return undefined;
      if (q.method === "POST" && q.path.includes("/_apis/accesscontrolentries/")) {
        set++;
        return undefined;
      }
      if (set < 2 || failed) return undefined;
      failed = true;
      return { status: 403 };
    });
    const m = memoryState();
    const err = await bootstrap(azureDevopsProvider({ state: m.backend }), s.ctx(), request(s.canaries, { name: "gone" })).catch(
      (e: unknown) => e,
    );
    expect(failed).toBe(true);
    expect(err).toBeInstanceOf(BootstrapError);
    expect((err as BootstrapError).rolledBack, (err as Error).message).toBe(true);
    expect(s.fake.repo("ml", "gone")).toBeUndefined();
    // The repository's list outlives the repository (recycle bin): the entries were removed first.
    const removals = writesOf(s.fake).filter((w) => w.method === "DELETE" && w.url.includes("/_apis/accesscontrolentries/"));
    expect(removals).toHaveLength(2);
    expect(entries(s.fake, "gone")).toEqual([]);
    expect(m.current()).toBeUndefined();
  });
});
