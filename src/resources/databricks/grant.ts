import type { ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, isObject, missingFrom, type Obj, orMissing } from "./common.js";
import { UC } from "./unity-catalog.js";

/**
 * `databricks.grant`: the privileges one principal holds on one Unity Catalog securable (Grants API,
 * `/api/2.1/unity-catalog/permissions/{securable_type}/{full_name}`). Exactly those privileges are
 * managed: an update adds the missing ones and removes the extra ones in one `PATCH`; deleting
 * removes them all. Grants to other principals are left alone. The id is
 * `<securable type>/<full name>/<principal>`. A principal without privileges counts as no grant.
 */

interface Grant {
  type: string;
  name: string;
  principal: string;
}

/** Registered models are FUNCTION securables in the Grants API. */
const apiType = (type: string) => (type === "registered_model" ? "function" : type);

const idOf = (g: Grant) => `${g.type}/${g.name}/${g.principal}`;

function split(id: string): Grant {
  const a = id.indexOf("/");
  const b = id.indexOf("/", a + 1);
  return { type: id.slice(0, a), name: id.slice(a + 1, b), principal: id.slice(b + 1) };
}

function grantOf(spec: Obj): Grant {
  const securable = isObject(spec.securable) ? spec.securable : {};
  return {
    type: String(securable.type),
    name: String(securable.name).toLowerCase(),
    principal: String(spec.principal),
  };
}

const url = (g: Grant) => `${UC}/permissions/${encodeURIComponent(apiType(g.type))}/${encodeURIComponent(g.name)}`;

async function privilegesOf(ctx: DatabricksCtx, g: Grant): Promise<string[] | undefined> {
  const rows = await orMissing(ctx.client.listAll<Obj>(url(g), { principal: g.principal }, "privilege_assignments"));
  if (rows === undefined) return undefined;
  const privileges = new Set<string>();
  for (const row of rows) {
    if (row.principal !== g.principal || !Array.isArray(row.privileges)) continue;
    for (const p of row.privileges) privileges.add(typeof p === "string" ? p : String((p as Obj).privilege));
  }
  return [...privileges].sort();
}

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const g = split(id);
  const privileges = await privilegesOf(ctx, g);
  if (!privileges || privileges.length === 0) return undefined;
  return { securable: { type: g.type, name: g.name }, principal: g.principal, privileges };
}

/** Adds and removes privileges so that the principal holds exactly `want`. Replaying it is harmless. */
async function reconcile(ctx: DatabricksCtx, g: Grant, want: string[], have: string[]): Promise<void> {
  const add = missingFrom(want, have);
  const remove = missingFrom(have, want);
  if (add.length === 0 && remove.length === 0) return;
  await ctx.client.patch(
    url(g),
    { changes: [{ principal: g.principal, ...(add.length ? { add } : {}), ...(remove.length ? { remove } : {}) }] },
    { idempotent: true },
  );
}

const wanted = (spec: Obj) => (Array.isArray(spec.privileges) ? spec.privileges.map(String) : []);

export const grantAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.grant",
  naturalKey: (spec) => idOf(grantOf(spec)),

  read,

  async find(ctx, spec) {
    const id = idOf(grantOf(spec));
    const remote = await read(ctx, id);
    return remote ? { id, remote } : undefined;
  },

  async create(ctx, spec) {
    const g = grantOf(spec);
    await reconcile(ctx, g, wanted(spec), (await privilegesOf(ctx, g)) ?? []);
    return { id: idOf(g) };
  },

  async update(ctx, id, spec, remote) {
    const g = split(id);
    const have = Array.isArray(remote.privileges) ? remote.privileges.map(String) : ((await privilegesOf(ctx, g)) ?? []);
    await reconcile(ctx, g, wanted(spec), have);
    return undefined;
  },

  async delete(ctx, id) {
    const g = split(id);
    const have = await privilegesOf(ctx, g);
    if (have && have.length > 0) await orMissing(reconcile(ctx, g, [], have));
  },

  normalize: (remote) => remote,

  normalizeDesired: (spec) => {
    const g = grantOf(spec);
    return { securable: { type: g.type, name: g.name }, principal: g.principal, privileges: [...new Set(wanted(spec))].sort() };
  },

  rules: { recreateOn: ["securable", "principal"] },
};
