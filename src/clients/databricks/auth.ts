import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { UserError } from "../../lib/errors.js";
import { Secret } from "../../lib/secret.js";
import { type AuthProvider, type HeaderValue, HttpClient, type HttpClientOptions } from "../http.js";
import { parseDatabricksError } from "./client.js";
import { chooseProfile, loadConfigFile } from "./config-file.js";
import {
  type AccessToken,
  bearer,
  exchangeIdToken,
  fetchClientCredentialsToken,
  fetchGitHubIdToken,
  TOKEN_PATH,
  TokenCache,
} from "./oauth.js";

/**
 * Databricks unified authentication: the settings and precedence of the Databricks SDKs and CLI, for
 * the methods Lakeforge supports.
 *
 * Settings come from, in order (an earlier source wins): the options passed in, the environment
 * (`DATABRICKS_HOST`, `DATABRICKS_TOKEN`, `DATABRICKS_CLIENT_ID`, `DATABRICKS_CLIENT_SECRET`, `ARM_*`,
 * ...), then a profile of `~/.databrickscfg` (or `DATABRICKS_CONFIG_FILE`). The file is read when a
 * profile is named (`profile` / `DATABRICKS_CONFIG_PROFILE`), or when neither a host nor credentials
 * were given otherwise (then the `[__settings__] default_profile` or `[DEFAULT]` applies).
 *
 * Methods, tried in this order unless `auth_type` names one:
 *  - `pat`: `token`;
 *  - `oauth-m2m`: `client_id` + `client_secret`, `client_credentials` at `{host}/oidc/v1/token`;
 *  - `github-oidc`: `client_id` inside GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`): the job's
 *    ID token exchanged at `{host}/oidc/v1/token` (with `auth_type = github-oidc`, `client_id` is optional);
 *  - `azure-client-secret`: `azure_client_id` + `azure_client_secret` (+ `azure_tenant_id`, discovered from
 *    the workspace when absent) on an Azure Databricks host: an AAD token for the Azure Databricks
 *    application plus the Azure management token header.
 */
export type DatabricksAuthType = "pat" | "oauth-m2m" | "github-oidc" | "azure-client-secret";
export const AUTH_TYPES: readonly DatabricksAuthType[] = ["pat", "oauth-m2m", "github-oidc", "azure-client-secret"];

/** The Azure Databricks first-party application: the resource AAD tokens are requested for. */
export const AZURE_DATABRICKS_RESOURCE_ID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
export const AZURE_SP_MANAGEMENT_TOKEN_HEADER = "X-Databricks-Azure-SP-Management-Token";
export const AZURE_WORKSPACE_RESOURCE_ID_HEADER = "X-Databricks-Azure-Workspace-Resource-Id";

interface AzureCloud {
  name: string;
  authorityHost: string;
  serviceManagementEndpoint: string;
  hostSuffixes: string[];
}

export const AZURE_CLOUDS: Record<string, AzureCloud> = {
  PUBLIC: {
    name: "PUBLIC",
    authorityHost: "https://login.microsoftonline.com",
    serviceManagementEndpoint: "https://management.core.windows.net/",
    hostSuffixes: [".azuredatabricks.net"],
  },
  USGOVERNMENT: {
    name: "USGOVERNMENT",
    authorityHost: "https://login.microsoftonline.us",
    serviceManagementEndpoint: "https://management.core.usgovcloudapi.net/",
    hostSuffixes: [".databricks.azure.us"],
  },
  CHINA: {
    name: "CHINA",
    authorityHost: "https://login.chinacloudapi.cn",
    serviceManagementEndpoint: "https://management.core.chinacloudapi.cn/",
    hostSuffixes: [".databricks.azure.cn"],
  },
};

