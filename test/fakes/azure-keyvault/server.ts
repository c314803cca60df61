import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TestCertificate } from "./tls.js";

/**
 * A fake Azure Key Vault (the secrets data plane) together with a fake Microsoft Entra ID token
 * endpoint, on one HTTPS server at 127.0.0.1. Driven by the official clients: `@azure/keyvault-secrets`'
 * `SecretClient` and `@azure/identity`'s credentials (with `authorityHost` set to this server).
 *
 * What it implements, as the real services do:
 * - Key Vault's challenge protocol: a request without a bearer token is answered 401 with
 *   `WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="https://vault.azure.net"`;
 * - `GET /secrets/{name}/{version?}?api-version=...` answering a `SecretBundle`, or errors in Key
 *   Vault's shape `{"error": {"code", "message", "innererror"?: {"code"}}}`: 400 `BadParameter`
 *   (missing or unknown api-version, invalid name), 401 `Unauthorized` (token not issued here,
 *   expired, wrong audience), 403 `Forbidden`/`ForbiddenByRbac` (no "Key Vault Secrets User" role),
 *   403 `Forbidden`/`SecretDisabled`, 404 `SecretNotFound`;
 * - Entra ID: `GET /{tenant}/v2.0/.well-known/openid-configuration` and `POST /{tenant}/oauth2/v2.0/token`
 *   with `client_credentials` and a client secret or a client assertion (federated credential);
 *   unknown clients get `invalid_client` (AADSTS7000215 / AADSTS700016) in Entra's error shape;
 * - a GitHub Actions ID token endpoint, `GET /_github/idtoken?audience=...` (bearer: the request token).
 *
 * Access tokens are JWT-shaped (unsigned) with `aud`, `tid`, `appid`, `oid`, `exp`, so clients can
 * read who they are. Every request is logged (method, path without the query, status); bodies,
 * tokens and secret values never are.
 */

export const VAULT_RESOURCE = "https://vault.azure.net";
const API_VERSIONS = new Set(["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"]);
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VERSION = /^[0-9a-f]{32}$/;

export interface FakeApp {
  clientId: string;
  objectId: string;
  /** Client secret credential. */
  secret?: string;
  /** A federated token this app accepts as client assertion (as read from a token file). */
  federatedToken?: string;
  /** Accepts GitHub Actions ID tokens (from this server) with this subject and Entra's federation audience. */
  githubSubject?: string;
}

interface SecretVersion {
  version: string;
  value: string;
  enabled: boolean;
  created: number;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  /** What the request was: `vault`, `token`, `metadata`, `github`. */
  service: string;
}

export interface FakeKeyVault {
  /** The vault URL, `https://127.0.0.1:<port>/`. */
  url: string;
  /** The Entra authority host to give `@azure/identity` (this server). */
  authorityHost: string;
  tenantId: string;
  /** The certificate to trust (PEM). */
  ca: string;
  /** A GitHub Actions ID token request URL and token (`ACTIONS_ID_TOKEN_REQUEST_URL` / `_TOKEN`). */
  github: { requestUrl: string; requestToken: string; subject: string };
  addApp(options?: Partial<FakeApp>): FakeApp;
  /** Gives an app the "Key Vault Secrets User" role on the vault. */
  grantSecretsUser(clientId: string): void;
  revokeSecretsUser(clientId: string): void;
  /** Adds a new version of a secret (the latest); returns its version id. */
  setSecret(name: string, value: string): string;
  setEnabled(name: string, version: string | undefined, enabled: boolean): void;
  requests: RequestLogEntry[];
  /** Delays every vault answer by this many milliseconds (to observe concurrency). */
  latencyMs: number;
  /** The most vault requests that were in progress at once. */
  maxInFlight(): number;
  /** Requests that reached the vault with a valid token, by `name` or `name/version`. */
  secretReads(): string[];
  stop(): Promise<void>;
}

interface IssuedToken {
  clientId: string;
  objectId: string;
  audience: string;
  expires: number;
}

