import { unityCatalogAdapter } from "./unity-catalog.js";

/**
 * `databricks.schema`: a Unity Catalog schema (`catalog.schema`). Comment, properties, owner and
 * predictive optimisation change in place; the name, catalog and storage root are fixed at creation.
 */
export const schemaAdapter = unityCatalogAdapter({
  kind: "databricks.schema",
  collection: "schemas",
  nameFields: ["catalog_name", "name"],
  createFields: ["comment", "properties", "storage_root"],
  updateFields: ["comment", "properties", "owner", "enable_predictive_optimization"],
  clear: { comment: "", properties: {}, enable_predictive_optimization: "INHERIT" },
  locations: ["storage_root"],
  outputs: (r) => ({ full_name: r?.full_name, storage_location: r?.storage_location }),
});
