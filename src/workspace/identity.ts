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

/** The reading side of a store collection: identities are written only through `Identity`, which indexes them. */
export type ReadonlyCollection<T> = Pick<
  Collection<T>,
  "name" | "size" | "get" | "has" | "values" | "entries" | "keys" | "find" | "filter"
>;

/**
 * Ids by key. A key normally names one id; state written before a key was unique may hold several,
 * kept in the order they were indexed (the collection's order on a rebuild).
 */
class KeyIndex {
  private readonly map = new Map<string, Set<string>>();

  add(key: string, id: string): void {
    let ids = this.map.get(key);
    if (!ids) {
      ids = new Set();
      this.map.set(key, ids);
    }
    ids.add(id);
  }

  remove(key: string, id: string): void {
    const ids = this.map.get(key);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) this.map.delete(key);
  }

  ids(key: string): Iterable<string> {
    return this.map.get(key) ?? [];
  }

  clear(): void {
    this.map.clear();
  }
}

/** Numeric ids in numeric order (the order they were handed out), others after them in text order. */
const byId = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/**
 * Users, service principals, groups, tokens, service-principal OAuth secrets and federation policies.
 * Users, service principals and groups share one id space, as in Databricks.
 *
 * Lookups by name and group memberships go through in-memory indexes (user names lower-cased, service
 * principal application ids, group display names lower-cased, and member id -> ids of the groups
 * holding it directly), built from the store on start and kept current by every write below, so
 * resolving a caller's groups costs in proportion to the groups it belongs to, not to the workspace.
 */
export class Identity {
  readonly users: ReadonlyCollection<ScimUser>;
  readonly servicePrincipals: ReadonlyCollection<ScimServicePrincipal>;
  readonly groups: ReadonlyCollection<ScimGroup>;
  readonly tokens: Collection<TokenRecord>;
  readonly spSecrets: Collection<SpSecretRecord>;
  readonly federationPolicies: Collection<FederationPolicyRecord>;
  /** Small identity settings: the account id, one-time initialisations. */
  readonly meta: Collection<string>;

  private readonly userStore: Collection<ScimUser>;
  private readonly spStore: Collection<ScimServicePrincipal>;
  private readonly groupStore: Collection<ScimGroup>;
  private readonly userNames = new KeyIndex();
  private readonly applicationIds = new KeyIndex();
  private readonly groupNames = new KeyIndex();
  /** Member id -> ids of the groups that hold it directly. */
  private readonly parents = new Map<string, Set<string>>();
  /** Collection sizes the indexes were built for; a difference means the store was reset underneath. */
  private indexed = { users: -1, sps: -1, groups: -1 };
  private revision = 0;

  constructor(private readonly store: Store) {
    this.userStore = store.collection("scim_users");
    this.spStore = store.collection("scim_service_principals");
    this.groupStore = store.collection("scim_groups");
    this.users = this.userStore;
    this.servicePrincipals = this.spStore;
    this.groups = this.groupStore;
    this.tokens = store.collection("tokens");
    this.spSecrets = store.collection("sp_secrets");
    this.federationPolicies = store.collection("federation_policies");
    this.meta = store.collection("identity_meta");
    this.sync();
  }

  /**
   * A number that changes whenever a user or service principal is created, changed or deleted, for
   * callers that derive state from the list of identities (home folders).
   */
  get principalsRevision(): number {
    this.sync();
    return this.revision;
  }

  // ----- indexes --------------------------------------------------------------------------------

  /** Rebuilds the indexes when the collections no longer have the sizes they were built for. */
  private sync(): void {
    const { users, sps, groups } = this.indexed;
    if (users === this.userStore.size && sps === this.spStore.size && groups === this.groupStore.size) return;
    this.userNames.clear();
    this.applicationIds.clear();
    this.groupNames.clear();
    this.parents.clear();
    for (const u of this.userStore.values()) this.userNames.add(u.userName.toLowerCase(), u.id);
    for (const sp of this.spStore.values()) this.applicationIds.add(sp.applicationId, sp.id);
    for (const g of this.groupStore.values()) {
      this.groupNames.add(g.displayName.toLowerCase(), g.id);
      for (const m of g.members) this.link(m.value, g.id);
    }
    this.revision++;
    this.counted();
  }

  private counted(): void {
    this.indexed = { users: this.userStore.size, sps: this.spStore.size, groups: this.groupStore.size };
  }

  private link(memberId: string, groupId: string): void {
    let set = this.parents.get(memberId);
    if (!set) {
      set = new Set();
      this.parents.set(memberId, set);
    }
    set.add(groupId);
  }

  private unlink(memberId: string, groupId: string): void {
    const set = this.parents.get(memberId);
    if (!set) return;
    set.delete(groupId);
    if (set.size === 0) this.parents.delete(memberId);
  }

