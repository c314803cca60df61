import { randomUUID } from "node:crypto";
import { UC_PRIVILEGES, type UcSecurableType } from "../../lib/unity-catalog.js";
import {
  ApiError,
  bool,
  int,
  invalid,
  type JsonObject,
  page,
  type RequestContext,
  type Router,
  requireStr,
  str,
} from "../http.js";
import { ADMIN_USER_NAME, type Principal } from "../identity.js";
import type { Collection } from "../store/store.js";
import { parentOf, volumeTree } from "../tree.js";
import type { Workspace } from "../workspace.js";

/**
 * Unity Catalog (`/api/2.1/unity-catalog/...`): one metastore assigned to the workspace, catalogs,
 * schemas, volumes, registered models with their versions and aliases, and grants.
 *
 * Names are case-insensitive and stored lower-case, as in Unity Catalog. Parents are referenced by id,
 * so renaming a catalog or schema renames the full names of everything inside it. Workspace admins act
 * as metastore admins; everyone else needs ownership or privileges, inherited downwards from catalogs
 * and schemas, as the real service checks them.
 */

// ---------------------------------------------------------------------------------------------
// Records

interface Audit {
  owner: string;
  created_at: number;
  created_by: string;
  updated_at: number;
  updated_by: string;
}

export interface MetastoreRecord extends Audit {
  metastore_id: string;
  name: string;
  region: string;
  cloud: string;
  storage_root: string;
  default_catalog_name: string;
}

export interface CatalogRecord extends Audit {
  id: string;
  name: string;
  catalog_type: string;
  comment?: string;
  properties?: Record<string, string>;
  options?: Record<string, string>;
  storage_root?: string;
  connection_name?: string;
  provider_name?: string;
  share_name?: string;
  isolation_mode: string;
  enable_predictive_optimization?: string;
  custom_max_retention_hours?: number;
}

export interface SchemaRecord extends Audit {
  id: string;
  catalog_id: string;
  name: string;
  comment?: string;
  properties?: Record<string, string>;
  storage_root?: string;
  enable_predictive_optimization?: string;
  custom_max_retention_hours?: number;
}

export interface VolumeRecord extends Audit {
  id: string;
  schema_id: string;
  name: string;
  volume_type: "MANAGED" | "EXTERNAL";
  storage_location: string;
  comment?: string;
}

export interface ModelRecord extends Audit {
  id: string;
  schema_id: string;
  name: string;
  storage_location: string;
  comment?: string;
  aliases: { alias_name: string; version_num: number }[];
  /** The number the next version gets; versions are never renumbered after deletes. */
  next_version: number;
  /** Tags set through MLflow's Unity Catalog registry calls. */
  tags?: { key: string; value: string }[];
}

export interface ModelVersionRecord {
  id: string;
  model_id: string;
  version: number;
  source: string;
  run_id?: string;
  run_workspace_id?: number;
  comment?: string;
  status: "PENDING_REGISTRATION" | "READY" | "FAILED_REGISTRATION";
  storage_location: string;
  created_at: number;
  created_by: string;
  updated_at: number;
  updated_by: string;
  /** Tags set through MLflow's Unity Catalog registry calls. */
  tags?: { key: string; value: string }[];
  /** The MLflow logged model (`m-...`) the version was registered from. */
  logged_model_id?: string;
}

interface GrantRow {
  principal: string;
  privileges: string[];
}

type SecurableKind = UcSecurableType;

/** Privileges applicable to each securable type. */
const APPLICABLE: Record<SecurableKind, readonly string[]> = UC_PRIVILEGES;

/** A resolved securable: enough to check privileges and ownership along the catalog → schema chain. */
interface Securable {
  kind: SecurableKind;
  id: string;
  fullName: string;
  owner: string;
  parent?: Securable;
}

const ACCOUNT_USERS = "account users";
const SYSTEM_USER = "System user";
const INFORMATION_SCHEMA = "information_schema";
const DEFAULT_SCHEMA = "default";
const PAGE_CAP = 1000;

/** Every privilege name the API knows; anything else is rejected outright. */
const KNOWN_PRIVILEGES = new Set([
  ...Object.values(APPLICABLE).flat(),
  "ACCESS",
  "CREATE",
  "CREATE_EXTERNAL_TABLE",
  "CREATE_EXTERNAL_VOLUME",
  "CREATE_FOREIGN_CATALOG",
  "CREATE_FOREIGN_SECURABLE",
  "CREATE_MANAGED_STORAGE",
  "CREATE_VIEW",
  "EXECUTE_CLEAN_ROOM_TASK",
  "EXTERNAL_USE_LOCATION",
  "MODIFY_CLEAN_ROOM",
  "READ_FILES",
  "READ_METADATA",
  "READ_PRIVATE_FILES",
  "USAGE",
  "USE_CONNECTION",
  "WRITE_FILES",
  "WRITE_PRIVATE_FILES",
]);

/** What ALL_PRIVILEGES stands for: everything applicable except MANAGE and EXTERNAL_USE_SCHEMA. */
const expandAll = (kind: SecurableKind) =>
  APPLICABLE[kind].filter((p) => p !== "ALL_PRIVILEGES" && p !== "MANAGE" && p !== "EXTERNAL_USE_SCHEMA");

const KIND_LABEL: Record<SecurableKind, string> = {
  metastore: "Metastore",
  catalog: "Catalog",
  schema: "Schema",
  volume: "Volume",
  function: "Routine or Model",
  table: "Table",
};

const spaced = (privilege: string) => privilege.replace(/_/g, " ");

// ---------------------------------------------------------------------------------------------
// Errors as Unity Catalog words them

const ucError = (status: number, code: string, message: string) => new ApiError(status, code, message);
const catalogMissing = (name: string) => ucError(404, "CATALOG_DOES_NOT_EXIST", `Catalog '${name}' does not exist.`);
const schemaMissing = (full: string) => ucError(404, "SCHEMA_DOES_NOT_EXIST", `Schema '${full}' does not exist.`);
const volumeMissing = (full: string) => ucError(404, "RESOURCE_DOES_NOT_EXIST", `Volume '${full}' does not exist.`);
const modelMissing = (full: string) => ucError(404, "RESOURCE_DOES_NOT_EXIST", `Routine or Model '${full}' does not exist.`);
const metastoreMissing = (id: string) => ucError(404, "METASTORE_DOES_NOT_EXIST", `Metastore '${id}' does not exist.`);
const ucDenied = (message: string) => ucError(403, "PERMISSION_DENIED", message);

/** UC names: no spaces, periods, slashes or control characters; at most 255 characters. */
function validName(rpc: string, field: string, raw: unknown): string {
  const name = typeof raw === "string" ? raw : "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what UC rejects
  if (name === "" || name.length > 255 || /[\s./\u0000-\u001f\u007f]/.test(name)) {
    throw invalid(
      `Invalid input: RPC ${rpc} Field ${field}: name ${JSON.stringify(name)} is not a valid name. Valid names cannot contain spaces, periods, forward slashes, or control characters.`,
    );
  }
  return name.toLowerCase();
}

