import { unityCatalogAdapter } from "./unity-catalog.js";

/**
 * `databricks.volume`: a Unity Catalog volume (`catalog.schema.volume`), MANAGED unless configured
 * EXTERNAL with a storage location. Comment and owner change in place; everything else is fixed at
 * creation.
 */
export const volumeAdapter = unityCatalogAdapter({
  kind: "databricks.volume",
  collection: "volumes",
  nameFields: ["catalog_name", "schema_name", "name"],
  createFields: ["volume_type", "storage_location", "comment"],
  updateFields: ["comment", "owner"],
  createDefaults: { volume_type: "MANAGED" },
  clear: { comment: "" },
  locations: ["storage_location"],
  outputs: (r) => ({ full_name: r?.full_name, volume_id: r?.volume_id }),
});