  /** Stores a user (new or replaced), keeping the name index current. */
  private writeUser(user: ScimUser): ScimUser {
    this.sync();
    const old = this.userStore.get(user.id);
    if (old) this.userNames.remove(old.userName.toLowerCase(), old.id);
    this.userStore.set(user.id, user);
    this.userNames.add(user.userName.toLowerCase(), user.id);
    this.revision++;
    this.counted();
    return user;
  }

  private writeServicePrincipal(sp: ScimServicePrincipal): ScimServicePrincipal {
    this.sync();
    const old = this.spStore.get(sp.id);
    if (old) this.applicationIds.remove(old.applicationId, old.id);
    this.spStore.set(sp.id, sp);
    this.applicationIds.add(sp.applicationId, sp.id);
    this.revision++;
    this.counted();
    return sp;
  }

  /**
   * Stores a group (new or replaced), keeping the name and membership indexes current. `change`
   * names the members added or removed when the caller knows them, sparing a comparison of the
   * whole member lists (the `users` group holds every identity).
   */
  private writeGroup(group: ScimGroup, change?: { added?: string; removed?: string }): ScimGroup {
    this.sync();
    const old = this.groupStore.get(group.id);
    if (old && old.displayName !== group.displayName) this.groupNames.remove(old.displayName.toLowerCase(), old.id);
    this.groupStore.set(group.id, group);
    this.groupNames.add(group.displayName.toLowerCase(), group.id);
    if (change) {
      if (change.removed !== undefined) this.unlink(change.removed, group.id);
      if (change.added !== undefined) this.link(change.added, group.id);
    } else {
      const now = new Set(group.members.map((m) => m.value));
      for (const m of old?.members ?? []) if (!now.has(m.value)) this.unlink(m.value, group.id);
      for (const value of now) this.link(value, group.id);
    }
    this.counted();
    return group;
  }

  private dropGroup(id: string): void {
    this.sync();
    const old = this.groupStore.get(id);
    if (!old) return;
    this.groupStore.delete(id);
    this.groupNames.remove(old.displayName.toLowerCase(), id);
    for (const m of old.members) this.unlink(m.value, id);
    this.counted();
  }

  private dropUser(id: string): void {
    this.sync();
    const old = this.userStore.get(id);
    if (!old) return;
    this.userStore.delete(id);
    this.userNames.remove(old.userName.toLowerCase(), id);
    this.revision++;
    this.counted();
  }

  private dropServicePrincipal(id: string): void {
    this.sync();
    const old = this.spStore.get(id);
    if (!old) return;
    this.spStore.delete(id);
    this.applicationIds.remove(old.applicationId, id);
    this.revision++;
    this.counted();
  }