function stringMap(input: JsonObject, key: string): Record<string, string> | undefined {
  const v = input[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw invalid(`${key} must be an object of string values`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) out[k] = String(val);
  return out;
}

const CLOUD_URL = /^(s3|s3a|abfss|gs|r2|wasbs):\/\/[^/\s]+(\/.*)?$/;

// ---------------------------------------------------------------------------------------------
// State

/** The Unity Catalog state of one workspace, shared by the REST handlers and other services. */
export class UnityCatalog {
  readonly meta: Collection<MetastoreRecord>;
  readonly catalogs: Collection<CatalogRecord>;
  readonly schemas: Collection<SchemaRecord>;
  readonly volumes: Collection<VolumeRecord>;
  readonly models: Collection<ModelRecord>;
  readonly versions: Collection<ModelVersionRecord>;
  readonly grants: Collection<GrantRow[]>;

  constructor(readonly ws: Workspace) {
    const s = ws.store;
    this.meta = s.collection("uc_metastore");
    this.catalogs = s.collection("uc_catalogs");
    this.schemas = s.collection("uc_schemas");
    this.volumes = s.collection("uc_volumes");
    this.models = s.collection("uc_models");
    this.versions = s.collection("uc_model_versions");
    this.grants = s.collection("uc_grants");
  }

  get metastore(): MetastoreRecord {
    // A store cleared underneath (a reset) gets a fresh metastore rather than failing.
    if (!this.meta.has("current")) this.seed();
    return this.meta.get("current") as MetastoreRecord;
  }

  /**
   * A new workspace gets a metastore, the `main` catalog (with `default` and `information_schema`)
   * usable by all account users, and the read-only `system` catalog.
   */
  seed(): void {
    if (this.meta.has("current")) return;
    const id = randomUUID();
    this.meta.set("current", {
      metastore_id: id,
      name: "lakeforge-local",
      region: "us-east-1",
      cloud: "aws",
      storage_root: `s3://lakeforge-local-metastore/${id}`,
      default_catalog_name: "main",
      ...this.audit(ADMIN_USER_NAME),
    });
    const main = this.insertCatalog({ name: "main", comment: "Main catalog (auto-created)" }, ADMIN_USER_NAME);
    const system = this.insertCatalog(
      { name: "system", comment: "System catalog (auto-created)", catalog_type: "SYSTEM_CATALOG" },
      SYSTEM_USER,
    );
    this.grants.set(`catalog:${main.id}`, [{ principal: ACCOUNT_USERS, privileges: ["USE_CATALOG"] }]);
    this.grants.set(`catalog:${system.id}`, [{ principal: ACCOUNT_USERS, privileges: ["USE_CATALOG"] }]);
    const mainDefault = this.schemas.find((s) => s.catalog_id === main.id && s.name === DEFAULT_SCHEMA);
    if (mainDefault) {
      this.grants.set(`schema:${mainDefault.id}`, [
        {
          principal: ACCOUNT_USERS,
          privileges: ["CREATE_FUNCTION", "CREATE_MODEL", "CREATE_TABLE", "CREATE_VOLUME", "USE_SCHEMA"],
        },
      ]);
    }
  }

  /** Owner and creation stamps of a new record: its creator owns it. */
  audit(owner: string): Audit {
    const now = Date.now();
    return { owner, created_at: now, created_by: owner, updated_at: now, updated_by: owner };
  }

  /** Stores a catalog and its auto-created `default` and `information_schema` schemas. */
  insertCatalog(fields: Partial<CatalogRecord> & { name: string }, owner: string): CatalogRecord {
    const rec: CatalogRecord = {
      catalog_type: "MANAGED_CATALOG",
      isolation_mode: "OPEN",
      ...fields,
      id: randomUUID(),
      ...this.audit(owner),
    };
    this.catalogs.set(rec.id, rec);
    const addSchema = (name: string, comment: string, schemaOwner: string) => {
      const schema: SchemaRecord = { id: randomUUID(), catalog_id: rec.id, name, comment, ...this.audit(schemaOwner) };
      this.schemas.set(schema.id, schema);
    };
    if (rec.catalog_type !== "SYSTEM_CATALOG") addSchema(DEFAULT_SCHEMA, "Default schema (auto-created)", owner);
    addSchema(INFORMATION_SCHEMA, "Information schema (auto-created)", SYSTEM_USER);
    return rec;
  }

  // -- lookups ------------------------------------------------------------------------------

  catalogByName(name: string): CatalogRecord | undefined {
    const lower = name.toLowerCase();
    return this.catalogs.find((c) => c.name === lower);
  }

  requireCatalog(name: string): CatalogRecord {
    const c = this.catalogByName(name);
    if (!c) throw catalogMissing(name.toLowerCase());
    return c;
  }

  requireSchema(catalogName: string, schemaName: string): { catalog: CatalogRecord; schema: SchemaRecord } {
    const catalog = this.requireCatalog(catalogName);
    const lower = schemaName.toLowerCase();
    const schema = this.schemas.find((s) => s.catalog_id === catalog.id && s.name === lower);
    if (!schema) throw schemaMissing(`${catalog.name}.${lower}`);
    return { catalog, schema };
  }

  /** Splits a dotted full name into exactly `parts` names. */
  split(full: string, parts: number, what: string): string[] {
    const names = full.split(".");
    if (names.length !== parts || names.some((n) => n === "")) {
      throw invalid(`Invalid ${what} full name '${full}': expected ${parts} dot-separated names.`);
    }
    return names;
  }

  resolveSchema(full: string): { catalog: CatalogRecord; schema: SchemaRecord } {
    const [c, s] = this.split(full, 2, "schema") as [string, string];
    return this.requireSchema(c, s);
  }

  resolveVolume(full: string): { catalog: CatalogRecord; schema: SchemaRecord; volume: VolumeRecord } {
    const [c, s, v] = this.split(full, 3, "volume") as [string, string, string];
    const { catalog, schema } = this.requireSchema(c, s);
    const lower = v.toLowerCase();
    const volume = this.volumes.find((x) => x.schema_id === schema.id && x.name === lower);
    if (!volume) throw volumeMissing(`${catalog.name}.${schema.name}.${lower}`);
    return { catalog, schema, volume };
  }

  resolveModel(full: string): { catalog: CatalogRecord; schema: SchemaRecord; model: ModelRecord } {
    const [c, s, m] = this.split(full, 3, "registered model") as [string, string, string];
    const { catalog, schema } = this.requireSchema(c, s);
    const lower = m.toLowerCase();
    const model = this.models.find((x) => x.schema_id === schema.id && x.name === lower);
    if (!model) throw modelMissing(`${catalog.name}.${schema.name}.${lower}`);
    return { catalog, schema, model };
  }

  // -- securables, privileges, ownership ----------------------------------------------------

  catalogSec(c: CatalogRecord): Securable {
    return { kind: "catalog", id: c.id, fullName: c.name, owner: c.owner };
  }

  schemaSec(c: CatalogRecord, s: SchemaRecord): Securable {
    return { kind: "schema", id: s.id, fullName: `${c.name}.${s.name}`, owner: s.owner, parent: this.catalogSec(c) };
  }

  volumeSec(c: CatalogRecord, s: SchemaRecord, v: VolumeRecord): Securable {
    return { kind: "volume", id: v.id, fullName: `${c.name}.${s.name}.${v.name}`, owner: v.owner, parent: this.schemaSec(c, s) };
  }

  modelSec(c: CatalogRecord, s: SchemaRecord, m: ModelRecord): Securable {
    return {
      kind: "function",
      id: m.id,
      fullName: `${c.name}.${s.name}.${m.name}`,
      owner: m.owner,
      parent: this.schemaSec(c, s),
    };
  }

  metastoreSec(): Securable {
    const m = this.metastore;
    return { kind: "metastore", id: m.metastore_id, fullName: m.metastore_id, owner: m.owner };
  }

  /** Whether a grant or owner name denotes the principal (by name, through a group, or `account users`). */
  matches(p: Principal, name: string): boolean {
    if (name === ACCOUNT_USERS) return true;
    if (name.toLowerCase() === p.name.toLowerCase()) return true;
    return p.groups.includes(name);
  }

  grantRows(sec: Securable): GrantRow[] {
    return this.grants.get(`${sec.kind}:${sec.id}`) ?? [];
  }

  /** Privileges held on the securable, directly or inherited from its schema and catalog (metastore grants do not inherit). */
  held(p: Principal, sec: Securable): Set<string> {
    const out = new Set<string>();
    for (let cur: Securable | undefined = sec; cur; cur = cur.parent) {
      for (const row of this.grantRows(cur)) {
        if (!this.matches(p, row.principal)) continue;
        for (const priv of row.privileges) {
          if (priv === "ALL_PRIVILEGES") for (const x of expandAll(cur.kind)) out.add(x);
          out.add(priv);
        }
      }
    }
    return out;
  }

  /** Owner of the securable or of one of its parents (owners control everything inside), or an admin. */
  controls(p: Principal, sec: Securable): boolean {
    if (p.admin) return true;
    for (let cur: Securable | undefined = sec; cur; cur = cur.parent) if (this.matches(p, cur.owner)) return true;
    return false;
  }

  /** Owner, admin, or MANAGE: may change the securable, its owner and its grants. */
  requireManage(p: Principal, sec: Securable): void {
    if (this.controls(p, sec) || this.held(p, sec).has("MANAGE")) return;
    throw ucDenied(`User is not an owner of ${KIND_LABEL[sec.kind]} '${sec.fullName}'.`);
  }

  /** The USE_CATALOG / USE_SCHEMA privileges needed to reach anything inside a catalog or schema. */
  requireUse(p: Principal, sec: Securable): void {
    const chain: Securable[] = [];
    for (let cur: Securable | undefined = sec; cur; cur = cur.parent) chain.unshift(cur);
    for (const cur of chain) {
      if (cur.kind !== "catalog" && cur.kind !== "schema") continue;
      if (this.controls(p, cur)) continue;
      const need = cur.kind === "catalog" ? "USE_CATALOG" : "USE_SCHEMA";
      if (!this.held(p, cur).has(need)) {
        throw ucDenied(`User does not have ${spaced(need)} on ${KIND_LABEL[cur.kind]} '${cur.fullName}'.`);
      }
    }
  }

  /** May the principal see the securable's metadata? */
  visible(p: Principal, sec: Securable): boolean {
    try {
      this.requireVisible(p, sec);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) return false;
      throw e;
    }
  }

  requireVisible(p: Principal, sec: Securable): void {
    if (this.controls(p, sec)) return;
    if (sec.kind === "catalog") {
      const held = this.held(p, sec);
      if (held.size > 0) return;
      throw ucDenied(`User does not have USE CATALOG on Catalog '${sec.fullName}'.`);
    }
    if (sec.parent) this.requireUse(p, sec.parent);
    // Only privileges that apply to the object itself count: USE CATALOG alone does not reveal schemas.
    const held = new Set([...this.held(p, sec)].filter((x) => APPLICABLE[sec.kind].includes(x)));
    if (sec.kind === "schema") {
      if (held.size > 0) return;
      throw ucDenied(`User does not have USE SCHEMA on Schema '${sec.fullName}'.`);
    }
    const need = sec.kind === "volume" ? "READ_VOLUME" : sec.kind === "function" ? "EXECUTE" : "SELECT";
    if (held.has(need) || held.has("MANAGE") || held.has("APPLY_TAG") || held.has("WRITE_VOLUME")) return;
    throw ucDenied(`User does not have ${spaced(need)} on ${KIND_LABEL[sec.kind]} '${sec.fullName}'.`);
  }

  /** Creating inside a catalog or schema: ownership, or USE on the parents and one of the CREATE privileges. */
  requireCreate(p: Principal, parent: Securable, privilege: string, ...alternatives: string[]): void {
    if (p.admin || this.controls(p, parent)) return;
    this.requireUse(p, parent);
    const held = this.held(p, parent);
    if (held.has(privilege) || alternatives.some((a) => held.has(a))) return;
    throw ucDenied(`User does not have ${spaced(privilege)} on ${KIND_LABEL[parent.kind]} '${parent.fullName}'.`);
  }

  /** Validates a principal named in a grant or as an owner. */
  requirePrincipal(name: string, allowAccountUsers: boolean): void {
    if (allowAccountUsers && name === ACCOUNT_USERS) return;
    const id = this.ws.identity;
    if (id.userByName(name) || id.groupByName(name) || id.servicePrincipalByAppId(name)) return;
    throw ucError(404, "PRINCIPAL_DOES_NOT_EXIST", `Could not find principal with name ${name}.`);
  }

  /** Reading or writing files of a volume: READ VOLUME or WRITE VOLUME, plus USE on its schema and catalog. */
  requireVolumeAccess(p: Principal, sec: Securable, access: "read" | "write"): void {
    if (this.controls(p, sec)) return;
    if (sec.parent) this.requireUse(p, sec.parent);
    const held = this.held(p, sec);
    const need = access === "read" ? "READ_VOLUME" : "WRITE_VOLUME";
    if (held.has(need) || held.has("MANAGE")) return;
    throw ucDenied(`User does not have ${spaced(need)} on Volume '${sec.fullName}'.`);
  }

  // -- storage locations --------------------------------------------------------------------

  catalogLocation(c: CatalogRecord): string | undefined {
    return c.storage_root ? `${c.storage_root.replace(/\/+$/, "")}/__unitystorage/catalogs/${c.id}` : undefined;
  }

  schemaLocation(s: SchemaRecord): string | undefined {
    return s.storage_root ? `${s.storage_root.replace(/\/+$/, "")}/__unitystorage/schemas/${s.id}` : undefined;
  }

  /** Where managed data of objects in a schema goes: the schema's root, else the catalog's, else the metastore's. */
  managedBase(c: CatalogRecord, s: SchemaRecord): string {
    return this.schemaLocation(s) ?? this.catalogLocation(c) ?? this.metastore.storage_root;
  }

  // -- deletion -----------------------------------------------------------------------------

  dropModel(m: ModelRecord): void {
    for (const [k, v] of [...this.versions.entries()]) if (v.model_id === m.id) this.versions.delete(k);
    this.grants.delete(`function:${m.id}`);
    this.models.delete(m.id);
  }

  /** Files written to volumes through the Files API, under `/Volumes/<catalog>/<schema>/<volume>`. */
  get files() {
    return volumeTree(this.ws);
  }

  /** Moves the files under one `/Volumes/...` prefix to another (after a catalog, schema or volume rename). */
  moveFiles(from: string, to: string): void {
    const nodes = this.files.subtree(from);
    if (nodes.length === 0) return;
    this.files.removeSubtree(from);
    const parent = parentOf(to);
    if (parent !== undefined) this.files.mkdirs(parent);
    for (const node of nodes) this.files.add({ ...node, path: `${to}${node.path.slice(from.length)}` });
  }

  dropVolume(v: VolumeRecord, path: string): void {
    this.files.removeSubtree(path);
    this.grants.delete(`volume:${v.id}`);
    this.volumes.delete(v.id);
  }

  dropSchema(s: SchemaRecord): void {
    const c = this.catalogs.get(s.catalog_id);
    if (c) this.files.removeSubtree(`/Volumes/${c.name}/${s.name}`);
    for (const v of this.volumes.filter((x) => x.schema_id === s.id)) {
      this.grants.delete(`volume:${v.id}`);
      this.volumes.delete(v.id);
    }
    for (const m of this.models.filter((x) => x.schema_id === s.id)) this.dropModel(m);
    this.grants.delete(`schema:${s.id}`);
    this.schemas.delete(s.id);
  }

  dropCatalog(c: CatalogRecord): void {
    for (const s of this.schemas.filter((x) => x.catalog_id === c.id)) this.dropSchema(s);
    this.files.removeSubtree(`/Volumes/${c.name}`);
    this.grants.delete(`catalog:${c.id}`);
    this.catalogs.delete(c.id);
  }

  /** Creates a registered model in a schema, as the REST API and MLflow's `databricks-uc` registry do. */
  createModel(
    p: Principal,
    catalog: CatalogRecord,
    schema: SchemaRecord,
    name: string,
    fields: { comment?: string; storage_location?: string; tags?: { key: string; value: string }[] } = {},
  ): ModelRecord {
    this.requireCreate(p, this.schemaSec(catalog, schema), "CREATE_MODEL", "CREATE_FUNCTION");
    if (this.models.find((m) => m.schema_id === schema.id && m.name === name)) {
      throw ucError(409, "RESOURCE_ALREADY_EXISTS", `Routine or Model '${catalog.name}.${schema.name}.${name}' already exists`);
    }
    const id = randomUUID();
    const rec: ModelRecord = {
      id,
      schema_id: schema.id,
      name,
      storage_location: fields.storage_location
        ? fields.storage_location.replace(/\/+$/, "")
        : `${this.managedBase(catalog, schema)}/models/${id}`,
      aliases: [],
      next_version: 1,
      ...(fields.tags && fields.tags.length > 0 ? { tags: fields.tags } : {}),
      ...this.audit(p.name),
    };
    if (fields.comment !== undefined) rec.comment = fields.comment;
    this.models.set(id, rec);
    return rec;
  }

  // -- model versions (created by MLflow clients) --------------------------------------------

  /**
   * Registers a new version of a Unity Catalog model, as MLflow's `create_model_version` does. The
   * version starts PENDING_REGISTRATION; `finalizeModelVersion` makes it READY once its files are
   * uploaded. Only the model's owner (or a holder of MANAGE, or an admin) may add versions.
   */
  createModelVersion(
    p: Principal,
    fullName: string,
    fields: {
      source: string;
      run_id?: string;
      run_workspace_id?: number;
      comment?: string;
      status?: ModelVersionRecord["status"];
      tags?: { key: string; value: string }[];
      logged_model_id?: string;
    },
  ): ModelVersionRecord {
    const { catalog, schema, model } = this.resolveModel(fullName);
    const sec = this.modelSec(catalog, schema, model);
    this.requireUse(p, sec.parent as Securable);
    this.requireManage(p, sec);
    const now = Date.now();
    const id = randomUUID();
    const rec: ModelVersionRecord = {
      id,
      model_id: model.id,
      version: model.next_version,
      source: fields.source,
      ...(fields.run_id ? { run_id: fields.run_id } : {}),
      ...(fields.run_workspace_id !== undefined ? { run_workspace_id: fields.run_workspace_id } : {}),
      ...(fields.comment ? { comment: fields.comment } : {}),
      ...(fields.tags && fields.tags.length > 0 ? { tags: fields.tags } : {}),
      ...(fields.logged_model_id ? { logged_model_id: fields.logged_model_id } : {}),
      status: fields.status ?? "PENDING_REGISTRATION",
      storage_location: `${model.storage_location}/versions/${id}`,
      created_at: now,
      created_by: p.name,
      updated_at: now,
      updated_by: p.name,
    };
    this.models.set(model.id, { ...model, next_version: model.next_version + 1, updated_at: now, updated_by: p.name });
    this.versions.set(`${model.id}/${rec.version}`, rec);
    return rec;
  }

  requireVersion(model: ModelRecord, fullName: string, version: number): ModelVersionRecord {
    const v = this.versions.get(`${model.id}/${version}`);
    if (!v) throw ucError(404, "RESOURCE_DOES_NOT_EXIST", `Model version ${version} of model '${fullName}' does not exist.`);
    return v;
  }

  /** Marks a pending version READY. */
  finalizeModelVersion(p: Principal, fullName: string, version: number): ModelVersionRecord {
    const { catalog, schema, model } = this.resolveModel(fullName);
    this.requireManage(p, this.modelSec(catalog, schema, model));
    const v = this.requireVersion(model, `${catalog.name}.${schema.name}.${model.name}`, version);
    const next: ModelVersionRecord = { ...v, status: "READY", updated_at: Date.now(), updated_by: p.name };
    this.versions.set(`${model.id}/${version}`, next);
    return next;
  }

  // -- response shapes ----------------------------------------------------------------------

  catalogInfo(c: CatalogRecord): JsonObject {
    const m = this.metastore;
    const location = this.catalogLocation(c);
    return {
      name: c.name,
      full_name: c.name,
      owner: c.owner,
      ...(c.comment !== undefined ? { comment: c.comment } : {}),
      ...(c.properties ? { properties: c.properties } : {}),
      ...(c.options ? { options: c.options } : {}),
      ...(c.storage_root ? { storage_root: c.storage_root } : {}),
      ...(location ? { storage_location: location } : {}),
      ...(c.connection_name ? { connection_name: c.connection_name } : {}),
      ...(c.provider_name ? { provider_name: c.provider_name } : {}),
      ...(c.share_name ? { share_name: c.share_name } : {}),
      ...(c.custom_max_retention_hours !== undefined ? { custom_max_retention_hours: c.custom_max_retention_hours } : {}),
      metastore_id: m.metastore_id,
      catalog_type: c.catalog_type,
      isolation_mode: c.isolation_mode,
      securable_type: "CATALOG",
      securable_kind: c.catalog_type === "SYSTEM_CATALOG" ? "CATALOG_SYSTEM" : "CATALOG_STANDARD",
      enable_predictive_optimization: c.enable_predictive_optimization ?? "INHERIT",
      effective_predictive_optimization_flag:
        c.enable_predictive_optimization && c.enable_predictive_optimization !== "INHERIT"
          ? { value: c.enable_predictive_optimization }
          : { value: "DISABLE", inherited_from_type: "METASTORE", inherited_from_name: m.name },
      browse_only: false,
      created_at: c.created_at,
      created_by: c.created_by,
      updated_at: c.updated_at,
      updated_by: c.updated_by,
    };
  }

  schemaInfo(c: CatalogRecord, s: SchemaRecord): JsonObject {
    const m = this.metastore;
    const location = this.schemaLocation(s);
    const effective =
      s.enable_predictive_optimization && s.enable_predictive_optimization !== "INHERIT"
        ? { value: s.enable_predictive_optimization }
        : c.enable_predictive_optimization && c.enable_predictive_optimization !== "INHERIT"
          ? { value: c.enable_predictive_optimization, inherited_from_type: "CATALOG", inherited_from_name: c.name }
          : { value: "DISABLE", inherited_from_type: "METASTORE", inherited_from_name: m.name };
    return {
      name: s.name,
      catalog_name: c.name,
      full_name: `${c.name}.${s.name}`,
      owner: s.owner,
      ...(s.comment !== undefined ? { comment: s.comment } : {}),
      ...(s.properties ? { properties: s.properties } : {}),
      ...(s.storage_root ? { storage_root: s.storage_root } : {}),
      ...(location ? { storage_location: location } : {}),
      ...(s.custom_max_retention_hours !== undefined ? { custom_max_retention_hours: s.custom_max_retention_hours } : {}),
      metastore_id: m.metastore_id,
      schema_id: s.id,
      catalog_type: c.catalog_type,
      enable_predictive_optimization: s.enable_predictive_optimization ?? "INHERIT",
      effective_predictive_optimization_flag: effective,
      browse_only: false,
      created_at: s.created_at,
      created_by: s.created_by,
      updated_at: s.updated_at,
      updated_by: s.updated_by,
    };
  }

  volumeInfo(c: CatalogRecord, s: SchemaRecord, v: VolumeRecord): JsonObject {
    return {
      name: v.name,
      catalog_name: c.name,
      schema_name: s.name,
      full_name: `${c.name}.${s.name}.${v.name}`,
      volume_type: v.volume_type,
      volume_id: v.id,
      storage_location: v.storage_location,
      owner: v.owner,
      ...(v.comment !== undefined ? { comment: v.comment } : {}),
      metastore_id: this.metastore.metastore_id,
      created_at: v.created_at,
      created_by: v.created_by,
      updated_at: v.updated_at,
      updated_by: v.updated_by,
    };
  }

  modelInfo(c: CatalogRecord, s: SchemaRecord, m: ModelRecord, includeAliases: boolean): JsonObject {
    return {
      name: m.name,
      catalog_name: c.name,
      schema_name: s.name,
      full_name: `${c.name}.${s.name}.${m.name}`,
      owner: m.owner,
      ...(m.comment !== undefined ? { comment: m.comment } : {}),
      storage_location: m.storage_location,
      metastore_id: this.metastore.metastore_id,
      ...(includeAliases ? { aliases: m.aliases.map((a) => ({ alias_name: a.alias_name, version_num: a.version_num })) } : {}),
      created_at: m.created_at,
      created_by: m.created_by,
      updated_at: m.updated_at,
      updated_by: m.updated_by,
    };
  }

  versionInfo(c: CatalogRecord, s: SchemaRecord, m: ModelRecord, v: ModelVersionRecord, includeAliases: boolean): JsonObject {
    return {
      model_name: m.name,
      catalog_name: c.name,
      schema_name: s.name,
      version: v.version,
      id: v.id,
      source: v.source,
      ...(v.run_id ? { run_id: v.run_id } : {}),
      ...(v.run_workspace_id !== undefined ? { run_workspace_id: v.run_workspace_id } : {}),
      ...(v.comment !== undefined ? { comment: v.comment } : {}),
      status: v.status,
      storage_location: v.storage_location,
      metastore_id: this.metastore.metastore_id,
      ...(includeAliases
        ? {
            aliases: m.aliases
              .filter((a) => a.version_num === v.version)
              .map((a) => ({ alias_name: a.alias_name, version_num: a.version_num })),
          }
        : {}),
      created_at: v.created_at,
      created_by: v.created_by,
      updated_at: v.updated_at,
      updated_by: v.updated_by,
    };
  }
}