/** The part of `@azure/identity`'s `TokenCredential` used here. */
export interface AzureTokenCredential {
  getToken(scope: string): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

export type AzureCredentialFactory = (options: {
  tenantId: string;
  clientId: string;
  clientSecret: Secret;
  authorityHost: string;
}) => AzureTokenCredential | Promise<AzureTokenCredential>;

export interface DatabricksAuthOptions {
  host?: string;
  token?: string | Secret;
  clientId?: string;
  clientSecret?: string | Secret;
  azureClientId?: string;
  azureClientSecret?: string | Secret;
  azureTenantId?: string;
  /** `/subscriptions/.../providers/Microsoft.Databricks/workspaces/<name>`. */
  azureWorkspaceResourceId?: string;
  /** `PUBLIC` (default, or from the host name), `USGOVERNMENT`, `CHINA`. */
  azureEnvironment?: string;
  authType?: DatabricksAuthType;
  /** Audience of the ID token in federation (default: the workspace's token endpoint URL). */
  tokenAudience?: string;
  profile?: string;
  configFile?: string;
  /** The environment to read (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Where `~/.databrickscfg` lives (default `$HOME`). */
  homeDir?: string;
  /** For the token endpoints: retry policy, hooks, injected fetch/clock. */
  http?: Omit<HttpClientOptions, "provider" | "baseUrl" | "auth">;
  /** Creates the Azure credential (default: `@azure/identity`'s `ClientSecretCredential`). */
  azureCredential?: AzureCredentialFactory;
}

export interface DatabricksAuth {
  /** Normalised workspace URL (`https://...`, no trailing slash). */
  host: string;
  authType: DatabricksAuthType;
  /** Headers for a request; fetches and caches tokens as needed. */
  authProvider: AuthProvider;
  /** One line saying which method, host and sources are used. Never holds a secret. */
  describe(): string;
}

/** Nothing says how to reach a workspace: the caller may fall back to the local workspace. */
export class DatabricksAuthNotConfiguredError extends UserError {
  constructor(message: string) {
    super(
      message,
      "set DATABRICKS_HOST with DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), or name a profile of ~/.databrickscfg",
    );
    this.name = "DatabricksAuthNotConfiguredError";
  }
}

type Key =
  | "host"
  | "token"
  | "client_id"
  | "client_secret"
  | "azure_client_id"
  | "azure_client_secret"
  | "azure_tenant_id"
  | "azure_workspace_resource_id"
  | "azure_environment"
  | "auth_type"
  | "audience";

const SENSITIVE: ReadonlySet<Key> = new Set(["token", "client_secret", "azure_client_secret"]);

const ENV: Record<Key, string> = {
  host: "DATABRICKS_HOST",
  token: "DATABRICKS_TOKEN",
  client_id: "DATABRICKS_CLIENT_ID",
  client_secret: "DATABRICKS_CLIENT_SECRET",
  azure_client_id: "ARM_CLIENT_ID",
  azure_client_secret: "ARM_CLIENT_SECRET",
  azure_tenant_id: "ARM_TENANT_ID",
  azure_workspace_resource_id: "DATABRICKS_AZURE_RESOURCE_ID",
  azure_environment: "ARM_ENVIRONMENT",
  auth_type: "DATABRICKS_AUTH_TYPE",
  audience: "DATABRICKS_TOKEN_AUDIENCE",
};

const OPTION: Record<Key, keyof DatabricksAuthOptions> = {
  host: "host",
  token: "token",
  client_id: "clientId",
  client_secret: "clientSecret",
  azure_client_id: "azureClientId",
  azure_client_secret: "azureClientSecret",
  azure_tenant_id: "azureTenantId",
  azure_workspace_resource_id: "azureWorkspaceResourceId",
  azure_environment: "azureEnvironment",
  auth_type: "authType",
  audience: "tokenAudience",
};

/** Profile keys that mean the same setting. */
const FILE_ALIASES: Record<string, Key> = { token_audience: "audience" };

/** Which method a setting belongs to, for the "more than one method" check. */
const METHOD_OF: Partial<Record<Key, string>> = {
  token: "pat",
  client_id: "oauth",
  client_secret: "oauth",
  azure_client_id: "azure",
  azure_client_secret: "azure",
  azure_tenant_id: "azure",
};

interface Setting {
  value: string | Secret;
  source: string;
}

class Settings {
  private readonly values = new Map<Key, Setting>();

  set(key: Key, value: string | Secret | undefined, source: string): void {
    if (value === undefined || this.values.has(key)) return;
    const v = typeof value === "string" ? value.trim() : value;
    if (v === "" || (v instanceof Secret && v.length === 0)) return;
    this.values.set(key, { value: SENSITIVE.has(key) ? Secret.from(v) : typeof v === "string" ? v : v.reveal(), source });
  }

  has(key: Key): boolean {
    return this.values.has(key);
  }

  str(key: Key): string | undefined {
    const s = this.values.get(key);
    return s === undefined ? undefined : s.value instanceof Secret ? s.value.reveal() : s.value;
  }

  secret(key: Key): Secret | undefined {
    const s = this.values.get(key);
    return s === undefined ? undefined : Secret.from(s.value);
  }

