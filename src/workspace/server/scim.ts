import {
  type ApiError,
  alreadyExists,
  denied,
  invalid,
  type JsonObject,
  notFound,
  RawResponse,
  type RequestContext,
  type Router,
  str,
} from "../http.js";
import {
  ADMINS_GROUP,
  type Identity,
  type Principal,
  type ReadonlyCollection,
  type ScimGroup,
  type ScimServicePrincipal,
  type ScimUser,
  USERS_GROUP,
} from "../identity.js";
import type { Workspace } from "../workspace.js";

/**
 * The workspace SCIM 2.0 API under `/api/2.0/preview/scim/v2/`: `Me`, `Users`, `Groups` and
 * `ServicePrincipals` with create, get, list (filter, attribute selection, sorting, paging), replace
 * (PUT), patch (PatchOp) and delete.
 *
 * As in Databricks: every new user and service principal joins the built-in `users` group, whose
 * membership the workspace manages; a principal's `groups` attribute is computed from group
 * memberships (`direct`, or `indirect` through nested groups); writes are for workspace admins;
 * non-admins listing or reading other identities see only their names and ids.
 */

const BASE = "/api/2.0/preview/scim/v2";

export const SCHEMAS = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  userWorkspace: "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  servicePrincipal: "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal",
  list: "urn:ietf:params:scim:api:messages:2.0:ListResponse",
  patch: "urn:ietf:params:scim:api:messages:2.0:PatchOp",
} as const;

type ResourceType = "Users" | "Groups" | "ServicePrincipals";

/** Attribute names per resource type as the schema spells them; requests may use any capitalisation. */
const ATTRIBUTES: Record<ResourceType, string[]> = {
  Users: ["id", "userName", "displayName", "active", "emails", "name", "entitlements", "roles", "externalId", "groups"],
  ServicePrincipals: ["id", "applicationId", "displayName", "active", "entitlements", "roles", "externalId", "groups"],
  Groups: ["id", "displayName", "members", "entitlements", "roles", "externalId", "groups", "meta"],
};
const MULTI_VALUED = new Set(["emails", "entitlements", "roles", "groups", "members"]);
/** Attributes whose values compare case-sensitively (RFC 7644 `caseExact`); everything else does not. */
const CASE_EXACT = new Set(["id", "externalid", "value", "$ref", "applicationid"]);

export function register(r: Router, ws: Workspace): void {
  const id = ws.identity;

  const requireAdmin = (c: RequestContext, action: string) => {
    if (!c.principal.admin) throw denied(`Only workspace admins can ${action}.`);
  };

  /** A rendered resource as the caller may see it: whole for admins and for the caller's own record. */
  const shown = <T>(c: RequestContext, kind: ResourceKind<T>, doc: JsonObject) =>
    c.principal.admin || doc.id === c.principal.id ? doc : kind.limited(doc);

  const list = <T>(c: RequestContext, kind: ResourceKind<T>, found: T[]) => {
    const docs = found.map((rec) => kind.render(id, rec));
    return listResponse(docs, c.input, (doc) => shown(c, kind, doc));
  };

  /**
   * GET, PUT, PATCH and DELETE of `/{type}/{id}`. PUT and PATCH both save a whole new document: PUT's
   * body, or the current resource with PATCH's operations applied.
   */
  const itemRoutes = <T extends { id: string }>(kind: ResourceKind<T>) => {
    const path = `${BASE}/${kind.type}/:id`;
    const replace = (c: RequestContext, doc: (existing: T) => JsonObject) => {
      requireAdmin(c, `update ${kind.noun}`);
      const existing = kind.get(id, c.params.id as string);
      kind.save(id, existing, doc(existing));
      return kind.render(id, kind.get(id, existing.id));
    };
    r.get(path, (c) => project(shown(c, kind, kind.render(id, kind.get(id, c.params.id as string))), c.input));
    r.put(path, (c) => replace(c, () => canonicalDoc(c.input, kind.type)));
    r.patch(path, (c) => replace(c, (existing) => applyPatch(kind.render(id, existing), c.input, kind.type)));
    r.delete(path, (c) => {
      requireAdmin(c, `delete ${kind.noun}`);
      kind.remove(id, kind.get(id, c.params.id as string));
      return new RawResponse(204, undefined);
    });
  };

  // ----- Me -------------------------------------------------------------------------------------
  r.get(`${BASE}/Me`, (c) => project(renderMe(id, c.principal), c.input));

  // ----- Users ----------------------------------------------------------------------------------
  r.get(`${BASE}/Users`, (c) => {
    const found = candidates(c.input, "userName", id.users.values(), (v) => optional(id.userByName(v)));
    return list(c, USERS, found);
  });
  r.post(`${BASE}/Users`, (c) => {
    requireAdmin(c, "create users");
    const doc = canonicalDoc(c.input, "Users");
    const fields = userFields(doc);
    const parents = checkParentGroups(id, undefined, parentRefs(doc.groups), "user");
    const user = id.createUser(fields);
    applyParentGroups(id, user.id, parents);
    return created(renderUser(id, user));
  });
  itemRoutes(USERS);

  // ----- Service principals ---------------------------------------------------------------------
  r.get(`${BASE}/ServicePrincipals`, (c) => {
    const byAppId = (v: string) => optional(id.servicePrincipalByAppId(v));
    return list(c, SERVICE_PRINCIPALS, candidates(c.input, "applicationId", id.servicePrincipals.values(), byAppId));
  });
  r.post(`${BASE}/ServicePrincipals`, (c) => {
    requireAdmin(c, "create service principals");
    const doc = canonicalDoc(c.input, "ServicePrincipals");
    const appId = doc.applicationId;
    if (appId !== undefined && (typeof appId !== "string" || appId === "")) {
      throw invalid("applicationId must be a non-empty string");
    }
    const fields = servicePrincipalFields(doc);
    const parents = checkParentGroups(id, undefined, parentRefs(doc.groups), "service_principal");
    const sp = id.createServicePrincipal({ ...fields, ...(appId ? { applicationId: appId } : {}) });
    applyParentGroups(id, sp.id, parents);
    return created(renderServicePrincipal(id, sp));
  });
  itemRoutes(SERVICE_PRINCIPALS);

  // ----- Groups ---------------------------------------------------------------------------------
  r.get(`${BASE}/Groups`, (c) => {
    const found = candidates(c.input, "displayName", id.groups.values(), (v) => id.groupsNamedLike(v));
    return list(c, GROUPS, found);
  });
  r.post(`${BASE}/Groups`, (c) => {
    requireAdmin(c, "create groups");
    const doc = canonicalDoc(c.input, "Groups");
    const displayName = requireName(doc.displayName, "displayName");
    const members = [...new Set(refValues(doc.members))];
    for (const m of members) requireMember(id, m);
    const fields = sharedFields(doc);
    const parents = checkParentGroups(id, undefined, parentRefs(doc.groups), "group", wouldContain(id, members));
    const group = id.createGroup({ ...fields, displayName, members: members.map((value) => ({ value })) });
    applyParentGroups(id, group.id, parents);
    return created(renderGroup(id, group));
  });
  itemRoutes(GROUPS);
}

