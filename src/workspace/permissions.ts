import { denied, invalid, notFound } from "./http.js";
import { ADMINS_GROUP, type Principal } from "./identity.js";
import type { Collection, Store } from "./store/store.js";

/**
 * Object permissions (`/api/2.0/permissions/{type}/{id}`), kept in one place so every service
 * enforces them the same way: admins may do anything; everyone else needs a level on the object
 * itself, on one of its groups, or inherited from a parent (directories for workspace objects).
 */

export interface AclEntry {
  user_name?: string;
  group_name?: string;
  service_principal_name?: string;
  permission_level: string;
}

export interface ObjectTypeSpec {
  /** Permission levels from weakest to strongest. */
  levels: string[];
  /** `object_type` in responses, e.g. "job". */
  objectType: string;
  /** Prefix of `object_id` in responses, e.g. "/jobs/". */
  idPrefix: string;
  /** Whether the object exists (permissions on a missing object are a 404). */
  exists(id: string): boolean;
  /** The object this one inherits permissions from, if any. */
  parent?(id: string): { type: string; id: string } | undefined;
  /** The message for a missing object. */
  missing?(id: string): string;
}

export interface PermissionsResponse {
  object_id: string;
  object_type: string;
  access_control_list: {
    user_name?: string;
    group_name?: string;
    service_principal_name?: string;
    display_name?: string;
    all_permissions: { permission_level: string; inherited: boolean; inherited_from_object?: string[] }[];
  }[];
}

const principalKey = (e: AclEntry) =>
  e.user_name ? `u:${e.user_name.toLowerCase()}` : e.group_name ? `g:${e.group_name}` : `s:${e.service_principal_name}`;

export class Permissions {
  private readonly types = new Map<string, ObjectTypeSpec>();
  private readonly acls: Collection<AclEntry[]>;

  constructor(store: Store) {
    this.acls = store.collection("acls");
  }

  /** Registers a request object type, as used in `/api/2.0/permissions/{type}/{id}`. */
  register(type: string, spec: ObjectTypeSpec): void {
    this.types.set(type, spec);
  }

  spec(type: string): ObjectTypeSpec {
    const spec = this.types.get(type);
    if (!spec) throw invalid(`${type} is not a supported object type for permissions`);
    return spec;
  }

  registeredTypes(): string[] {
    return [...this.types.keys()];
  }

  /** The direct entries on an object. */
  direct(type: string, id: string): AclEntry[] {
    return this.acls.get(`${type}/${id}`) ?? [];
  }

  /** Replaces (PUT) or merges (PATCH) the direct entries on an object. */
  write(type: string, id: string, entries: AclEntry[], mode: "replace" | "merge"): void {
    const spec = this.spec(type);
    for (const e of entries) {
      const names = [e.user_name, e.group_name, e.service_principal_name].filter((x) => x !== undefined);
      if (names.length !== 1)
        throw invalid("Each access control entry needs exactly one of user_name, group_name, service_principal_name");
      if (!spec.levels.includes(e.permission_level)) {
        throw invalid(
          `Permission ${e.permission_level} is not supported for ${spec.objectType}; use one of ${spec.levels.join(", ")}`,
        );
      }
    }
    const byKey = new Map<string, AclEntry>();
    const keep =
      mode === "merge" ? this.direct(type, id) : this.direct(type, id).filter((e) => e.permission_level === "IS_OWNER");
    for (const e of keep) byKey.set(`${principalKey(e)}|${e.permission_level}`, e);
    for (const e of entries) {
      if (e.permission_level === "IS_OWNER") {
        for (const [k, old] of byKey) if (old.permission_level === "IS_OWNER") byKey.delete(k);
      }
      const clean: AclEntry = { permission_level: e.permission_level };
      if (e.user_name) clean.user_name = e.user_name;
      if (e.group_name) clean.group_name = e.group_name;
      if (e.service_principal_name) clean.service_principal_name = e.service_principal_name;
      byKey.set(`${principalKey(clean)}|${clean.permission_level}`, clean);
    }
    this.acls.set(`${type}/${id}`, [...byKey.values()]);
  }

  /** Gives the creator of a new object its owner level (IS_OWNER where the type has it, else the top level). */
  grantCreator(type: string, id: string, principal: Principal): void {
    const spec = this.spec(type);
    const level = spec.levels.includes("IS_OWNER") ? "IS_OWNER" : (spec.levels[spec.levels.length - 1] as string);
    this.acls.set(`${type}/${id}`, [{ ...this.entryFor(principal), permission_level: level }]);
  }

  /** Forgets the entries of a deleted object. */
  drop(type: string, id: string): void {
    this.acls.delete(`${type}/${id}`);
  }

