import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { ApiError, alreadyExists } from "./http.js";
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

/** The claims a federated (workload identity) token must carry, as in the Databricks federation policy API. */
export interface OidcFederationPolicy {
  issuer?: string;
  audiences?: string[];
  subject?: string;
  subject_claim?: string;
  jwks_json?: string;
  jwks_uri?: string;
}

/**
 * A token federation policy: per service principal (workload identity federation) when
 * `service_principal_id` is set, account-wide otherwise.
 */
export interface FederationPolicyRecord {
  policy_id: string;
  uid: string;
  service_principal_id?: string;
  description?: string;
  oidc_policy: OidcFederationPolicy;
  create_time: string;
  update_time: string;
}

/** A group a principal belongs to, directly or through a nested group. */
export interface GroupMembership {
  id: string;
  displayName: string;
  direct: boolean;
}

export const ADMIN_USER_NAME = "admin@lakeforge.local";
export const ADMINS_GROUP = "admins";
export const USERS_GROUP = "users";

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

/** The storage key of a token value: tokens are kept only as hashes. */
export const tokenKey = sha256;

/** Entitlements the built-in `users` group grants every workspace identity. */
const DEFAULT_USERS_ENTITLEMENTS = [{ value: "workspace-access" }, { value: "databricks-sql-access" }];

/**
 * Users, service principals, groups, tokens, service-principal OAuth secrets and federation policies.
 * Users, service principals and groups share one id space, as in Databricks.
 */
export class Identity {
  readonly users: Collection<ScimUser>;
  readonly servicePrincipals: Collection<ScimServicePrincipal>;
  readonly groups: Collection<ScimGroup>;
  readonly tokens: Collection<TokenRecord>;
  readonly spSecrets: Collection<SpSecretRecord>;
  readonly federationPolicies: Collection<FederationPolicyRecord>;
  /** Small identity settings: the account id, one-time initialisations. */
  readonly meta: Collection<string>;

  constructor(private readonly store: Store) {
    this.users = store.collection("scim_users");
    this.servicePrincipals = store.collection("scim_service_principals");
    this.groups = store.collection("scim_groups");
    this.tokens = store.collection("tokens");
    this.spSecrets = store.collection("sp_secrets");
    this.federationPolicies = store.collection("federation_policies");
    this.meta = store.collection("identity_meta");
  }