// ---------------------------------------------------------------------------------------------
// Lookups

function recordById<T>(items: ReadonlyCollection<T>, what: string, key: string): T {
  const rec = items.get(key);
  if (!rec) throw notFound(`${what} with id ${key} not found.`);
  return rec;
}

const getUser = (id: Identity, userId: string) => recordById(id.users, "User", userId);
const getServicePrincipal = (id: Identity, spId: string) => recordById(id.servicePrincipals, "Service principal", spId);
const getGroup = (id: Identity, groupId: string) => recordById(id.groups, "Group", groupId);

const isBuiltIn = (g: ScimGroup) => g.displayName === ADMINS_GROUP || g.displayName === USERS_GROUP;

function requireMember(id: Identity, memberId: string): void {
  if (!id.kindOf(memberId)) throw invalid(`Member ${memberId} is not a user, service principal or group in this workspace.`);
}

// ---------------------------------------------------------------------------------------------
// Rendering

const refPath = { user: "Users", service_principal: "ServicePrincipals", group: "Groups" } as const;

function groupsAttribute(id: Identity, memberId: string): JsonObject[] {
  return id.membershipsOf(memberId).map((m) => ({
    display: m.displayName,
    type: m.direct ? "direct" : "indirect",
    value: m.id,
    $ref: `Groups/${m.id}`,
  }));
}

function compact(doc: JsonObject): JsonObject {
  for (const [k, v] of Object.entries(doc)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) delete doc[k];
  }
  return doc;
}

export function renderUser(id: Identity, u: ScimUser): JsonObject {
  return compact({
    schemas: [SCHEMAS.user, SCHEMAS.userWorkspace],
    id: u.id,
    userName: u.userName,
    displayName: u.displayName,
    active: u.active,
    emails: u.emails,
    name: u.name,
    externalId: u.externalId,
    entitlements: u.entitlements,
    roles: u.roles,
    groups: groupsAttribute(id, u.id),
  });
}

export function renderServicePrincipal(id: Identity, sp: ScimServicePrincipal): JsonObject {
  return compact({
    schemas: [SCHEMAS.servicePrincipal],
    id: sp.id,
    applicationId: sp.applicationId,
    displayName: sp.displayName,
    active: sp.active,
    externalId: sp.externalId,
    entitlements: sp.entitlements,
    roles: sp.roles,
    groups: groupsAttribute(id, sp.id),
  });
}

export function renderGroup(id: Identity, g: ScimGroup): JsonObject {
  const members = g.members.flatMap((m) => {
    const kind = id.kindOf(m.value);
    if (!kind) return [];
    const display =
      kind === "user"
        ? (id.users.get(m.value)?.displayName ?? id.users.get(m.value)?.userName)
        : kind === "service_principal"
          ? (id.servicePrincipals.get(m.value)?.displayName ?? id.servicePrincipals.get(m.value)?.applicationId)
          : id.groups.get(m.value)?.displayName;
    return [{ display, value: m.value, $ref: `${refPath[kind]}/${m.value}` }];
  });
  return compact({
    schemas: [SCHEMAS.group],
    id: g.id,
    displayName: g.displayName,
    members,
    externalId: g.externalId,
    entitlements: g.entitlements,
    roles: g.roles,
    groups: groupsAttribute(id, g.id).filter((x) => x.type === "direct"),
    meta: { resourceType: "WorkspaceGroup" },
  });
}

