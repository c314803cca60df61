import { ApiError, alreadyExists, denied, invalid, type JsonObject, notFound, type Router, requireStr, str } from "../http.js";
import { type Principal, USERS_GROUP } from "../identity.js";
import type { Workspace } from "../workspace.js";

/**
 * Secret scopes, secrets and scope ACLs (`/api/2.0/secrets/...`).
 *
 * Secret values are kept as given (base64 of the raw bytes) in the workspace's own store and are
 * returned only by `GET /api/2.0/secrets/get` to a caller holding READ on the scope. They never appear
 * in list responses, error messages or the request log.
 */

export type ScopeBackend = "DATABRICKS" | "AZURE_KEYVAULT";
export type AclPermission = "READ" | "WRITE" | "MANAGE";

export interface SecretScopeRecord {
  name: string;
  backend_type: ScopeBackend;
  keyvault_metadata?: { resource_id: string; dns_name: string };
  acls: { principal: string; permission: AclPermission }[];
}

interface SecretRecord {
  scope: string;
  key: string;
  /** Base64 of the secret's bytes (a string value is stored as its UTF-8 bytes). */
  value: string;
  last_updated_timestamp: number;
}

const LEVELS: AclPermission[] = ["READ", "WRITE", "MANAGE"];
const NAME_RE = /^[A-Za-z0-9_\-.@]{1,128}$/;
const KEY_RE = /^[A-Za-z0-9_\-.]{1,128}$/;
const MAX_VALUE_BYTES = 128 * 1024;
const MAX_SECRETS_PER_SCOPE = 1000;
const MAX_SCOPES = 1000;

/** Storage key of a secret; scope names cannot contain "/", so the pair is unambiguous. */
const secretKey = (scope: string, key: string) => `${scope}/${key}`;

