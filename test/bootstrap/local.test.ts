import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type LocalForgeCtx, localProvider } from "../../src/bootstrap/local/provider.js";
import { forgePaths, readLocalSecrets } from "../../src/bootstrap/local/store.js";
import { BootstrapError, bootstrap, PreflightError } from "../../src/bootstrap/orchestrate.js";
import { requestFromProject } from "../../src/bootstrap/request.js";
import type { BootstrapRequest, ForgeProvider } from "../../src/bootstrap/types.js";
import { planToJson } from "../../src/engine/render.js";
import type { ResourceAdapter } from "../../src/engine/types.js";
import { resolveOptions } from "../../src/template/input.js";
import { buildManifest, MANIFEST_PATH, manifestText, renderProject } from "../../src/template/project.js";
import { runCli } from "../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "lakeforge-bootstrap-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `f${n++}`);

const CANARIES = {
  DATABRICKS_TEST_CLIENT_SECRET: "canary-test-5b1e0f77d2",
  DATABRICKS_STAGING_CLIENT_SECRET: "canary-staging-9c4a61be03",
  DATABRICKS_PROD_CLIENT_SECRET: "canary-prod-e8d2f0a1c6",
};

const answers = resolveOptions({
  flags: [
    ["--project-name", "demo"],
    ["--ci-auth", "oauth_m2m"],
  ],
}).answers;
const rendered = renderProject(answers);
const files = new Map(rendered.map((f) => [f.path, f.content]));
files.set(MANIFEST_PATH, Buffer.from(manifestText(buildManifest(answers, rendered))));

const request = (): BootstrapRequest =>
  requestFromProject(answers, files, { ...CANARIES, GITHUB_ADMINS_GROUP: "ml-admins", GITHUB_CONTRIBUTOR_GROUP: "ml-team" })
    .request;

const gitOut = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" });

/** Every file under `dir` with the sha256 of its content (empty folders are not listed). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

/** Every file under `dir` as text, for canary scans. */
function allText(dir: string): string {
  return Object.keys(snapshot(dir))
    .map((p) => readFileSync(join(dir, p), "latin1"))
    .join("\n");
}

const expectNoCanary = (text: string, where: string) => {
  for (const v of Object.values(CANARIES)) expect(text.includes(v), `${where} holds a secret value`).toBe(false);
};

/**
 * The provider with its mutating calls counted; from mutation number `failAt` (1-based) on, every
 * create and update throws (a forge that stops accepting writes). Deletes pass unless `onlyWrites` is false.
 */
function failingAfter(provider: ForgeProvider<LocalForgeCtx>, failAt: number, onlyWrites = true) {
  const counter = { mutations: 0 };
  const wrapped = new Map<string, ResourceAdapter<LocalForgeCtx>>();
  for (const [kind, a] of provider.adapters()) {
    const count = <T>(fn: () => Promise<T>, isDelete = false): Promise<T> => {
      if (isDelete && onlyWrites) return fn();
      counter.mutations++;
      if (counter.mutations >= failAt) return Promise.reject(new Error(`injected failure at mutation ${failAt}`));
      return fn();
    };
    wrapped.set(kind, {
      ...a,
      create: (ctx, spec) => count(() => a.create(ctx, spec)),
      update: (ctx, id, spec, remote, changes) => count(() => a.update(ctx, id, spec, remote, changes)),
      delete: (ctx, id) => count(() => a.delete(ctx, id), true),
    });
  }
  const p: ForgeProvider<LocalForgeCtx> = {
    name: provider.name,
    preflight: (ctx, req) => provider.preflight(ctx, req),
    desired: (req) => provider.desired(req),
    adapters: () => wrapped,
    stateBackend: (ctx, req) => (provider.stateBackend as NonNullable<typeof provider.stateBackend>)(ctx, req),
  };
  return { provider: p, counter };
}