  entryFor(principal: Principal): Omit<AclEntry, "permission_level"> {
    return principal.kind === "user" ? { user_name: principal.name } : { service_principal_name: principal.name };
  }

  private matches(e: AclEntry, principal: Principal): boolean {
    if (e.group_name) return principal.groups.includes(e.group_name);
    if (e.user_name) return principal.kind === "user" && e.user_name.toLowerCase() === principal.name.toLowerCase();
    return principal.kind === "service_principal" && e.service_principal_name === principal.name;
  }

  /** The strongest level the principal holds on the object, following inheritance; undefined for none. */
  effectiveLevel(principal: Principal, type: string, id: string): string | undefined {
    const spec = this.spec(type);
    if (principal.admin) return spec.levels[spec.levels.length - 1];
    let best = -1;
    let cursor: { type: string; id: string } | undefined = { type, id };
    const seen = new Set<string>();
    while (cursor && !seen.has(`${cursor.type}/${cursor.id}`)) {
      seen.add(`${cursor.type}/${cursor.id}`);
      const cursorSpec = this.spec(cursor.type);
      for (const e of this.direct(cursor.type, cursor.id)) {
        if (!this.matches(e, principal)) continue;
        best = Math.max(best, rank(spec, e.permission_level));
      }
      cursor = cursorSpec.parent?.(cursor.id);
    }
    if (best < 0) return undefined;
    // rank() places IS_OWNER above every listed level, past the end of `levels`.
    return best >= spec.levels.length ? "IS_OWNER" : spec.levels[best];
  }

  has(principal: Principal, type: string, id: string, level: string): boolean {
    const spec = this.spec(type);
    const held = this.effectiveLevel(principal, type, id);
    return held !== undefined && rank(spec, held) >= rank(spec, level);
  }

  /** Throws 403 PERMISSION_DENIED unless the principal holds at least `level` on the object. */
  require(principal: Principal, type: string, id: string, level: string, action?: string): void {
    if (this.has(principal, type, id, level)) return;
    const spec = this.spec(type);
    throw denied(
      `${principal.name} does not have ${level} permissions on ${spec.idPrefix}${id}${action ? ` to ${action}` : ""}. Please contact the owner or an administrator for access.`,
    );
  }

  /** The GET /api/2.0/permissions response: direct and inherited entries, admins first. */
  describe(type: string, id: string): PermissionsResponse {
    const spec = this.spec(type);
    if (!spec.exists(id)) throw notFound(spec.missing?.(id) ?? `${spec.objectType} ${id} does not exist.`);
    const rows = new Map<string, PermissionsResponse["access_control_list"][number]>();
    const add = (e: Omit<AclEntry, "permission_level">, level: string, inheritedFrom?: string) => {
      const key = principalKey({ ...e, permission_level: level });
      let row = rows.get(key);
      if (!row) {
        row = { ...e, all_permissions: [] };
        rows.set(key, row);
      }
      if (row.all_permissions.some((p) => p.permission_level === level && p.inherited === (inheritedFrom !== undefined))) return;
      row.all_permissions.push(
        inheritedFrom === undefined
          ? { permission_level: level, inherited: false }
          : { permission_level: level, inherited: true, inherited_from_object: [inheritedFrom] },
      );
    };
    for (const e of this.direct(type, id)) add(e, e.permission_level);
    let parent = spec.parent?.(id);
    const seen = new Set<string>();
    while (parent && !seen.has(`${parent.type}/${parent.id}`)) {
      seen.add(`${parent.type}/${parent.id}`);
      const parentSpec = this.spec(parent.type);
      for (const e of this.direct(parent.type, parent.id)) {
        if (spec.levels.includes(e.permission_level)) add(e, e.permission_level, `${parentSpec.idPrefix}${parent.id}`);
      }
      parent = parentSpec.parent?.(parent.id);
    }
    const top = spec.levels.includes("CAN_MANAGE") ? "CAN_MANAGE" : (spec.levels[spec.levels.length - 1] as string);
    add({ group_name: ADMINS_GROUP }, top, spec.idPrefix);
    const list = [...rows.values()].sort((a, b) => (a.group_name === ADMINS_GROUP ? -1 : b.group_name === ADMINS_GROUP ? 1 : 0));
    return { object_id: `${spec.idPrefix}${id}`, object_type: spec.objectType, access_control_list: list };
  }
}

function rank(spec: ObjectTypeSpec, level: string): number {
  // IS_OWNER implies everything CAN_MANAGE does.
  if (level === "IS_OWNER") return spec.levels.length;
  return spec.levels.indexOf(level);
}