export function register(r: Router, ws: Workspace): void {
  const scopes = ws.store.collection<SecretScopeRecord>("secret_scopes");
  const secrets = ws.store.collection<SecretRecord>("secrets");

  const getScope = (name: string): SecretScopeRecord => {
    const s = scopes.get(name);
    if (!s) throw notFound(`Scope ${name} does not exist!`);
    return s;
  };

  const requireLevel = (p: Principal, scope: SecretScopeRecord, level: AclPermission) => {
    if (scopeLevel(p, scope) >= LEVELS.indexOf(level)) return;
    throw denied(`User ${p.name} does not have ${level} permission on scope ${scope.name}`);
  };

  const principalExists = (name: string): boolean =>
    ws.identity.userByName(name) !== undefined ||
    ws.identity.groupByName(name) !== undefined ||
    ws.identity.servicePrincipalByAppId(name) !== undefined;

  const requireWritable = (scope: SecretScopeRecord) => {
    if (scope.backend_type === "AZURE_KEYVAULT") {
      throw new ApiError(
        400,
        "BAD_REQUEST",
        `Scope ${scope.name} is backed by Azure KeyVault and is read-only: manage its secrets in the key vault itself.`,
      );
    }
  };

  r.post("/api/2.0/secrets/scopes/create", (c) => {
    const name = requireStr(c.input, "scope");
    if (!NAME_RE.test(name)) {
      throw invalid(
        `Scope name ${JSON.stringify(name)} is invalid: use alphanumeric characters, dashes, underscores, @ and periods, at most 128 characters.`,
      );
    }
    const backendRaw = str(c.input, "scope_backend_type")?.toUpperCase() ?? "DATABRICKS";
    if (backendRaw !== "DATABRICKS" && backendRaw !== "AZURE_KEYVAULT") {
      throw invalid(`Invalid scope_backend_type: ${backendRaw}. Use DATABRICKS or AZURE_KEYVAULT.`);
    }
    const backend = backendRaw as ScopeBackend;
    let keyvault: SecretScopeRecord["keyvault_metadata"];
    if (backend === "AZURE_KEYVAULT") {
      const kv = c.input.backend_azure_keyvault as JsonObject | undefined;
      if (!kv || typeof kv !== "object") {
        throw invalid("backend_azure_keyvault is required when scope_backend_type is AZURE_KEYVAULT");
      }
      keyvault = { resource_id: requireStr(kv, "resource_id"), dns_name: requireStr(kv, "dns_name") };
    } else if (c.input.backend_azure_keyvault !== undefined) {
      throw invalid("backend_azure_keyvault is only allowed when scope_backend_type is AZURE_KEYVAULT");
    }
    const initial = str(c.input, "initial_manage_principal");
    if (initial !== undefined && initial !== "" && initial !== USERS_GROUP) {
      throw invalid(`initial_manage_principal must be '${USERS_GROUP}', the only supported principal for this option.`);
    }
    if (scopes.has(name)) throw alreadyExists(`Scope ${name} already exists!`, 400);
    if (scopes.size >= MAX_SCOPES) {
      throw new ApiError(400, "RESOURCE_LIMIT_EXCEEDED", `The workspace already has the maximum of ${MAX_SCOPES} secret scopes.`);
    }
    const acls: SecretScopeRecord["acls"] = initial
      ? [{ principal: USERS_GROUP, permission: "MANAGE" }]
      : [{ principal: c.principal.name, permission: "MANAGE" }];
    scopes.set(name, { name, backend_type: backend, ...(keyvault ? { keyvault_metadata: keyvault } : {}), acls });
    return {};
  });

  r.get("/api/2.0/secrets/scopes/list", () => ({
    scopes: [...scopes.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => ({
        name: s.name,
        backend_type: s.backend_type,
        ...(s.keyvault_metadata ? { keyvault_metadata: s.keyvault_metadata } : {}),
      })),
  }));

  r.post("/api/2.0/secrets/scopes/delete", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    requireLevel(c.principal, scope, "MANAGE");
    for (const [k, v] of [...secrets.entries()]) if (v.scope === scope.name) secrets.delete(k);
    scopes.delete(scope.name);
    return {};
  });

  r.post("/api/2.0/secrets/put", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    const key = requireStr(c.input, "key");
    requireLevel(c.principal, scope, "WRITE");
    requireWritable(scope);
    if (!KEY_RE.test(key)) {
      throw invalid(
        `Invalid secret key ${JSON.stringify(key.slice(0, 140))}: use alphanumeric characters, dashes, underscores and periods, at most 128 characters.`,
      );
    }
    const stringValue = c.input.string_value;
    const bytesValue = c.input.bytes_value;
    const hasString = stringValue !== undefined && stringValue !== null;
    const hasBytes = bytesValue !== undefined && bytesValue !== null;
    if (hasString && hasBytes) {
      throw new ApiError(400, "MALFORMED_REQUEST", "Specify exactly one of string_value and bytes_value, not both.");
    }
    if (!hasString && !hasBytes) throw invalid("Specify exactly one of string_value and bytes_value.");
    let bytes: Buffer;
    if (hasString) {
      if (typeof stringValue !== "string") throw invalid("string_value must be a string");
      bytes = Buffer.from(stringValue, "utf8");
    } else {
      if (typeof bytesValue !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(bytesValue) || bytesValue.length % 4 !== 0) {
        throw invalid("bytes_value must be base64-encoded");
      }
      bytes = Buffer.from(bytesValue, "base64");
    }
    if (bytes.length > MAX_VALUE_BYTES) {
      throw invalid(`The secret value is ${bytes.length} bytes; the maximum allowed size is ${MAX_VALUE_BYTES} bytes (128 KB).`);
    }
    const id = secretKey(scope.name, key);
    if (!secrets.has(id)) {
      let count = 0;
      for (const s of secrets.values()) if (s.scope === scope.name) count++;
      if (count >= MAX_SECRETS_PER_SCOPE) {
        throw new ApiError(
          400,
          "RESOURCE_LIMIT_EXCEEDED",
          `Scope ${scope.name} already holds the maximum of ${MAX_SECRETS_PER_SCOPE} secrets.`,
        );
      }
    }
    secrets.set(id, { scope: scope.name, key, value: bytes.toString("base64"), last_updated_timestamp: Date.now() });
    return {};
  });

  r.post("/api/2.0/secrets/delete", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    const key = requireStr(c.input, "key");
    requireLevel(c.principal, scope, "WRITE");
    requireWritable(scope);
    if (!secrets.delete(secretKey(scope.name, key))) {
      throw notFound(`Secret does not exist with scope: ${scope.name} and key: ${key}`);
    }
    return {};
  });

  r.get("/api/2.0/secrets/list", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    requireLevel(c.principal, scope, "READ");
    return {
      secrets: secrets
        .filter((s) => s.scope === scope.name)
        .sort((a, b) => a.key.localeCompare(b.key))
        .map((s) => ({ key: s.key, last_updated_timestamp: s.last_updated_timestamp })),
    };
  });

  r.get("/api/2.0/secrets/get", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    const key = requireStr(c.input, "key");
    requireLevel(c.principal, scope, "READ");
    const s = secrets.get(secretKey(scope.name, key));
    if (!s) throw notFound(`Secret does not exist with scope: ${scope.name} and key: ${key}`);
    return { key: s.key, value: s.value };
  });

  r.post("/api/2.0/secrets/acls/put", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    const principal = requireStr(c.input, "principal");
    const permission = requireStr(c.input, "permission").toUpperCase() as AclPermission;
    requireLevel(c.principal, scope, "MANAGE");
    if (!LEVELS.includes(permission)) throw invalid(`Invalid permission ${permission}: use READ, WRITE or MANAGE.`);
    if (!principalExists(principal)) throw invalid(`Principal ${principal} does not exist.`);
    const acls = scope.acls.filter((a) => a.principal !== principal);
    acls.push({ principal, permission });
    scopes.set(scope.name, { ...scope, acls });
    return {};
  });

  r.get("/api/2.0/secrets/acls/get", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    const principal = requireStr(c.input, "principal");
    requireLevel(c.principal, scope, "MANAGE");
    const acl = scope.acls.find((a) => a.principal === principal);
    if (!acl) throw notFound(`No ACL for principal ${principal} on scope ${scope.name}`);
    return { principal: acl.principal, permission: acl.permission };
  });

  r.get("/api/2.0/secrets/acls/list", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    requireLevel(c.principal, scope, "MANAGE");
    return { items: scope.acls.map((a) => ({ principal: a.principal, permission: a.permission })) };
  });

  r.post("/api/2.0/secrets/acls/delete", (c) => {
    const scope = getScope(requireStr(c.input, "scope"));
    const principal = requireStr(c.input, "principal");
    requireLevel(c.principal, scope, "MANAGE");
    if (!scope.acls.some((a) => a.principal === principal)) {
      throw notFound(`No ACL for principal ${principal} on scope ${scope.name}`);
    }
    scopes.set(scope.name, { ...scope, acls: scope.acls.filter((a) => a.principal !== principal) });
    return {};
  });
}

