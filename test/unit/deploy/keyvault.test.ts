import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SecretClientOptions } from "@azure/keyvault-secrets";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type AzureCredentialOptions, azureCredential, tokenIdentity } from "../../../src/clients/azure/credential.js";
import { KeyVaultError, KeyVaultReader } from "../../../src/clients/azure/keyvault.js";
import type { FetchLike } from "../../../src/clients/http.js";
import { ConfigError } from "../../../src/config/errors.js";
import { openEnvironment } from "../../../src/deploy/environment.js";
import { UserError } from "../../../src/lib/errors.js";
import { type FakeApp, type FakeKeyVault, startFakeKeyVault } from "../../fakes/azure-keyvault/server.js";
import { selfSignedCertificate } from "../../fakes/azure-keyvault/tls.js";

/**
 * Reading Azure Key Vault secret sources: `@azure/identity` credentials and the official SecretClient
 * against the fake Key Vault and Entra endpoint (HTTPS with a throwaway certificate), the errors a
 * user sees for each way a read can fail, and `openEnvironment` stopping before any workspace request.
 */

const certificate = selfSignedCertificate();
const CLIENT_SECRET = `canary-sp-${randomBytes(12).toString("hex")}`;
const VALUE = `canary-value-${randomBytes(12).toString("hex")}`;

let kv: FakeKeyVault;
let app: FakeApp;
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  vi.restoreAllMocks();
});

const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "lakeforge-kv-"));
  dirs.push(d);
  return d;
};

/** What a test needs to reach the fake over TLS: its certificate as CA, and no instance discovery. */
const identityTransport = (): Partial<AzureCredentialOptions> => ({
  authorityHost: kv.authorityHost,
  disableInstanceDiscovery: true,
  clientOptions: { tlsOptions: { ca: kv.ca } },
});
const vaultTransport = (): SecretClientOptions => ({
  tlsOptions: { ca: kv.ca },
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 0 },
});

const spEnv = () => ({ AZURE_TENANT_ID: kv.tenantId, AZURE_CLIENT_ID: app.clientId, AZURE_CLIENT_SECRET: CLIENT_SECRET });

const reader = (env: Record<string, string> = spEnv(), concurrency?: number) =>
  new KeyVaultReader({
    credential: azureCredential({ ...identityTransport(), env }),
    clientOptions: vaultTransport(),
    ...(concurrency ? { concurrency } : {}),
  });

/** `fetch` over node:https trusting the fake's certificate (the global fetch takes no CA). */
const httpsFetch: FetchLike = (url, init) =>
  new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const req = request(url, { method: init.method ?? "GET", headers, ca: kv.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: h }));
      });
    });
    req.on("error", reject);
    req.end(typeof init.body === "string" ? init.body : undefined);
  });

