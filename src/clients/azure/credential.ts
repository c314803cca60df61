import {
  type AccessToken,
  AzureCliCredential,
  ClientAssertionCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  type GetTokenOptions,
  ManagedIdentityCredential,
  type TokenCredential,
  type TokenCredentialOptions,
  WorkloadIdentityCredential,
} from "@azure/identity";
import { UserError } from "../../lib/errors.js";
import { Secret } from "../../lib/secret.js";
import { fetchGitHubIdToken } from "../databricks/oauth.js";
import { type FetchLike, HttpClient } from "../http.js";

/**
 * Azure credentials for every Azure client Lakeforge uses (Key Vault, Resource Manager): one
 * `TokenCredential` from `@azure/identity`, chosen from options and the environment, that also
 * remembers which identity its last token was for, so a refused request can name it.
 */

export const AZURE_AUTH_METHODS = ["default", "client-secret", "workload-identity", "azure-cli", "managed-identity"] as const;
export type AzureAuthMethod = (typeof AZURE_AUTH_METHODS)[number];

/** The environment variable choosing the method when the options do not. */
export const AZURE_AUTH_ENV = "LAKEFORGE_AZURE_AUTH";

/** The audience Microsoft Entra ID expects in a federated (GitHub Actions) token. */
export const FEDERATED_AUDIENCE = "api://AzureADTokenExchange";

export interface AzureCredentialOptions {
  /** How to authenticate; default: `$LAKEFORGE_AZURE_AUTH`, else `default` (the chain). */
  method?: AzureAuthMethod;
  /** Directory (tenant) id; default `$AZURE_TENANT_ID`. */
  tenantId?: string;
  /** Application (client) id, or a user-assigned managed identity's client id; default `$AZURE_CLIENT_ID`. */
  clientId?: string;
  /** Client secret; default `$AZURE_CLIENT_SECRET`. */
  clientSecret?: Secret | string;
  /** File holding a federated token (workload identity); default `$AZURE_FEDERATED_TOKEN_FILE`. */
  federatedTokenFile?: string;
  /** Microsoft Entra endpoint, e.g. `https://login.microsoftonline.us`; default `$AZURE_AUTHORITY_HOST`, else the public cloud. */
  authorityHost?: string;
  /** Skip Entra instance discovery (sovereign or private clouds that do not offer it). */
  disableInstanceDiscovery?: boolean;
  /** Where the defaults above are read; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Pipeline options passed to the `@azure/identity` credential (retry, proxy, TLS, user agent). */
  clientOptions?: TokenCredentialOptions;
  /** `fetch` for the GitHub Actions ID token request (default: the global one). */
  fetch?: FetchLike;
}

/** Who a token was issued to, from its (unverified) claims. Identifiers only, never the token. */
export interface TokenIdentity {
  tenantId?: string;
  /** Application (client) id of a service principal or managed identity. */
  appId?: string;
  objectId?: string;
  /** A user's sign-in name. */
  user?: string;
}

export interface AzureCredential extends TokenCredential {
  readonly method: AzureAuthMethod;
  /** What was configured, e.g. `service principal 1111... (client secret) in tenant 2222...`. */
  describe(): string;
  /** The identity of the last token issued, when one was. */
  lastIdentity(): TokenIdentity | undefined;
  /** The identity for messages: the last token's when known, else what was configured. */
  describeIdentity(): string;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === "" ? undefined : v.trim());