  /** Whether group `groupId` holds `memberId` directly. */
  private holds(groupId: string, memberId: string): boolean {
    this.sync();
    return this.parents.get(memberId)?.has(groupId) ?? false;
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
    if (!this.groupByName(ADMINS_GROUP)) {
      const id = this.newScimId();
      this.writeGroup({ id, displayName: ADMINS_GROUP, members: [] });
    }
    if (!this.groupByName(USERS_GROUP)) {
      const id = this.newScimId();
      this.writeGroup({
        id,
        displayName: USERS_GROUP,
        members: [],
        entitlements: DEFAULT_USERS_ENTITLEMENTS.map((e) => ({ ...e })),
      });
    }
    let admin = this.userByName(ADMIN_USER_NAME);
    if (!admin) {
      const id = this.newScimId();
      admin = this.writeUser({
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

  /** The group with this display name (compared exactly). */
  groupByName(displayName: string): ScimGroup | undefined {
    return this.groupsNamedLike(displayName).find((g) => g.displayName === displayName);
  }

  /** Groups whose display name equals `displayName` ignoring case (what a SCIM `eq` filter matches). */
  groupsNamedLike(displayName: string): ScimGroup[] {
    this.sync();
    return [...this.groupNames.ids(displayName.toLowerCase())].flatMap((id) => this.groupStore.get(id) ?? []);
  }

  /** The user with this userName, compared ignoring case (user names are unique that way). */
  userByName(userName: string): ScimUser | undefined {
    this.sync();
    for (const id of this.userNames.ids(userName.toLowerCase())) {
      const u = this.userStore.get(id);
      if (u) return u;
    }
    return undefined;
  }

  servicePrincipalByAppId(applicationId: string): ScimServicePrincipal | undefined {
    this.sync();
    for (const id of this.applicationIds.ids(applicationId)) {
      const sp = this.spStore.get(id);
      if (sp) return sp;
    }
    return undefined;
  }

  addMember(groupName: string, memberId: string, display?: string): void {
    const g = this.groupByName(groupName);
    if (!g) throw new Error(`group ${groupName} is missing`);
    if (this.holds(g.id, memberId)) return;
    this.writeGroup({ ...g, members: [...g.members, { value: memberId, ...(display ? { display } : {}) }] }, { added: memberId });
  }

  /** Adds a member to a group given by id; a no-op when it is a member already. */
  addMemberById(groupId: string, memberId: string): void {
    const g = this.groups.get(groupId);
    if (!g) throw new Error(`group ${groupId} is missing`);
    if (this.holds(groupId, memberId)) return;
    this.writeGroup({ ...g, members: [...g.members, { value: memberId }] }, { added: memberId });
  }

  /** Removes a member from a group given by id; a no-op when it is not a member. */
  removeMemberById(groupId: string, memberId: string): void {
    const g = this.groups.get(groupId);
    if (!g || !this.holds(groupId, memberId)) return;
    this.writeGroup({ ...g, members: g.members.filter((m) => m.value !== memberId) }, { removed: memberId });
  }

  /** Replaces a user's record (same id); the caller has checked that its userName is free. */
  replaceUser(user: ScimUser): ScimUser {
    if (!this.users.has(user.id)) throw new Error(`user ${user.id} is missing`);
    return this.writeUser(user);
  }

  /** Replaces a service principal's record (same id and application id). */
  replaceServicePrincipal(sp: ScimServicePrincipal): ScimServicePrincipal {
    if (!this.servicePrincipals.has(sp.id)) throw new Error(`service principal ${sp.id} is missing`);
    return this.writeServicePrincipal(sp);
  }

  /** Replaces a group's record (same id), members included; the caller has checked name and cycles. */
  replaceGroup(group: ScimGroup): ScimGroup {
    if (!this.groups.has(group.id)) throw new Error(`group ${group.id} is missing`);
    return this.writeGroup(group);
  }

  /** Ids of the groups that contain `memberId` directly, in the order the groups were created. */
  directGroupIds(memberId: string): string[] {
    this.sync();
    const ids = this.parents.get(memberId);
    return ids ? [...ids].filter((id) => this.groupStore.has(id)).sort(byId) : [];
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

  /**
   * True when group `groupId` contains `memberId`, directly or through nested groups: walks up from
   * the member through the groups holding it, which are few, rather than down through the members.
   */
  groupContains(groupId: string, memberId: string): boolean {
    this.sync();
    const seen = new Set<string>();
    const queue = [...(this.parents.get(memberId) ?? [])];
    while (queue.length > 0) {
      const id = queue.pop() as string;
      if (seen.has(id) || !this.groupStore.has(id)) continue;
      if (id === groupId) return true;
      seen.add(id);
      for (const parent of this.parents.get(id) ?? []) queue.push(parent);
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
    const user = this.writeUser({ ...fields, id });
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
    const sp = this.writeServicePrincipal({ ...fields, applicationId, id });
    this.addMember(USERS_GROUP, id);
    return sp;
  }

  /** Creates a group; 409 when the display name is taken. */
  createGroup(fields: Omit<ScimGroup, "id">): ScimGroup {
    if (this.groupByName(fields.displayName)) throw alreadyExists(`Group with name ${fields.displayName} already exists.`);
    const id = this.newScimId();
    return this.writeGroup({ ...fields, id });
  }

  /** Deletes a user or service principal with its group memberships, tokens, secrets and federation policies. */
  deletePrincipal(kind: Principal["kind"], id: string): void {
    for (const groupId of this.directGroupIds(id)) this.removeMemberById(groupId, id);
    for (const [key, t] of [...this.tokens.entries()]) {
      if (t.principal_kind === kind && t.principal_id === id) this.tokens.delete(key);
    }
    if (kind === "user") {
      this.dropUser(id);
      return;
    }
    for (const s of this.spSecrets.filter((x) => x.sp_id === id)) this.spSecrets.delete(s.id);
    for (const [key, p] of [...this.federationPolicies.entries()]) {
      if (p.service_principal_id === id) this.federationPolicies.delete(key);
    }
    this.dropServicePrincipal(id);
  }

  /** Deletes a group and removes it from the groups it was nested in. */
  deleteGroup(id: string): void {
    for (const groupId of this.directGroupIds(id)) this.removeMemberById(groupId, id);
    this.dropGroup(id);
  }

  /** Forgets expired tokens (OAuth access tokens accumulate otherwise). */
  pruneExpiredTokens(now = Date.now()): void {
    for (const [key, t] of [...this.tokens.entries()]) {
      if (t.expiry_time !== -1 && t.expiry_time < now) this.tokens.delete(key);
    }
  }

  /**
   * Display names of every group containing `memberId`, following nested groups; walks the
   * membership index, so it costs in proportion to those groups (this runs on every request).
   */
  groupsOf(memberId: string): string[] {
    this.sync();
    const names = new Set<string>();
    const seen = new Set<string>();
    const queue = [...(this.parents.get(memberId) ?? [])];
    while (queue.length > 0) {
      const id = queue.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const g = this.groupStore.get(id);
      if (!g) continue;
      names.add(g.displayName);
      for (const parent of this.parents.get(id) ?? []) queue.push(parent);
    }
    return [...names];
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