/** `Me`: a user, or a service principal presented as a user whose userName is its application id. */
function renderMe(id: Identity, p: Principal): JsonObject {
  if (p.kind === "user") return renderUser(id, getUser(id, p.id));
  const sp = renderServicePrincipal(id, getServicePrincipal(id, p.id));
  const { applicationId, ...rest } = sp;
  return { ...rest, schemas: [SCHEMAS.user], userName: applicationId };
}

const pick = (doc: JsonObject, keys: string[]): JsonObject =>
  Object.fromEntries(Object.entries(doc).filter(([k]) => keys.includes(k)));
const limitedUser = (doc: JsonObject) => pick(doc, ["schemas", "id", "userName", "displayName"]);
const limitedServicePrincipal = (doc: JsonObject) => pick(doc, ["schemas", "id", "applicationId", "displayName", "active"]);
const limitedGroup = (doc: JsonObject) => pick(doc, ["schemas", "id", "displayName", "meta"]);

function created(doc: JsonObject): RawResponse {
  return new RawResponse(201, JSON.stringify(doc), { "content-type": "application/json" });
}

// ---------------------------------------------------------------------------------------------
// Request documents → stored records

/** The request body with attribute names made canonical (SCIM attribute names are case-insensitive). */
function canonicalDoc(input: JsonObject, type: ResourceType): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(input)) out[canonicalName(k, type)] = v;
  return out;
}

function requireName(v: unknown, field: string): string {
  if (typeof v !== "string" || v.trim() === "") throw invalid(`${field} is required and must be a non-empty string`);
  return v;
}

function optString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalid(`${field} must be a string`);
  return v;
}

/** `active` as a boolean; identity providers send "True"/"False" strings too. Absent means active. */
function activeFlag(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  throw invalid("active must be a boolean");
}

function complexValues<T extends object>(v: unknown, field: string): T[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  for (const item of list) {
    if (!item || typeof item !== "object" || Array.isArray(item)) throw invalid(`${field} must be a list of objects`);
  }
  const clean = list.map((item) => {
    const o: JsonObject = {};
    for (const [k, val] of Object.entries(item as JsonObject)) if (val !== undefined && val !== null) o[k] = val;
    return o as T;
  });
  return clean.length > 0 ? clean : undefined;
}

/** `value`s of a list of references (`members`, `groups`). */
function refValues(v: unknown): string[] {
  const list = complexValues<{ value?: unknown }>(v, "references") ?? [];
  return list.map((item) => {
    if (typeof item.value !== "string" && typeof item.value !== "number") {
      throw invalid("Each reference needs a value (the id of a user, service principal or group)");
    }
    return String(item.value);
  });
}

/** Only entitlement and role `value`s are kept, as Databricks does. */
function valueList(v: unknown, field: string): { value: string }[] | undefined {
  const list = complexValues<{ value?: unknown }>(v, field);
  if (!list) return undefined;
  const values = list.map((item) => {
    if (typeof item.value !== "string") throw invalid(`Each entry of ${field} needs a string value`);
    return item.value;
  });
  return [...new Set(values)].map((value) => ({ value }));
}

function userFields(doc: JsonObject): Omit<ScimUser, "id"> {
  const userName = requireName(doc.userName, "userName");
  const emails =
    complexValues<NonNullable<ScimUser["emails"]>[number]>(doc.emails, "emails") ??
    (userName.includes("@") ? [{ value: userName, type: "work", primary: true }] : undefined);
  const name = doc.name;
  if (name !== undefined && name !== null && (typeof name !== "object" || Array.isArray(name))) {
    throw invalid("name must be an object");
  }
  const fields: Omit<ScimUser, "id"> = { userName, active: activeFlag(doc.active) };
  const displayName = optString(doc.displayName, "displayName");
  if (displayName !== undefined) fields.displayName = displayName;
  if (emails) fields.emails = emails;
  if (name && Object.keys(name).length > 0) fields.name = name as ScimUser["name"];
  return { ...fields, ...sharedFields(doc) };
}

function servicePrincipalFields(doc: JsonObject): Omit<ScimServicePrincipal, "id" | "applicationId"> {
  const fields: Omit<ScimServicePrincipal, "id" | "applicationId"> = { active: activeFlag(doc.active) };
  const displayName = optString(doc.displayName, "displayName");
  if (displayName !== undefined) fields.displayName = displayName;
  return { ...fields, ...sharedFields(doc) };
}

/** The optional attributes users, service principals and groups all have. */
function sharedFields(doc: JsonObject): Pick<ScimGroup, "externalId" | "entitlements" | "roles"> {
  const fields: Pick<ScimGroup, "externalId" | "entitlements" | "roles"> = {};
  const externalId = optString(doc.externalId, "externalId");
  if (externalId !== undefined) fields.externalId = externalId;
  const entitlements = valueList(doc.entitlements, "entitlements");
  if (entitlements) fields.entitlements = entitlements;
  const roles = valueList(doc.roles, "roles");
  if (roles) fields.roles = roles;
  return fields;
}

/**
 * The direct parent groups a request asks for (`groups` of a user, service principal or group).
 * Entries a client read back as `indirect` memberships are not direct ones and are skipped.
 */
