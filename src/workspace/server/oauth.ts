import { constants, createPublicKey, type JsonWebKey, randomUUID, verify } from "node:crypto";
import {
  alreadyExists,
  denied,
  invalid,
  type JsonObject,
  notFound,
  page,
  RawResponse,
  type RequestContext,
  type Router,
  str,
} from "../http.js";
import type { FederationPolicyRecord, Identity, OidcFederationPolicy, Principal, SpSecretRecord } from "../identity.js";
import type { Workspace } from "../workspace.js";

/**
 * OAuth for the local workspace, as the Databricks SDKs and CLI use it:
 * - discovery: `/.well-known/databricks-config` (host metadata the SDKs read at start-up) and
 *   `/oidc/.well-known/{oauth-authorization-server,openid-configuration}`;
 * - `POST /oidc/v1/token`: `client_credentials` (OAuth M2M with a service principal's client id and
 *   secret, HTTP Basic or form fields) and RFC 8693 token exchange of a federated JWT (workload
 *   identity federation, e.g. a GitHub Actions OIDC token) under a federation policy;
 * - service principal OAuth secrets (`/api/2.0/accounts/servicePrincipals/{id}/credentials/secrets`,
 *   the workspace proxy the SDK exposes, and the account-scoped form);
 * - service principal and account federation policies (`/api/2.0/accounts/{account_id}/...`).
 *
 * Access tokens are opaque bearer tokens valid for an hour.
 */

const ACCESS_TOKEN_LIFETIME_SECONDS = 3600;
/** Lifetime of a service principal secret created without `lifetime`: 730 days, as in Databricks. */
const DEFAULT_SECRET_LIFETIME_SECONDS = 63_072_000;
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TOKEN_TYPES = new Set(["urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token"]);
const POLICY_ID_RE = /^[a-z0-9][a-z0-9/-]*$/;

