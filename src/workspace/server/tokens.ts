import { denied, int, type JsonObject, notFound, type RequestContext, type Router, requireStr, str } from "../http.js";
import { type Identity, type TokenRecord, USERS_GROUP } from "../identity.js";
import type { Workspace } from "../workspace.js";

/**
 * Personal access tokens:
 * - `/api/2.0/token/{create,list,delete}` and `PATCH /api/2.0/token/{id}`: a caller's own tokens;
 * - `/api/2.0/token-management/...`: every token of the workspace, for admins, and tokens created on
 *   behalf of service principals (`on-behalf-of/tokens`).
 *
 * Who may create tokens is the `authorization/tokens` permission object (`CAN_USE`), granted to the
 * `users` group when the workspace is created, as Databricks does. Token values are returned once, at
 * creation; only their hashes are kept. OAuth access tokens are not listed here, as in Databricks.
 */

/** Lifetime of a token created without `lifetime_seconds`: two years, as documented for the Token API. */
const DEFAULT_LIFETIME_SECONDS = 2 * 365 * 24 * 3600;

export function register(r: Router, ws: Workspace): void {
  const id = ws.identity;

  ws.permissions.register("authorization", {
    levels: ["CAN_USE"],
    objectType: "tokens",
    idPrefix: "authorization/",
    exists: (objectId) => objectId === "tokens",
    missing: (objectId) => `authorization/${objectId} is not a supported permission object.`,
  });
  if (!id.meta.get("tokens_acl_initialised")) {
    ws.permissions.write("authorization", "tokens", [{ group_name: USERS_GROUP, permission_level: "CAN_USE" }], "merge");
    id.meta.set("tokens_acl_initialised", "true");
  }

  const requireAdmin = (c: RequestContext) => {
    if (!c.principal.admin) throw denied("Only workspace admins can use the token management API.");
  };

  const lifetime = (input: JsonObject): number => {
    const seconds = int(input, "lifetime_seconds");
    return seconds === undefined || seconds <= 0 ? DEFAULT_LIFETIME_SECONDS : seconds;
  };

  const patById = (tokenId: string) => {
    const hit = id.tokenById(tokenId);
    return hit && hit.record.kind === "pat" ? hit : undefined;
  };

  // ----- The caller's own tokens ----------------------------------------------------------------
  r.post("/api/2.0/token/create", (c) => {
    ws.permissions.require(c.principal, "authorization", "tokens", "CAN_USE", "create tokens");
    const comment = str(c.input, "comment");
    const { value, record } = id.issueToken(
      { kind: c.principal.kind, id: c.principal.id },
      {
        kind: "pat",
        lifetimeSeconds: lifetime(c.input),
        createdById: c.principal.id,
        ...(comment !== undefined ? { comment } : {}),
      },
    );
    return { token_value: value, token_info: publicInfo(record) };
  });

  r.get("/api/2.0/token/list", (c) => {
    const now = Date.now();
    const mine = [...id.tokens.values()].filter(
      (t) =>
        t.kind === "pat" &&
        t.principal_kind === c.principal.kind &&
        t.principal_id === c.principal.id &&
        (t.expiry_time === -1 || t.expiry_time > now),
    );
    mine.sort((a, b) => a.creation_time - b.creation_time);
    return { token_infos: mine.map(publicInfo) };
  });

  r.post("/api/2.0/token/delete", (c) => {
    const tokenId = requireStr(c.input, "token_id");
    const hit = patById(tokenId);
    if (!hit || hit.record.principal_kind !== c.principal.kind || hit.record.principal_id !== c.principal.id) {
      throw notFound(`Token with id ${tokenId} does not exist.`);
    }
    id.tokens.delete(hit.key);
    return {};
  });

  r.patch("/api/2.0/token/:token_id", (c) => {
    const tokenId = c.params.token_id as string;
    const hit = patById(tokenId);
    if (!hit || hit.record.principal_kind !== c.principal.kind || hit.record.principal_id !== c.principal.id) {
      throw notFound(`Token with id ${tokenId} does not exist.`);
    }
    updateComment(id, hit.key, hit.record, c.input);
    return {};
  });

  // ----- Token management (admins) --------------------------------------------------------------
  r.get("/api/2.0/token-management/tokens", (c) => {
    requireAdmin(c);
    const byId = str(c.input, "created_by_id");
    const byName = str(c.input, "created_by_username")?.toLowerCase();
    const infos = [...id.tokens.values()]
      .filter((t) => t.kind === "pat")
      .sort((a, b) => a.creation_time - b.creation_time)
      .map((t) => tokenInfo(id, t))
      .filter((t) => byId === undefined || String(t.created_by_id) === byId)
      .filter((t) => byName === undefined || String(t.created_by_username ?? "").toLowerCase() === byName);
    return { token_infos: infos };
  });

  r.get("/api/2.0/token-management/tokens/:token_id", (c) => {
    requireAdmin(c);
    const tokenId = c.params.token_id as string;
    const hit = patById(tokenId);
    if (!hit) throw notFound(`Token with id ${tokenId} does not exist.`);
    return { token_info: tokenInfo(id, hit.record) };
  });

  r.delete("/api/2.0/token-management/tokens/:token_id", (c) => {
    requireAdmin(c);
    const tokenId = c.params.token_id as string;
    const hit = patById(tokenId);
    if (!hit) throw notFound(`Token with id ${tokenId} does not exist.`);
    id.tokens.delete(hit.key);
    return {};
  });

  r.patch("/api/2.0/token-management/tokens/:token_id", (c) => {
    requireAdmin(c);
    const tokenId = c.params.token_id as string;
    const hit = patById(tokenId);
    if (!hit) throw notFound(`Token with id ${tokenId} does not exist.`);
    return tokenInfo(id, updateComment(id, hit.key, hit.record, c.input));
  });

  /** An admin creates a token owned by a service principal, identified by its application id. */
  r.post("/api/2.0/token-management/on-behalf-of/tokens", (c) => {
    requireAdmin(c);
    const applicationId = requireStr(c.input, "application_id");
    const sp = id.servicePrincipalByAppId(applicationId);
    if (!sp) throw notFound(`Service principal with application ID ${applicationId} does not exist.`);
    const comment = str(c.input, "comment");
    const { value, record } = id.issueToken(
      { kind: "service_principal", id: sp.id },
      {
        kind: "pat",
        lifetimeSeconds: lifetime(c.input),
        createdById: c.principal.id,
        ...(comment !== undefined ? { comment } : {}),
      },
    );
    return { token_value: value, token_info: tokenInfo(id, record) };
  });
}