function parentRefs(v: unknown): string[] {
  const list = complexValues<{ value?: unknown; type?: unknown }>(v, "groups") ?? [];
  return refValues(list.filter((g) => String(g.type ?? "").toLowerCase() !== "indirect"));
}

/**
 * Checks that `memberId` may become a direct member of exactly the groups in `wanted` and returns that
 * set. Membership of `users` is kept for users and service principals whatever the request says: the
 * workspace manages it. For a group, `contains(g)` tells whether it (with its new members) would
 * contain group `g`, which would make a cycle.
 */
function checkParentGroups(
  id: Identity,
  memberId: string | undefined,
  wanted: string[],
  kind: Principal["kind"] | "group",
  contains: (groupId: string) => boolean = () => false,
): Set<string> {
  const usersGroup = id.groupByName(USERS_GROUP);
  const want = new Set(wanted);
  if (kind !== "group" && usersGroup) want.add(usersGroup.id);
  const current = memberId ? id.directGroupIds(memberId) : [];
  for (const groupId of want) {
    if (!id.groups.has(groupId)) throw invalid(`Group with id ${groupId} not found.`);
    if (kind === "group" && (groupId === memberId || contains(groupId))) {
      throw invalid(`Adding the group to group ${groupId} would create a cycle of nested groups.`);
    }
    if (kind === "group" && groupId === usersGroup?.id && !current.includes(groupId)) {
      throw invalid(`Members of the built-in group ${USERS_GROUP} are managed by the workspace.`);
    }
  }
  return want;
}

function applyParentGroups(id: Identity, memberId: string, want: Set<string>): void {
  const current = id.directGroupIds(memberId);
  for (const groupId of current) if (!want.has(groupId)) id.removeMemberById(groupId, memberId);
  for (const groupId of want) if (!current.includes(groupId)) id.addMemberById(groupId, memberId);
}

/** Whether a group whose direct members are `members` would contain group `groupId`. */
const wouldContain = (id: Identity, members: string[]) => (groupId: string) =>
  members.some((m) => m === groupId || id.groupContains(m, groupId));

function saveUser(id: Identity, existing: ScimUser, doc: JsonObject): void {
  const fields = userFields(doc);
  const other = id.userByName(fields.userName);
  if (other && other.id !== existing.id) throw alreadyExists(`User with username ${fields.userName} already exists.`);
  const parents = checkParentGroups(id, existing.id, parentRefs(doc.groups), "user");
  id.replaceUser({ ...fields, id: existing.id });
  applyParentGroups(id, existing.id, parents);
}

function saveServicePrincipal(id: Identity, existing: ScimServicePrincipal, doc: JsonObject): void {
  const fields = servicePrincipalFields(doc);
  const appId = doc.applicationId === undefined || doc.applicationId === null ? existing.applicationId : doc.applicationId;
  if (typeof appId !== "string" || appId === "") throw invalid("applicationId must be a non-empty string");
  if (appId !== existing.applicationId) {
    throw invalid(`applicationId cannot be changed (service principal ${existing.id} has ${existing.applicationId}).`);
  }
  const parents = checkParentGroups(id, existing.id, parentRefs(doc.groups), "service_principal");
  id.replaceServicePrincipal({ ...fields, id: existing.id, applicationId: appId });
  applyParentGroups(id, existing.id, parents);
}

function saveGroup(id: Identity, existing: ScimGroup, doc: JsonObject): void {
  const displayName = requireName(doc.displayName, "displayName");
  if (isBuiltIn(existing) && displayName !== existing.displayName) {
    throw invalid(`Group ${existing.displayName} is a built-in group and cannot be renamed.`);
  }
  const other = id.groupByName(displayName);
  if (other && other.id !== existing.id) throw alreadyExists(`Group with name ${displayName} already exists.`);
  const members = [...new Set(refValues(doc.members))];
  for (const m of members) {
    requireMember(id, m);
    if (m === existing.id || id.groupContains(m, existing.id)) {
      throw invalid(`Adding group ${m} to group ${existing.id} would create a cycle of nested groups.`);
    }
  }
  if (existing.displayName === USERS_GROUP) {
    const before = new Set(existing.members.map((m) => m.value));
    if (members.length !== before.size || members.some((m) => !before.has(m))) {
      throw invalid(`Members of the built-in group ${USERS_GROUP} are managed by the workspace.`);
    }
  }
  const parents = checkParentGroups(id, existing.id, parentRefs(doc.groups), "group", wouldContain(id, members));
  id.replaceGroup({ ...sharedFields(doc), id: existing.id, displayName, members: members.map((value) => ({ value })) });
  applyParentGroups(id, existing.id, parents);
}

// ---------------------------------------------------------------------------------------------
// Resource types, for the routes they share

interface ResourceKind<T> {
  type: ResourceType;
  /** The plural in permission errors: "Only workspace admins can delete users." */
  noun: string;
  get(id: Identity, key: string): T;
  render(id: Identity, rec: T): JsonObject;
  /** What non-admins see of identities other than themselves. */
  limited(doc: JsonObject): JsonObject;
  save(id: Identity, existing: T, doc: JsonObject): void;
  remove(id: Identity, rec: T): void;
}