const instances = new WeakMap<Workspace, UnityCatalog>();

/** The Unity Catalog state of a workspace (created and seeded on first use). */
export function unityCatalog(ws: Workspace): UnityCatalog {
  let uc = instances.get(ws);
  if (!uc) {
    uc = new UnityCatalog(ws);
    uc.seed();
    instances.set(ws, uc);
  }
  return uc;
}

// ---------------------------------------------------------------------------------------------
// Routes

/** Page size from `max_results`: 0 or absent lets the server choose; negative is an error. */
function pageSize(input: JsonObject, cap = PAGE_CAP): number {
  const n = int(input, "max_results");
  if (n === undefined || n === 0) return cap;
  if (n < 0) throw invalid("max_results must be greater than or equal to 0");
  return Math.min(n, cap);
}

function paged<T>(items: T[], input: JsonObject, key: string, map: (item: T) => JsonObject): JsonObject {
  const res = page(items, str(input, "page_token"), pageSize(input));
  return { [key]: res.items.map(map), ...(res.next ? { next_page_token: res.next } : {}) };
}

export function register(r: Router, ws: Workspace): void {
  const uc = unityCatalog(ws);
  const base = "/api/2.1/unity-catalog";

  // The Files API asks Unity Catalog who may read and write volume paths.
  uc.files.authorize = (p, path, access) => {
    const [, , catalogName, schemaName, volumeName] = path.split("/");
    const { catalog, schema, volume } = uc.resolveVolume(`${catalogName}.${schemaName}.${volumeName}`);
    uc.requireVolumeAccess(p, uc.volumeSec(catalog, schema, volume), access);
  };
  const me = (c: RequestContext) => c.principal;
  const touched = (c: RequestContext) => ({ updated_at: Date.now(), updated_by: me(c).name });

  // -- metastore --------------------------------------------------------------------------

  r.get(`${base}/current-metastore-assignment`, () => ({
    workspace_id: Number(ws.workspaceId),
    metastore_id: uc.metastore.metastore_id,
    default_catalog_name: uc.metastore.default_catalog_name,
  }));

  const metastoreInfo = () => {
    const m = uc.metastore;
    return {
      metastore_id: m.metastore_id,
      name: m.name,
      owner: m.owner,
      cloud: m.cloud,
      region: m.region,
      storage_root: m.storage_root,
      global_metastore_id: `${m.cloud}:${m.region}:${m.metastore_id}`,
      privilege_model_version: "1.0",
      delta_sharing_scope: "INTERNAL",
      external_access_enabled: false,
      created_at: m.created_at,
      created_by: m.created_by,
      updated_at: m.updated_at,
      updated_by: m.updated_by,
    };
  };
  r.get(`${base}/metastore_summary`, () => metastoreInfo());
  r.get(`${base}/metastores`, () => ({ metastores: [metastoreInfo()] }));
  r.get(`${base}/metastores/:id`, (c) => {
    if (c.params.id !== uc.metastore.metastore_id) throw metastoreMissing(c.params.id as string);
    return metastoreInfo();
  });

  // -- shared by the create and update handlers -------------------------------------------

  // Each throws Unity Catalog's "already exists" error when a sibling already has the name.
  const freeCatalogName = (name: string) => {
    if (uc.catalogByName(name)) throw ucError(409, "CATALOG_ALREADY_EXISTS", `Catalog '${name}' already exists`);
  };
  const freeSchemaName = (cat: CatalogRecord, name: string) => {
    if (uc.schemas.find((s) => s.catalog_id === cat.id && s.name === name)) {
      throw ucError(409, "SCHEMA_ALREADY_EXISTS", `Schema '${name}' already exists`);
    }
  };
  const freeVolumeName = (cat: CatalogRecord, schema: SchemaRecord, name: string) => {
    if (uc.volumes.find((v) => v.schema_id === schema.id && v.name === name)) {
      throw ucError(409, "RESOURCE_ALREADY_EXISTS", `Volume '${cat.name}.${schema.name}.${name}' already exists`);
    }
  };
  const freeModelName = (cat: CatalogRecord, schema: SchemaRecord, name: string) => {
    if (uc.models.find((m) => m.schema_id === schema.id && m.name === name)) {
      throw ucError(409, "RESOURCE_ALREADY_EXISTS", `Routine or Model '${cat.name}.${schema.name}.${name}' already exists`);
    }
  };

  /** The optional `storage_root` of a create request: a cloud storage URL, kept without trailing slashes. */
  const storageRoot = (input: JsonObject): string | undefined => {
    const root = str(input, "storage_root");
    if (root === undefined || root === "") return undefined;
    if (!CLOUD_URL.test(root)) {
      throw invalid(`Invalid storage_root '${root}': expected a cloud storage URL such as s3://bucket/path.`);
    }
    return root.replace(/\/+$/, "");
  };

  /**
   * A copy of `rec` with the fields every update request accepts: `new_name` (a valid name for the
   * `rpc`, which `claim` throws on when a sibling has it), `owner` (an existing principal) and `comment`.
   */
  const updated = <T extends Audit & { name: string; comment?: string }>(
    c: RequestContext,
    rec: T,
    rpc: string,
    claim: (name: string) => void,
  ): T => {
    const next: T = { ...rec, ...touched(c) };
    const newName = str(c.input, "new_name");
    if (newName !== undefined && newName !== "" && newName.toLowerCase() !== rec.name) {
      next.name = validName(rpc, "new_name", newName);
      claim(next.name);
    }
    const owner = str(c.input, "owner");
    if (owner !== undefined && owner !== "" && owner !== rec.owner) {
      uc.requirePrincipal(owner, false);
      next.owner = owner;
    }
    const comment = str(c.input, "comment");
    if (comment !== undefined) next.comment = comment;
    return next;
  };

  // -- catalogs ---------------------------------------------------------------------------

  r.post(`${base}/catalogs`, (c) => {
    const name = validName("CreateCatalog", "managedcatalog.CatalogInfo.name", c.input.name);
    const p = me(c);
    const ms = uc.metastoreSec();
    if (!p.admin && !uc.matches(p, ms.owner) && !uc.held(p, ms).has("CREATE_CATALOG")) {
      throw ucDenied(`User does not have CREATE CATALOG on Metastore '${uc.metastore.name}'.`);
    }
    freeCatalogName(name);
    const root = storageRoot(c.input);
    const connection = str(c.input, "connection_name");
    const share = str(c.input, "share_name");
    const fields: Partial<CatalogRecord> & { name: string } = { name };
    const comment = str(c.input, "comment");
    if (comment !== undefined) fields.comment = comment;
    const properties = stringMap(c.input, "properties");
    if (properties) fields.properties = properties;
    const options = stringMap(c.input, "options");
    if (options) fields.options = options;
    if (root) fields.storage_root = root;
    if (connection) {
      fields.connection_name = connection;
      fields.catalog_type = "FOREIGN_CATALOG";
    }
    if (share) {
      fields.share_name = share;
      const provider = str(c.input, "provider_name");
      if (provider) fields.provider_name = provider;
      fields.catalog_type = "DELTASHARING_CATALOG";
    }
    const retention = int(c.input, "custom_max_retention_hours");
    if (retention !== undefined) fields.custom_max_retention_hours = retention;
    return uc.catalogInfo(uc.insertCatalog(fields, p.name));
  });

  r.get(`${base}/catalogs`, (c) => {
    const p = me(c);
    const visible = [...uc.catalogs.values()]
      .filter((cat) => uc.visible(p, uc.catalogSec(cat)))
      .sort((a, b) => a.name.localeCompare(b.name));
    return paged(visible, c.input, "catalogs", (cat) => uc.catalogInfo(cat));
  });

  r.get(`${base}/catalogs/:name`, (c) => {
    const cat = uc.requireCatalog(c.params.name as string);
    uc.requireVisible(me(c), uc.catalogSec(cat));
    return uc.catalogInfo(cat);
  });

  r.patch(`${base}/catalogs/:name`, (c) => {
    const cat = uc.requireCatalog(c.params.name as string);
    if (cat.catalog_type === "SYSTEM_CATALOG") throw invalid(`Catalog '${cat.name}' is a system catalog and cannot be modified.`);
    uc.requireManage(me(c), uc.catalogSec(cat));
    const next = updated(c, cat, "UpdateCatalog", freeCatalogName);
    const properties = stringMap(c.input, "properties");
    if (properties) next.properties = properties;
    const options = stringMap(c.input, "options");
    if (options) next.options = options;
    const isolation = str(c.input, "isolation_mode");
    if (isolation) {
      if (isolation !== "OPEN" && isolation !== "ISOLATED") throw invalid(`Invalid isolation_mode: ${isolation}`);
      next.isolation_mode = isolation;
    }
    const po = str(c.input, "enable_predictive_optimization");
    if (po) next.enable_predictive_optimization = po;
    const retention = int(c.input, "custom_max_retention_hours");
    if (retention !== undefined) next.custom_max_retention_hours = retention;
    uc.catalogs.set(cat.id, next);
    if (next.name !== cat.name) uc.moveFiles(`/Volumes/${cat.name}`, `/Volumes/${next.name}`);
    return uc.catalogInfo(next);
  });

  r.delete(`${base}/catalogs/:name`, (c) => {
    const cat = uc.requireCatalog(c.params.name as string);
    if (cat.catalog_type === "SYSTEM_CATALOG") throw invalid(`Catalog '${cat.name}' is a system catalog and cannot be deleted.`);
    uc.requireManage(me(c), uc.catalogSec(cat));
    if (!bool(c.input, "force")) {
      const schemas = uc.schemas.filter((s) => s.catalog_id === cat.id && s.name !== INFORMATION_SCHEMA);
      if (schemas.length > 0) {
        throw ucError(
          400,
          "CATALOG_NOT_EMPTY",
          `Catalog '${cat.name}' is not empty. The catalog has ${schemas.length} schema(s) (excluding the information_schema) and 0 other entities. Use force to delete it with its contents.`,
        );
      }
    }
    uc.dropCatalog(cat);
    return {};
  });

  // -- schemas ----------------------------------------------------------------------------

  r.post(`${base}/schemas`, (c) => {
    const name = validName("CreateSchema", "managedcatalog.SchemaInfo.name", c.input.name);
    const cat = uc.requireCatalog(requireStr(c.input, "catalog_name"));
    const p = me(c);
    if (cat.catalog_type === "SYSTEM_CATALOG")
      throw ucDenied(`Catalog '${cat.name}' is a system catalog: schemas cannot be created in it.`);
    uc.requireCreate(p, uc.catalogSec(cat), "CREATE_SCHEMA");
    freeSchemaName(cat, name);
    const root = storageRoot(c.input);
    const rec: SchemaRecord = { id: randomUUID(), catalog_id: cat.id, name, ...uc.audit(p.name) };
    const comment = str(c.input, "comment");
    if (comment !== undefined) rec.comment = comment;
    const properties = stringMap(c.input, "properties");
    if (properties) rec.properties = properties;
    if (root) rec.storage_root = root;
    const retention = int(c.input, "custom_max_retention_hours");
    if (retention !== undefined) rec.custom_max_retention_hours = retention;
    uc.schemas.set(rec.id, rec);
    return uc.schemaInfo(cat, rec);
  });

  r.get(`${base}/schemas`, (c) => {
    const cat = uc.requireCatalog(requireStr(c.input, "catalog_name"));
    const p = me(c);
    const list = uc.schemas
      .filter((s) => s.catalog_id === cat.id)
      .filter((s) => uc.visible(p, uc.schemaSec(cat, s)))
      .sort((a, b) => a.name.localeCompare(b.name));
    return paged(list, c.input, "schemas", (s) => uc.schemaInfo(cat, s));
  });

  r.get(`${base}/schemas/:full_name`, (c) => {
    const { catalog, schema } = uc.resolveSchema(c.params.full_name as string);
    uc.requireVisible(me(c), uc.schemaSec(catalog, schema));
    return uc.schemaInfo(catalog, schema);
  });

  r.patch(`${base}/schemas/:full_name`, (c) => {
    const { catalog, schema } = uc.resolveSchema(c.params.full_name as string);
    if (schema.name === INFORMATION_SCHEMA)
      throw invalid(`Schema '${catalog.name}.${schema.name}' is a system schema and cannot be modified.`);
    uc.requireManage(me(c), uc.schemaSec(catalog, schema));
    const next = updated(c, schema, "UpdateSchema", (name) => freeSchemaName(catalog, name));
    const properties = stringMap(c.input, "properties");
    if (properties) next.properties = properties;
    const po = str(c.input, "enable_predictive_optimization");
    if (po) next.enable_predictive_optimization = po;
    const retention = int(c.input, "custom_max_retention_hours");
    if (retention !== undefined) next.custom_max_retention_hours = retention;
    uc.schemas.set(schema.id, next);
    if (next.name !== schema.name)
      uc.moveFiles(`/Volumes/${catalog.name}/${schema.name}`, `/Volumes/${catalog.name}/${next.name}`);
    return uc.schemaInfo(catalog, next);
  });

  r.delete(`${base}/schemas/:full_name`, (c) => {
    const { catalog, schema } = uc.resolveSchema(c.params.full_name as string);
    if (schema.name === INFORMATION_SCHEMA)
      throw invalid(`Schema '${catalog.name}.${schema.name}' is a system schema and cannot be deleted.`);
    uc.requireManage(me(c), uc.schemaSec(catalog, schema));
    if (!bool(c.input, "force")) {
      const count =
        uc.volumes.filter((v) => v.schema_id === schema.id).length + uc.models.filter((m) => m.schema_id === schema.id).length;
      if (count > 0) {
        throw ucError(
          400,
          "SCHEMA_NOT_EMPTY",
          `Schema '${catalog.name}.${schema.name}' is not empty. The schema has ${count} object(s). Use force to delete it with its contents.`,
        );
      }
    }
    uc.dropSchema(schema);
    return {};
  });

  // -- volumes ----------------------------------------------------------------------------

  r.post(`${base}/volumes`, (c) => {
    const name = validName("CreateVolume", "name", c.input.name);
    const { catalog, schema } = uc.requireSchema(requireStr(c.input, "catalog_name"), requireStr(c.input, "schema_name"));
    const p = me(c);
    const type = requireStr(c.input, "volume_type").toUpperCase();
    if (type !== "MANAGED" && type !== "EXTERNAL") throw invalid(`Invalid volume_type ${type}: use MANAGED or EXTERNAL.`);
    const given = str(c.input, "storage_location");
    if (type === "MANAGED" && given) throw invalid("CreateVolume storage_location can not be provided.");
    if (type === "EXTERNAL" && !given) throw invalid("CreateVolume storage_location must be provided for an EXTERNAL volume.");
    uc.requireCreate(p, uc.schemaSec(catalog, schema), "CREATE_VOLUME");
    freeVolumeName(catalog, schema, name);
    const id = randomUUID();
    let location: string;
    if (type === "EXTERNAL") {
      location = (given as string).replace(/\/+$/, "");
      if (!CLOUD_URL.test(location)) {
        throw invalid(`Invalid storage_location '${location}': expected a cloud storage URL such as s3://bucket/path.`);
      }
      // External volumes may not overlap each other.
      const overlapping = uc.volumes.find(
        (v) =>
          v.volume_type === "EXTERNAL" &&
          (v.storage_location === location ||
            v.storage_location.startsWith(`${location}/`) ||
            location.startsWith(`${v.storage_location}/`)),
      );
      if (overlapping) {
        throw invalid(`Input path url '${location}' overlaps with other external tables or volumes.`);
      }
    } else {
      location = `${uc.managedBase(catalog, schema)}/volumes/${id}`;
    }
    const rec: VolumeRecord = {
      id,
      schema_id: schema.id,
      name,
      volume_type: type,
      storage_location: location,
      ...uc.audit(p.name),
    };
    const comment = str(c.input, "comment");
    if (comment !== undefined) rec.comment = comment;
    uc.volumes.set(id, rec);
    return uc.volumeInfo(catalog, schema, rec);
  });

  r.get(`${base}/volumes`, (c) => {
    const { catalog, schema } = uc.requireSchema(requireStr(c.input, "catalog_name"), requireStr(c.input, "schema_name"));
    const p = me(c);
    const list = uc.volumes
      .filter((v) => v.schema_id === schema.id)
      .filter((v) => uc.visible(p, uc.volumeSec(catalog, schema, v)))
      .sort((a, b) => a.name.localeCompare(b.name));
    return paged(list, c.input, "volumes", (v) => uc.volumeInfo(catalog, schema, v));
  });

  r.get(`${base}/volumes/:name`, (c) => {
    const { catalog, schema, volume } = uc.resolveVolume(c.params.name as string);
    uc.requireVisible(me(c), uc.volumeSec(catalog, schema, volume));
    return uc.volumeInfo(catalog, schema, volume);
  });

  r.patch(`${base}/volumes/:name`, (c) => {
    const { catalog, schema, volume } = uc.resolveVolume(c.params.name as string);
    uc.requireManage(me(c), uc.volumeSec(catalog, schema, volume));
    const next = updated(c, volume, "UpdateVolume", (name) => freeVolumeName(catalog, schema, name));
    uc.volumes.set(volume.id, next);
    if (next.name !== volume.name) {
      const dir = `/Volumes/${catalog.name}/${schema.name}`;
      uc.moveFiles(`${dir}/${volume.name}`, `${dir}/${next.name}`);
    }
    return uc.volumeInfo(catalog, schema, next);
  });

  r.delete(`${base}/volumes/:name`, (c) => {
    const { catalog, schema, volume } = uc.resolveVolume(c.params.name as string);
    uc.requireManage(me(c), uc.volumeSec(catalog, schema, volume));
    uc.dropVolume(volume, `/Volumes/${catalog.name}/${schema.name}/${volume.name}`);
    return {};
  });

  // -- registered models ------------------------------------------------------------------

  r.post(`${base}/models`, (c) => {
    const name = validName("CreateRegisteredModel", "name", c.input.name);
    const { catalog, schema } = uc.requireSchema(requireStr(c.input, "catalog_name"), requireStr(c.input, "schema_name"));
    const p = me(c);
    uc.requireCreate(p, uc.schemaSec(catalog, schema), "CREATE_MODEL", "CREATE_FUNCTION");
    freeModelName(catalog, schema, name);
    const givenLocation = str(c.input, "storage_location");
    const comment = str(c.input, "comment");
    // Aliases, owner and the other output fields some clients send on create are ignored, as
    // the service does: aliases need versions, and the creator owns the model.
    const rec = uc.createModel(p, catalog, schema, name, {
      ...(givenLocation ? { storage_location: givenLocation } : {}),
      ...(comment !== undefined ? { comment } : {}),
    });
    return uc.modelInfo(catalog, schema, rec, false);
  });

  r.get(`${base}/models`, (c) => {
    const p = me(c);
    const catalogName = str(c.input, "catalog_name");
    const schemaName = str(c.input, "schema_name");
    if (schemaName && !catalogName) throw invalid("catalog_name is required when schema_name is given");
    let schemaIds: Set<string> | undefined;
    if (catalogName && schemaName) schemaIds = new Set([uc.requireSchema(catalogName, schemaName).schema.id]);
    else if (catalogName) {
      const cat = uc.requireCatalog(catalogName);
      schemaIds = new Set(uc.schemas.filter((s) => s.catalog_id === cat.id).map((s) => s.id));
    }
    const rows: { c: CatalogRecord; s: SchemaRecord; m: ModelRecord; full: string }[] = [];
    for (const m of uc.models.values()) {
      if (schemaIds && !schemaIds.has(m.schema_id)) continue;
      const s = uc.schemas.get(m.schema_id);
      const cat = s ? uc.catalogs.get(s.catalog_id) : undefined;
      if (!s || !cat) continue;
      if (!uc.visible(p, uc.modelSec(cat, s, m))) continue;
      rows.push({ c: cat, s, m, full: `${cat.name}.${s.name}.${m.name}` });
    }
    rows.sort((a, b) => a.full.localeCompare(b.full));
    return paged(rows, c.input, "registered_models", (row) => uc.modelInfo(row.c, row.s, row.m, false));
  });

  /** The model named in the path once the caller may see it (`view`) or change it (`manage`); `full` is its full name. */
  const pathModel = (c: RequestContext, access: "view" | "manage") => {
    const { catalog, schema, model } = uc.resolveModel(c.params.full_name as string);
    const sec = uc.modelSec(catalog, schema, model);
    if (access === "view") uc.requireVisible(me(c), sec);
    else uc.requireManage(me(c), sec);
    return { catalog, schema, model, full: sec.fullName };
  };

  r.get(`${base}/models/:full_name`, (c) => {
    const { catalog, schema, model } = pathModel(c, "view");
    return uc.modelInfo(catalog, schema, model, bool(c.input, "include_aliases") === true);
  });

  r.patch(`${base}/models/:full_name`, (c) => {
    const { catalog, schema, model } = pathModel(c, "manage");
    const next = updated(c, model, "UpdateRegisteredModel", (name) => freeModelName(catalog, schema, name));
    uc.models.set(model.id, next);
    return uc.modelInfo(catalog, schema, next, false);
  });

  r.delete(`${base}/models/:full_name`, (c) => {
    uc.dropModel(pathModel(c, "manage").model);
    return {};
  });

  // -- model versions and aliases ---------------------------------------------------------

  const versionNumber = (raw: string): number => {
    if (!/^\d+$/.test(raw)) throw invalid(`Invalid model version '${raw}': expected a positive integer.`);
    return Number(raw);
  };

  r.get(`${base}/models/:full_name/versions`, (c) => {
    const { catalog, schema, model } = pathModel(c, "view");
    const list = uc.versions.filter((v) => v.model_id === model.id).sort((a, b) => b.version - a.version);
    return paged(list, c.input, "model_versions", (v) => uc.versionInfo(catalog, schema, model, v, false));
  });

  r.get(`${base}/models/:full_name/versions/:version`, (c) => {
    const { catalog, schema, model, full } = pathModel(c, "view");
    const v = uc.requireVersion(model, full, versionNumber(c.params.version as string));
    return uc.versionInfo(catalog, schema, model, v, bool(c.input, "include_aliases") === true);
  });

  r.patch(`${base}/models/:full_name/versions/:version`, (c) => {
    const { catalog, schema, model, full } = pathModel(c, "manage");
    const n = versionNumber(c.params.version as string);
    const next: ModelVersionRecord = { ...uc.requireVersion(model, full, n), ...touched(c) };
    const comment = str(c.input, "comment");
    if (comment !== undefined) next.comment = comment;
    uc.versions.set(`${model.id}/${n}`, next);
    return uc.versionInfo(catalog, schema, model, next, false);
  });

  r.delete(`${base}/models/:full_name/versions/:version`, (c) => {
    const { model, full } = pathModel(c, "manage");
    const n = versionNumber(c.params.version as string);
    uc.requireVersion(model, full, n);
    uc.versions.delete(`${model.id}/${n}`);
    // Aliases pointing at a deleted version go with it.
    uc.models.set(model.id, { ...model, aliases: model.aliases.filter((a) => a.version_num !== n), ...touched(c) });
    return {};
  });

  const aliasName = (raw: string): string => {
    const alias = raw.toLowerCase();
    if (!/^[a-z0-9_-]{1,255}$/.test(alias)) {
      throw invalid(`Invalid alias name '${raw}': use letters, digits, underscores and dashes.`);
    }
    if (alias === "latest" || /^v\d+$/.test(alias)) {
      throw invalid(`Alias name '${raw}' is reserved: 'latest' and names like 'v1' cannot be used as aliases.`);
    }
    return alias;
  };
  const aliasMissing = (alias: string, full: string) =>
    ucError(404, "RESOURCE_DOES_NOT_EXIST", `Alias '${alias}' does not exist on model '${full}'.`);

  r.put(`${base}/models/:full_name/aliases/:alias`, (c) => {
    const { catalog, schema, model, full } = pathModel(c, "manage");
    const alias = aliasName(c.params.alias as string);
    const versionNum = int(c.input, "version_num");
    if (versionNum === undefined) throw invalid("Missing required field: version_num");
    uc.requireVersion(model, full, versionNum);
    const aliases = model.aliases.filter((a) => a.alias_name !== alias);
    aliases.push({ alias_name: alias, version_num: versionNum });
    aliases.sort((a, b) => a.alias_name.localeCompare(b.alias_name));
    uc.models.set(model.id, { ...model, aliases, ...touched(c) });
    return {
      alias_name: alias,
      version_num: versionNum,
      catalog_name: catalog.name,
      schema_name: schema.name,
      model_name: model.name,
    };
  });

  r.get(`${base}/models/:full_name/aliases/:alias`, (c) => {
    const { catalog, schema, model, full } = pathModel(c, "view");
    const alias = (c.params.alias as string).toLowerCase();
    const hit = model.aliases.find((a) => a.alias_name === alias);
    if (!hit) throw aliasMissing(alias, full);
    const v = uc.requireVersion(model, full, hit.version_num);
    return uc.versionInfo(catalog, schema, model, v, bool(c.input, "include_aliases") === true);
  });

  r.delete(`${base}/models/:full_name/aliases/:alias`, (c) => {
    const { model, full } = pathModel(c, "manage");
    const alias = (c.params.alias as string).toLowerCase();
    if (!model.aliases.some((a) => a.alias_name === alias)) throw aliasMissing(alias, full);
    uc.models.set(model.id, { ...model, aliases: model.aliases.filter((a) => a.alias_name !== alias), ...touched(c) });
    return {};
  });

  // -- grants -----------------------------------------------------------------------------

  /** Resolves `{securable_type}/{full_name}` from the permissions routes. */
  const securable = (typeRaw: string, full: string): Securable => {
    const type = typeRaw.toLowerCase().replace(/-/g, "_");
    switch (type) {
      case "metastore": {
        if (full !== uc.metastore.metastore_id) throw metastoreMissing(full);
        return uc.metastoreSec();
      }
      case "catalog":
        return uc.catalogSec(uc.requireCatalog(full));
      case "schema": {
        const { catalog, schema } = uc.resolveSchema(full);
        return uc.schemaSec(catalog, schema);
      }
      case "volume": {
        const { catalog, schema, volume } = uc.resolveVolume(full);
        return uc.volumeSec(catalog, schema, volume);
      }
      // Registered models are FUNCTION securables in the grants API.
      case "function":
      case "model":
      case "registered_model": {
        const { catalog, schema, model } = uc.resolveModel(full);
        return uc.modelSec(catalog, schema, model);
      }
      case "table": {
        const [cn, sn, tn] = uc.split(full, 3, "table") as [string, string, string];
        const { catalog, schema } = uc.requireSchema(cn, sn);
        throw ucError(404, "TABLE_DOES_NOT_EXIST", `Table '${catalog.name}.${schema.name}.${tn.toLowerCase()}' does not exist.`);
      }
      default:
        throw invalid(`Unsupported securable type: ${typeRaw}`);
    }
  };

  const assignments = (sec: Securable, principal?: string): JsonObject[] =>
    uc
      .grantRows(sec)
      .filter((row) => principal === undefined || row.principal === principal)
      .map((row) => ({ principal: row.principal, privileges: [...row.privileges] }));

  /** The securable of a permissions path, for reading its grants: anyone may read the metastore's. */
  const readableSecurable = (c: RequestContext): Securable => {
    const sec = securable(c.params.type as string, c.params.full_name as string);
    if (sec.kind !== "metastore") uc.requireVisible(me(c), sec);
    return sec;
  };

  r.get(`${base}/permissions/:type/:full_name`, (c) => {
    const rows = assignments(readableSecurable(c), str(c.input, "principal"));
    return paged(rows, c.input, "privilege_assignments", (row) => row);
  });

  r.patch(`${base}/permissions/:type/:full_name`, (c) => {
    const sec = securable(c.params.type as string, c.params.full_name as string);
    const p = me(c);
    if (sec.kind === "metastore") {
      if (!p.admin && !uc.matches(p, sec.owner)) throw ucDenied(`User is not an owner of Metastore '${uc.metastore.name}'.`);
    } else {
      uc.requireManage(p, sec);
    }
    const changes = c.input.changes ?? [];
    if (!Array.isArray(changes)) throw invalid("changes must be an array");
    const parsed = changes.map((raw) => {
      const ch = (raw ?? {}) as JsonObject;
      const principal = requireStr(ch, "principal");
      const list = (key: string): string[] => {
        const v = ch[key] ?? [];
        if (!Array.isArray(v)) throw invalid(`${key} must be an array of privileges`);
        return v.map((x) => String(x).toUpperCase().replace(/ /g, "_"));
      };
      const add = list("add");
      const remove = list("remove");
      for (const priv of [...add, ...remove]) {
        if (!KNOWN_PRIVILEGES.has(priv)) throw invalid(`Invalid privilege: ${priv}`);
        if (!APPLICABLE[sec.kind].includes(priv)) {
          throw invalid(
            `Privilege ${spaced(priv)} is not applicable to this entity [${sec.fullName}:${sec.kind.toUpperCase()}]. If this seems unexpected, please check the privilege version of the metastore in use [1.0].`,
          );
        }
      }
      if (add.some((priv) => remove.includes(priv))) {
        throw invalid(`Duplicate privileges to add and delete for principal ${principal}.`);
      }
      if (add.length > 0) uc.requirePrincipal(principal, true);
      return { principal, add, remove };
    });
    // Removals apply before additions; removing ALL_PRIVILEGES clears every privilege of the principal.
    const rows = uc.grantRows(sec).map((row) => ({ principal: row.principal, privileges: [...row.privileges] }));
    for (const ch of parsed) {
      let row = rows.find((x) => x.principal === ch.principal);
      if (!row) {
        row = { principal: ch.principal, privileges: [] };
        rows.push(row);
      }
      if (ch.remove.includes("ALL_PRIVILEGES")) row.privileges = [];
      else row.privileges = row.privileges.filter((priv) => !ch.remove.includes(priv));
      for (const priv of ch.add) if (!row.privileges.includes(priv)) row.privileges.push(priv);
      row.privileges.sort();
    }
    const kept = rows.filter((row) => row.privileges.length > 0);
    if (kept.length > 0) uc.grants.set(`${sec.kind}:${sec.id}`, kept);
    else uc.grants.delete(`${sec.kind}:${sec.id}`);
    if (bool(c.input, "omit_permissions_in_response")) return {};
    return { privilege_assignments: kept.map((row) => ({ principal: row.principal, privileges: row.privileges })) };
  });

  r.get(`${base}/effective-permissions/:type/:full_name`, (c) => {
    const sec = readableSecurable(c);
    const filter = str(c.input, "principal");
    const byPrincipal = new Map<string, JsonObject[]>();
    for (let cur: Securable | undefined = sec; cur; cur = cur.parent) {
      for (const row of uc.grantRows(cur)) {
        if (filter !== undefined && row.principal !== filter) continue;
        const list = byPrincipal.get(row.principal) ?? [];
        for (const priv of row.privileges) {
          if (cur !== sec && !APPLICABLE[sec.kind].includes(priv)) continue;
          list.push(
            cur === sec
              ? { privilege: priv }
              : { privilege: priv, inherited_from_type: cur.kind.toUpperCase(), inherited_from_name: cur.fullName },
          );
        }
        byPrincipal.set(row.principal, list);
      }
    }
    const rows = [...byPrincipal.entries()]
      .filter(([, privileges]) => privileges.length > 0)
      .map(([principal, privileges]) => ({ principal, privileges }));
    return paged(rows, c.input, "privilege_assignments", (row) => row);
  });
}
