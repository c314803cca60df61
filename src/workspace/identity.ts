import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { ApiError } from "./http.js";
import type { Collection, Store } from "./store/store.js";

/** Who is calling: a workspace user or a service principal, resolved from the bearer token. */
export interface Principal {
  kind: "user" | "service_principal";
  id: string;
  /** userName for users, applicationId for service principals: the name ACLs refer to. */
  name: string;
  displayName: string;
  admin: boolean;
  /** Display names of the groups the principal belongs to (directly or through nested groups). */
  groups: string[];
}

export interface ScimMember {
  value: string;
  display?: string;
  $ref?: string;
}

export interface ScimUser {
  id: string;
  userName: string;
  displayName?: string;
  active: boolean;
  emails?: { value: string; type?: string; primary?: boolean }[];
  entitlements?: { value: string }[];
  roles?: { value: string }[];
  externalId?: string;
  name?: { givenName?: string; familyName?: string };
}

export interface ScimServicePrincipal {
  id: string;
  applicationId: string;
  displayName?: string;
  active: boolean;
  entitlements?: { value: string }[];
  roles?: { value: string }[];
  externalId?: string;
}

export interface ScimGroup {
  id: string;
  displayName: string;
  members: ScimMember[];
  entitlements?: { value: string }[];
  roles?: { value: string }[];
  externalId?: string;
}

export interface TokenRecord {
  token_id: string;
  principal_kind: Principal["kind"];
  principal_id: string;
  kind: "pat" | "oauth";
  comment?: string;
  creation_time: number;
  /** Milliseconds since the epoch; -1 for a token that never expires. */
  expiry_time: number;
  created_by_id?: string;
}

export interface SpSecretRecord {
  id: string;
  sp_id: string;
  secret_hash: string;
  secret_hash_prefix: string;
  create_time: string;
  update_time: string;
  status: "ACTIVE";
  expire_time?: string;
}

export const ADMIN_USER_NAME = "admin@lakeforge.local";
export const ADMINS_GROUP = "admins";
export const USERS_GROUP = "users";

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

/** The storage key of a token value: tokens are kept only as hashes. */
export const tokenKey = sha256;

/** Users, service principals, groups, tokens and service-principal OAuth secrets. */
export class Identity {
  readonly users: Collection<ScimUser>;
  readonly servicePrincipals: Collection<ScimServicePrincipal>;
  readonly groups: Collection<ScimGroup>;
  readonly tokens: Collection<TokenRecord>;
  readonly spSecrets: Collection<SpSecretRecord>;

  constructor(private readonly store: Store) {
    this.users = store.collection("scim_users");
    this.servicePrincipals = store.collection("scim_service_principals");
    this.groups = store.collection("scim_groups");
    this.tokens = store.collection("tokens");
    this.spSecrets = store.collection("sp_secrets");
  }

  newScimId(): string {
    return String(this.store.nextId("scim", 4_000_000_000_000_000));
  }

  /** Creates the built-in groups and the admin user when the workspace is new. */
  seed(): ScimUser {
    if (!this.groups.find((g) => g.displayName === ADMINS_GROUP)) {
      const id = this.newScimId();
      this.groups.set(id, { id, displayName: ADMINS_GROUP, members: [] });
    }
    if (!this.groups.find((g) => g.displayName === USERS_GROUP)) {
      const id = this.newScimId();
      this.groups.set(id, { id, displayName: USERS_GROUP, members: [] });
    }
    let admin = this.users.find((u) => u.userName === ADMIN_USER_NAME);
    if (!admin) {
      const id = this.newScimId();
      admin = this.users.set(id, {
        id,
        userName: ADMIN_USER_NAME,
        displayName: "Lakeforge Admin",
        active: true,
        emails: [{ value: ADMIN_USER_NAME, type: "work", primary: true }],
      });
      this.addMember(ADMINS_GROUP, id, admin.userName);
    }
    return admin;
  }

  groupByName(displayName: string): ScimGroup | undefined {
    return this.groups.find((g) => g.displayName === displayName);
  }

  userByName(userName: string): ScimUser | undefined {
    const lower = userName.toLowerCase();
    return this.users.find((u) => u.userName.toLowerCase() === lower);
  }

  servicePrincipalByAppId(applicationId: string): ScimServicePrincipal | undefined {
    return this.servicePrincipals.find((sp) => sp.applicationId === applicationId);
  }

  addMember(groupName: string, memberId: string, display?: string): void {
    const g = this.groupByName(groupName);
    if (!g) throw new Error(`group ${groupName} is missing`);
    if (g.members.some((m) => m.value === memberId)) return;
    this.groups.set(g.id, { ...g, members: [...g.members, { value: memberId, ...(display ? { display } : {}) }] });
  }