const USERS: ResourceKind<ScimUser> = {
  type: "Users",
  noun: "users",
  get: getUser,
  render: renderUser,
  limited: limitedUser,
  save: saveUser,
  remove: (id, user) => id.deletePrincipal("user", user.id),
};

const SERVICE_PRINCIPALS: ResourceKind<ScimServicePrincipal> = {
  type: "ServicePrincipals",
  noun: "service principals",
  get: getServicePrincipal,
  render: renderServicePrincipal,
  limited: limitedServicePrincipal,
  save: saveServicePrincipal,
  remove: (id, sp) => id.deletePrincipal("service_principal", sp.id),
};

// A caller is never a group (groups share the id space of users and service principals), so
// non-admins always see groups limited.
const GROUPS: ResourceKind<ScimGroup> = {
  type: "Groups",
  noun: "groups",
  get: getGroup,
  render: renderGroup,
  limited: limitedGroup,
  save: saveGroup,
  remove: (id, group) => {
    if (isBuiltIn(group)) throw invalid(`Group ${group.displayName} is a built-in group and cannot be deleted.`);
    id.deleteGroup(group.id);
  },
};

// ---------------------------------------------------------------------------------------------
// Listing: filter, sort, page, project

/**
 * The records a list request has to render: with a filter `<key> eq "<value>"` on an attribute the
 * identity indexes (clients look identities up by name this way), only those the index names, whose
 * comparison matches the filter's; every record otherwise. The filter still decides either way.
 */
function candidates<T>(input: JsonObject, key: string, all: Iterable<T>, lookup: (value: string) => T[]): T[] {
  const text = str(input, "filter");
  if (text !== undefined && text.trim() !== "") {
    const f = parseFilter(text);
    const attr = f.op === "cmp" && f.path.length === 1 ? f.path[0]?.toLowerCase() : undefined;
    if (f.op === "cmp" && f.cmp === "eq" && typeof f.value === "string" && attr === key.toLowerCase()) return lookup(f.value);
  }
  return [...all];
}

const optional = <T>(value: T | undefined): T[] => (value === undefined ? [] : [value]);

function listResponse(all: JsonObject[], input: JsonObject, visible: (doc: JsonObject) => JsonObject): JsonObject {
  const filterText = str(input, "filter");
  let items = all;
  if (filterText && filterText.trim() !== "") {
    const f = parseFilter(filterText);
    items = items.filter((doc) => evaluate(f, doc));
  }
  const sortBy = str(input, "sortBy");
  const descending = (str(input, "sortOrder") ?? "ascending").toLowerCase() === "descending";
  if (sortBy) {
    const path = splitPath(sortBy);
    items = [...items].sort((a, b) => compareForSort(firstValue(a, path), firstValue(b, path), path));
  } else {
    items = [...items].sort((a, b) => compareIds(String(a.id), String(b.id)));
  }
  if (descending) items.reverse();
  const total = items.length;
  const startIndex = Math.max(1, intParam(input, "startIndex") ?? 1);
  const count = intParam(input, "count");
  const slice = items.slice(startIndex - 1, count === undefined ? undefined : startIndex - 1 + Math.max(0, count));
  const resources = slice.map((doc) => project(visible(doc), input));
  return {
    schemas: [SCHEMAS.list],
    totalResults: total,
    startIndex,
    itemsPerPage: resources.length,
    ...(resources.length > 0 ? { Resources: resources } : {}),
  };
}

function intParam(input: JsonObject, key: string): number | undefined {
  const v = input[key];
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n)) throw invalid(`${key} must be an integer`);
  return n;
}

function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b) && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareForSort(a: unknown, b: unknown, path: string[]): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  const exact = CASE_EXACT.has((path[path.length - 1] ?? "").toLowerCase());
  const x = exact ? String(a) : String(a).toLowerCase();
  const y = exact ? String(b) : String(b).toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `attributes` keeps only the named attributes (plus `id` and `schemas`); `excludedAttributes` drops some. */
function project(doc: JsonObject, input: JsonObject): JsonObject {
  const attributes = splitList(str(input, "attributes"));
  const excluded = splitList(str(input, "excludedAttributes"));
  let out = doc;
  if (attributes.length > 0) {
    out = {};
    for (const keep of ["schemas", "id"]) if (keep in doc) out[keep] = doc[keep];
    for (const attr of attributes) copyPath(doc, out, splitPath(attr));
  }
  if (excluded.length > 0) {
    out = structuredClone(out);
    for (const attr of excluded) {
      const path = splitPath(attr);
      if (path.length === 1 && ["id", "schemas"].includes(path[0]?.toLowerCase() ?? "")) continue;
      removePath(out, path);
    }
  }
  return out;
}