export function register(r: Router, ws: Workspace): void {
  const id = ws.identity;

  /** The URL the client used to reach us, so discovery answers work behind any host name or port. */
  const baseUrl = (c: RequestContext) => (c.headers.host ? `http://${c.headers.host}` : ws.url);

  const requireAdmin = (c: RequestContext, action: string) => {
    if (!c.principal.admin) throw denied(`Only workspace admins can ${action}.`);
  };

  // ----- Discovery ------------------------------------------------------------------------------
  // Never `cloud: AZURE`: that switches the SDKs to Azure authentication.
  r.get(
    "/.well-known/databricks-config",
    (c) => ({
      oidc_endpoint: `${baseUrl(c)}/oidc`,
      account_id: id.accountId,
      workspace_id: ws.workspaceId,
      cloud: "AWS",
      host_type: "workspace",
      token_federation_default_oidc_audiences: [`${baseUrl(c)}/oidc/v1/token`],
    }),
    { auth: false },
  );

  const discovery = (c: RequestContext, prefix: string) => {
    const base = `${baseUrl(c)}${prefix}`;
    return {
      issuer: base,
      authorization_endpoint: `${base}/v1/authorize`,
      token_endpoint: `${base}/v1/token`,
      jwks_uri: `${base}/v1/keys`,
      response_types_supported: ["code"],
      grant_types_supported: ["client_credentials", TOKEN_EXCHANGE],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
      subject_types_supported: ["public"],
      scopes_supported: ["all-apis", "sql", "offline_access"],
      code_challenge_methods_supported: ["S256"],
    };
  };
  r.get(
    ["/oidc/.well-known/oauth-authorization-server", "/oidc/.well-known/openid-configuration"],
    (c) => discovery(c, "/oidc"),
    {
      auth: false,
    },
  );
  r.get(
    [
      "/oidc/accounts/:account_id/.well-known/oauth-authorization-server",
      "/oidc/accounts/:account_id/.well-known/openid-configuration",
    ],
    (c) => {
      requireAccount(id, c.params.account_id as string);
      return discovery(c, `/oidc/accounts/${c.params.account_id}`);
    },
    { auth: false },
  );
  // Access tokens are opaque, so no signing keys are published.
  r.get(["/oidc/v1/keys", "/oidc/accounts/:account_id/v1/keys"], () => ({ keys: [] }), { auth: false });

  // ----- Token endpoint -------------------------------------------------------------------------
  const token = async (c: RequestContext): Promise<RawResponse> => {
    if (c.params.account_id !== undefined) requireAccount(id, c.params.account_id);
    const form = c.input;
    const field = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : undefined);
    const grantType = field("grant_type");
    const client = clientCredentials(c, field);
    if (!grantType) return oauthError(400, "invalid_request", "Missing grant_type");

    if (grantType === "client_credentials") {
      if (!client.id || !client.secret) return invalidClient(client.basic);
      const spId =
        id.verifyClientSecret(client.id, client.secret) ??
        (client.decoded ? id.verifyClientSecret(client.decoded.id, client.decoded.secret) : undefined);
      if (!spId) return invalidClient(client.basic);
      return issue(id, { kind: "service_principal", id: spId }, field("scope"));
    }

    if (grantType === TOKEN_EXCHANGE) {
      const subjectToken = field("subject_token");
      if (!subjectToken) return oauthError(400, "invalid_request", "Missing subject_token");
      const subjectType = field("subject_token_type");
      if (subjectType && !JWT_TOKEN_TYPES.has(subjectType)) {
        return oauthError(400, "invalid_request", `Unsupported subject_token_type ${subjectType}`);
      }
      const jwt = decodeJwt(subjectToken);
      if (!jwt) return oauthError(400, "invalid_request", "subject_token is not a well-formed JWT");
      const now = Math.floor(Date.now() / 1000);
      if (typeof jwt.payload.exp === "number" && jwt.payload.exp <= now) {
        return oauthError(400, "invalid_request", "The subject token has expired");
      }
      if (typeof jwt.payload.nbf === "number" && jwt.payload.nbf > now + 60) {
        return oauthError(400, "invalid_request", "The subject token is not valid yet");
      }
      // With a client id the token is for that service principal (workload identity federation);
      // without one, account-wide federation policies map the token's subject to a user or service principal.
      let sp: { id: string } | undefined;
      if (client.id) {
        sp = id.servicePrincipalByAppId(client.id);
        if (!sp) return invalidClient(client.basic);
      }
      const defaultAudiences = [id.accountId, `${baseUrl(c)}/oidc/v1/token`];
      const policies = id.federationPolicies.filter((p) => (sp ? p.service_principal_id === sp.id : !p.service_principal_id));
      for (const policy of policies) {
        const subject = matchClaims(policy.oidc_policy, jwt.payload, defaultAudiences);
        if (subject === undefined) continue;
        if (sp && subject !== policy.oidc_policy.subject) continue;
        // Signatures are verified only when the policy supplies keys (jwks_json, or jwks_uri fetched
        // now); without them the local workspace trusts the token's claims, unlike Databricks, which
        // fetches the issuer's published keys.
        if (policy.oidc_policy.jwks_json !== undefined || policy.oidc_policy.jwks_uri !== undefined) {
          const jwks = await loadJwks(policy.oidc_policy);
          if (!jwks || !verifyJwt(jwt, jwks)) continue;
        }
        const principal = sp ? { kind: "service_principal" as const, id: sp.id } : principalNamed(id, subject);
        if (!principal || !id.principalFor(principal.kind, principal.id)) continue;
        return issue(id, principal, field("scope"));
      }
      return oauthError(400, "invalid_request", "The subject token does not match any federation policy");
    }

    return oauthError(400, "unsupported_grant_type", `Unsupported grant_type ${grantType}`);
  };
  r.post(["/oidc/v1/token", "/oidc/accounts/:account_id/v1/token"], token, { auth: false });

  // ----- Service principal secrets --------------------------------------------------------------
  const secretsBase = "/api/2.0/accounts/servicePrincipals/:sp_id/credentials/secrets";
  const accountSecretsBase = "/api/2.0/accounts/:account_id/servicePrincipals/:sp_id/credentials/secrets";
  const spFor = (c: RequestContext) => {
    if (c.params.account_id !== undefined) requireAccount(id, c.params.account_id);
    const spId = c.params.sp_id as string;
    const sp = id.servicePrincipals.get(spId);
    if (!sp) throw notFound(`Service principal ${spId} does not exist.`);
    return sp;
  };

  r.post([secretsBase, accountSecretsBase], (c) => {
    requireAdmin(c, "manage service principal secrets");
    const sp = spFor(c);
    const lifetime = parseLifetime(c.input.lifetime);
    const { secret, record } = id.createSpSecret(sp.id, lifetime);
    return { ...secretInfo(record), secret };
  });
  r.get([secretsBase, accountSecretsBase], (c) => {
    requireAdmin(c, "manage service principal secrets");
    const sp = spFor(c);
    const all = id.spSecrets.filter((s) => s.sp_id === sp.id).sort((a, b) => a.create_time.localeCompare(b.create_time));
    const size = Math.min(Math.max(Number(str(c.input, "page_size") ?? 100) || 100, 1), 100);
    const { items, next } = page(all, str(c.input, "page_token"), size);
    return { secrets: items.map(secretInfo), ...(next ? { next_page_token: next } : {}) };
  });
  r.delete([`${secretsBase}/:secret_id`, `${accountSecretsBase}/:secret_id`], (c) => {
    requireAdmin(c, "manage service principal secrets");
    const sp = spFor(c);
    const secretId = c.params.secret_id as string;
    const s = id.spSecrets.get(secretId);
    if (!s || s.sp_id !== sp.id) throw notFound(`Secret ${secretId} does not exist.`);
    id.spSecrets.delete(secretId);
    return {};
  });

  // ----- Federation policies --------------------------------------------------------------------
  const spPolicies = "/api/2.0/accounts/:account_id/servicePrincipals/:sp_id/federationPolicies";
  const accountPolicies = "/api/2.0/accounts/:account_id/federationPolicies";
  /** The service principal a policy route is about, or undefined for account-wide policies. */
  const scope = (c: RequestContext): string | undefined => {
    requireAccount(id, c.params.account_id as string);
    if (c.params.sp_id === undefined) return undefined;
    return spFor(c).id;
  };
  const policyKey = (spId: string | undefined, policyId: string) => `${spId ?? "account"}/${policyId}`;
  const getPolicy = (c: RequestContext) => {
    const spId = scope(c);
    const policyId = c.params.policy_id as string;
    const p = id.federationPolicies.get(policyKey(spId, policyId));
    if (!p) throw notFound(`Federation policy ${policyId} does not exist.`);
    return p;
  };

  r.post([spPolicies, accountPolicies], (c) => {
    requireAdmin(c, "manage federation policies");
    const spId = scope(c);
    const policyId = c.query.get("policy_id") ?? randomUUID().replace(/-/g, "").slice(0, 16);
    if (!POLICY_ID_RE.test(policyId)) {
      throw invalid(`Invalid policy_id ${policyId}: use lowercase letters, numbers, hyphens and slashes.`);
    }
    const key = policyKey(spId, policyId);
    if (id.federationPolicies.has(key)) throw alreadyExists(`Federation policy ${policyId} already exists.`);
    const oidc = oidcPolicy(c.input.oidc_policy, spId !== undefined);
    const now = new Date().toISOString();
    const record: FederationPolicyRecord = {
      policy_id: policyId,
      uid: randomUUID(),
      oidc_policy: oidc,
      create_time: now,
      update_time: now,
      ...(spId !== undefined ? { service_principal_id: spId } : {}),
      ...(typeof c.input.description === "string" ? { description: c.input.description } : {}),
    };
    id.federationPolicies.set(key, record);
    return renderPolicy(id, record);
  });
  r.get([spPolicies, accountPolicies], (c) => {
    requireAdmin(c, "manage federation policies");
    const spId = scope(c);
    const all = id.federationPolicies
      .filter((p) => p.service_principal_id === spId)
      .sort((a, b) => a.create_time.localeCompare(b.create_time));
    const size = Math.min(Math.max(Number(str(c.input, "page_size") ?? 100) || 100, 1), 1000);
    const { items, next } = page(all, str(c.input, "page_token"), size);
    return { policies: items.map((p) => renderPolicy(id, p)), ...(next ? { next_page_token: next } : {}) };
  });
  r.get([`${spPolicies}/*policy_id`, `${accountPolicies}/*policy_id`], (c) => {
    requireAdmin(c, "manage federation policies");
    return renderPolicy(id, getPolicy(c));
  });
  r.patch([`${spPolicies}/*policy_id`, `${accountPolicies}/*policy_id`], (c) => {
    requireAdmin(c, "manage federation policies");
    const existing = getPolicy(c);
    const mask = (c.query.get("update_mask") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    const body = c.input;
    const incoming = (body.oidc_policy && typeof body.oidc_policy === "object" ? body.oidc_policy : {}) as JsonObject;
    let description = existing.description;
    let oidc: JsonObject = { ...existing.oidc_policy };
    if (mask.includes("*")) {
      description = typeof body.description === "string" ? body.description : undefined;
      oidc = { ...incoming };
    } else if (mask.length === 0) {
      if (typeof body.description === "string") description = body.description;
      oidc = { ...oidc, ...incoming };
    } else {
      for (const path of mask) {
        if (path === "description") description = typeof body.description === "string" ? body.description : undefined;
        else if (path === "oidc_policy") oidc = { ...incoming };
        else if (path.startsWith("oidc_policy.")) {
          const f = path.slice("oidc_policy.".length);
          if (incoming[f] === undefined) delete oidc[f];
          else oidc[f] = incoming[f];
        } else throw invalid(`Field ${path} of a federation policy cannot be updated.`);
      }
    }
    const { description: _old, ...rest } = existing;
    const updated: FederationPolicyRecord = {
      ...rest,
      oidc_policy: oidcPolicy(oidc, existing.service_principal_id !== undefined),
      update_time: new Date().toISOString(),
      ...(description !== undefined ? { description } : {}),
    };
    id.federationPolicies.set(policyKey(existing.service_principal_id, existing.policy_id), updated);
    return renderPolicy(id, updated);
  });
  r.delete([`${spPolicies}/*policy_id`, `${accountPolicies}/*policy_id`], (c) => {
    requireAdmin(c, "manage federation policies");
    const p = getPolicy(c);
    id.federationPolicies.delete(policyKey(p.service_principal_id, p.policy_id));
    return {};
  });
}

