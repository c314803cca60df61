import { UserError } from "../../lib/errors.js";
import { Secret } from "../../lib/secret.js";
import type { HttpClient } from "../http.js";

/** An access token and when it stops being valid. */
export interface AccessToken {
  accessToken: Secret;
  /** `Bearer` unless the issuer says otherwise. */
  tokenType: string;
  /** Milliseconds since the epoch; undefined when the issuer gave no lifetime. */
  expiresAt?: number;
}

/** Azure Databricks rejects tokens with 30 s or less left; refresh 40 s before expiry, as the SDKs do. */
export const REFRESH_MARGIN_MS = 40_000;

/**
 * Keeps one token and fetches a new one shortly before it expires. Concurrent callers share one fetch.
 */
export class TokenCache {
  private token: AccessToken | undefined;
  private pending: Promise<AccessToken> | undefined;

  constructor(
    private readonly fetchToken: () => Promise<AccessToken>,
    private readonly now: () => number = Date.now,
    private readonly marginMs: number = REFRESH_MARGIN_MS,
  ) {}

  async get(): Promise<AccessToken> {
    const t = this.token;
    if (t && (t.expiresAt === undefined || this.now() < t.expiresAt - this.marginMs)) return t;
    this.pending ??= this.fetchToken().then(
      (fresh) => {
        this.token = fresh;
        this.pending = undefined;
        return fresh;
      },
      (e: unknown) => {
        this.pending = undefined;
        throw e;
      },
    );
    return this.pending;
  }

  /** Forgets the token; the next `get` fetches a new one. */
  invalidate(): void {
    this.token = undefined;
  }
}

/** The `Authorization` header value for a token. */
export function bearer(token: AccessToken): Secret {
  const type = /^bearer$/i.test(token.tokenType) ? "Bearer" : token.tokenType;
  return Secret.from(`${type} ${token.accessToken.reveal()}`);
}

/** Reads an OAuth token answer `{access_token, token_type, expires_in}`. */
export function readTokenResponse(body: unknown, issuer: string, now: number): AccessToken {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b.access_token !== "string" || b.access_token === "") {
    throw new UserError(`${issuer} answered without an access_token`);
  }
  const accessToken = Secret.from(b.access_token);
  const expiresIn = typeof b.expires_in === "number" ? b.expires_in : Number(b.expires_in);
  return {
    accessToken,
    tokenType: typeof b.token_type === "string" && b.token_type ? b.token_type : "Bearer",
    ...(Number.isFinite(expiresIn) && expiresIn > 0 ? { expiresAt: now + expiresIn * 1000 } : {}),
  };
}

export const TOKEN_PATH = "/oidc/v1/token";
export const ALL_APIS_SCOPE = "all-apis";

/**
 * OAuth machine-to-machine: `client_credentials` at the workspace's `/oidc/v1/token`, the client id and
 * secret sent with HTTP Basic, scope `all-apis`.
 */
export async function fetchClientCredentialsToken(
  http: HttpClient,
  clientId: string,
  clientSecret: Secret,
  now: () => number,
  scope = ALL_APIS_SCOPE,
): Promise<AccessToken> {
  const basic = Secret.from(`Basic ${Buffer.from(`${clientId}:${clientSecret.reveal()}`, "utf8").toString("base64")}`);
  const body = await http.request({
    method: "POST",
    path: TOKEN_PATH,
    form: { grant_type: "client_credentials", scope },
    headers: { authorization: basic },
    auth: false,
    idempotent: true,
  });
  return readTokenResponse(body, `${http.baseUrl}${TOKEN_PATH}`, now());
}

export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";

/**
 * Workload identity federation: exchanges an ID token (from GitHub Actions, ...) for a Databricks token
 * at `/oidc/v1/token` (RFC 8693). With a client id, the service principal's federation policy applies;
 * without, the account-wide one.
 */
export async function exchangeIdToken(
  http: HttpClient,
  idToken: Secret,
  clientId: string | undefined,
  now: () => number,
  scope = ALL_APIS_SCOPE,
): Promise<AccessToken> {
  const body = await http.request({
    method: "POST",
    path: TOKEN_PATH,
    form: {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token_type: JWT_TOKEN_TYPE,
      subject_token: idToken,
      scope,
      client_id: clientId,
    },
    auth: false,
    idempotent: true,
  });
  return readTokenResponse(body, `${http.baseUrl}${TOKEN_PATH}`, now());
}

/**
 * The GitHub Actions ID token for `audience`: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with
 * `$ACTIONS_ID_TOKEN_REQUEST_TOKEN` as bearer; the answer is `{value}`. The job needs `id-token: write`.
 */
export async function fetchGitHubIdToken(
  http: HttpClient,
  requestUrl: string,
  requestToken: Secret,
  audience: string | undefined,
): Promise<Secret> {
  const url = new URL(requestUrl);
  if (audience) url.searchParams.set("audience", audience);
  const body = (await http.request({
    method: "GET",
    path: url.toString(),
    headers: { authorization: Secret.from(`Bearer ${requestToken.reveal()}`) },
    auth: false,
  })) as Record<string, unknown> | undefined;
  if (!body || typeof body.value !== "string" || body.value === "") {
    throw new UserError(
      "the GitHub Actions ID token request answered without a token",
      "give the job `permissions: id-token: write`",
    );
  }
  return Secret.from(body.value);
}