  /** Display names of every group containing `memberId`, following nested groups. */
  groupsOf(memberId: string): string[] {
    const out = new Set<string>();
    const queue = [memberId];
    while (queue.length > 0) {
      const id = queue.pop() as string;
      for (const g of this.groups.values()) {
        if (!out.has(g.displayName) && g.members.some((m) => m.value === id)) {
          out.add(g.displayName);
          queue.push(g.id);
        }
      }
    }
    return [...out];
  }

  principalFor(kind: Principal["kind"], id: string): Principal | undefined {
    if (kind === "user") {
      const u = this.users.get(id);
      if (!u?.active) return undefined;
      const groups = this.groupsOf(u.id);
      return {
        kind,
        id: u.id,
        name: u.userName,
        displayName: u.displayName ?? u.userName,
        admin: groups.includes(ADMINS_GROUP),
        groups,
      };
    }
    const sp = this.servicePrincipals.get(id);
    if (!sp?.active) return undefined;
    const groups = this.groupsOf(sp.id);
    return {
      kind,
      id: sp.id,
      name: sp.applicationId,
      displayName: sp.displayName ?? sp.applicationId,
      admin: groups.includes(ADMINS_GROUP),
      groups,
    };
  }

  /**
   * Issues a token for a principal. With `value` given (the admin token chosen at start-up) that
   * value is registered instead of a random one.
   */
  issueToken(
    principal: { kind: Principal["kind"]; id: string },
    options: {
      kind?: TokenRecord["kind"];
      comment?: string;
      lifetimeSeconds?: number;
      value?: string;
      createdById?: string;
    } = {},
  ): { value: string; record: TokenRecord } {
    const kind = options.kind ?? "pat";
    const value =
      options.value ??
      (kind === "pat" ? `dapi${randomBytes(16).toString("hex")}` : `lfo${randomBytes(32).toString("base64url")}`);
    const now = Date.now();
    const record: TokenRecord = {
      token_id: randomBytes(32).toString("hex"),
      principal_kind: principal.kind,
      principal_id: principal.id,
      kind,
      ...(options.comment !== undefined ? { comment: options.comment } : {}),
      creation_time: now,
      expiry_time: options.lifetimeSeconds && options.lifetimeSeconds > 0 ? now + options.lifetimeSeconds * 1000 : -1,
      ...(options.createdById ? { created_by_id: options.createdById } : {}),
    };
    this.tokens.set(sha256(value), record);
    return { value, record };
  }

  /** The token record for a token id, with its storage key. */
  tokenById(tokenId: string): { key: string; record: TokenRecord } | undefined {
    for (const [key, record] of this.tokens.entries()) if (record.token_id === tokenId) return { key, record };
    return undefined;
  }

  /** Resolves an `Authorization` header to a principal, or throws the error a real workspace answers. */
  authenticate(authorization: string | undefined): Principal {
    if (!authorization) {
      throw new ApiError(401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API.");
    }
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m) throw new ApiError(401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API.");
    const record = this.tokens.get(sha256(m[1] as string));
    if (!record || (record.expiry_time !== -1 && record.expiry_time < Date.now())) {
      throw new ApiError(401, "UNAUTHENTICATED", "Invalid access token.");
    }
    const principal = this.principalFor(record.principal_kind, record.principal_id);
    if (!principal) throw new ApiError(401, "UNAUTHENTICATED", "Invalid access token.");
    return principal;
  }

  /** Creates an OAuth secret for a service principal; the value is returned once and only its hash kept. */
  createSpSecret(spId: string, lifetimeSeconds?: number): { secret: string; record: SpSecretRecord } {
    const secret = `dose${randomBytes(32).toString("hex")}`;
    const now = new Date().toISOString();
    const record: SpSecretRecord = {
      id: randomBytes(8).toString("hex"),
      sp_id: spId,
      secret_hash: sha256(secret),
      secret_hash_prefix: secret.slice(0, 8),
      create_time: now,
      update_time: now,
      status: "ACTIVE",
      ...(lifetimeSeconds ? { expire_time: new Date(Date.now() + lifetimeSeconds * 1000).toISOString() } : {}),
    };
    this.spSecrets.set(record.id, record);
    return { secret, record };
  }

  /** Checks a client id + secret pair (OAuth M2M); returns the service principal's id. */
  verifyClientSecret(clientId: string, secret: string): string | undefined {
    const sp = this.servicePrincipalByAppId(clientId);
    if (!sp?.active) return undefined;
    const want = Buffer.from(sha256(secret), "hex");
    for (const s of this.spSecrets.values()) {
      if (s.sp_id !== sp.id) continue;
      if (s.expire_time && Date.parse(s.expire_time) < Date.now()) continue;
      if (timingSafeEqual(Buffer.from(s.secret_hash, "hex"), want)) return sp.id;
    }
    return undefined;
  }
}