  source(key: Key): string {
    return this.values.get(key)?.source ?? "nowhere";
  }

  keys(): Key[] {
    return [...this.values.keys()];
  }
}

/** Resolves how to reach and authenticate to a Databricks workspace. Sends no request. */
export async function resolveDatabricksAuth(options: DatabricksAuthOptions = {}): Promise<DatabricksAuth> {
  const env = options.env ?? process.env;
  const settings = new Settings();
  for (const key of Object.keys(OPTION) as Key[]) {
    settings.set(key, options[OPTION[key]] as string | Secret | undefined, "argument");
  }
  for (const key of Object.keys(ENV) as Key[]) settings.set(key, env[ENV[key]], `env ${ENV[key]}`);

  const profileName = options.profile ?? nonEmpty(env.DATABRICKS_CONFIG_PROFILE);
  const home = options.homeDir ?? nonEmpty(env.HOME) ?? nonEmpty(env.USERPROFILE) ?? homedir();
  const configPath = expandHome(options.configFile ?? nonEmpty(env.DATABRICKS_CONFIG_FILE) ?? "~/.databrickscfg", home);
  const configuredElsewhere = settings
    .keys()
    .some((k) => METHOD_OF[k] !== undefined || k === "host" || k === "azure_workspace_resource_id");
  let profileLabel: string | undefined;
  if (profileName || !configuredElsewhere) {
    const file = loadConfigFile(configPath);
    if (!file && profileName) {
      throw new UserError(`profile ${profileName} was asked for but ${configPath} does not exist`);
    }
    const chosen = file ? chooseProfile(file, profileName) : undefined;
    if (file && chosen) {
      const values = file.profiles.get(chosen.name);
      if (!values && chosen.explicit) {
        const known = [...file.profiles.keys()].join(", ") || "none";
        throw new UserError(`${configPath} has no profile ${chosen.name}`, `profiles there: ${known}`);
      }
      if (values) {
        profileLabel = `profile ${chosen.name} of ${configPath}`;
        for (const [rawKey, value] of Object.entries(values)) {
          const key = (FILE_ALIASES[rawKey] ?? rawKey) as Key;
          if (key in ENV) settings.set(key, value, profileLabel);
        }
      }
    }
  }

  const rawHost = settings.str("host");
  if (!rawHost) {
    throw new DatabricksAuthNotConfiguredError(
      profileLabel ? `${profileLabel} sets no host` : "no Databricks workspace is configured (no host)",
    );
  }
  const host = normalizeHost(rawHost, settings.source("host"));
  const authType = chooseAuthType(settings, env, host);
  const http = options.http ?? {};
  const tokenClient = (provider: string, baseUrl: string) =>
    new HttpClient({ ...http, provider, baseUrl, parseError: http.parseError ?? parseDatabricksError });
  const now = http.now ?? Date.now;
  const from = (key: Key) => `${key} from ${settings.source(key)}`;

  switch (authType) {
    case "pat": {
      const token = settings.secret("token") as Secret;
      const header = Secret.from(`Bearer ${token.reveal()}`);
      return {
        host,
        authType,
        authProvider: async () => ({ authorization: header }),
        describe: () => `pat auth to ${host} (${from("token")})`,
      };
    }
    case "oauth-m2m": {
      const clientId = settings.str("client_id") as string;
      const clientSecret = settings.secret("client_secret") as Secret;
      const client = tokenClient("databricks-oauth", host);
      const cache = new TokenCache(() => fetchClientCredentialsToken(client, clientId, clientSecret, now), now);
      return {
        host,
        authType,
        authProvider: withInvalidate(async () => ({ authorization: bearer(await cache.get()) }), cache),
        describe: () => `oauth-m2m auth to ${host} as client ${clientId} (${from("client_secret")})`,
      };
    }
    case "github-oidc": {
      const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL as string;
      const requestToken = Secret.from(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN as string);
      const clientId = settings.str("client_id");
      const audience = settings.str("audience") ?? `${host}${TOKEN_PATH}`;
      const github = tokenClient("github-actions-oidc", new URL(requestUrl).origin);
      const databricks = tokenClient("databricks-oauth", host);
      const cache = new TokenCache(async () => {
        const idToken = await fetchGitHubIdToken(github, requestUrl, requestToken, audience);
        return exchangeIdToken(databricks, idToken, clientId, now);
      }, now);
      return {
        host,
        authType,
        authProvider: withInvalidate(async () => ({ authorization: bearer(await cache.get()) }), cache),
        describe: () =>
          `github-oidc auth to ${host}${clientId ? ` as client ${clientId}` : " (account-wide federation policy)"} with the GitHub Actions ID token`,
      };
    }
    case "azure-client-secret": {
      const clientId = settings.str("azure_client_id") as string;
      const clientSecret = settings.secret("azure_client_secret") as Secret;
      const resourceId = settings.str("azure_workspace_resource_id");
      const cloud = azureCloud(settings.str("azure_environment"), host);
      const fetchFn = http.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
      let tenant = settings.str("azure_tenant_id");
      let credential: Promise<AzureTokenCredential> | undefined;
      const getCredential = () => {
        credential ??= (async () => {
          tenant ??= await discoverAzureTenant(host, fetchFn);
          const factory = options.azureCredential ?? azureIdentityCredential;
          return factory({ tenantId: tenant, clientId, clientSecret, authorityHost: cloud.authorityHost });
        })().catch((e: unknown) => {
          credential = undefined;
          throw e;
        });
        return credential;
      };
      const aadToken = (scope: string) => async (): Promise<AccessToken> => {
        const result = await (await getCredential()).getToken(scope);
        if (!result?.token)
          throw new UserError(
            `Azure AD issued no token for ${scope}`,
            "check ARM_CLIENT_ID, ARM_CLIENT_SECRET and ARM_TENANT_ID",
          );
        return { accessToken: Secret.from(result.token), tokenType: "Bearer", expiresAt: result.expiresOnTimestamp };
      };
      const databricksToken = new TokenCache(aadToken(`${AZURE_DATABRICKS_RESOURCE_ID}/.default`), now);
      const managementToken = new TokenCache(aadToken(`${cloud.serviceManagementEndpoint}/.default`), now);
      return {
        host,
        authType,
        authProvider: withInvalidate(
          async () => {
            const [inner, management] = await Promise.all([databricksToken.get(), managementToken.get()]);
            const headers: Record<string, HeaderValue> = {
              authorization: bearer(inner),
              [AZURE_SP_MANAGEMENT_TOKEN_HEADER]: management.accessToken,
            };
            if (resourceId) headers[AZURE_WORKSPACE_RESOURCE_ID_HEADER] = resourceId;
            return headers;
          },
          databricksToken,
          managementToken,
        ),
        describe: () =>
          `azure-client-secret auth to ${host} as Azure service principal ${clientId}${tenant ? ` in tenant ${tenant}` : ""} (${from("azure_client_secret")})`,
      };
    }
  }
}

function chooseAuthType(settings: Settings, env: Record<string, string | undefined>, host: string): DatabricksAuthType {
  const inGitHubActions = !!nonEmpty(env.ACTIONS_ID_TOKEN_REQUEST_URL) && !!nonEmpty(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
  const requested = settings.str("auth_type");
  const require = (type: string, keys: Key[]) => {
    const missing = keys.filter((k) => !settings.has(k));
    if (missing.length > 0) {
      throw new UserError(
        `${type} auth needs ${missing.join(", ")} (auth_type from ${settings.source("auth_type")})`,
        `set ${missing.map((k) => ENV[k]).join(", ")} or the profile keys ${missing.join(", ")}`,
      );
    }
  };
  if (requested) {
    if (!(AUTH_TYPES as readonly string[]).includes(requested)) {
      throw new UserError(
        `unsupported auth_type "${requested}" (from ${settings.source("auth_type")})`,
        `use one of ${AUTH_TYPES.join(", ")}`,
      );
    }
    const type = requested as DatabricksAuthType;
    if (type === "pat") require(type, ["token"]);
    if (type === "oauth-m2m") require(type, ["client_id", "client_secret"]);
    if (type === "azure-client-secret") require(type, ["azure_client_id", "azure_client_secret"]);
    if (type === "github-oidc" && !inGitHubActions) {
      throw new UserError(
        "github-oidc auth needs ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "run inside GitHub Actions with `permissions: id-token: write`",
      );
    }
    return type;
  }

  const methods = new Map<string, Key[]>();
  for (const k of settings.keys()) {
    const m = METHOD_OF[k];
    if (m) methods.set(m, [...(methods.get(m) ?? []), k]);
  }
  if (methods.size > 1) {
    const list = [...methods.entries()].map(
      ([m, keys]) => `${m} (${keys.map((k) => `${k} from ${settings.source(k)}`).join(", ")})`,
    );
    throw new UserError(
      `more than one authentication method is configured: ${list.join(" and ")}`,
      "remove all but one, or choose one with auth_type / DATABRICKS_AUTH_TYPE",
    );
  }
  if (settings.has("token")) return "pat";
  if (settings.has("client_id") && settings.has("client_secret")) return "oauth-m2m";
  if (settings.has("client_id") && inGitHubActions) return "github-oidc";
  if (settings.has("azure_client_id") && settings.has("azure_client_secret")) {
    if (isAzureHost(host) || settings.has("azure_workspace_resource_id")) return "azure-client-secret";
    throw new UserError(
      `Azure service principal credentials are set but ${host} is not an Azure Databricks host`,
      "set auth_type = azure-client-secret (DATABRICKS_AUTH_TYPE) to use them anyway",
    );
  }
  if (settings.has("client_id") && !settings.has("client_secret")) {
    throw new UserError(
      `client_id is set (from ${settings.source("client_id")}) but no client_secret`,
      "set DATABRICKS_CLIENT_SECRET for OAuth M2M, or run inside GitHub Actions with id-token: write",
    );
  }
  throw new DatabricksAuthNotConfiguredError(`no credentials are configured for ${host}`);
}

/** `adb-1.2.azuredatabricks.net` → `https://adb-1.2.azuredatabricks.net`; keeps `http://` (the local workspace). */
export function normalizeHost(raw: string, source = "host"): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UserError(`host "${raw}" (from ${source}) is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UserError(`host "${raw}" (from ${source}) must be an http(s) URL`);
  }
  return url.origin;
}

export function isAzureHost(host: string): boolean {
  const name = new URL(host).hostname.toLowerCase();
  return Object.values(AZURE_CLOUDS).some((c) => c.hostSuffixes.some((s) => name.endsWith(s)));
}

function azureCloud(environment: string | undefined, host: string): AzureCloud {
  if (environment) {
    const key = environment
      .toUpperCase()
      .replace(/^AZURE/, "")
      .replace(/CLOUD$/, "");
    const cloud = AZURE_CLOUDS[key] ?? AZURE_CLOUDS[key === "USGOV" ? "USGOVERNMENT" : key];
    if (!cloud) throw new UserError(`unknown Azure environment "${environment}"`, "use PUBLIC, USGOVERNMENT or CHINA");
    return cloud;
  }
  const name = new URL(host).hostname.toLowerCase();
  for (const cloud of Object.values(AZURE_CLOUDS)) if (cloud.hostSuffixes.some((s) => name.endsWith(s))) return cloud;
  return AZURE_CLOUDS.PUBLIC as AzureCloud;
}

/**
 * The tenant of an Azure Databricks workspace: `{host}/aad/auth` redirects to
 * `https://login.microsoftonline.com/<tenant>/oauth2/authorize?...`.
 */
export async function discoverAzureTenant(
  host: string,
  fetchFn: (url: string, init: RequestInit) => Promise<Response>,
): Promise<string> {
  const hint = "set ARM_TENANT_ID (or azure_tenant_id in the profile)";
  let location: string | null = null;
  try {
    const res = await fetchFn(`${host}/aad/auth`, { method: "GET", redirect: "manual", signal: AbortSignal.timeout(30_000) });
    location = res.headers.get("location");
    await res.body?.cancel();
  } catch {
    throw new UserError(`could not discover the Azure tenant of ${host}`, hint);
  }
  const tenant = location ? new URL(location, host).pathname.split("/")[1] : undefined;
  if (!tenant) throw new UserError(`could not discover the Azure tenant of ${host}`, hint);
  return tenant;
}

/** The default Azure credential: `@azure/identity`'s `ClientSecretCredential` (loaded on first use). */
export const azureIdentityCredential: AzureCredentialFactory = async ({ tenantId, clientId, clientSecret, authorityHost }) => {
  const { ClientSecretCredential } = await import("@azure/identity");
  return new ClientSecretCredential(tenantId, clientId, clientSecret.reveal(), { authorityHost });
};

function withInvalidate(provider: () => Promise<Record<string, HeaderValue>>, ...caches: TokenCache[]): AuthProvider {
  const invalidate = () => {
    for (const c of caches) c.invalidate();
  };
  return Object.assign(provider, { invalidate });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v && v.trim() !== "" ? v.trim() : undefined;
}

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/") || path.startsWith("~\\")) return join(home, path.slice(2));
  return isAbsolute(path) ? path : resolve(path);
}
