import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  AZURE_DATABRICKS_RESOURCE_ID,
  type AzureCredentialFactory,
  azureIdentityCredential,
  DatabricksAuthNotConfiguredError,
  type DatabricksAuthOptions,
  parseConfigFile,
  resolveDatabricksAuth,
  TokenCache,
} from "../../../src/clients/databricks/index.js";
import { UserError } from "../../../src/lib/errors.js";
import { Secret } from "../../../src/lib/secret.js";
import { fakeClock } from "./fakes.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempHome(cfg?: string): string {
  const home = mkdtempSync(join(tmpdir(), "lakeforge-home-"));
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  if (cfg !== undefined) writeFileSync(join(home, ".databrickscfg"), cfg);
  return home;
}

/** Resolves with only the given environment (never the test runner's). */
function resolve(env: Record<string, string>, options: DatabricksAuthOptions = {}) {
  return resolveDatabricksAuth({ ...options, env: { HOME: env.HOME ?? tempHome(), ...env } });
}

async function authHeader(options: Parameters<typeof resolve>[1] & { env?: Record<string, string> }) {
  const auth = await resolve(options.env ?? {}, options);
  const headers = await auth.authProvider();
  const v = headers.authorization;
  return v instanceof Secret ? v.reveal() : v;
}

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A tiny HTTP server for token endpoints. */
async function tokenServer(handler: (req: Recorded) => { status: number; body: unknown }) {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const r = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
      requests.push(r);
      const out = handler(r);
      res.writeHead(out.status, { "content-type": "application/json" });
      res.end(JSON.stringify(out.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

describe("parseConfigFile", () => {
  it("reads profiles, comments, continuation lines and settings", () => {
    const file = parseConfigFile(
      [
        "; comment",
        "[DEFAULT]",
        "host = https://a.cloud.databricks.com  # inline comment",
        "Token: dapi-default",
        "",
        "[uat]",
        "  host = https://b.azuredatabricks.net",
        "  client_id = 123",
        "description = first line",
        "   second line",
        "[__settings__]",
        "default_profile = uat",
      ].join("\n"),
      "/tmp/cfg",
    );
    expect(file.profiles.get("DEFAULT")).toEqual({ host: "https://a.cloud.databricks.com", token: "dapi-default" });
    expect(file.profiles.get("uat")).toEqual({
      host: "https://b.azuredatabricks.net",
      client_id: "123",
      description: "first line\nsecond line",
    });
    expect(file.defaultProfile).toBe("uat");
    expect(file.profiles.has("__settings__")).toBe(false);
  });

  it("locates malformed lines", () => {
    expect(() => parseConfigFile("host = x", "/h/.databrickscfg")).toThrow(
      '/h/.databrickscfg:1: "host" is outside any [profile] section',
    );
    expect(() => parseConfigFile("[a]\njust words", "/h/.databrickscfg")).toThrow("/h/.databrickscfg:2:");
  });
});

describe("resolveDatabricksAuth: sources and precedence", () => {
  it("uses an explicit host and token", async () => {
    const auth = await resolve({}, { host: "adb-1.2.azuredatabricks.net/", token: "dapi-explicit-1" });
    expect(auth.host).toBe("https://adb-1.2.azuredatabricks.net");
    expect(auth.authType).toBe("pat");
    expect((await auth.authProvider()).authorization).toBeInstanceOf(Secret);
    expect(await authHeader({ host: "h.cloud.databricks.com", token: "dapi-explicit-1" })).toBe("Bearer dapi-explicit-1");
    expect(auth.describe()).toBe("pat auth to https://adb-1.2.azuredatabricks.net (token from argument)");
  });

  it("reads DATABRICKS_HOST and DATABRICKS_TOKEN", async () => {
    const auth = await resolve({ DATABRICKS_HOST: "http://127.0.0.1:8421", DATABRICKS_TOKEN: "dapi-env-2" });
    expect(auth.host).toBe("http://127.0.0.1:8421");
    expect(auth.describe()).toBe("pat auth to http://127.0.0.1:8421 (token from env DATABRICKS_TOKEN)");
    expect(auth.describe()).not.toContain("dapi-env-2");
  });

  it("reads the DEFAULT profile of ~/.databrickscfg when nothing else is set", async () => {
    const HOME = tempHome("[DEFAULT]\nhost = https://d.cloud.databricks.com\ntoken = dapi-file-3\n");
    const auth = await resolve({ HOME });
    expect(auth.host).toBe("https://d.cloud.databricks.com");
    expect(auth.describe()).toBe(
      `pat auth to https://d.cloud.databricks.com (token from profile DEFAULT of ${join(HOME, ".databrickscfg")})`,
    );
  });

  it("picks the profile named by DATABRICKS_CONFIG_PROFILE, or by [__settings__] default_profile", async () => {
    const cfg = [
      "[DEFAULT]",
      "host = https://d.cloud.databricks.com",
      "token = dapi-default",
      "[uat]",
      "host = https://uat.cloud.databricks.com",
      "token = dapi-uat",
      "[prod]",
      "host = https://prod.cloud.databricks.com",
      "token = dapi-prod",
    ].join("\n");
    const HOME = tempHome(cfg);
    expect((await resolve({ HOME, DATABRICKS_CONFIG_PROFILE: "uat" })).host).toBe("https://uat.cloud.databricks.com");
    expect((await resolve({ HOME }, { profile: "prod" })).host).toBe("https://prod.cloud.databricks.com");
    const HOME2 = tempHome(`${cfg}\n[__settings__]\ndefault_profile = prod\n`);
    expect((await resolve({ HOME: HOME2 })).host).toBe("https://prod.cloud.databricks.com");
  });

  it("reads DATABRICKS_CONFIG_FILE", async () => {
    const dir = tempHome();
    mkdirSync(join(dir, "etc"));
    const path = join(dir, "etc", "cfg");
    writeFileSync(path, "[ci]\nhost = https://ci.cloud.databricks.com\ntoken = dapi-ci\n");
    const auth = await resolve({ DATABRICKS_CONFIG_FILE: path, DATABRICKS_CONFIG_PROFILE: "ci" });
    expect(auth.host).toBe("https://ci.cloud.databricks.com");
  });

  it("lets the environment override a named profile's settings", async () => {
    const HOME = tempHome("[uat]\nhost = https://uat.cloud.databricks.com\ntoken = dapi-uat\n");
    const auth = await resolve({ HOME, DATABRICKS_CONFIG_PROFILE: "uat", DATABRICKS_TOKEN: "dapi-env-override" });
    expect(auth.host).toBe("https://uat.cloud.databricks.com");
    expect(await authHeader({ env: { HOME, DATABRICKS_CONFIG_PROFILE: "uat", DATABRICKS_TOKEN: "dapi-env-override" } })).toBe(
      "Bearer dapi-env-override",
    );
  });

  it("does not read the file when the environment already configures a host and no profile is named", async () => {
    const HOME = tempHome("[DEFAULT]\ntoken = dapi-should-not-be-used\n");
    await expect(resolve({ HOME, DATABRICKS_HOST: "https://x.cloud.databricks.com" })).rejects.toBeInstanceOf(
      DatabricksAuthNotConfiguredError,
    );
  });

  it("reports a missing profile with the profiles there", async () => {
    const HOME = tempHome("[a]\nhost = https://a.cloud.databricks.com\n[b]\nhost = https://b.cloud.databricks.com\n");
    const err = (await resolve({ HOME }, { profile: "c" }).catch((e) => e)) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe(`${join(HOME, ".databrickscfg")} has no profile c`);
    expect(err.hint).toBe("profiles there: a, b");
    await expect(resolve({ HOME: tempHome() }, { profile: "x" })).rejects.toThrow(/does not exist/);
  });

  it("says when nothing is configured", async () => {
    const err = await resolve({}).catch((e) => e);
    expect(err).toBeInstanceOf(DatabricksAuthNotConfiguredError);
    expect(err.message).toMatch(/no host/);
  });

  it("refuses two methods at once unless auth_type chooses", async () => {
    const env = {
      DATABRICKS_HOST: "https://x.cloud.databricks.com",
      DATABRICKS_TOKEN: "dapi-one",
      DATABRICKS_CLIENT_ID: "cid",
      DATABRICKS_CLIENT_SECRET: "dose-two",
    };
    const err = (await resolve(env).catch((e) => e)) as UserError;
    expect(err.message).toMatch(
      /more than one authentication method is configured: pat \(token from env DATABRICKS_TOKEN\) and oauth/,
    );
    expect(err.message).not.toContain("dapi-one");
    expect(err.message).not.toContain("dose-two");
    expect((await resolve({ ...env, DATABRICKS_AUTH_TYPE: "pat" })).authType).toBe("pat");
  });

  it("rejects an unknown auth_type and a method missing its settings", async () => {
    await expect(resolve({ DATABRICKS_HOST: "h.cloud.databricks.com", DATABRICKS_AUTH_TYPE: "magic" })).rejects.toThrow(
      'unsupported auth_type "magic"',
    );
    await expect(resolve({ DATABRICKS_HOST: "h.cloud.databricks.com", DATABRICKS_AUTH_TYPE: "oauth-m2m" })).rejects.toThrow(
      "oauth-m2m auth needs client_id, client_secret",
    );
    await expect(resolve({ DATABRICKS_HOST: "h.cloud.databricks.com", DATABRICKS_CLIENT_ID: "x" })).rejects.toThrow(
      /client_id is set .* but no client_secret/,
    );
  });
});

describe("OAuth M2M", () => {
  it("gets a client_credentials token with HTTP Basic and scope all-apis, cached until shortly before expiry", async () => {
    let issued = 0;
    const server = await tokenServer((req) => {
      const form = new URLSearchParams(req.body);
      const basic = Buffer.from("sp-client:dose-m2m-secret").toString("base64");
      if (req.url !== "/oidc/v1/token" || req.headers.authorization !== `Basic ${basic}`) {
        return { status: 401, body: { error: "invalid_client", error_description: "Client authentication failed" } };
      }
      expect(form.get("grant_type")).toBe("client_credentials");
      expect(form.get("scope")).toBe("all-apis");
      expect(req.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      return { status: 200, body: { access_token: `m2m-token-${++issued}`, token_type: "Bearer", expires_in: 3600 } };
    });
    const clock = fakeClock();
    const auth = await resolve(
      { DATABRICKS_HOST: server.url, DATABRICKS_CLIENT_ID: "sp-client", DATABRICKS_CLIENT_SECRET: "dose-m2m-secret" },
      { http: { now: clock.now } },
    );
    expect(auth.authType).toBe("oauth-m2m");
    expect(auth.describe()).toBe(
      `oauth-m2m auth to ${server.url} as client sp-client (client_secret from env DATABRICKS_CLIENT_SECRET)`,
    );
    const header = async () => ((await auth.authProvider()).authorization as Secret).reveal();
    expect(await Promise.all([header(), header()])).toEqual(["Bearer m2m-token-1", "Bearer m2m-token-1"]);
    clock.advance(3600_000 - 60_000);
    expect(await header()).toBe("Bearer m2m-token-1");
    clock.advance(30_000); // 30 s before expiry: inside the refresh margin
    expect(await header()).toBe("Bearer m2m-token-2");
    expect(server.requests).toHaveLength(2);
  });

  it("maps a rejected client to a RemoteError without the secret", async () => {
    const server = await tokenServer(() => ({
      status: 401,
      body: { error: "invalid_client", error_description: "Client authentication failed" },
    }));
    const auth = await resolve({
      DATABRICKS_HOST: server.url,
      DATABRICKS_CLIENT_ID: "c",
      DATABRICKS_CLIENT_SECRET: "dose-wrong-9",
    });
    const err = await auth.authProvider().catch((e) => e);
    expect(err.message).toBe("databricks-oauth POST /oidc/v1/token: 401 invalid_client: Client authentication failed");
    expect(JSON.stringify(err)).not.toContain("dose-wrong-9");
  });
});

describe("GitHub Actions OIDC", () => {
  it("exchanges the job's ID token at /oidc/v1/token", async () => {
    const server = await tokenServer((req) => {
      const url = new URL(req.url, "http://x");
      if (url.pathname === "/github/idtoken") {
        expect(req.headers.authorization).toBe("Bearer gh-request-token");
        expect(url.searchParams.get("api-version")).toBe("2.0");
        return { status: 200, body: { value: `id-token-for:${url.searchParams.get("audience")}` } };
      }
      const form = Object.fromEntries(new URLSearchParams(req.body));
      return { status: 200, body: { access_token: `exchanged(${JSON.stringify(form)})`, expires_in: 3600 } };
    });
    const env = {
      DATABRICKS_HOST: server.url,
      DATABRICKS_CLIENT_ID: "sp-app-id",
      ACTIONS_ID_TOKEN_REQUEST_URL: `${server.url}/github/idtoken?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "gh-request-token",
    };
    const auth = await resolve(env);
    expect(auth.authType).toBe("github-oidc");
    const header = ((await auth.authProvider()).authorization as Secret).reveal();
    const form = JSON.parse(header.slice("Bearer exchanged(".length, -1));
    expect(form).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      subject_token: `id-token-for:${server.url}/oidc/v1/token`,
      scope: "all-apis",
      client_id: "sp-app-id",
    });
    expect(auth.describe()).toBe(`github-oidc auth to ${server.url} as client sp-app-id with the GitHub Actions ID token`);

    // With auth_type chosen, no client id is needed (account-wide federation policy).
    const { DATABRICKS_CLIENT_ID: _, ...noClient } = env;
    const auth2 = await resolve({ ...noClient, DATABRICKS_AUTH_TYPE: "github-oidc", DATABRICKS_TOKEN_AUDIENCE: "my-aud" });
    const form2 = JSON.parse(
      ((await auth2.authProvider()).authorization as Secret).reveal().slice("Bearer exchanged(".length, -1),
    );
    expect(form2.client_id).toBeUndefined();
    expect(form2.subject_token).toBe("id-token-for:my-aud");
  });

  it("needs the GitHub Actions variables", async () => {
    await expect(resolve({ DATABRICKS_HOST: "h.cloud.databricks.com", DATABRICKS_AUTH_TYPE: "github-oidc" })).rejects.toThrow(
      /ACTIONS_ID_TOKEN_REQUEST_URL/,
    );
  });
});

describe("Azure service principal (client secret)", () => {
  function fakeAzure() {
    const scopes: string[] = [];
    const created: { tenantId: string; clientId: string; secret: string; authorityHost: string }[] = [];
    const factory: AzureCredentialFactory = ({ tenantId, clientId, clientSecret, authorityHost }) => {
      created.push({ tenantId, clientId, secret: clientSecret.reveal(), authorityHost });
      return {
        getToken: async (scope: string) => {
          scopes.push(scope);
          return { token: `aad(${scope})`, expiresOnTimestamp: Date.now() + 3600_000 };
        },
      };
    };
    return { factory, scopes, created };
  }

  it("requests AAD tokens for the Azure Databricks application and the management endpoint", async () => {
    const azure = fakeAzure();
    const resourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/ws";
    const auth = await resolve(
      {
        DATABRICKS_HOST: "https://adb-123.4.azuredatabricks.net",
        ARM_CLIENT_ID: "arm-client",
        ARM_CLIENT_SECRET: "arm-secret-value",
        ARM_TENANT_ID: "tenant-1",
        DATABRICKS_AZURE_RESOURCE_ID: resourceId,
      },
      { azureCredential: azure.factory },
    );
    expect(auth.authType).toBe("azure-client-secret");
    const headers = await auth.authProvider();
    const reveal = (v: unknown) => (v instanceof Secret ? v.reveal() : v);
    expect(reveal(headers.authorization)).toBe(`Bearer aad(${AZURE_DATABRICKS_RESOURCE_ID}/.default)`);
    expect(reveal(headers["X-Databricks-Azure-SP-Management-Token"])).toBe("aad(https://management.core.windows.net//.default)");
    expect(headers["X-Databricks-Azure-Workspace-Resource-Id"]).toBe(resourceId);
    await auth.authProvider();
    expect(azure.scopes).toHaveLength(2); // cached
    expect(azure.created).toEqual([
      {
        tenantId: "tenant-1",
        clientId: "arm-client",
        secret: "arm-secret-value",
        authorityHost: "https://login.microsoftonline.com",
      },
    ]);
    expect(auth.describe()).not.toContain("arm-secret-value");
  });

  it("discovers the tenant from the workspace's /aad/auth redirect and picks the cloud from the host", async () => {
    const azure = fakeAzure();
    const auth = await resolve(
      { DATABRICKS_HOST: "https://adb-9.databricks.azure.us", ARM_CLIENT_ID: "c", ARM_CLIENT_SECRET: "arm-secret-2" },
      {
        azureCredential: azure.factory,
        http: {
          fetch: async (url) => {
            expect(url).toBe("https://adb-9.databricks.azure.us/aad/auth");
            return new Response(null, {
              status: 302,
              headers: { location: "https://login.microsoftonline.us/tenant-gov/oauth2/authorize?client_id=x" },
            });
          },
        },
      },
    );
    await auth.authProvider();
    expect(azure.created[0]).toMatchObject({ tenantId: "tenant-gov", authorityHost: "https://login.microsoftonline.us" });
    expect(azure.scopes).toContain("https://management.core.usgovcloudapi.net//.default");
  });

  it("does not use Azure credentials on a non-Azure host unless auth_type says so", async () => {
    const env = {
      DATABRICKS_HOST: "https://x.cloud.databricks.com",
      ARM_CLIENT_ID: "c",
      ARM_CLIENT_SECRET: "s-123456",
      ARM_TENANT_ID: "t",
    };
    await expect(resolve(env)).rejects.toThrow(/not an Azure Databricks host/);
    const azure = fakeAzure();
    const auth = await resolve({ ...env, DATABRICKS_AUTH_TYPE: "azure-client-secret" }, { azureCredential: azure.factory });
    expect(auth.authType).toBe("azure-client-secret");
  });

  it("builds an @azure/identity ClientSecretCredential by default", async () => {
    const credential = await azureIdentityCredential({
      tenantId: "00000000-0000-0000-0000-000000000001",
      clientId: "00000000-0000-0000-0000-000000000000",
      clientSecret: Secret.from("not-a-real-secret"),
      authorityHost: "https://login.microsoftonline.us",
    });
    const { ClientSecretCredential } = await import("@azure/identity");
    expect(credential).toBeInstanceOf(ClientSecretCredential);
  });
});

describe("TokenCache", () => {
  it("shares one fetch between concurrent callers and retries after a failure", async () => {
    let calls = 0;
    const clock = fakeClock();
    const cache = new TokenCache(async () => {
      calls++;
      if (calls === 1) throw new Error("token endpoint down");
      return { accessToken: Secret.from(`tok-${calls}`), tokenType: "Bearer", expiresAt: clock.now() + 100_000 };
    }, clock.now);
    await expect(cache.get()).rejects.toThrow("token endpoint down");
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    expect(a.accessToken.reveal()).toBe("tok-2");
    expect(b).toBe(a);
    expect(calls).toBe(2);
    cache.invalidate();
    expect((await cache.get()).accessToken.reveal()).toBe("tok-3");
  });
});
