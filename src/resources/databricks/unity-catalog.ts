import type { ResourceAdapter } from "../../engine/types.js";
import { compact, type DatabricksCtx, deleting, lowerCased, type Obj, orMissing, pick, removedFields } from "./common.js";

/**
 * The shape shared by the Unity Catalog adapters (catalogs, schemas, volumes, registered models):
 * `POST` to create, `GET`, `PATCH` and `DELETE` by full name. The id is the full name, in lower case
 * as the service stores names. Fields `PATCH` does not take are set at creation; changing them (or
 * the name) replaces the object. Fields `PATCH` takes that the create call does not (owner, ...) are
 * set by a `PATCH` right after the create.
 */

export const UC = "/api/2.1/unity-catalog";

export interface UnityCatalogKind {
  kind: string;
  /** Collection path below `/api/2.1/unity-catalog` (`catalogs`). */
  collection: string;
  /** Name parts from the spec, in order (`catalog_name`, `schema_name`, `name`). */
  nameFields: readonly string[];
  /** Fields the create call takes. */
  createFields: readonly string[];
  /** Fields `PATCH` takes. */
  updateFields: readonly string[];
  /** Defaults the create call needs. */
  createDefaults?: Obj;
  /** How to clear a field that left the configuration (default: not cleared). */
  clear?: Record<string, unknown>;
  /** Trailing slashes the service strips from these locations. */
  locations?: readonly string[];
  outputs: (remote: Obj | undefined) => Obj;
  /** Runs before the delete (a catalog removes the `default` schema the service made with it). */
  beforeDelete?: (ctx: DatabricksCtx, id: string) => Promise<void>;
}

export function unityCatalogAdapter(k: UnityCatalogKind): ResourceAdapter<DatabricksCtx> {
  const fullName = (spec: Obj) =>
    k.nameFields
      .map((f) => String(spec[f]))
      .join(".")
      .toLowerCase();
  const url = (name: string) => `${UC}/${k.collection}/${encodeURIComponent(name)}`;
  const read = (ctx: DatabricksCtx, id: string) => orMissing(ctx.client.get<Obj>(url(id)));
  const lateFields = k.updateFields.filter((f) => !k.createFields.includes(f));
  const comparable = (o: Obj) => {
    const out = lowerCased(o, k.nameFields);
    for (const f of k.locations ?? []) if (typeof out[f] === "string") out[f] = (out[f] as string).replace(/\/+$/, "");
    return out;
  };
  const managed = [...new Set([...k.nameFields, ...k.createFields, ...k.updateFields])];

  return {
    kind: k.kind,
    naturalKey: fullName,
    read,

    async find(ctx, spec) {
      const id = fullName(spec);
      const remote = await read(ctx, id);
      return remote ? { id, remote } : undefined;
    },

    async create(ctx, spec) {
      const body = { ...k.createDefaults, ...pick(spec, [...k.nameFields, ...k.createFields]) };
      let remote = await ctx.client.post<Obj>(`${UC}/${k.collection}`, body);
      const id = typeof remote.full_name === "string" ? remote.full_name : fullName(spec);
      const late = pick(spec, lateFields);
      if (Object.keys(late).length > 0) remote = await ctx.client.patch<Obj>(url(id), late, { idempotent: true });
      return { id, remote };
    },

    async update(ctx, id, spec, _remote, changes) {
      const body: Obj = pick(spec, k.updateFields);
      for (const f of removedFields(changes)) if (k.clear && f in k.clear) body[f] = k.clear[f];
      if (Object.keys(body).length === 0) return undefined;
      return ctx.client.patch<Obj>(url(id), body, { idempotent: true });
    },

    async delete(ctx, id) {
      await k.beforeDelete?.(ctx, id);
      await deleting(ctx.client.delete(url(id)));
    },

    normalize: (remote) => comparable(compact(pick(remote, managed))),
    normalizeDesired: comparable,
    outputs: (_id, remote) => compact(k.outputs(remote)),
    rules: {
      recreateOn: [...k.nameFields, ...k.createFields.filter((f) => !k.updateFields.includes(f))],
    },
  };
}