export async function startFakeKeyVault(certificate: TestCertificate): Promise<FakeKeyVault> {
  const tenantId = randomUUID();
  const apps = new Map<string, FakeApp>();
  const secretsUsers = new Set<string>();
  const secrets = new Map<string, SecretVersion[]>();
  const tokens = new Map<string, IssuedToken>();
  const requests: RequestLogEntry[] = [];
  const reads: string[] = [];
  const federatedTokens = new Set<string>();
  let inFlight = 0;
  let peak = 0;
  const github = {
    requestToken: `gh-request-${randomBytes(12).toString("hex")}`,
    subject: "repo:acme/ml:environment:prod",
  };
  let origin = "";

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(JSON.stringify(body));
  };
  const kvError = (res: ServerResponse, status: number, code: string, message: string, inner?: string, headers = {}) =>
    send(res, status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
  const entraError = (res: ServerResponse, status: number, error: string, description: string) =>
    send(res, status, {
      error,
      error_description: `${description}\r\nTrace ID: ${randomUUID()}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: ${new Date().toISOString()}`,
      error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)],
      timestamp: new Date().toISOString(),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    });

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let text = "";
      req.setEncoding("utf8");
      req.on("data", (d: string) => {
        text += d;
      });
      req.on("end", () => resolve(text));
      req.on("error", reject);
    });

  const issueToken = (app: FakeApp, scope: string): Record<string, unknown> => {
    const audience = scope.replace(/\/\.default$/, "");
    const expires = Math.floor(Date.now() / 1000) + 3600;
    const token = jwt({
      aud: audience,
      iss: `https://sts.windows.net/${tenantId}/`,
      tid: tenantId,
      appid: app.clientId,
      oid: app.objectId,
      exp: expires,
      jti: randomUUID(),
    });
    tokens.set(token, { clientId: app.clientId, objectId: app.objectId, audience, expires });
    return { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: token };
  };

  const handleToken = async (req: IncomingMessage, res: ServerResponse) => {
    const form = new URLSearchParams(await readBody(req));
    if (form.get("grant_type") !== "client_credentials") {
      return entraError(res, 400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    }
    const app = apps.get(form.get("client_id") ?? "");
    if (!app) {
      return entraError(
        res,
        400,
        "unauthorized_client",
        `AADSTS700016: Application with identifier '${form.get("client_id")}' was not found in the directory '${tenantId}'.`,
      );
    }
    const scope = form.get("scope") ?? "";
    if (!/\/\.default$/.test(scope)) {
      return entraError(res, 400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.");
    }
    const secret = form.get("client_secret");
    const assertion = form.get("client_assertion");
    if (secret !== null) {
      if (!app.secret || secret !== app.secret) {
        return entraError(res, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
      }
    } else if (assertion !== null) {
      if (form.get("client_assertion_type") !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return entraError(res, 400, "invalid_request", "AADSTS50027: Invalid client assertion type.");
      }
      const fromGitHub = federatedTokens.has(assertion) ? claimsOf(assertion) : undefined;
      const accepted =
        (app.federatedToken !== undefined && assertion === app.federatedToken) ||
        (app.githubSubject !== undefined &&
          fromGitHub?.sub === app.githubSubject &&
          fromGitHub?.aud === "api://AzureADTokenExchange");
      if (!accepted) {
        return entraError(
          res,
          400,
          "invalid_client",
          "AADSTS70021: No matching federated identity record found for presented assertion.",
        );
      }
    } else {
      return entraError(
        res,
        401,
        "invalid_client",
        "AADSTS7000218: The request body must contain client_assertion or client_secret.",
      );
    }
    return send(res, 200, issueToken(app, scope));
  };

  const handleVault = (req: IncomingMessage, res: ServerResponse, url: URL): number => {
    const challenge = {
      "www-authenticate": `Bearer authorization="${origin}/${tenantId}", resource="${VAULT_RESOURCE}"`,
    };
    const auth = req.headers.authorization ?? "";
    if (!auth.startsWith("Bearer ")) {
      kvError(res, 401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", undefined, challenge);
      return 401;
    }
    const token = tokens.get(auth.slice("Bearer ".length));
    if (!token || token.expires * 1000 < Date.now()) {
      kvError(
        res,
        401,
        "Unauthorized",
        "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/..., found <unknown>.",
        undefined,
        challenge,
      );
      return 401;
    }
    if (token.audience !== VAULT_RESOURCE) {
      kvError(
        res,
        401,
        "Unauthorized",
        `AKV10022: Invalid audience. Expected ${VAULT_RESOURCE}, found: ${token.audience}.`,
        undefined,
        challenge,
      );
      return 401;
    }
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) {
      kvError(res, 400, "BadParameter", "The request URI contains an invalid parameter: api-version is missing.");
      return 400;
    }
    if (!API_VERSIONS.has(apiVersion)) {
      kvError(
        res,
        400,
        "BadParameter",
        `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (7.6).`,
      );
      return 400;
    }
    const m = /^\/secrets\/([^/]+)\/?([^/]*)$/.exec(url.pathname);
    if (!m || req.method !== "GET") {
      kvError(res, 405, "BadParameter", `The operation ${req.method} ${url.pathname} is not supported by this fake.`);
      return 405;
    }
    const name = decodeURIComponent(m[1] as string);
    const version = m[2] ? decodeURIComponent(m[2]) : undefined;
    if (!SECRET_NAME.test(name)) {
      kvError(
        res,
        400,
        "BadParameter",
        "The request URI contains an invalid name: secret names may contain only 0-9, a-z, A-Z and -.",
      );
      return 400;
    }
    if (!secretsUsers.has(token.clientId)) {
      kvError(
        res,
        403,
        "Forbidden",
        `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=${token.clientId};oid=${token.objectId};iss=https://sts.windows.net/${tenantId}/\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv/secrets/${name.toLowerCase()}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: kv;location=westeurope\r\n`,
        "ForbiddenByRbac",
      );
      return 403;
    }
    const versions = secrets.get(name.toLowerCase());
    const found =
      version === undefined ? versions?.at(-1) : VERSION.test(version) ? versions?.find((v) => v.version === version) : undefined;
    if (!found) {
      kvError(
        res,
        404,
        "SecretNotFound",
        `A secret with (name/id) ${name}${version ? `/${version}` : ""} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
      return 404;
    }
    if (!found.enabled) {
      kvError(res, 403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled");
      return 403;
    }
    reads.push(version ? `${name}/${version}` : name);
    send(res, 200, {
      value: found.value,
      id: `${origin}/secrets/${name}/${found.version}`,
      attributes: {
        enabled: true,
        created: found.created,
        updated: found.created,
        recoveryLevel: "Recoverable+Purgeable",
        recoverableDays: 90,
      },
      tags: {},
    });
    return 200;
  };

  const server = createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
    const url = new URL(req.url ?? "/", origin);
    const log = (service: string, status: number) =>
      requests.push({ method: req.method ?? "GET", path: url.pathname, status, service });
    void (async () => {
      const meta = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
      if (meta && req.method === "GET") {
        const t = meta[1] as string;
        if (t !== tenantId && t !== "organizations" && t !== "common") {
          entraError(res, 400, "invalid_tenant", `AADSTS90002: Tenant '${t}' not found.`);
          return log("metadata", 400);
        }
        send(res, 200, {
          token_endpoint: `${origin}/${t}/oauth2/v2.0/token`,
          authorization_endpoint: `${origin}/${t}/oauth2/v2.0/authorize`,
          device_authorization_endpoint: `${origin}/${t}/oauth2/v2.0/devicecode`,
          end_session_endpoint: `${origin}/${t}/oauth2/v2.0/logout`,
          jwks_uri: `${origin}/${t}/discovery/v2.0/keys`,
          issuer: `${origin}/${t}/v2.0`,
          token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
          response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
          scopes_supported: ["openid", "profile", "email", "offline_access"],
          tenant_region_scope: "EU",
          cloud_instance_name: "microsoftonline.com",
        });
        return log("metadata", 200);
      }
      const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
      if (tokenPath && req.method === "POST") {
        if (tokenPath[1] !== tenantId) {
          entraError(res, 400, "invalid_request", `AADSTS90002: Tenant '${tokenPath[1]}' not found.`);
          return log("token", 400);
        }
        await handleToken(req, res);
        return log("token", res.statusCode);
      }
      if (url.pathname === "/_github/idtoken" && req.method === "GET") {
        if (req.headers.authorization !== `Bearer ${github.requestToken}`) {
          send(res, 401, { message: "Bad credentials" });
          return log("github", 401);
        }
        const audience = url.searchParams.get("audience") ?? "";
        const idToken = jwt({ iss: "https://token.actions.githubusercontent.com", sub: github.subject, aud: audience });
        federatedTokens.add(idToken);
        send(res, 200, { count: 1, value: idToken });
        return log("github", 200);
      }
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        if (fake.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.latencyMs));
        return log("vault", handleVault(req, res, url));
      } finally {
        inFlight--;
      }
    })().catch((e: unknown) => {
      if (!res.headersSent) kvError(res, 500, "InternalServerError", String(e));
      log("error", 500);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeKeyVault = {
    url: `${origin}/`,
    authorityHost: origin,
    tenantId,
    ca: certificate.cert,
    github: {
      requestUrl: `${origin}/_github/idtoken?api-version=2.0`,
      requestToken: github.requestToken,
      subject: github.subject,
    },
    addApp(options = {}) {
      const app: FakeApp = { clientId: randomUUID(), objectId: randomUUID(), ...options };
      apps.set(app.clientId, app);
      return app;
    },
    grantSecretsUser: (clientId) => {
      secretsUsers.add(clientId);
    },
    revokeSecretsUser: (clientId) => {
      secretsUsers.delete(clientId);
    },
    setSecret(name, value) {
      const version = randomBytes(16).toString("hex");
      const list = secrets.get(name.toLowerCase()) ?? [];
      list.push({ version, value, enabled: true, created: Math.floor(Date.now() / 1000) });
      secrets.set(name.toLowerCase(), list);
      return version;
    },
    setEnabled(name, version, enabled) {
      const list = secrets.get(name.toLowerCase()) ?? [];
      const target = version ? list.find((v) => v.version === version) : list.at(-1);
      if (!target) throw new Error(`no such secret ${name}`);
      target.enabled = enabled;
    },
    requests,
    latencyMs: 0,
    maxInFlight: () => peak,
    secretReads: () => [...reads],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}

/** An unsigned JWT (`alg: none` is not used: the header names RS256 as Entra's do; nobody verifies it). */
function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ typ: "JWT", alg: "RS256", kid: "fake" })}.${part(claims)}.${randomBytes(32).toString("base64url")}`;
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString("utf8")) as Record<string, unknown>;
}
