import { isNotFound } from "../../clients/databricks/client.js";
import { RemoteError } from "../../clients/http.js";
import { UC, unityCatalogAdapter } from "./unity-catalog.js";

/**
 * `databricks.catalog`: a Unity Catalog catalog. Comment, properties, options, isolation mode, owner
 * and predictive optimisation change in place; the name, storage root and sharing or connection
 * source are fixed at creation. A catalog is deleted only when empty: Lakeforge deletes the schemas it
 * manages first, and the `default` schema the service creates with every catalog if that is empty;
 * a catalog holding anything else is refused by the service.
 */
export const catalogAdapter = unityCatalogAdapter({
  kind: "databricks.catalog",
  collection: "catalogs",
  nameFields: ["name"],
  createFields: ["comment", "properties", "options", "storage_root", "connection_name", "provider_name", "share_name"],
  updateFields: ["comment", "properties", "options", "isolation_mode", "owner", "enable_predictive_optimization"],
  clear: { comment: "", properties: {}, enable_predictive_optimization: "INHERIT" },
  locations: ["storage_root"],
  outputs: (r) => ({ full_name: r?.full_name ?? r?.name, metastore_id: r?.metastore_id, storage_location: r?.storage_location }),
  async beforeDelete(ctx, id) {
    try {
      await ctx.client.delete(`${UC}/schemas/${encodeURIComponent(`${id}.default`)}`);
    } catch (e) {
      // Gone already, or holding objects: the catalog's own delete then says why it cannot go.
      if (!isNotFound(e) && !(e instanceof RemoteError && e.status === 400)) throw e;
    }
  },
});