/**
 * The strongest ACL (index into READ, WRITE, MANAGE; -1 for none) the principal holds on the scope:
 * directly, through a group, or as an admin. The group `users` contains every principal.
 */
function scopeLevel(p: Principal, scope: SecretScopeRecord): number {
  if (p.admin) return LEVELS.indexOf("MANAGE");
  let best = -1;
  for (const acl of scope.acls) {
    const matches =
      acl.principal.toLowerCase() === p.name.toLowerCase() || p.groups.includes(acl.principal) || acl.principal === USERS_GROUP;
    if (matches) best = Math.max(best, LEVELS.indexOf(acl.permission));
  }
  return best;
}

/** Whether a principal may read a scope's secrets (for services that resolve `{{secrets/scope/key}}`). */
export function canReadScope(ws: Workspace, principal: Principal, scopeName: string): boolean {
  const scope = ws.store.collection<SecretScopeRecord>("secret_scopes").get(scopeName);
  return scope !== undefined && scopeLevel(principal, scope) >= 0;
}

/**
 * The raw bytes of a secret, for services running inside the workspace (job runs resolving
 * `{{secrets/scope/key}}` references). Undefined when the scope or key does not exist.
 */
export function readSecret(ws: Workspace, scopeName: string, key: string): Buffer | undefined {
  const s = ws.store.collection<SecretRecord>("secrets").get(secretKey(scopeName, key));
  return s ? Buffer.from(s.value, "base64") : undefined;
}