/** `PATCH` bodies carry `{token: {comment}, update_mask: "comment"}`; only the comment is updatable. */
function updateComment(id: Identity, key: string, record: TokenRecord, input: JsonObject): TokenRecord {
  const token = (input.token ?? {}) as JsonObject;
  const mask = (str(input, "update_mask") ?? "comment").split(",").map((s) => s.trim());
  if (!mask.includes("comment") && !mask.includes("*")) return record;
  const comment = typeof token.comment === "string" ? token.comment : undefined;
  const { comment: _old, ...rest } = record;
  return id.tokens.set(key, comment !== undefined ? { ...rest, comment } : rest);
}

/** What the Token API shows a token's owner. */
function publicInfo(t: TokenRecord): JsonObject {
  return {
    token_id: t.token_id,
    creation_time: t.creation_time,
    expiry_time: t.expiry_time,
    ...(t.comment !== undefined ? { comment: t.comment } : {}),
  };
}

/** What the Token Management API shows admins: owner and creator too. */
function tokenInfo(id: Identity, t: TokenRecord): JsonObject {
  const creatorId = t.created_by_id ?? t.principal_id;
  const creator = id.users.get(creatorId)?.userName ?? id.servicePrincipals.get(creatorId)?.applicationId;
  return {
    ...publicInfo(t),
    created_by_id: Number(creatorId),
    ...(creator !== undefined ? { created_by_username: creator } : {}),
    owner_id: Number(t.principal_id),
  };
}