function requireAccount(id: Identity, accountId: string): void {
  if (accountId !== id.accountId) throw notFound(`Account ${accountId} does not exist.`);
}

// ---------------------------------------------------------------------------------------------
// Token responses

function oauthError(status: number, error: string, description: string, headers: Record<string, string> = {}): RawResponse {
  return new RawResponse(status, JSON.stringify({ error, error_description: description }), {
    "content-type": "application/json",
    "cache-control": "no-store",
    ...headers,
  });
}

/** RFC 6749 §5.2: 401 `invalid_client`, with a Basic challenge when the client authenticated that way. */
function invalidClient(basic: boolean): RawResponse {
  return oauthError(
    401,
    "invalid_client",
    "Client authentication failed",
    basic ? { "www-authenticate": 'Basic realm="oidc"' } : {},
  );
}

function issue(id: Identity, principal: { kind: Principal["kind"]; id: string }, scope: string | undefined): RawResponse {
  id.pruneExpiredTokens();
  const { value } = id.issueToken(principal, { kind: "oauth", lifetimeSeconds: ACCESS_TOKEN_LIFETIME_SECONDS });
  const body = {
    access_token: value,
    token_type: "Bearer",
    expires_in: ACCESS_TOKEN_LIFETIME_SECONDS,
    scope: scope && scope.trim() !== "" ? scope : "all-apis",
  };
  return new RawResponse(200, JSON.stringify(body), { "content-type": "application/json", "cache-control": "no-store" });
}