async function failure(p: Promise<unknown>): Promise<KeyVaultError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(KeyVaultError);
  const err = e as KeyVaultError;
  for (const text of [err.message, err.hint ?? "", JSON.stringify(err)]) {
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toContain(VALUE);
  }
  return err;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(!certificate)("Azure Key Vault secret sources (needs openssl for a test certificate)", () => {
  beforeAll(async () => {
    if (!certificate) return;
    kv = await startFakeKeyVault(certificate);
    app = kv.addApp({ secret: CLIENT_SECRET });
    kv.grantSecretsUser(app.clientId);
    kv.setSecret("storage-key", VALUE);
  });
  afterAll(async () => {
    await kv?.stop();
  });

  describe("KeyVaultReader", () => {
    it("reads the latest version or a pinned one, as Secret values", async () => {
      const name = "rotated";
      const v1 = kv.setSecret(name, "first-value-1");
      kv.setSecret(name, "second-value-2");
      const r = reader();
      const latest = await r.read({ vaultUrl: kv.url, name });
      expect(latest.reveal()).toBe("second-value-2");
      expect(String(latest)).toBe("***");
      expect((await r.read({ vaultUrl: kv.url, name, version: v1 })).reveal()).toBe("first-value-1");
    });

    it("reads each distinct vault, secret and version once, a bounded number at a time", async () => {
      for (let i = 0; i < 6; i++) kv.setSecret(`many-${i}`, `value-of-many-${i}`);
      const before = kv.secretReads().length;
      kv.latencyMs = 30;
      try {
        const refs = [0, 1, 2, 3, 4, 5, 0, 1].map((i) => ({ vaultUrl: kv.url, name: `many-${i}` }));
        refs.push({ vaultUrl: kv.url.toUpperCase().replace(/\/$/, ""), name: "MANY-2" });
        const values = await reader(spEnv(), 2).readAll(refs);
        expect(values.size).toBe(6);
        expect([...values.values()].map((v) => (v instanceof KeyVaultError ? v.message : v.reveal())).sort()).toEqual(
          [0, 1, 2, 3, 4, 5].map((i) => `value-of-many-${i}`),
        );
        expect(kv.secretReads().slice(before).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `many-${i}`));
        expect(kv.maxInFlight()).toBe(2);
      } finally {
        kv.latencyMs = 0;
      }
    });

    it("a missing secret or version: 404 SecretNotFound", async () => {
      const missing = await failure(reader().read({ vaultUrl: kv.url, name: "nope" }));
      expect(missing.failure).toBe("not-found");
      expect(missing.status).toBe(404);
      expect(missing.code).toBe("SecretNotFound");
      expect(missing.message).toBe(
        `secret "nope" was not found in Azure Key Vault ${kv.url} (404 SecretNotFound: A secret with (name/id) nope was not found in this key vault.)`,
      );
      const version = "0123456789abcdef0123456789abcdef";
      const noVersion = await failure(reader().read({ vaultUrl: kv.url, name: "storage-key", version }));
      expect(noVersion.failure).toBe("not-found");
      expect(noVersion.message).toMatch(new RegExp(`^version ${version} of secret "storage-key" was not found`));
      expect(noVersion.hint).toContain("list-versions");
    });

    it("a disabled secret: 403 SecretDisabled", async () => {
      kv.setSecret("switched-off", "disabled-value-1");
      kv.setEnabled("switched-off", undefined, false);
      const e = await failure(reader().read({ vaultUrl: kv.url, name: "switched-off" }));
      expect(e.failure).toBe("disabled");
      expect(e.message).toBe(
        `secret "switched-off" in Azure Key Vault ${kv.url} is disabled (403 Forbidden/SecretDisabled: Operation get is not allowed on a disabled secret.)`,
      );
    });

    it("an identity without access: 403, naming the identity and the role it needs", async () => {
      const other = kv.addApp({ secret: "other-app-secret" });
      const e = await failure(
        reader({ AZURE_TENANT_ID: kv.tenantId, AZURE_CLIENT_ID: other.clientId, AZURE_CLIENT_SECRET: "other-app-secret" }).read({
          vaultUrl: kv.url,
          name: "storage-key",
        }),
      );
      expect(e.failure).toBe("forbidden");
      expect(e.message).toMatch(
        new RegExp(
          `^application ${other.clientId} \\(object id ${other.objectId}\\) in tenant ${kv.tenantId} may not read secret "storage-key"`,
        ),
      );
      expect(e.hint).toContain('"Key Vault Secrets User" role');
    });

    it("a token the vault refuses: 401", async () => {
      const bogus = {
        getToken: async () => ({
          token: `x.${Buffer.from(JSON.stringify({ appid: "bogus-app" })).toString("base64url")}.y`,
          expiresOnTimestamp: Date.now() + 3_600_000,
        }),
      };
      const r = new KeyVaultReader({ credential: bogus, clientOptions: vaultTransport() });
      const e = await failure(r.read({ vaultUrl: kv.url, name: "storage-key" }));
      expect(e.failure).toBe("unauthorized");
      expect(e.status).toBe(401);
      expect(e.message).toContain(
        `Azure Key Vault ${kv.url} refused the token of the configured Azure identity (401 Unauthorized: AKV10032`,
      );
    });

    it("credentials Entra ID refuses: no token, nothing sent to the vault with it", async () => {
      const seen = kv.requests.length;
      const e = await failure(
        reader({ AZURE_TENANT_ID: kv.tenantId, AZURE_CLIENT_ID: app.clientId, AZURE_CLIENT_SECRET: "wrong-secret-value" }).read({
          vaultUrl: kv.url,
          name: "storage-key",
        }),
      );
      expect(e.failure).toBe("credential");
      expect(e.message).toContain(
        `no Azure token to read secret "storage-key" from Azure Key Vault ${kv.url}: service principal ${app.clientId} (client secret) in tenant ${kv.tenantId}`,
      );
      expect(e.message).toContain("AADSTS7000215");
      expect(e.message).not.toContain("wrong-secret-value");
      // Only the challenge (no token) reached the vault.
      expect(kv.requests.slice(seen).filter((q) => q.service === "vault")).toEqual([
        { method: "GET", path: "/secrets/storage-key/", status: 401, service: "vault" },
      ]);
    });

    it("an unreachable vault", async () => {
      const port = await closedPort();
      const e = await failure(reader().read({ vaultUrl: `https://127.0.0.1:${port}/`, name: "storage-key" }));
      expect(e.failure).toBe("unreachable");
      expect(e.message).toBe(`cannot reach Azure Key Vault https://127.0.0.1:${port}/ (ECONNREFUSED)`);
    });

    it("a secret without a value", async () => {
      kv.setSecret("blank", "");
      const e = await failure(reader().read({ vaultUrl: kv.url, name: "blank" }));
      expect(e.failure).toBe("empty");
      expect(e.message).toBe(`secret "blank" in Azure Key Vault ${kv.url} has no value`);
    });
  });

  describe("azureCredential", () => {
    it("workload identity with a federated token file", async () => {
      const dir = tempDir();
      const tokenFile = join(dir, "token");
      const federated = `federated-${randomBytes(8).toString("hex")}`;
      writeFileSync(tokenFile, federated);
      const wl = kv.addApp({ federatedToken: federated });
      kv.grantSecretsUser(wl.clientId);
      const env = { AZURE_TENANT_ID: kv.tenantId, AZURE_CLIENT_ID: wl.clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile };
      const credential = azureCredential({ ...identityTransport(), env });
      expect(credential.method).toBe("default");
      expect(credential.describe()).toBe(`workload identity ${wl.clientId} (federated token file) in tenant ${kv.tenantId}`);
      const r = new KeyVaultReader({ credential, clientOptions: vaultTransport() });
      expect((await r.read({ vaultUrl: kv.url, name: "storage-key" })).reveal()).toBe(VALUE);
      expect(credential.lastIdentity()).toEqual({ tenantId: kv.tenantId, appId: wl.clientId, objectId: wl.objectId });
    });

    it("workload identity from GitHub Actions' OIDC token", async () => {
      const gh = kv.addApp({ githubSubject: kv.github.subject });
      kv.grantSecretsUser(gh.clientId);
      const env = {
        LAKEFORGE_AZURE_AUTH: "workload-identity",
        AZURE_TENANT_ID: kv.tenantId,
        AZURE_CLIENT_ID: gh.clientId,
        ACTIONS_ID_TOKEN_REQUEST_URL: kv.github.requestUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: kv.github.requestToken,
      };
      const credential = azureCredential({ ...identityTransport(), env, fetch: httpsFetch });
      expect(credential.method).toBe("workload-identity");
      expect(credential.describe()).toBe(`workload identity ${gh.clientId} (GitHub Actions OIDC token) in tenant ${kv.tenantId}`);
      const r = new KeyVaultReader({ credential, clientOptions: vaultTransport() });
      expect((await r.read({ vaultUrl: kv.url, name: "storage-key" })).reveal()).toBe(VALUE);
      expect(kv.requests.filter((q) => q.service === "github").map((q) => q.status)).toContain(200);
    });

    it("chooses the method from LAKEFORGE_AZURE_AUTH, and says what is missing", () => {
      expect(() => azureCredential({ env: { LAKEFORGE_AZURE_AUTH: "password" } })).toThrow(
        /LAKEFORGE_AZURE_AUTH "password" is not one of default, client-secret, workload-identity, azure-cli, managed-identity/,
      );
      const e = (() => {
        try {
          azureCredential({ env: { LAKEFORGE_AZURE_AUTH: "client-secret", AZURE_CLIENT_ID: "abc" } });
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(UserError);
      expect((e as Error).message).toBe("Azure client-secret authentication needs AZURE_TENANT_ID, AZURE_CLIENT_SECRET");
      expect(() => azureCredential({ method: "workload-identity", env: { AZURE_TENANT_ID: "t", AZURE_CLIENT_ID: "c" } })).toThrow(
        /needs AZURE_FEDERATED_TOKEN_FILE/,
      );
      expect(azureCredential({ env: { LAKEFORGE_AZURE_AUTH: "azure-cli" } }).describe()).toBe(
        "the Azure CLI's signed-in account",
      );
      expect(azureCredential({ method: "managed-identity", env: { AZURE_CLIENT_ID: "mi-1" } }).describe()).toBe(
        "user-assigned managed identity mi-1",
      );
      expect(azureCredential({ env: {} }).describe()).toMatch(/^the default Azure credential chain/);
      expect(
        azureCredential({ env: { AZURE_TENANT_ID: "t", AZURE_CLIENT_ID: "c", AZURE_CLIENT_SECRET: "s3cr3t" } }).describe(),
      ).toBe("service principal c (client secret) in tenant t");
    });

    it("reads who a token is for from its claims", () => {
      const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      expect(tokenIdentity(`${part({})}.${part({ tid: "t", appid: "a", oid: "o" })}.sig`)).toEqual({
        tenantId: "t",
        appId: "a",
        objectId: "o",
      });
      expect(tokenIdentity(`${part({})}.${part({ upn: "me@example.com" })}.sig`)).toEqual({ user: "me@example.com" });
      expect(tokenIdentity("opaque-token")).toBeUndefined();
    });
  });

  describe("openEnvironment", () => {
    const project = (secrets: string) => {
      const dir = tempDir();
      writeFileSync(
        join(dir, "lakeforge.yaml"),
        [
          "project:",
          "  name: kv",
          "environments:",
          "  dev:",
          "    workspace:",
          "      host: https://adb-1.azuredatabricks.net",
          "resources:",
          "  secret_scopes:",
          "    app:",
          "      name: app",
          "      secrets:",
          secrets,
          "",
        ].join("\n"),
      );
      return dir;
    };
    const open = (dir: string, env: Record<string, string> = spEnv()) =>
      openEnvironment({
        target: dir,
        env: { ...env, DATABRICKS_TOKEN: "dapi-unused" },
        keyVault: { credentialOptions: identityTransport(), clientOptions: vaultTransport() },
      });

    it("puts the values in place, each secret read once", async () => {
      const before = kv.secretReads().length;
      const dir = project(
        [
          "        one:",
          "          azure_key_vault: { vault: VAULT, secret: storage-key }",
          "        two:",
          "          azure_key_vault: { vault: VAULT, secret: storage-key }",
        ]
          .join("\n")
          .replaceAll("VAULT", kv.url),
      );
      const env = await open(dir);
      try {
        const specs = env.config.resources.filter((r) => r.kind === "databricks.secret").map((r) => r.spec);
        expect(specs).toHaveLength(2);
        for (const spec of specs) expect(JSON.stringify(spec)).not.toContain(VALUE);
        expect(JSON.stringify(specs)).toContain("***");
        expect(kv.secretReads().slice(before)).toEqual(["storage-key"]);
        expect(env.configFingerprint).toMatch(/^sha256:/);
      } finally {
        await env.close();
      }
    });

    it("a failed read is located at each source, before any request to the workspace", async () => {
      const fetchSpy = vi.spyOn(globalThis, "fetch");
      const dir = project(
        [
          "        good:",
          "          azure_key_vault: { vault: VAULT, secret: storage-key }",
          "        bad:",
          "          azure_key_vault:",
          "            vault: VAULT",
          "            secret: absent",
        ]
          .join("\n")
          .replaceAll("VAULT", kv.url),
      );
      const e = await open(dir).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      const issues = (e as ConfigError).issues;
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({
        loc: { file: join(dir, "lakeforge.yaml"), line: 16, col: 13 },
        path: "resources.secret_scopes.app.secrets.bad.azure_key_vault",
        message: expect.stringMatching(/^secret "absent" was not found in Azure Key Vault/),
      });
      expect((e as ConfigError).hint).toContain("az keyvault secret list");
      expect(fetchSpy).not.toHaveBeenCalled();
    });

    it("sends nothing to Azure when no source names Key Vault", async () => {
      const count = kv.requests.length;
      const dir = project(["        plain:", "          from_env: PLAIN_SECRET"].join("\n"));
      const env = await open(dir, { PLAIN_SECRET: "plain-value", LAKEFORGE_AZURE_AUTH: "not-a-method" });
      await env.close();
      expect(kv.requests.length).toBe(count);
    });
  });
});
