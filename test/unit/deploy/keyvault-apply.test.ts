import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type RunningWorkspace, startWorkspace } from "../../../src/workspace/server.js";
import { type FakeApp, type FakeKeyVault, startFakeKeyVault } from "../../fakes/azure-keyvault/server.js";
import { selfSignedCertificate } from "../../fakes/azure-keyvault/tls.js";
import { type CliResult, runCli } from "../../support/cli.js";

/**
 * `lakeforge plan` and `apply` (the CLI's `main`, in this process) with a secret scope whose secret
 * comes from Azure Key Vault: the official SecretClient reads it from the fake Key Vault with a
 * ClientSecretCredential from the environment (AZURE_TENANT_ID / AZURE_CLIENT_ID /
 * AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST pointing at the fake's Entra endpoint), and the value
 * lands in the local workspace.
 *
 * The only thing added to the CLI's own path is transport trust, which an in-process test cannot
 * get from NODE_EXTRA_CA_CERTS: `openEnvironment` receives the fake's throwaway certificate as CA
 * (and, as the fake listens on 127.0.0.1 rather than *.vault.azure.net, the SDK's check that the
 * challenge's resource matches the vault's domain is turned off).
 */

const transport = vi.hoisted(() => ({ ca: "" }));

vi.mock("../../../src/deploy/environment.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../src/deploy/environment.js")>();
  return {
    ...original,
    openEnvironment: (opts: Parameters<typeof original.openEnvironment>[0]) =>
      original.openEnvironment({
        ...opts,
        keyVault: {
          credentialOptions: { disableInstanceDiscovery: true, clientOptions: { tlsOptions: { ca: transport.ca } } },
          clientOptions: {
            tlsOptions: { ca: transport.ca },
            disableChallengeResourceVerification: true,
            retryOptions: { maxRetries: 0 },
          },
        },
      }),
  };
});

const certificate = selfSignedCertificate();
const CANARY_1 = `canary-kv-one-${randomBytes(12).toString("hex")}`;
const CANARY_2 = `canary-kv-two-${randomBytes(12).toString("hex")}`;
const CLIENT_SECRET = `canary-client-secret-${randomBytes(12).toString("hex")}`;

let kv: FakeKeyVault;
let ws: RunningWorkspace;
let app: FakeApp;
let dir: string;
const savedEnv = { ...process.env };
const output = { stdout: "", stderr: "" };

const CONFIG = (vaultUrl: string, host: string, extra = "") =>
  [
    "project:", // 1
    "  name: kv-e2e", // 2
    "environments:", // 3
    "  test:", // 4
    "    default: true", // 5
    "    workspace:", // 6
    `      host: ${host}`, // 7
    "resources:", // 8
    "  secret_scopes:", // 9
    "    app:", // 10
    "      name: app", // 11
    "      secrets:", // 12
    "        storage-key:", // 13
    "          azure_key_vault:", // 14
    `            vault: ${vaultUrl}`, // 15
    "            secret: storage-key", // 16
    extra,
    "",
  ].join("\n");

const MISSING = [
  "        missing:", // 17
  "          azure_key_vault:", // 18
  "            vault: VAULT", // 19
  "            secret: not-there", // 20
].join("\n");

async function cli(...args: string[]): Promise<CliResult> {
  const r = await runCli([...args, "-C", dir]);
  output.stdout += r.stdout;
  output.stderr += r.stderr;
  return r;
}

interface LogEntry {
  seq: number;
  method: string;
  path: string;
  status: number;
}