interface ClientCredentials {
  id?: string;
  secret?: string;
  basic: boolean;
  /** The form-decoded pair, when it differs (RFC 6749 §2.3.1 encodes Basic credentials; not every client does). */
  decoded?: { id: string; secret: string };
}

function clientCredentials(c: RequestContext, field: (name: string) => string | undefined): ClientCredentials {
  const auth = c.headers.authorization;
  const m = auth ? /^basic\s+(\S+)$/i.exec(auth) : null;
  if (m) {
    const raw = Buffer.from(m[1] as string, "base64").toString("utf8");
    const colon = raw.indexOf(":");
    if (colon < 0) return { basic: true };
    const out: ClientCredentials = { id: raw.slice(0, colon), secret: raw.slice(colon + 1), basic: true };
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, " "));
      } catch {
        return s;
      }
    };
    const decoded = { id: decode(out.id as string), secret: decode(out.secret as string) };
    if (decoded.id !== out.id || decoded.secret !== out.secret) out.decoded = decoded;
    return out;
  }
  const clientId = field("client_id");
  const secret = field("client_secret");
  return { basic: false, ...(clientId ? { id: clientId } : {}), ...(secret ? { secret } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Federated tokens

interface DecodedJwt {
  header: JsonObject;
  payload: JsonObject;
  signingInput: string;
  signature: Buffer;
}

export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0] as string, "base64url").toString("utf8")) as unknown;
    const payload = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8")) as unknown;
    if (!header || typeof header !== "object" || !payload || typeof payload !== "object") return undefined;
    return {
      header: header as JsonObject,
      payload: payload as JsonObject,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2] as string, "base64url"),
    };
  } catch {
    return undefined;
  }
}