/** Builds the credential; sends no request (tokens are requested on first use). */
export function azureCredential(options: AzureCredentialOptions = {}): AzureCredential {
  const env = options.env ?? process.env;
  const method = chooseMethod(options.method, env);
  const tenantId = nonEmpty(options.tenantId) ?? nonEmpty(env.AZURE_TENANT_ID);
  const clientId = nonEmpty(options.clientId) ?? nonEmpty(env.AZURE_CLIENT_ID);
  const secretOption = options.clientSecret;
  const clientSecret =
    secretOption instanceof Secret ? secretOption : Secret.optional(nonEmpty(secretOption) ?? nonEmpty(env.AZURE_CLIENT_SECRET));
  const tokenFile = nonEmpty(options.federatedTokenFile) ?? nonEmpty(env.AZURE_FEDERATED_TOKEN_FILE);
  const authorityHost = nonEmpty(options.authorityHost) ?? nonEmpty(env.AZURE_AUTHORITY_HOST);
  const githubUrl = nonEmpty(env.ACTIONS_ID_TOKEN_REQUEST_URL);
  const githubToken = nonEmpty(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
  const common = {
    ...options.clientOptions,
    ...(authorityHost ? { authorityHost } : {}),
    ...(options.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
  };
  const tenantNote = (t: string | undefined) => (t ? ` in tenant ${t}` : "");

  const need = (what: string, missing: [string, unknown][]) => {
    const names = missing.filter(([, v]) => v === undefined).map(([n]) => n);
    if (names.length > 0) {
      throw new UserError(
        `Azure ${what} authentication needs ${names.join(", ")}`,
        `set ${names.join(", ")}, or choose another method with ${AZURE_AUTH_ENV} (${AZURE_AUTH_METHODS.join(", ")})`,
      );
    }
  };

  const clientSecretCredential = (): [TokenCredential, string] => {
    need("client-secret", [
      ["AZURE_TENANT_ID", tenantId],
      ["AZURE_CLIENT_ID", clientId],
      ["AZURE_CLIENT_SECRET", clientSecret],
    ]);
    return [
      new ClientSecretCredential(tenantId as string, clientId as string, (clientSecret as Secret).reveal(), common),
      `service principal ${clientId} (client secret)${tenantNote(tenantId)}`,
    ];
  };

  const workloadIdentityCredential = (): [TokenCredential, string] => {
    if (!tokenFile && githubUrl && githubToken) {
      // GitHub Actions with `id-token: write`: the job's OIDC token is the client assertion.
      need("workload-identity", [
        ["AZURE_TENANT_ID", tenantId],
        ["AZURE_CLIENT_ID", clientId],
      ]);
      const http = new HttpClient({
        provider: "github-actions-oidc",
        baseUrl: new URL(githubUrl).origin,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      const requestToken = Secret.from(githubToken);
      const assertion = async () => (await fetchGitHubIdToken(http, githubUrl, requestToken, FEDERATED_AUDIENCE)).reveal();
      return [
        new ClientAssertionCredential(tenantId as string, clientId as string, assertion, common),
        `workload identity ${clientId} (GitHub Actions OIDC token)${tenantNote(tenantId)}`,
      ];
    }
    need("workload-identity", [
      ["AZURE_TENANT_ID", tenantId],
      ["AZURE_CLIENT_ID", clientId],
      ["AZURE_FEDERATED_TOKEN_FILE (or, in GitHub Actions, permissions: id-token: write)", tokenFile],
    ]);
    return [
      new WorkloadIdentityCredential({
        ...common,
        tenantId: tenantId as string,
        clientId: clientId as string,
        tokenFilePath: tokenFile as string,
      }),
      `workload identity ${clientId} (federated token file)${tenantNote(tenantId)}`,
    ];
  };

  let credential: TokenCredential;
  let description: string;
  switch (method) {
    case "client-secret":
      [credential, description] = clientSecretCredential();
      break;
    case "workload-identity":
      [credential, description] = workloadIdentityCredential();
      break;
    case "azure-cli":
      credential = new AzureCliCredential({ ...common, ...(tenantId ? { tenantId } : {}) });
      description = "the Azure CLI's signed-in account";
      break;
    case "managed-identity":
      credential = new ManagedIdentityCredential({ ...common, ...(clientId ? { clientId } : {}) });
      description = clientId ? `user-assigned managed identity ${clientId}` : "the system-assigned managed identity";
      break;
    default:
      // The default chain, as DefaultAzureCredential: settings in the environment first (client
      // secret, then workload identity), then the Azure CLI, managed identity and the other sources
      // DefaultAzureCredential tries. The first two are built here so that an injected environment
      // is honoured and the description is exact.
      if (tenantId && clientId && clientSecret) [credential, description] = clientSecretCredential();
      else if (tenantId && clientId && (tokenFile || (githubUrl && githubToken)))
        [credential, description] = workloadIdentityCredential();
      else {
        credential = new DefaultAzureCredential({
          ...common,
          ...(tenantId ? { tenantId } : {}),
          ...(clientId ? { managedIdentityClientId: clientId } : {}),
        });
        description = "the default Azure credential chain (managed identity, Azure CLI, Azure Developer CLI, Azure PowerShell)";
      }
  }
  return remembering(credential, method, description);
}

function chooseMethod(option: AzureAuthMethod | undefined, env: Readonly<Record<string, string | undefined>>): AzureAuthMethod {
  const raw = option ?? nonEmpty(env[AZURE_AUTH_ENV]) ?? "default";
  if (!(AZURE_AUTH_METHODS as readonly string[]).includes(raw)) {
    throw new UserError(
      `${option ? "Azure authentication method" : AZURE_AUTH_ENV} "${raw}" is not one of ${AZURE_AUTH_METHODS.join(", ")}`,
    );
  }
  return raw as AzureAuthMethod;
}

function remembering(inner: TokenCredential, method: AzureAuthMethod, description: string): AzureCredential {
  let last: TokenIdentity | undefined;
  return {
    method,
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      const token = await inner.getToken(scopes, options);
      if (token) last = tokenIdentity(token.token) ?? last;
      return token;
    },
    describe: () => description,
    lastIdentity: () => last,
    describeIdentity: () => {
      if (!last) return description;
      const who = last.user
        ? `user ${last.user}`
        : last.appId
          ? `application ${last.appId}${last.objectId ? ` (object id ${last.objectId})` : ""}`
          : last.objectId
            ? `principal ${last.objectId}`
            : undefined;
      return who ? `${who}${last.tenantId ? ` in tenant ${last.tenantId}` : ""}` : description;
    },
  };
}

/** The identity claims of a JWT access token (`tid`, `appid`/`azp`, `oid`, `upn`); the token is not verified. */
export function tokenIdentity(token: string): TokenIdentity | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!claims || typeof claims !== "object") return undefined;
  const str = (k: string) => (typeof claims[k] === "string" && claims[k] !== "" ? (claims[k] as string) : undefined);
  const identity: TokenIdentity = {};
  const tenantId = str("tid");
  const appId = str("appid") ?? str("azp");
  const objectId = str("oid");
  const user = str("upn") ?? str("unique_name") ?? str("preferred_username");
  if (tenantId) identity.tenantId = tenantId;
  if (appId) identity.appId = appId;
  if (objectId) identity.objectId = objectId;
  if (user) identity.user = user;
  return Object.keys(identity).length > 0 ? identity : undefined;
}