function splitList(v: string | undefined): string[] {
  return (v ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** `name.givenName` → ["name", "givenName"]; a leading schema URN (`urn:...:User:userName`) is dropped. */
function splitPath(attr: string): string[] {
  let a = attr.trim();
  if (a.toLowerCase().startsWith("urn:")) {
    const colon = a.lastIndexOf(":");
    a = a.slice(colon + 1);
  }
  return a.split(".").filter((s) => s !== "");
}

function keyOf(obj: JsonObject, name: string): string | undefined {
  if (name in obj) return name;
  const lower = name.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower);
}

function copyPath(from: JsonObject, to: JsonObject, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const key = keyOf(from, head);
  if (key === undefined) return;
  const v = from[key];
  if (rest.length === 0 || v === null || typeof v !== "object") {
    to[key] = v;
    return;
  }
  if (Array.isArray(v)) {
    const prev = Array.isArray(to[key]) ? (to[key] as JsonObject[]) : v.map(() => ({}));
    v.forEach((item, i) => {
      if (item && typeof item === "object") copyPath(item as JsonObject, prev[i] as JsonObject, rest);
    });
    to[key] = prev;
    return;
  }
  const target = (to[key] && typeof to[key] === "object" ? to[key] : {}) as JsonObject;
  copyPath(v as JsonObject, target, rest);
  to[key] = target;
}

function removePath(obj: JsonObject, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const key = keyOf(obj, head);
  if (key === undefined) return;
  if (rest.length === 0) {
    delete obj[key];
    return;
  }
  const v = obj[key];
  if (Array.isArray(v)) {
    for (const item of v) if (item && typeof item === "object") removePath(item as JsonObject, rest);
  } else if (v && typeof v === "object") {
    removePath(v as JsonObject, rest);
  }
}

// ---------------------------------------------------------------------------------------------
// SCIM filters (RFC 7644 §3.4.2.2): eq ne co sw ew gt ge lt le pr, and/or/not, parentheses and
// value paths (`emails[type eq "work"]`). Attribute names are case-insensitive; string comparisons
// are too, except for ids and references.

export type Filter =
  | { op: "and" | "or"; left: Filter; right: Filter }
  | { op: "not"; expr: Filter }
  | { op: "pr"; path: string[] }
  | { op: "cmp"; cmp: Comparator; path: string[]; value: string | number | boolean | null }
  | { op: "valuePath"; path: string[]; filter: Filter };

type Comparator = "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";
const COMPARATORS = new Set<string>(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);

type Token = { kind: "(" | ")" | "[" | "]" } | { kind: "string"; value: string } | { kind: "word"; value: string };

function filterError(text: string, why: string): ApiError {
  return invalid(`Invalid filter '${text}': ${why}`);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === "(" || ch === ")" || ch === "[" || ch === "]") {
      tokens.push({ kind: ch });
      i++;
    } else if (ch === '"' || ch === "'") {
      let value = "";
      let j = i + 1;
      for (; j < text.length && text[j] !== ch; j++) {
        if (text[j] === "\\" && j + 1 < text.length) {
          j++;
          const esc = text[j] as string;
          value += esc === "n" ? "\n" : esc === "t" ? "\t" : esc;
        } else {
          value += text[j];
        }
      }
      if (j >= text.length) throw filterError(text, "unterminated string");
      tokens.push({ kind: "string", value });
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s()[\]"']/.test(text[j] as string)) j++;
      tokens.push({ kind: "word", value: text.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

export function parseFilter(text: string): Filter {
  const tokens = tokenize(text);
  let pos = 0;
  const peekWord = (): string | undefined => {
    const t = tokens[pos];
    return t?.kind === "word" ? t.value.toLowerCase() : undefined;
  };
  const expect = (kind: Token["kind"]) => {
    if (tokens[pos]?.kind !== kind) throw filterError(text, `expected '${kind}'`);
    pos++;
  };

  const parseOr = (): Filter => {
    let left = parseAnd();
    while (peekWord() === "or") {
      pos++;
      left = { op: "or", left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): Filter => {
    let left = parseUnary();
    while (peekWord() === "and") {
      pos++;
      left = { op: "and", left, right: parseUnary() };
    }
    return left;
  };
  const parseUnary = (): Filter => {
    const t = tokens[pos];
    if (!t) throw filterError(text, "unexpected end of filter");
    if (t.kind === "word" && t.value.toLowerCase() === "not" && tokens[pos + 1]?.kind === "(") {
      pos += 2;
      const expr = parseOr();
      expect(")");
      return { op: "not", expr };
    }
    if (t.kind === "(") {
      pos++;
      const expr = parseOr();
      expect(")");
      return expr;
    }
    if (t.kind !== "word") throw filterError(text, "expected an attribute name");
    pos++;
    const path = splitPath(t.value);
    if (path.length === 0) throw filterError(text, "expected an attribute name");
    if (tokens[pos]?.kind === "[") {
      pos++;
      const inner = parseOr();
      expect("]");
      return { op: "valuePath", path, filter: inner };
    }
    const opToken = tokens[pos];
    if (opToken?.kind !== "word") throw filterError(text, `expected an operator after ${t.value}`);
    const op = opToken.value.toLowerCase();
    pos++;
    if (op === "pr") return { op: "pr", path };
    if (!COMPARATORS.has(op)) throw filterError(text, `unsupported operator '${opToken.value}'`);
    const v = tokens[pos];
    if (!v || (v.kind !== "string" && v.kind !== "word")) throw filterError(text, `expected a value after ${op}`);
    pos++;
    let value: string | number | boolean | null;
    if (v.kind === "string") value = v.value;
    else if (/^(true|false)$/i.test(v.value)) value = v.value.toLowerCase() === "true";
    else if (/^null$/i.test(v.value)) value = null;
    else if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v.value)) value = Number(v.value);
    else value = v.value;
    return { op: "cmp", cmp: op as Comparator, path, value };
  };

  const result = parseOr();
  if (pos !== tokens.length) throw filterError(text, "unexpected trailing input");
  return result;
}

/** Every value at `path`, flattening multi-valued attributes; complex values compare by their `value`. */
function valuesAt(doc: unknown, path: string[]): unknown[] {
  let current: unknown[] = [doc];
  for (const seg of path) {
    const next: unknown[] = [];
    for (const item of current) {
      const items = Array.isArray(item) ? item : [item];
      for (const x of items) {
        if (x && typeof x === "object" && !Array.isArray(x)) {
          const key = keyOf(x as JsonObject, seg);
          if (key !== undefined) next.push((x as JsonObject)[key]);
        }
      }
    }
    current = next;
  }
  const out: unknown[] = [];
  for (const v of current) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x === undefined || x === null) continue;
      if (typeof x === "object" && !Array.isArray(x) && "value" in (x as JsonObject)) out.push((x as JsonObject).value);
      else out.push(x);
    }
  }
  return out;
}

function firstValue(doc: JsonObject, path: string[]): unknown {
  return valuesAt(doc, path)[0];
}

function compareValue(cmp: Comparator, actual: unknown, expected: string | number | boolean | null, exact: boolean): boolean {
  if (expected === null) return cmp === "eq" ? actual === null : cmp === "ne" ? actual !== null : false;
  if (typeof expected === "boolean") {
    const a = typeof actual === "boolean" ? actual : typeof actual === "string" ? actual.toLowerCase() === "true" : undefined;
    if (cmp === "eq") return a === expected;
    if (cmp === "ne") return a !== expected;
    return false;
  }
  if (typeof expected === "number" && typeof actual === "number") {
    switch (cmp) {
      case "eq":
        return actual === expected;
      case "ne":
        return actual !== expected;
      case "gt":
        return actual > expected;
      case "ge":
        return actual >= expected;
      case "lt":
        return actual < expected;
      case "le":
        return actual <= expected;
      default:
        break;
    }
  }
  if (actual === null || typeof actual === "object") return cmp === "ne";
  const a = exact ? String(actual) : String(actual).toLowerCase();
  const e = exact ? String(expected) : String(expected).toLowerCase();
  switch (cmp) {
    case "eq":
      return a === e;
    case "ne":
      return a !== e;
    case "co":
      return a.includes(e);
    case "sw":
      return a.startsWith(e);
    case "ew":
      return a.endsWith(e);
    case "gt":
      return a > e;
    case "ge":
      return a >= e;
    case "lt":
      return a < e;
    case "le":
      return a <= e;
  }
}

export function evaluate(f: Filter, doc: JsonObject): boolean {
  switch (f.op) {
    case "and":
      return evaluate(f.left, doc) && evaluate(f.right, doc);
    case "or":
      return evaluate(f.left, doc) || evaluate(f.right, doc);
    case "not":
      return !evaluate(f.expr, doc);
    case "pr":
      return valuesAt(doc, f.path).some((v) => v !== "" && !(Array.isArray(v) && v.length === 0));
    case "valuePath": {
      const elements = elementsAt(doc, f.path);
      return elements.some((el) => evaluate(f.filter, el));
    }
    case "cmp": {
      const values = valuesAt(doc, f.path);
      const exact = CASE_EXACT.has((f.path[f.path.length - 1] ?? "").toLowerCase());
      // `ne` holds when no value equals; the other operators when some value matches.
      if (f.cmp === "ne") return !values.some((v) => compareValue("eq", v, f.value, exact));
      return values.some((v) => compareValue(f.cmp, v, f.value, exact));
    }
  }
}

/** The complex values of a multi-valued attribute, for value-path filters. */
function elementsAt(doc: JsonObject, path: string[]): JsonObject[] {
  let current: unknown[] = [doc];
  for (const seg of path) {
    const next: unknown[] = [];
    for (const item of current) {
      for (const x of Array.isArray(item) ? item : [item]) {
        if (x && typeof x === "object" && !Array.isArray(x)) {
          const key = keyOf(x as JsonObject, seg);
          if (key !== undefined) next.push((x as JsonObject)[key]);
        }
      }
    }
    current = next;
  }
  return current.flatMap((v) => (Array.isArray(v) ? v : [v])).filter((x): x is JsonObject => !!x && typeof x === "object");
}

// ---------------------------------------------------------------------------------------------
// PATCH (RFC 7644 §3.5.2): add, remove, replace; with or without a path; value-path filters.

function canonicalName(name: string, type: ResourceType): string {
  const lower = name.toLowerCase();
  return ATTRIBUTES[type].find((a) => a.toLowerCase() === lower) ?? name;
}

interface PatchPath {
  attr: string;
  filter?: Filter;
  sub?: string;
}

function parsePatchPath(raw: string, type: ResourceType): PatchPath {
  let p = raw.trim();
  if (p.toLowerCase().startsWith("urn:")) {
    const bracket = p.indexOf("[");
    const head = bracket === -1 ? p : p.slice(0, bracket);
    p = p.slice(head.lastIndexOf(":") + 1);
  }
  const m = /^([^[\].]+)(?:\[(.*)\])?(?:\.([^[\].]+))?$/.exec(p);
  if (!m) throw invalid(`Invalid patch path: ${raw}`);
  const attr = canonicalName(m[1] as string, type);
  const out: PatchPath = { attr };
  if (m[2] !== undefined) out.filter = parseFilter(m[2]);
  if (m[3] !== undefined) out.sub = m[3];
  return out;
}

const READ_ONLY = new Set(["id", "schemas", "meta"]);

function sameElement(a: unknown, b: unknown): boolean {
  if (a && b && typeof a === "object" && typeof b === "object" && "value" in a && "value" in b) {
    return String((a as JsonObject).value) === String((b as JsonObject).value);
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

function asList(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Applies the PatchOp `Operations` of `input` to a copy of `doc` (a rendered resource) and returns it. */
export function applyPatch(doc: JsonObject, input: JsonObject, type: ResourceType): JsonObject {
  const ops = input.Operations ?? input.operations;
  if (!Array.isArray(ops) || ops.length === 0) throw invalid("PATCH requests need a non-empty Operations list");
  const out = structuredClone(doc);
  for (const raw of ops) {
    if (!raw || typeof raw !== "object") throw invalid("Each operation must be an object");
    const op = String((raw as JsonObject).op ?? "").toLowerCase();
    const pathText = (raw as JsonObject).path;
    const value = (raw as JsonObject).value;
    if (op !== "add" && op !== "remove" && op !== "replace") {
      throw invalid(`Unsupported patch operation: ${String((raw as JsonObject).op)}`);
    }
    if (pathText === undefined || pathText === null || pathText === "") {
      if (op === "remove") throw invalid("A remove operation needs a path");
      if (!value || typeof value !== "object" || Array.isArray(value)) {
        throw invalid(`An ${op} operation without a path needs an object value`);
      }
      for (const [k, v] of Object.entries(value as JsonObject)) {
        // A value key may itself be a path ("name.givenName") or carry a schema URN.
        applyOp(out, op, parsePatchPath(k, type), v);
      }
      continue;
    }
    if (typeof pathText !== "string") throw invalid("path must be a string");
    if (op !== "remove" && (value === undefined || value === null))
      throw invalid(`An ${op} operation on ${pathText} needs a value`);
    applyOp(out, op, parsePatchPath(pathText, type), value);
  }
  return out;
}

function applyOp(doc: JsonObject, op: "add" | "remove" | "replace", path: PatchPath, value: unknown): void {
  if (READ_ONLY.has(path.attr)) return;
  const key = keyOf(doc, path.attr) ?? path.attr;
  const multi = MULTI_VALUED.has(path.attr);

  if (path.filter) {
    const list = Array.isArray(doc[key]) ? (doc[key] as JsonObject[]) : [];
    const filter = path.filter;
    const matches = (el: unknown) => !!el && typeof el === "object" && evaluate(filter, el as JsonObject);
    if (op === "remove") {
      if (path.sub) {
        for (const el of list) if (matches(el)) removePath(el, [path.sub]);
        doc[key] = list;
      } else {
        doc[key] = list.filter((el) => !matches(el));
      }
      return;
    }
    if (!list.some(matches)) {
      if (op === "replace") throw invalid(`No values of ${path.attr} match the patch path filter`);
      return;
    }
    doc[key] = list.map((el) => {
      if (!matches(el)) return el;
      if (path.sub) return { ...el, [path.sub]: value };
      return value && typeof value === "object" && !Array.isArray(value) ? { ...el, ...(value as JsonObject) } : el;
    });
    return;
  }

  if (path.sub && multi) {
    // A sub-attribute of every value of a multi-valued attribute, e.g. emails.value.
    const sub = path.sub;
    const list = asList(doc[key]).map((el) => (el && typeof el === "object" ? { ...(el as JsonObject) } : {}));
    if (op === "remove") for (const el of list) removePath(el, [sub]);
    else if (list.length === 0) list.push({ [sub]: value });
    else for (const el of list) el[keyOf(el, sub) ?? sub] = value;
    doc[key] = list;
    return;
  }
  if (path.sub) {
    // A sub-attribute of a complex single-valued attribute, e.g. name.givenName.
    const parent = doc[key] && typeof doc[key] === "object" && !Array.isArray(doc[key]) ? { ...(doc[key] as JsonObject) } : {};
    const subKey = keyOf(parent, path.sub) ?? path.sub;
    if (op === "remove") delete parent[subKey];
    else parent[subKey] = value;
    doc[key] = parent;
    return;
  }

  if (op === "remove") {
    if (multi && value !== undefined && value !== null) {
      const drop = asList(value);
      doc[key] = asList(doc[key]).filter((el) => !drop.some((d) => sameElement(el, d)));
    } else {
      delete doc[key];
    }
    return;
  }
  if (multi) {
    const incoming = asList(value);
    if (op === "replace") {
      doc[key] = incoming;
      return;
    }
    const current = asList(doc[key]);
    for (const item of incoming) if (!current.some((el) => sameElement(el, item))) current.push(item);
    doc[key] = current;
    return;
  }
  if (value && typeof value === "object" && !Array.isArray(value) && op === "add") {
    const existing = doc[key] && typeof doc[key] === "object" ? (doc[key] as JsonObject) : {};
    doc[key] = { ...existing, ...(value as JsonObject) };
    return;
  }
  doc[key] = value;
}