  /** The id of the (simulated) Databricks account the workspace belongs to: a UUID kept with the state. */
  get accountId(): string {
    let id = this.meta.get("account_id");
    if (!id) id = this.meta.set("account_id", randomUUID());
    return id;
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
      this.groups.set(id, {
        id,
        displayName: USERS_GROUP,
        members: [],
        entitlements: DEFAULT_USERS_ENTITLEMENTS.map((e) => ({ ...e })),
      });
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
    // Every user and service principal is a member of `users` (also in state written by older versions).
    for (const u of this.users.values()) this.addMember(USERS_GROUP, u.id);
    for (const sp of this.servicePrincipals.values()) this.addMember(USERS_GROUP, sp.id);
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

  /** Adds a member to a group given by id; a no-op when it is a member already. */
  addMemberById(groupId: string, memberId: string): void {
    const g = this.groups.get(groupId);
    if (!g) throw new Error(`group ${groupId} is missing`);
    if (g.members.some((m) => m.value === memberId)) return;
    this.groups.set(g.id, { ...g, members: [...g.members, { value: memberId }] });
  }

  /** Removes a member from a group given by id; a no-op when it is not a member. */
  removeMemberById(groupId: string, memberId: string): void {
    const g = this.groups.get(groupId);
    if (!g?.members.some((m) => m.value === memberId)) return;
    this.groups.set(g.id, { ...g, members: g.members.filter((m) => m.value !== memberId) });
  }

  /** Ids of the groups that contain `memberId` directly. */
  directGroupIds(memberId: string): string[] {
    return this.groups.filter((g) => g.members.some((m) => m.value === memberId)).map((g) => g.id);
  }

  /** Every group containing `memberId`, directly or through nested groups. */
  membershipsOf(memberId: string): GroupMembership[] {
    const out = new Map<string, GroupMembership>();
    const direct = new Set(this.directGroupIds(memberId));
    const queue = [...direct];
    while (queue.length > 0) {
      const id = queue.pop() as string;
      if (out.has(id)) continue;
      const g = this.groups.get(id);
      if (!g) continue;
      out.set(id, { id, displayName: g.displayName, direct: direct.has(id) });
      queue.push(...this.directGroupIds(id));
    }
    return [...out.values()];
  }

  /** True when group `groupId` contains `memberId`, directly or through nested groups. */
  groupContains(groupId: string, memberId: string): boolean {
    const seen = new Set<string>();
    const queue = [groupId];
    while (queue.length > 0) {
      const id = queue.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const g = this.groups.get(id);
      if (!g) continue;
      for (const m of g.members) {
        if (m.value === memberId) return true;
        if (this.groups.has(m.value)) queue.push(m.value);
      }
    }
    return false;
  }

  /** What an id in the shared SCIM id space names. */
  kindOf(id: string): "user" | "service_principal" | "group" | undefined {
    if (this.users.has(id)) return "user";
    if (this.servicePrincipals.has(id)) return "service_principal";
    if (this.groups.has(id)) return "group";
    return undefined;
  }

  /** Creates a user and makes it a member of `users`; 409 when the userName is taken (case-insensitively). */
  createUser(fields: Omit<ScimUser, "id">): ScimUser {
    if (this.userByName(fields.userName)) throw alreadyExists(`User with username ${fields.userName} already exists.`);
    const id = this.newScimId();
    const user = this.users.set(id, { ...fields, id });
    this.addMember(USERS_GROUP, id);
    return user;
  }

  /**
   * Creates a service principal (with a random UUID application id unless one is given) and makes it a
   * member of `users`; 409 when the application id is taken.
   */
  createServicePrincipal(
    fields: Omit<ScimServicePrincipal, "id" | "applicationId"> & { applicationId?: string },
  ): ScimServicePrincipal {
    const applicationId = fields.applicationId ?? randomUUID();
    if (this.servicePrincipalByAppId(applicationId)) {
      throw alreadyExists(`Service principal with application ID ${applicationId} already exists.`);
    }
    const id = this.newScimId();
    const sp = this.servicePrincipals.set(id, { ...fields, applicationId, id });
    this.addMember(USERS_GROUP, id);
    return sp;
  }

  /** Creates a group; 409 when the display name is taken. */
  createGroup(fields: Omit<ScimGroup, "id">): ScimGroup {
    if (this.groupByName(fields.displayName)) throw alreadyExists(`Group with name ${fields.displayName} already exists.`);
    const id = this.newScimId();
    return this.groups.set(id, { ...fields, id });
  }

  /** Deletes a user or service principal with its group memberships, tokens, secrets and federation policies. */
  deletePrincipal(kind: Principal["kind"], id: string): void {
    for (const groupId of this.directGroupIds(id)) this.removeMemberById(groupId, id);
    for (const [key, t] of [...this.tokens.entries()]) {
      if (t.principal_kind === kind && t.principal_id === id) this.tokens.delete(key);
    }
    if (kind === "user") {
      this.users.delete(id);
      return;
    }
    for (const s of this.spSecrets.filter((x) => x.sp_id === id)) this.spSecrets.delete(s.id);
    for (const [key, p] of [...this.federationPolicies.entries()]) {
      if (p.service_principal_id === id) this.federationPolicies.delete(key);
    }
    this.servicePrincipals.delete(id);
  }

  /** Deletes a group and removes it from the groups it was nested in. */
  deleteGroup(id: string): void {
    for (const groupId of this.directGroupIds(id)) this.removeMemberById(groupId, id);
    this.groups.delete(id);
  }

  /** Forgets expired tokens (OAuth access tokens accumulate otherwise). */
  pruneExpiredTokens(now = Date.now()): void {
    for (const [key, t] of [...this.tokens.entries()]) {
      if (t.expiry_time !== -1 && t.expiry_time < now) this.tokens.delete(key);
    }
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