async function control<T>(path: string): Promise<T> {
  const res = await fetch(`${ws.url}${path}`, { headers: { Authorization: `Bearer ${ws.token}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}
const lastSeq = async () => (await control<{ last_seq: number }>("/__lakeforge/requests?since=0")).last_seq;
const requestsSince = async (seq: number) =>
  (await control<{ requests: LogEntry[] }>(`/__lakeforge/requests?since=${seq}`)).requests;
const workspaceSecret = async (scope: string, key: string) => {
  const got = await control<{ value: string }>(`/api/2.0/secrets/get?scope=${scope}&key=${key}`);
  return Buffer.from(got.value, "base64").toString("utf8");
};

function allText(path: string): string {
  if (statSync(path).isDirectory())
    return readdirSync(path)
      .map((n) => allText(join(path, n)))
      .join("\n");
  return readFileSync(path, "utf8");
}

describe.skipIf(!certificate)("plan and apply with Azure Key Vault secret sources (needs openssl for a test certificate)", () => {
  beforeAll(async () => {
    if (!certificate) return;
    kv = await startFakeKeyVault(certificate);
    transport.ca = kv.ca;
    app = kv.addApp({ secret: CLIENT_SECRET });
    kv.grantSecretsUser(app.clientId);
    kv.setSecret("storage-key", CANARY_1);
    ws = await startWorkspace({ ephemeral: true, port: 0 });
    dir = mkdtempSync(join(tmpdir(), "lakeforge-kv-apply-"));
    for (const k of Object.keys(process.env))
      if (/^(DATABRICKS_|AZURE_|ARM_|LAKEFORGE_|ACTIONS_ID_TOKEN)/.test(k)) delete process.env[k];
    Object.assign(process.env, {
      HOME: dir,
      NO_COLOR: "1",
      DATABRICKS_TOKEN: ws.token,
      AZURE_TENANT_ID: kv.tenantId,
      AZURE_CLIENT_ID: app.clientId,
      AZURE_CLIENT_SECRET: CLIENT_SECRET,
      AZURE_AUTHORITY_HOST: kv.authorityHost,
    });
  });

  afterAll(async () => {
    process.env = savedEnv;
    await ws?.stop();
    await kv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    writeFileSync(join(dir, "lakeforge.yaml"), CONFIG(kv.url, ws.url));
  });

  it("creates the secret from the vault, then plans no change, then shows an update when the vault's value changes", async () => {
    const planFile = join(dir, "plan.json");
    const planned = await cli("plan", "--out", planFile, "--detailed-exitcode");
    expect(planned.code, planned.stderr).toBe(2);
    expect(planned.stderr).toMatch(/\+.*databricks\.secret\.app\.storage-key/);
    expect(kv.secretReads()).toEqual(["storage-key"]);

    const applied = await cli("apply", planFile, "--auto-approve");
    expect(applied.code, applied.stderr).toBe(0);
    expect(await workspaceSecret("app", "storage-key")).toBe(CANARY_1);

    const seq = await lastSeq();
    const again = await cli("plan", "--detailed-exitcode");
    expect(again.code, again.stderr).toBe(0);
    expect((await requestsSince(seq)).filter((r) => r.method !== "GET")).toEqual([]);

    kv.setSecret("storage-key", CANARY_2);
    const changed = await cli("plan", "--detailed-exitcode");
    expect(changed.code, changed.stderr).toBe(2);
    expect(changed.stderr).toMatch(/~.*databricks\.secret\.app\.storage-key/);
    expect(changed.stderr).toContain("(sensitive)");

    const updated = await cli("apply", "--auto-approve");
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stderr).toMatch(/1 updated/);
    expect(await workspaceSecret("app", "storage-key")).toBe(CANARY_2);
  });

  it("a saved plan is refused once the vault's value changed", async () => {
    const planFile = join(dir, "stale.json");
    expect((await cli("plan", "--out", planFile)).code).toBe(0);
    kv.setSecret("storage-key", CANARY_1);
    const applied = await cli("apply", planFile, "--auto-approve");
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain("the saved plan is stale: the configuration changed");
  });

  it("a missing secret stops plan and apply with a located error, exit 1 and no request to the workspace", async () => {
    writeFileSync(join(dir, "lakeforge.yaml"), CONFIG(kv.url, ws.url, MISSING.replace("VAULT", kv.url)));
    for (const args of [["plan"], ["apply", "--auto-approve"]]) {
      const seq = await lastSeq();
      const r = await cli(...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /lakeforge\.yaml:19:13 resources\.secret_scopes\.app\.secrets\.missing\.azure_key_vault: secret "not-there" was not found in Azure Key Vault https:\/\/127\.0\.0\.1:\d+\/ \(404 SecretNotFound: /,
      );
      expect(r.stderr).toContain("hint: check the secret's name in the vault");
      expect(r.stderr.trim().split("\n")).toHaveLength(2);
      expect(await requestsSince(seq)).toEqual([]);
    }
  });

  it("an identity without the Key Vault Secrets User role is named, and nothing is sent to the workspace", async () => {
    kv.revokeSecretsUser(app.clientId);
    try {
      const seq = await lastSeq();
      const r = await cli("apply", "--auto-approve");
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/lakeforge\.yaml:15:13 resources\.secret_scopes\.app\.secrets\.storage-key\.azure_key_vault: /);
      expect(r.stderr).toContain(`application ${app.clientId} (object id ${app.objectId}) in tenant ${kv.tenantId} may not read`);
      expect(r.stderr).toContain("403 Forbidden/ForbiddenByRbac");
      expect(r.stderr).toContain('"Key Vault Secrets User" role');
      expect(await requestsSince(seq)).toEqual([]);
    } finally {
      kv.grantSecretsUser(app.clientId);
    }
  });

  it("leaves no secret value in output, plan files, state or request logs", async () => {
    const remoteState = await fetch(
      `${ws.url}/api/2.0/workspace/export?path=${encodeURIComponent("/Shared/.lakeforge/kv-e2e/test/state.json")}&direct_download=true`,
      { headers: { Authorization: `Bearer ${ws.token}` } },
    );
    expect(remoteState.status).toBe(200);
    const state = await remoteState.text();
    expect(state).toContain("databricks.secret.app.storage-key");
    const everything = [
      output.stdout,
      output.stderr,
      allText(dir),
      state,
      JSON.stringify(await requestsSince(0)),
      JSON.stringify(kv.requests),
    ].join("\n");
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(["plan.json", "stale.json", ".lakeforge"]));
    for (const canary of [CANARY_1, CANARY_2, CLIENT_SECRET]) expect(everything).not.toContain(canary);
  });
});
