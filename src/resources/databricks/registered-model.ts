import { unityCatalogAdapter } from "./unity-catalog.js";

/**
 * `databricks.registered_model`: a model in Unity Catalog (`catalog.schema.model`). Comment and
 * owner change in place; the name, schema and storage location are fixed at creation. Versions and
 * aliases belong to training runs and are left alone.
 */
export const registeredModelAdapter = unityCatalogAdapter({
  kind: "databricks.registered_model",
  collection: "models",
  nameFields: ["catalog_name", "schema_name", "name"],
  createFields: ["comment", "storage_location"],
  updateFields: ["comment", "owner"],
  clear: { comment: "" },
  locations: ["storage_location"],
  outputs: (r) => ({ full_name: r?.full_name }),
});