describe("local forge bootstrap", () => {
  it("creates a bare repository whose clone is the rendered project, with both branches", async () => {
    const forgeDir = fresh();
    const result = await bootstrap(localProvider(), { forgeDir }, request());
    expect(result.applied).toBe(true);
    expect(result.summary.create).toBe(result.plan.actions.length);

    const bare = forgePaths(forgeDir, "demo").repo;
    const clone = join(fresh(), "clone");
    execFileSync("git", ["clone", "--quiet", bare, clone]);
    const cloned = snapshot(clone);
    for (const k of Object.keys(cloned)) if (k.startsWith(".git/") || k === ".git") delete cloned[k];
    const expected = Object.fromEntries(
      [...files].map(([p, c]) => [p.split("/").join("/"), createHash("sha256").update(c).digest("hex")]),
    );
    expect(cloned).toEqual(expected);

    const heads = gitOut(bare, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads");
    const branches = Object.fromEntries(
      heads
        .trim()
        .split("\n")
        .map((l) => l.split(" ")),
    );
    expect(Object.keys(branches).sort()).toEqual(["main", "release"]);
    expect(branches.main).toBe(branches.release);
    expect(gitOut(bare, "symbolic-ref", "HEAD").trim()).toBe("refs/heads/main");
    expect(readFileSync(join(bare, "description"), "utf8")).toContain("ML project demo");

    const prod = JSON.parse(readFileSync(forgePaths(forgeDir, "demo").environment("prod"), "utf8"));
    expect(prod).toMatchObject({
      reviewers: ["ml-admins"],
      deployFrom: { branches: ["release"] },
      secretNames: ["DATABRICKS_CLIENT_SECRET"],
      variables: { DATABRICKS_CATALOG: "prod" },
    });
    const repoManifest = JSON.parse(readFileSync(forgePaths(forgeDir, "demo").repositoryManifest, "utf8"));
    expect(repoManifest.teams).toEqual([
      { name: "ml-admins", permission: "admin" },
      { name: "ml-team", permission: "push" },
    ]);
    const secrets = await readLocalSecrets(forgeDir, "demo", "prod");
    expect(secrets.DATABRICKS_CLIENT_SECRET?.reveal()).toBe(CANARIES.DATABRICKS_PROD_CLIENT_SECRET);
    expect((await readLocalSecrets(forgeDir, "demo", "staging")).DATABRICKS_CLIENT_SECRET?.reveal()).toBe(
      CANARIES.DATABRICKS_STAGING_CLIENT_SECRET,
    );
  });

  it("converges: a second run plans only skips and writes nothing", async () => {
    const forgeDir = fresh();
    await bootstrap(localProvider(), { forgeDir }, request());
    const before = snapshot(forgeDir);
    const { provider, counter } = failingAfter(localProvider(), Number.POSITIVE_INFINITY, false);
    const again = await bootstrap(provider, { forgeDir }, request());
    expect(again.plan.actions.map((a) => a.action)).toEqual(again.plan.actions.map(() => "skip"));
    expect(again.rendered).toContain("No changes");
    expect(counter.mutations).toBe(0);
    expect(snapshot(forgeDir)).toEqual(before);
  });

  it("commits a changed project on top of the branch and re-seals a changed secret", async () => {
    const forgeDir = fresh();
    await bootstrap(localProvider(), { forgeDir }, request());
    const bare = forgePaths(forgeDir, "demo").repo;
    const first = gitOut(bare, "rev-parse", "main").trim();
    const req = request();
    req.files = new Map(req.files);
    req.files.set("NOTES.md", Buffer.from("notes\n"));
    const env = req.environments.find((e) => e.name === "prod");
    if (!env) throw new Error("no prod environment");
    const { Secret } = await import("../../src/lib/secret.js");
    env.secrets.DATABRICKS_CLIENT_SECRET = Secret.from("canary-prod-rotated-42aa");
    const r = await bootstrap(localProvider(), { forgeDir }, req);
    const changed = r.plan.actions.filter((a) => a.action !== "skip").map((a) => a.address);
    expect(changed.sort()).toEqual(["local.environment.prod", "local.files.content"]);
    expect(gitOut(bare, "rev-parse", "main~1").trim()).toBe(first);
    expect(gitOut(bare, "show", "main:NOTES.md")).toBe("notes\n");
    expect((await readLocalSecrets(forgeDir, "demo", "prod")).DATABRICKS_CLIENT_SECRET?.reveal()).toBe(
      "canary-prod-rotated-42aa",
    );
    expect(planToJson(r.plan)).not.toContain("canary-prod-rotated-42aa");
  });

  it("--dry-run plans everything and writes nothing", async () => {
    const forgeDir = fresh();
    const r = await bootstrap(localProvider(), { forgeDir }, request(), { dryRun: true });
    expect(r.applied).toBe(false);
    expect(r.summary.create).toBe(r.plan.actions.length);
    expect(r.rendered).toContain("local.environment.prod");
    expect(r.rendered).toContain("secrets.DATABRICKS_CLIENT_SECRET: (sensitive)");
    expectNoCanary(r.rendered, "the dry-run plan");
    expect(existsSync(forgeDir)).toBe(false);
  });

  it("keeps secrets readable only with the key, and no secret value anywhere else", async () => {
    const forgeDir = fresh();
    const r = await bootstrap(localProvider(), { forgeDir }, request());
    const paths = forgePaths(forgeDir, "demo");
    expect(statSync(paths.key).mode & 0o777).toBe(0o600);
    expect(relative(paths.repo, paths.key).startsWith("..")).toBe(true);
    const wrong = new Uint8Array(32).fill(7);
    await expect(readLocalSecrets(forgeDir, "demo", "prod", wrong)).rejects.toThrow(/cannot be decrypted/);
    writeFileSync(paths.key, wrong);
    await expect(readLocalSecrets(forgeDir, "demo", "prod")).rejects.toThrow(/cannot be decrypted/);

    // Nowhere in clear: the forge's files (state, manifests, sealed store, git objects), the plan,
    // the history, the git configuration and remote URLs of a clone.
    expectNoCanary(allText(forgeDir), "the forge directory");
    expectNoCanary(planToJson(r.plan) + r.rendered, "the plan");
    const clone = join(fresh(), "clone");
    execFileSync("git", ["clone", "--quiet", paths.repo, clone]);
    expectNoCanary(gitOut(clone, "log", "--all", "-p"), "the git history");
    expectNoCanary(gitOut(clone, "config", "--list") + gitOut(clone, "remote", "-v"), "the git configuration");
    expectNoCanary(gitOut(paths.repo, "config", "--list"), "the bare repository's configuration");
  });

  it("rolls back to nothing after a failure at every write", async () => {
    // How many writes a full bootstrap makes.
    const counting = failingAfter(localProvider(), Number.POSITIVE_INFINITY);
    await bootstrap(counting.provider, { forgeDir: fresh() }, request());
    const total = counting.counter.mutations;
    expect(total).toBeGreaterThanOrEqual(7);
    for (let failAt = 1; failAt <= total; failAt++) {
      const forgeDir = fresh();
      const { provider } = failingAfter(localProvider(), failAt);
      const err = await bootstrap(provider, { forgeDir }, request()).catch((e: unknown) => e);
      expect(err, `failure at write ${failAt}`).toBeInstanceOf(BootstrapError);
      expect((err as BootstrapError).rolledBack).toBe(true);
      expect((err as Error).message).toContain(`injected failure at mutation ${failAt}`);
      expect(snapshot(forgeDir), `forge after a failure at write ${failAt}`).toEqual({});
      // And the same command then succeeds from scratch.
      const ok = await bootstrap(localProvider(), { forgeDir }, request());
      expect(ok.applied).toBe(true);
    }
  });

  it("with rollback off keeps what was made, never secrets without content, and a re-run converges", async () => {
    const forgeDir = fresh();
    for (let failAt = 1; failAt <= 3; failAt++) {
      const { provider } = failingAfter(localProvider(), failAt);
      const err = await bootstrap(provider, { forgeDir }, request(), { rollback: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BootstrapError);
      expect((err as BootstrapError).rolledBack).toBe(false);
      const paths = forgePaths(forgeDir, "demo");
      const hasSecrets = existsSync(join(paths.meta, "secrets"));
      const hasContent = existsSync(paths.repo) && gitOut(paths.repo, "for-each-ref", "refs/heads").trim() !== "";
      if (hasSecrets) expect(hasContent).toBe(true);
    }
    await bootstrap(localProvider(), { forgeDir }, request());
    const again = await bootstrap(localProvider(), { forgeDir }, request());
    expect(again.summary.skip).toBe(again.plan.actions.length);
  });

  it("on an existing repository rolls back only what the failing run created, when asked", async () => {
    const forgeDir = fresh();
    await bootstrap(localProvider(), { forgeDir }, request());
    const paths = forgePaths(forgeDir, "demo");
    const tip = gitOut(paths.repo, "rev-parse", "main").trim();
    const withQa = () => {
      const req = request();
      for (const name of ["qa1", "qa2"]) {
        req.environments.push({ name, reviewers: [], deployFrom: {}, secrets: {}, variables: { DATABRICKS_CATALOG: name } });
      }
      return req;
    };
    // Two environments to create: the second write fails.
    const kept = await bootstrap(failingAfter(localProvider(), 2).provider, { forgeDir }, withQa()).catch((e: unknown) => e);
    expect(kept).toBeInstanceOf(BootstrapError);
    expect((kept as BootstrapError).rolledBack).toBe(false);
    expect(["qa1", "qa2"].filter((e) => existsSync(paths.environment(e)))).toHaveLength(1);

    const rolled = await bootstrap(failingAfter(localProvider(), 1).provider, { forgeDir }, withQa(), { rollback: true }).catch(
      (e: unknown) => e,
    );
    expect((rolled as BootstrapError).rolledBack).toBe(true);
    // The environment the first failing run left is not this run's: it stays; the repository is intact.
    expect(["qa1", "qa2"].filter((e) => existsSync(paths.environment(e)))).toHaveLength(1);
    expect(gitOut(paths.repo, "rev-parse", "main").trim()).toBe(tip);
    expect((await readLocalSecrets(forgeDir, "demo", "prod")).DATABRICKS_CLIENT_SECRET?.reveal()).toBe(
      CANARIES.DATABRICKS_PROD_CLIENT_SECRET,
    );

    await bootstrap(localProvider(), { forgeDir }, withQa());
    const again = await bootstrap(localProvider(), { forgeDir }, withQa());
    expect(again.summary.skip).toBe(again.plan.actions.length);
    expect(existsSync(paths.environment("qa1")) && existsSync(paths.environment("qa2"))).toBe(true);
  });

  it("refuses a name taken by a repository it did not create, writing nothing", async () => {
    const forgeDir = fresh();
    const bare = forgePaths(forgeDir, "demo").repo;
    mkdirSync(join(forgeDir, "repos"), { recursive: true });
    execFileSync("git", ["init", "--bare", "--quiet", bare]);
    const before = snapshot(forgeDir);
    const { provider, counter } = failingAfter(localProvider(), Number.POSITIVE_INFINITY, false);
    const err = await bootstrap(provider, { forgeDir }, request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreflightError);
    expect((err as Error).message).toMatch(/repository demo already exists in the local forge .* not created by a bootstrap/);
    expect(counter.mutations).toBe(0);
    expect(snapshot(forgeDir)).toEqual(before);
  });

  it("reports every pre-flight problem at once", async () => {
    const forgeDir = fresh();
    const req = { ...request(), name: "bad name", releaseBranch: "re..lease" };
    const err = (await bootstrap(localProvider(), { forgeDir }, req).catch((e: unknown) => e)) as PreflightError;
    expect(err).toBeInstanceOf(PreflightError);
    expect(err.issues.map((i) => i.message)).toEqual([
      'repository name "bad name" is not valid in the local forge',
      'branch name "re..lease" is not a valid git branch name',
    ]);
    expect(existsSync(forgeDir)).toBe(false);
  });
});

/** Runs the CLI in this process with `env` added, capturing stdout and stderr. */
const cli = (env: Record<string, string>, ...args: string[]) => runCli(args, { env });

describe("lakeforge init --forge", () => {
  it("renders, creates the local repository, and converges on a re-run", async () => {
    const forgeDir = fresh();
    const dir = fresh();
    const args = ["init", "demo", "--dir", dir, "--no-input", "--ci-auth", "oauth_m2m", "--forge-dir", forgeDir];
    const first = await cli(CANARIES, ...args);
    expect(first.stderr).toContain("Rendered demo");
    expect(first.code).toBe(0);
    expect(first.stderr).toContain("local.repository.demo");
    expect(first.stderr).toContain(`repository: ${forgePaths(forgeDir, "demo").repo}`);
    const clone = join(fresh(), "clone");
    execFileSync("git", ["clone", "--quiet", forgePaths(forgeDir, "demo").repo, clone]);
    expect(readFileSync(join(clone, MANIFEST_PATH), "utf8")).toBe(readFileSync(join(dir, MANIFEST_PATH), "utf8"));
    expect((await readLocalSecrets(forgeDir, "demo", "test")).DATABRICKS_CLIENT_SECRET?.reveal()).toBe(
      CANARIES.DATABRICKS_TEST_CLIENT_SECRET,
    );

    const before = snapshot(forgeDir);
    const again = await cli(CANARIES, ...args, "--force", "--json");
    expect(again.code).toBe(0);
    const forge = JSON.parse(again.stdout).forge;
    expect(forge).toMatchObject({ name: "local", applied: true, plan: { create: 0, update: 0, delete: 0, recreate: 0 } });
    expect(snapshot(forgeDir)).toEqual(before);
    expectNoCanary(first.stdout + first.stderr + again.stdout + again.stderr, "the CLI output");
  });

  it("--dry-run writes neither the project nor the forge; --forge none renders only", async () => {
    const forgeDir = fresh();
    const dir = fresh();
    const dry = await cli(CANARIES, "init", "demo", "--dir", dir, "--no-input", "--dry-run", "--forge-dir", forgeDir);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain("+   local.repository.demo");
    expect(dry.stderr).toContain("nothing was written");
    expectNoCanary(dry.stdout + dry.stderr, "the dry-run output");
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(forgeDir)).toBe(false);

    const none = await cli({}, "init", "demo", "--dir", dir, "--no-input", "--forge", "none", "--forge-dir", forgeDir);
    expect(none.code).toBe(0);
    expect(existsSync(join(dir, MANIFEST_PATH))).toBe(true);
    expect(existsSync(forgeDir)).toBe(false);
  });

  it("rejects an unknown forge before writing anything", async () => {
    const dir = fresh();
    const r = await cli({}, "init", "demo", "--dir", dir, "--no-input", "--forge", "gitea");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--forge: expected one of local, github, azure-devops, none, got "gitea"');
    expect(existsSync(dir)).toBe(false);
  });
});