/**
 * The token's subject when its issuer, audience and subject claim satisfy the policy; undefined
 * otherwise. A policy without audiences accepts the account id and this workspace's token endpoint.
 */
function matchClaims(policy: OidcFederationPolicy, claims: JsonObject, defaultAudiences: string[]): string | undefined {
  if (!policy.issuer || claims.iss !== policy.issuer) return undefined;
  const allowed = policy.audiences && policy.audiences.length > 0 ? policy.audiences : defaultAudiences;
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.some((a) => typeof a === "string" && allowed.includes(a))) return undefined;
  const subject = claims[policy.subject_claim ?? "sub"];
  return typeof subject === "string" && subject !== "" ? subject : undefined;
}

/** For account-wide federation: the user (by userName) or service principal (by application id) a subject names. */
function principalNamed(id: Identity, name: string): { kind: Principal["kind"]; id: string } | undefined {
  const user = id.userByName(name);
  if (user) return { kind: "user", id: user.id };
  const sp = id.servicePrincipalByAppId(name);
  return sp ? { kind: "service_principal", id: sp.id } : undefined;
}

async function loadJwks(policy: OidcFederationPolicy): Promise<unknown> {
  try {
    if (policy.jwks_json !== undefined) return JSON.parse(policy.jwks_json) as unknown;
    if (policy.jwks_uri !== undefined) {
      const res = await fetch(policy.jwks_uri, { signal: AbortSignal.timeout(5000) });
      return res.ok ? ((await res.json()) as unknown) : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

const JWS_ALGORITHMS: Record<string, { hash: string | null; kind: "rsa" | "pss" | "ec" | "ed" }> = {
  RS256: { hash: "sha256", kind: "rsa" },
  RS384: { hash: "sha384", kind: "rsa" },
  RS512: { hash: "sha512", kind: "rsa" },
  PS256: { hash: "sha256", kind: "pss" },
  PS384: { hash: "sha384", kind: "pss" },
  PS512: { hash: "sha512", kind: "pss" },
  ES256: { hash: "sha256", kind: "ec" },
  ES384: { hash: "sha384", kind: "ec" },
  ES512: { hash: "sha512", kind: "ec" },
  EdDSA: { hash: null, kind: "ed" },
};

/** Verifies a JWS signature against a JWKS (`{"keys": [...]}`), picking keys by `kid` when the token names one. */
export function verifyJwt(jwt: DecodedJwt, jwks: unknown): boolean {
  const alg = JWS_ALGORITHMS[String(jwt.header.alg)];
  if (!alg) return false;
  const keys =
    jwks && typeof jwks === "object" && Array.isArray((jwks as JsonObject).keys)
      ? ((jwks as JsonObject).keys as JsonObject[])
      : [];
  const kid = typeof jwt.header.kid === "string" ? jwt.header.kid : undefined;
  for (const jwk of keys) {
    if (!jwk || typeof jwk !== "object" || (kid !== undefined && jwk.kid !== undefined && jwk.kid !== kid)) continue;
    try {
      const key = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
      const options =
        alg.kind === "pss"
          ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : alg.kind === "ec"
            ? { key, dsaEncoding: "ieee-p1363" as const }
            : { key };
      if (verify(alg.hash, Buffer.from(jwt.signingInput), options, jwt.signature)) return true;
    } catch {
      // a key of another type or a malformed key: try the next one
    }
  }
  return false;
}

/** Validates an `oidc_policy` object. Service principal policies need a subject; account policies must not have one. */
function oidcPolicy(raw: unknown, forServicePrincipal: boolean): OidcFederationPolicy {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw invalid("oidc_policy is required");
  const p = raw as JsonObject;
  const out: OidcFederationPolicy = {};
  if (typeof p.issuer !== "string" || p.issuer === "") throw invalid("oidc_policy.issuer is required");
  out.issuer = p.issuer;
  if (p.audiences !== undefined && p.audiences !== null) {
    if (!Array.isArray(p.audiences) || p.audiences.some((a) => typeof a !== "string" || a === "")) {
      throw invalid("oidc_policy.audiences must be a list of non-empty strings");
    }
    if (p.audiences.length > 0) out.audiences = p.audiences as string[];
  }
  for (const f of ["subject", "subject_claim", "jwks_uri"] as const) {
    const v = p[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string" || v === "") throw invalid(`oidc_policy.${f} must be a non-empty string`);
    out[f] = v;
  }
  if (p.jwks_json !== undefined && p.jwks_json !== null) {
    if (typeof p.jwks_json !== "string") throw invalid("oidc_policy.jwks_json must be a string holding a JWKS");
    let parsed: unknown;
    try {
      parsed = JSON.parse(p.jwks_json);
    } catch {
      throw invalid("oidc_policy.jwks_json is not valid JSON");
    }
    if (!parsed || typeof parsed !== "object" || !Array.isArray((parsed as JsonObject).keys)) {
      throw invalid('oidc_policy.jwks_json must be a JWKS: {"keys": [...]}');
    }
    out.jwks_json = p.jwks_json;
  }
  if (forServicePrincipal && !out.subject)
    throw invalid("oidc_policy.subject is required for service principal federation policies");
  if (!forServicePrincipal && out.subject) throw invalid("oidc_policy.subject must not be set on account federation policies");
  return out;
}

function renderPolicy(id: Identity, p: FederationPolicyRecord): JsonObject {
  const account = id.accountId;
  return {
    name: p.service_principal_id
      ? `accounts/${account}/servicePrincipals/${p.service_principal_id}/federationPolicies/${p.policy_id}`
      : `accounts/${account}/federationPolicies/${p.policy_id}`,
    policy_id: p.policy_id,
    uid: p.uid,
    ...(p.description !== undefined ? { description: p.description } : {}),
    oidc_policy: p.oidc_policy,
    ...(p.service_principal_id ? { service_principal_id: Number(p.service_principal_id) } : {}),
    create_time: p.create_time,
    update_time: p.update_time,
  };
}

// ---------------------------------------------------------------------------------------------
// Secrets

/** `lifetime` is a protobuf duration ("3600s") or a number of seconds. */
function parseLifetime(v: unknown): number {
  if (v === undefined || v === null || v === "") return DEFAULT_SECRET_LIFETIME_SECONDS;
  const m = typeof v === "number" ? [String(v), String(v)] : typeof v === "string" ? /^(\d+(?:\.\d+)?)s?$/.exec(v.trim()) : null;
  const seconds = m ? Math.floor(Number(m[1])) : Number.NaN;
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw invalid(`Invalid lifetime ${JSON.stringify(v)}: use a number of seconds such as "3600s"`);
  return seconds;
}

/** Secret metadata; the value itself is shown only once, when it is created. */
function secretInfo(s: SpSecretRecord): JsonObject {
  return {
    id: s.id,
    secret_hash: s.secret_hash.slice(0, 8),
    status: s.status,
    create_time: s.create_time,
    update_time: s.update_time,
    ...(s.expire_time ? { expire_time: s.expire_time } : {}),
  };
}
