import type { ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, isObject, type Obj, orMissing, sortedSet } from "./common.js";

/**
 * `databricks.permissions`: the access control list of one object (Permissions API,
 * `/api/2.0/permissions/{object_type}/{object_id}`), made by the configuration from a resource's
 * `permissions:` list. The whole list of direct entries is managed: a `PUT` replaces it. Compared are
 * the direct (not inherited) entries, in canonical order, without the `admins` group (whose access the
 * service keeps) and without the owner (`IS_OWNER`), which the service keeps too; the owner is compared
 * only when the configuration names one. Deleting sets an empty list (the owner stays).
 *
 * Objects of the Workspace API (notebooks, files, directories) may be named by path: the path is
 * resolved to the object id first. The object is part of the comparison, as configured: when it
 * changes (its path, or its id because it was replaced), the access list of the new object is set
 * and that of the old one cleared.
 */

interface Entry {
  user_name?: string;
  group_name?: string;
  service_principal_name?: string;
  permission_level: string;
}

const ADMINS = "admins";
const PATH_TYPES = new Set(["notebooks", "files", "directories"]);

const who = (e: Omit<Entry, "permission_level">) =>
  e.user_name !== undefined
    ? `user_name:${e.user_name.toLowerCase()}`
    : e.group_name !== undefined
      ? `group_name:${e.group_name}`
      : `service_principal_name:${e.service_principal_name}`;

function principalOf(e: Omit<Entry, "permission_level">): Omit<Entry, "permission_level"> {
  if (e.user_name !== undefined) return { user_name: e.user_name.toLowerCase() };
  if (e.group_name !== undefined) return { group_name: e.group_name };
  return { service_principal_name: e.service_principal_name as string };
}

/** The comparison form of an access list: `owner` apart, the admins group left out, canonical order. */
function comparable(entries: Entry[]): { access_control_list: Entry[]; owner?: string } {
  const list: Entry[] = [];
  let owner: string | undefined;
  for (const e of entries) {
    if (e.permission_level === "IS_OWNER") owner = who(e);
    else if (e.group_name !== ADMINS) list.push({ ...principalOf(e), permission_level: e.permission_level });
  }
  return { access_control_list: sortedSet(list), ...(owner !== undefined ? { owner } : {}) };
}

/** The direct entries of a `GET` answer, one per principal and level. */
function directEntries(remote: Obj): Entry[] {
  const out: Entry[] = [];
  for (const row of Array.isArray(remote.access_control_list) ? remote.access_control_list : []) {
    if (!isObject(row)) continue;
    const principal = {
      ...(typeof row.user_name === "string" ? { user_name: row.user_name } : {}),
      ...(typeof row.group_name === "string" ? { group_name: row.group_name } : {}),
      ...(typeof row.service_principal_name === "string" ? { service_principal_name: row.service_principal_name } : {}),
    };
    for (const p of Array.isArray(row.all_permissions) ? row.all_permissions : []) {
      if (isObject(p) && p.inherited !== true && typeof p.permission_level === "string") {
        out.push({ ...principal, permission_level: p.permission_level });
      }
    }
  }
  return out;
}

const idOf = (type: string, objectId: string) => `${type}/${objectId}`;

function split(id: string): { type: string; objectId: string } {
  const i = id.indexOf("/");
  return { type: id.slice(0, i), objectId: id.slice(i + 1) };
}

/** The object id to use in the API: workspace paths become object ids. */
async function objectIdOf(ctx: DatabricksCtx, type: string, objectId: string): Promise<string | undefined> {
  if (!PATH_TYPES.has(type) || !objectId.startsWith("/")) return objectId;
  const info = await orMissing(ctx.client.get<Obj>("/api/2.0/workspace/get-status", { path: objectId }));
  return info?.object_id === undefined ? undefined : String(info.object_id);
}

const url = (type: string, objectId: string) =>
  `/api/2.0/permissions/${encodeURIComponent(type)}/${encodeURIComponent(objectId)}`;

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const { type, objectId } = split(id);
  const remote = await orMissing(ctx.client.get<Obj>(url(type, objectId)));
  return remote ? { ...remote, request_object_type: type, request_object_id: objectId } : undefined;
}

/** Replaces the direct entries; the current owner is kept unless the list names one. */
async function put(ctx: DatabricksCtx, type: string, objectId: string, entries: Entry[], current?: Obj): Promise<Obj> {
  const list: Entry[] = entries.map((e) => ({ ...e }));
  if (!list.some((e) => e.permission_level === "IS_OWNER")) {
    const before = current ?? (await orMissing(ctx.client.get<Obj>(url(type, objectId))));
    const owner = before ? directEntries(before).find((e) => e.permission_level === "IS_OWNER") : undefined;
    if (owner) list.push(owner);
  }
  const res = await ctx.client.put<Obj>(url(type, objectId), { access_control_list: list });
  return { ...res, request_object_type: type, request_object_id: objectId };
}

const desiredEntries = (spec: Obj): Entry[] =>
  (Array.isArray(spec.access_control_list) ? spec.access_control_list : []).filter(isObject) as unknown as Entry[];

export const permissionsAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.permissions",
  naturalKey: (spec) => idOf(String(spec.object_type), String(spec.object_id)),

  read,

  async find(ctx, spec) {
    const type = String(spec.object_type);
    const objectId = await objectIdOf(ctx, type, String(spec.object_id));
    if (objectId === undefined) return undefined;
    const id = idOf(type, objectId);
    const remote = await read(ctx, id);
    return remote ? { id, remote: { ...remote, configured_object_id: spec.object_id } } : undefined;
  },

  async create(ctx, spec) {
    const type = String(spec.object_type);
    const objectId = await objectIdOf(ctx, type, String(spec.object_id));
    if (objectId === undefined) throw new Error(`${type} ${String(spec.object_id)} does not exist`);
    const remote = await put(ctx, type, objectId, desiredEntries(spec));
    return { id: idOf(type, objectId), remote };
  },

  async update(ctx, id, spec, remote) {
    const { type, objectId } = split(id);
    return put(ctx, type, objectId, desiredEntries(spec), remote);
  },

  async delete(ctx, id) {
    const { type, objectId } = split(id);
    await orMissing(put(ctx, type, objectId, []));
  },

  // The object is named as configured (a path, for workspace objects): as applied last, else as found.
  normalize: (remote, previous) => ({
    object_type: remote.request_object_type,
    object_id: previous?.object_id ?? remote.configured_object_id ?? remote.request_object_id,
    ...comparable(directEntries(remote)),
  }),

  normalizeDesired: (spec) => ({
    object_type: spec.object_type,
    object_id: spec.object_id,
    ...comparable(desiredEntries(spec)),
  }),

  // Another object (a job or notebook replaced, a path changed) is another access list.
  rules: { recreateOn: ["object_type", "object_id"] },
};
