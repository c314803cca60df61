import { afterEach, describe, expect, it } from "vitest";
import { createGithubContext, githubProvider } from "../../src/bootstrap/github/index.js";
import { BootstrapError, bootstrap, PreflightError } from "../../src/bootstrap/orchestrate.js";
import type { StateFile } from "../../src/engine/state.js";
import { UserError } from "../../src/lib/errors.js";
import { Secret } from "../../src/lib/secret.js";
import { type GithubFake, request, setup } from "./github-helpers.js";

let fake: GithubFake | undefined;

afterEach(async () => {
  // Every request (the app's JWT-authenticated ones included) and every answer were allowed by the description.
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

const FULL = {
  administration: "write",
  contents: "write",
  environments: "write",
  secrets: "write",
  actions_variables: "write",
  workflows: "write",
  actions: "write",
  members: "read",
};

/** Writes to the repository (creating an installation token is authentication, not a write). */
const writesOf = (f: GithubFake) =>
  f.requests.filter((r) => r.method !== "GET" && r.operationId !== "apps/create-installation-access-token");

function memoryState() {
  const saved: string[] = [];
  let current: StateFile | undefined;
  return {
    saved,
    backend: {
      description: "memory",
      load: async () => current,
      save: async (s: StateFile) => {
        saved.push(JSON.stringify(s));
        current = JSON.parse(JSON.stringify(s)) as StateFile;
      },
      remove: async () => {
        current = undefined;
      },
    },
  };
}

async function appSetup(permissions: Record<string, string> = FULL, installOn = "acme") {
  const s = await setup();
  fake = s.fake;
  const app = s.fake.addApp("lakeforge-bot", "acme");
  const installationId = s.fake.installApp(app.id, installOn, permissions);
  const appCtx = (over: { installationId?: number; privateKey?: string } = {}) =>
    createGithubContext({
      app: {
        appId: app.id,
        privateKey: Secret.from(over.privateKey ?? app.privateKeyPem),
        ...(over.installationId !== undefined ? { installationId: over.installationId } : {}),
      },
      baseUrl: s.fake.url,
      retryAfterBaseMs: 1,
      throttle: false,
    });
  return { ...s, app, installationId, appCtx };
}

/** Lines of the PEM body: each one a piece of the private key that must never leak. */
const keyLines = (pem: string) => pem.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));

describe("GitHub bootstrap as a GitHub App installation", () => {
  it("bootstraps the whole repository, converges, and keeps the key and installation tokens out of everything", async () => {
    const s = await appSetup();
    const m = memoryState();
    const req = request(s.canaries, { secrets: { DATABRICKS_CLIENT_SECRET: Secret.from(s.canaries.prodSecret) } });
    const progress: string[] = [];
    const first = await bootstrap(githubProvider(), s.appCtx(), req, {
      state: m.backend,
      progress: (e) => progress.push(JSON.stringify(e)),
    });
    expect(first.applied).toBe(true);
    const repo = s.fake.repo("acme", "churn-model");
    expect(repo?.topics).toContain("lakeforge-bootstrap");
    expect(Object.fromEntries(repo?.teams ?? [])).toEqual({ "ml-admins": "admin", "ml-contributors": "push" });
    expect(s.fake.decryptSecret("acme", "churn-model", "prod", "DATABRICKS_CLIENT_SECRET")).toBe(s.canaries.prodSecret);
    expect(s.fake.decryptRepositorySecret("acme", "churn-model", "DATABRICKS_CLIENT_SECRET")).toBe(s.canaries.prodSecret);
    expect(repo?.git.file("refs/heads/main", "src/churn/train.py")?.toString()).toBe("print('train')\n");
    expect(repo?.rulesets.size).toBe(2);

    // The installation was found for the organisation, and the app's endpoints took a JWT.
    const ops = s.fake.requests.map((r) => r.operationId);
    expect(ops).toContain("apps/get-authenticated");
    expect(ops).toContain("apps/get-org-installation");
    expect(ops).not.toContain("users/get-authenticated");
    const appCalls = s.fake.requests.filter((r) => r.url.startsWith("/app") || r.url.endsWith("/installation"));
    expect(appCalls.every((r) => /^bearer [\w-]+\.[\w-]+\.[\w-]+$/i.test(String(r.headers.authorization)))).toBe(true);
    const tokens = [...s.fake.installationTokens];
    expect(tokens.length).toBeGreaterThan(0);
    const others = s.fake.requests.filter((r) => !appCalls.includes(r));
    expect(others.every((r) => tokens.some((t) => r.headers.authorization === `token ${t}`))).toBe(true);

    // A second run makes no write.
    const before = writesOf(s.fake).length;
    const second = await bootstrap(githubProvider(), s.appCtx(), req, { state: m.backend });
    expect(second.summary).toMatchObject({ create: 0, update: 0, delete: 0, recreate: 0 });
    expect(writesOf(s.fake).length).toBe(before);

    const texts = [
      first.rendered,
      JSON.stringify(first.plan),
      ...m.saved,
      ...progress,
      ...s.fake.requests.map((r) => `${r.url}\n${r.body}`),
    ].join("\n");
    for (const secret of [...keyLines(s.app.privateKeyPem), ...tokens, ...Object.values(s.canaries)])
      expect(texts.includes(secret), "a key line, installation token or secret value leaked").toBe(false);
  });

  it("uses a given installation id without looking it up", async () => {
    const s = await appSetup();
    const m = memoryState();
    const req = request(s.canaries, { name: "by-id" });
    await bootstrap(githubProvider(), s.appCtx({ installationId: s.installationId }), req, { state: m.backend });
    expect(s.fake.repo("acme", "by-id")).toBeDefined();
    const ops = s.fake.requests.map((r) => r.operationId);
    expect(ops).toContain("apps/get-installation");
    expect(ops).not.toContain("apps/get-org-installation");
  });

  it("lists every permission the installation lacks in pre-flight and writes nothing", async () => {
    const s = await appSetup({ administration: "write", contents: "read", environments: "write", secrets: "read" });
    const m = memoryState();
    const err = await bootstrap(githubProvider(), s.appCtx(), request(s.canaries), { state: m.backend }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreflightError);
    expect((err as PreflightError).issues.map((i) => i.message)).toEqual([
      "the GitHub App installation on acme lacks contents: write, needed to commit the project and create the branches",
      "the GitHub App installation on acme lacks secrets: write, needed to write the secrets",
      "the GitHub App installation on acme lacks actions_variables: write, needed to write the variables",
      "the GitHub App installation on acme lacks workflows: write, needed to push workflow files",
      "the GitHub App installation on acme lacks actions: write, needed to set the OIDC subject claim template",
      "the GitHub App installation on acme lacks members: read, needed to read the organisation's teams",
    ]);
    expect(writesOf(s.fake)).toEqual([]);
    expect(m.saved).toEqual([]);
  });

  it("reports an app that is not installed, a wrong key, and a user account it cannot create repositories in", async () => {
    const s = await appSetup(FULL, "octo");
    // Not installed on acme.
    const missing = await githubProvider()
      .preflight(s.appCtx(), request(s.canaries))
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UserError);
    expect((missing as Error).message).toBe(`GitHub App ${s.app.id} is not installed on acme`);

    // A key that is not the app's: GitHub rejects the JWT.
    const other = s.fake.addApp("other", "acme");
    const wrong = await githubProvider()
      .preflight(s.appCtx({ privateKey: other.privateKeyPem }), request(s.canaries))
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(UserError);
    expect((wrong as Error).message).toContain("rejected the GitHub App");
    expect(JSON.stringify(wrong) + String((wrong as Error).stack)).not.toContain(keyLines(other.privateKeyPem)[1]);

    // Installed on the user octo: found through /users/{username}/installation, but an app cannot create user repositories.
    const issues = await githubProvider().preflight(
      s.appCtx(),
      request(s.canaries, { owner: "octo", teams: [], environments: [] }),
    );
    expect(issues.map((i) => i.message)).toEqual(["a GitHub App cannot create repositories of the user octo"]);
    expect(s.fake.requests.map((r) => r.operationId)).toContain("apps/get-user-installation");
    expect(writesOf(s.fake)).toEqual([]);
  });

  it("rolls back to nothing after a failure at every write", async () => {
    const s = await appSetup();
    const probe = memoryState();
    await bootstrap(githubProvider(), s.appCtx(), request(s.canaries, { name: "probe" }), { state: probe.backend });
    const total = s.fake.writes();
    let rolledBack = 0;
    for (let n = 0; n < total; n++) {
      const name = `app-rb-${n}`;
      const m = memoryState();
      s.fake.failAfterWrites(n, { status: 403 });
      const err = await bootstrap(githubProvider(), s.appCtx(), request(s.canaries, { name }), { state: m.backend }).then(
        () => undefined,
        (e: unknown) => e,
      );
      s.fake.clearFaults();
      if (err === undefined) continue;
      expect(err, `failure after ${n} writes`).toBeInstanceOf(BootstrapError);
      expect((err as BootstrapError).rolledBack).toBe(true);
      expect(s.fake.repo("acme", name), `repository left after failing at write ${n + 1}`).toBeUndefined();
      rolledBack++;
    }
    expect(rolledBack).toBeGreaterThan(0);
  });
});
