import { denied, invalid } from "./http.js";
import { type Principal, USERS_GROUP } from "./identity.js";
import type { Collection, Store } from "./store/store.js";
import type { Workspace } from "./workspace.js";

/**
 * The workspace file tree (notebooks, files, directories, Git folders, and the objects other services
 * keep in folders, such as MLflow experiments) and the volume file tree of the Files API, both kept
 * as one record per path in a store collection, with in-memory indexes of children and object ids
 * rebuilt from the collection on start.
 */

/** Objects another service owns and keeps in workspace folders (see `WorkspaceTree.putForeign`). */
export type ForeignObjectType = "MLFLOW_EXPERIMENT";
export type ObjectType = "DIRECTORY" | "NOTEBOOK" | "FILE" | "REPO" | "LIBRARY" | ForeignObjectType;
export type NotebookLanguage = "PYTHON" | "SQL" | "SCALA" | "R";
/** How a notebook is kept and exported by default: as source with a header, or as a Jupyter document. */
export type NotebookFormat = "SOURCE" | "JUPYTER";

export interface TreeNode {
  /** Absolute path without the `/Workspace` alias; the root is "/". */
  path: string;
  object_id: number;
  object_type: ObjectType;
  /** Milliseconds since the epoch. */
  created_at: number;
  modified_at: number;
  language?: NotebookLanguage;
  notebook_format?: NotebookFormat;
  /** Content hash in the blob store (files and notebooks). */
  blob?: string;
  size?: number;
  /**
   * Set on nodes another service owns (an MLflow experiment): the permission object type that guards
   * them, whose id is the node's `object_id`. The owner keeps the object's record and permissions.
   */
  permission_type?: string;
}

/** Whether a node stands for an object another service owns (a leaf with no content). */
export const isForeign = (node: TreeNode) => node.permission_type !== undefined;

export const LANGUAGES: readonly NotebookLanguage[] = ["PYTHON", "SQL", "SCALA", "R"];

/** The comment prefix a source notebook of each language uses for its header and cell separators. */
const COMMENT: Record<NotebookLanguage, string> = { PYTHON: "#", R: "#", SCALA: "//", SQL: "--" };
export const notebookHeader = (language: NotebookLanguage) => `${COMMENT[language]} Databricks notebook source`;
export const cellSeparator = (language: NotebookLanguage) => `${COMMENT[language]} COMMAND ----------`;
export const magicPrefix = (language: NotebookLanguage) => `${COMMENT[language]} MAGIC`;

/** The file extension of a source notebook, as the CLI and the export API name them. */
export const EXTENSION: Record<NotebookLanguage, string> = { PYTHON: "py", SQL: "sql", SCALA: "scala", R: "r" };

function languageOfExtension(path: string): NotebookLanguage | undefined {
  const dot = path.lastIndexOf(".");
  if (dot <= path.lastIndexOf("/")) return undefined;
  const ext = path.slice(dot + 1);
  if (ext === "py") return "PYTHON";
  if (ext === "sql") return "SQL";
  if (ext === "scala") return "SCALA";
  if (ext === "r" || ext === "R") return "R";
  return undefined;
}

const stripExtension = (path: string) => path.slice(0, path.lastIndexOf("."));

/** Language of a Jupyter document, from its kernel or language metadata; PYTHON when it says nothing. */
export function jupyterLanguage(doc: JupyterDocument): NotebookLanguage {
  const meta = doc.metadata ?? {};
  const name = String(meta.language_info?.name ?? meta.kernelspec?.language ?? "python").toLowerCase();
  if (name === "sql") return "SQL";
  if (name === "scala") return "SCALA";
  if (name === "r") return "R";
  return "PYTHON";
}

export interface JupyterDocument {
  cells: { cell_type?: string; source?: string | string[] }[];
  metadata?: { language_info?: { name?: string }; kernelspec?: { language?: string }; [key: string]: unknown };
  nbformat?: number;
  nbformat_minor?: number;
}

/** Parses a Jupyter (.ipynb) document; undefined when the bytes are not one. */
export function parseJupyter(content: Buffer): JupyterDocument | undefined {
  try {
    const doc = JSON.parse(content.toString("utf8")) as unknown;
    if (doc && typeof doc === "object" && Array.isArray((doc as JupyterDocument).cells)) return doc as JupyterDocument;
  } catch {
    // not JSON
  }
  return undefined;
}

export interface Classified {
  /** Where the object lands: notebooks lose their extension. */
  path: string;
  type: "NOTEBOOK" | "FILE";
  language?: NotebookLanguage;
  format?: NotebookFormat;
}

/**
 * What the workspace makes of a file written with format AUTO (and through `import-file` or a Git
 * clone): a `.py`/`.sql`/`.scala`/`.r` file whose first line is the Databricks notebook header of its
 * language becomes a source notebook, an `.ipynb` Jupyter document becomes a Jupyter notebook, both
 * without their extension; anything else is a workspace file at the given path.
 */
export function classifyFile(path: string, content: Buffer): Classified {
  const language = languageOfExtension(path);
  if (language) {
    const text = content
      .subarray(0, 256)
      .toString("utf8")
      .replace(/^\uFEFF/, "");
    const firstLine = text.split(/\r?\n/, 1)[0]?.trimEnd();
    if (firstLine === notebookHeader(language)) {
      return { path: stripExtension(path), type: "NOTEBOOK", language, format: "SOURCE" };
    }
  }
  if (path.endsWith(".ipynb")) {
    const doc = parseJupyter(content);
    if (doc) return { path: stripExtension(path), type: "NOTEBOOK", language: jupyterLanguage(doc), format: "JUPYTER" };
  }
  return { path, type: "FILE" };
}

// ---------------------------------------------------------------------------------------------
// Paths

/** Collapses repeated slashes and drops a trailing one; rejects relative paths and `.`/`..` segments. */
export function normalizePath(raw: string): string {
  if (!raw.startsWith("/")) throw invalid(`Path (${raw}) is not absolute. Paths must start with '/'.`);
  const segments = raw.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === "." || s === "..")) throw invalid(`Path (${raw}) is not a valid path.`);
  return `/${segments.join("/")}`;
}

/** A request path resolved to its canonical form, remembering whether the caller used the `/Workspace` alias. */
export interface ResolvedPath {
  path: string;
  prefix: "" | "/Workspace";
}

/**
 * Workspace paths may be given with the `/Workspace` prefix (as bundles and the file system of a
 * cluster name them): `/Workspace/Users/x` is the object `/Users/x`. Responses name objects the way
 * the caller did.
 */
export function resolveWorkspacePath(raw: string): ResolvedPath {
  const path = normalizePath(raw);
  if (path === "/Workspace") return { path: "/", prefix: "/Workspace" };
  if (path.startsWith("/Workspace/")) return { path: path.slice("/Workspace".length), prefix: "/Workspace" };
  return { path, prefix: "" };
}

export const displayPath = (path: string, prefix: ResolvedPath["prefix"]) =>
  prefix ? (path === "/" ? prefix : `${prefix}${path}`) : path;

export function parentOf(path: string): string | undefined {
  if (path === "/") return undefined;
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);
export const joinPath = (dir: string, name: string) => (dir === "/" ? `/${name}` : `${dir}/${name}`);
export const isWithin = (path: string, dir: string) => dir === "/" || path === dir || path.startsWith(`${dir}/`);

// ---------------------------------------------------------------------------------------------
// The tree

const isContainer = (node: TreeNode) => node.object_type === "DIRECTORY" || node.object_type === "REPO";

/**
 * Nodes keyed by path. Writers check parents and conflicts first (each service answers those with its
 * own error codes), then call `add`/`update`/`removeSubtree`, all synchronous.
 */
export class FileTree {
  protected readonly nodes: Collection<TreeNode>;
  private children = new Map<string, Set<string>>();
  private ids = new Map<number, string>();
  private indexedSize = -1;

  constructor(
    protected readonly store: Store,
    collection: string,
    private readonly idSequence: string,
    private readonly idStart: number,
  ) {
    this.nodes = store.collection<TreeNode>(collection);
    this.index();
  }

  /** Rebuilds the indexes when the collection changed underneath them (a reset of the store). */
  private index(): void {
    if (this.indexedSize === this.nodes.size && this.nodes.has("/")) return;
    this.children = new Map();
    this.ids = new Map();
    if (!this.nodes.has("/")) {
      const now = Date.now();
      this.nodes.set("/", { path: "/", object_id: 0, object_type: "DIRECTORY", created_at: now, modified_at: now });
    }
    for (const node of this.nodes.values()) this.indexNode(node);
    this.indexedSize = this.nodes.size;
  }

  private indexNode(node: TreeNode): void {
    this.ids.set(node.object_id, node.path);
    const parent = parentOf(node.path);
    if (parent === undefined) return;
    let set = this.children.get(parent);
    if (!set) {
      set = new Set();
      this.children.set(parent, set);
    }
    set.add(node.path);
  }

  get(path: string): TreeNode | undefined {
    this.index();
    return this.nodes.get(path);
  }

  byId(id: number | string): TreeNode | undefined {
    this.index();
    const n = typeof id === "number" ? id : /^\d+$/.test(id) ? Number(id) : Number.NaN;
    const path = this.ids.get(n);
    return path === undefined ? undefined : this.nodes.get(path);
  }

  /** Direct children, sorted by path. */
  list(path: string): TreeNode[] {
    this.index();
    const set = this.children.get(path);
    if (!set) return [];
    return [...set]
      .sort()
      .map((p) => this.nodes.get(p))
      .filter((n): n is TreeNode => n !== undefined);
  }

  hasChildren(path: string): boolean {
    this.index();
    return (this.children.get(path)?.size ?? 0) > 0;
  }

  /** The node and everything below it, parents before children. */
  subtree(path: string): TreeNode[] {
    const root = this.get(path);
    if (!root) return [];
    const out: TreeNode[] = [];
    const stack = [root];
    while (stack.length > 0) {
      const node = stack.pop() as TreeNode;
      out.push(node);
      const kids = this.list(node.path);
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i] as TreeNode);
    }
    return out;
  }

  /** The closest existing ancestor that is not a container, if any (a file in the way). */
  blockerOf(path: string): TreeNode | undefined {
    for (let p = parentOf(path); p !== undefined; p = parentOf(p)) {
      const node = this.get(p);
      if (node && !isContainer(node)) return node;
    }
    return undefined;
  }

  isContainer(path: string): boolean {
    const node = this.get(path);
    return node !== undefined && isContainer(node);
  }

  newId(): number {
    return this.store.nextId(this.idSequence, this.idStart);
  }

  /** Adds a node whose parent exists and is a container. */
  add(fields: Omit<TreeNode, "object_id" | "created_at" | "modified_at"> & Partial<TreeNode>): TreeNode {
    this.index();
    const parent = parentOf(fields.path);
    if (parent === undefined || !this.isContainer(parent)) throw new Error(`no directory to hold ${fields.path}`);
    if (this.nodes.has(fields.path)) throw new Error(`${fields.path} exists`);
    const now = Date.now();
    const node: TreeNode = { created_at: now, modified_at: now, ...fields, object_id: fields.object_id ?? this.newId() };
    this.nodes.set(node.path, node);
    this.indexNode(node);
    this.indexedSize = this.nodes.size;
    return node;
  }

  /** Replaces a node at the same path (same id). */
  update(node: TreeNode): TreeNode {
    this.index();
    const old = this.nodes.get(node.path);
    if (!old) throw new Error(`${node.path} does not exist`);
    if (old.object_id !== node.object_id) {
      this.ids.delete(old.object_id);
      this.ids.set(node.object_id, node.path);
    }
    this.nodes.set(node.path, node);
    return node;
  }

  /** Creates every missing directory on the way to `path` (which must not cross a file). */
  mkdirs(path: string, created?: (node: TreeNode) => void): TreeNode {
    const existing = this.get(path);
    if (existing) return existing;
    const parent = parentOf(path) as string;
    this.mkdirs(parent, created);
    const node = this.add({ path, object_type: "DIRECTORY" });
    created?.(node);
    return node;
  }

  /** Removes the node and everything below it; returns what was removed, children first. */
  removeSubtree(path: string): TreeNode[] {
    const removed = this.subtree(path).reverse();
    for (const node of removed) {
      this.nodes.delete(node.path);
      this.ids.delete(node.object_id);
      this.children.delete(node.path);
      const parent = parentOf(node.path);
      if (parent !== undefined) this.children.get(parent)?.delete(node.path);
    }
    this.indexedSize = this.nodes.size;
    return removed;
  }

  /** Stores content in the blob store and returns the fields a node keeps for it. */
  putContent(content: Buffer): { blob: string; size: number } {
    return { blob: this.store.putBlob(content), size: content.length };
  }

  content(node: TreeNode): Buffer {
    return node.blob ? this.store.getBlob(node.blob) : Buffer.alloc(0);
  }
}

// ---------------------------------------------------------------------------------------------
// The workspace tree: system folders, home folders, permissions

export const WORKSPACE_LEVELS = ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"];

/** The permission object type of each kind of workspace object (`/api/2.0/permissions/{type}/{id}`). */
export function permissionType(node: TreeNode): string {
  if (node.permission_type !== undefined) return node.permission_type;
  switch (node.object_type) {
    case "NOTEBOOK":
      return "notebooks";
    case "FILE":
    case "LIBRARY":
      return "files";
    case "REPO":
      return "repos";
    default:
      return "directories";
  }
}

/** Folders everyone may see and list (their children are filtered by permission). */
const OPEN_FOLDERS = new Set(["/", "/Users", "/Repos"]);

export class WorkspaceTree extends FileTree {
  private readonly homesReady = new Set<string>();
  private homesRevision = -1;
  private readonly removeHooks: ((node: TreeNode) => void)[] = [];

  constructor(private readonly ws: Workspace) {
    super(ws.store, "workspace_objects", "workspace_object", 1_000_000_000_000_000);
    const spec = (type: string, objectType: string, kinds: ObjectType[]) => {
      ws.permissions.register(type, {
        levels: WORKSPACE_LEVELS,
        objectType,
        idPrefix: `/${type}/`,
        exists: (id) => {
          const node = this.byId(id);
          return node !== undefined && kinds.includes(node.object_type);
        },
        parent: (id) => {
          const node = this.byId(id);
          const parentPath = node ? parentOf(node.path) : undefined;
          const parent = parentPath === undefined ? undefined : this.get(parentPath);
          return parent ? { type: permissionType(parent), id: String(parent.object_id) } : undefined;
        },
        missing: (id) => `${objectType[0]?.toUpperCase()}${objectType.slice(1)} ${id} does not exist.`,
      });
    };
    spec("directories", "directory", ["DIRECTORY"]);
    spec("notebooks", "notebook", ["NOTEBOOK"]);
    spec("files", "file", ["FILE", "LIBRARY"]);
    spec("repos", "repo", ["REPO"]);
    this.seed();
  }

  /** `/Users`, `/Shared` (which every user may manage) and `/Repos`. */
  private seed(): void {
    for (const path of ["/Users", "/Shared", "/Repos"]) {
      if (this.get(path)) continue;
      const node = this.add({ path, object_type: "DIRECTORY" });
      if (path === "/Shared") {
        this.ws.permissions.write(
          "directories",
          String(node.object_id),
          [{ group_name: USERS_GROUP, permission_level: "CAN_MANAGE" }],
          "merge",
        );
      }
    }
  }

  /**
   * Every user and service principal has a home folder `/Users/<name>` and a Git folder root
   * `/Repos/<name>`, which they manage. They are created the first time the tree is used after the
   * identity appears.
   */
  ensureHomes(): void {
    // Runs on every request: nothing to do unless an identity changed (or the tree lost its seed).
    const revision = this.ws.identity.principalsRevision;
    if (revision === this.homesRevision && this.get("/Users")) return;
    this.seed();
    const identities: { id: string; name: string; kind: Principal["kind"] }[] = [];
    for (const u of this.ws.identity.users.values()) identities.push({ id: u.id, name: u.userName, kind: "user" });
    for (const sp of this.ws.identity.servicePrincipals.values()) {
      identities.push({ id: sp.id, name: sp.applicationId, kind: "service_principal" });
    }
    for (const who of identities) {
      const key = `${who.kind}:${who.id}:${who.name}`;
      if (this.homesReady.has(key)) continue;
      this.homesReady.add(key);
      if (!who.name || who.name.includes("/")) continue;
      for (const root of ["/Users", "/Repos"]) {
        const path = joinPath(root, who.name);
        if (this.get(path)) continue;
        const node = this.add({ path, object_type: "DIRECTORY" });
        const entry = who.kind === "user" ? { user_name: who.name } : { service_principal_name: who.name };
        this.ws.permissions.write("directories", String(node.object_id), [{ ...entry, permission_level: "CAN_MANAGE" }], "merge");
      }
    }
    this.homesRevision = revision;
  }

  /**
   * Registers a hook called for every node a subtree removal takes away (children first), so the
   * services owning objects in the tree (Git folders, MLflow experiments) can follow. Hooks are not
   * called for `removeForeign`: there the owner itself removes its node.
   */
  onRemove(hook: (node: TreeNode) => void): void {
    this.removeHooks.push(hook);
  }

  /**
   * Removes a subtree with the permissions of everything in it, except those of foreign objects,
   * which their owners keep (a deleted MLflow experiment can be restored with its permissions).
   */
  override removeSubtree(path: string): TreeNode[] {
    const removed = super.removeSubtree(path);
    for (const node of removed) {
      if (!isForeign(node)) this.ws.permissions.drop(permissionType(node), String(node.object_id));
      for (const hook of this.removeHooks) hook(node);
    }
    return removed;
  }

  /**
   * Places an object another service owns at `path`, a free path in an existing folder: it is listed
   * and named by the Workspace API, blocks that path for notebooks, files and folders, and goes with
   * its folder (the `onRemove` hooks tell the owner). Its id is the owner's id for the object, taken
   * from `newId()` so that it never collides with a workspace object id.
   */
  putForeign(path: string, objectType: ForeignObjectType, objectId: number, permissionType: string): TreeNode {
    return this.add({ path, object_type: objectType, object_id: objectId, permission_type: permissionType });
  }

  /** Moves a foreign node (an experiment renamed by its service) to a free path in an existing folder. */
  moveForeign(from: string, to: string): TreeNode {
    const node = this.get(from);
    if (!node || !isForeign(node)) throw new Error(`no foreign object at ${from}`);
    if (from === to) return node;
    const parent = parentOf(to);
    if (parent === undefined || !this.isContainer(parent) || this.get(to)) throw new Error(`cannot move ${from} to ${to}`);
    super.removeSubtree(from);
    return this.add({ ...node, path: to, modified_at: Date.now() });
  }

  /** Removes a foreign node on behalf of its owner (no `onRemove` hooks); a no-op when it is not there. */
  removeForeign(path: string, objectId: number): void {
    const node = this.get(path);
    if (node && isForeign(node) && node.object_id === objectId) super.removeSubtree(path);
  }

  /** The caller with the implicit `users` group every workspace identity belongs to. */
  private member(principal: Principal): Principal {
    return principal.groups.includes(USERS_GROUP) ? principal : { ...principal, groups: [...principal.groups, USERS_GROUP] };
  }

  has(principal: Principal, node: TreeNode, level: string): boolean {
    if (principal.admin) return true;
    if (level === "CAN_READ" && OPEN_FOLDERS.has(node.path)) return true;
    return this.ws.permissions.has(this.member(principal), permissionType(node), String(node.object_id), level);
  }

  /** Throws 403 PERMISSION_DENIED unless the caller holds `level` on the node (directly or inherited). */
  require(principal: Principal, node: TreeNode, level: string, shownPath: string): void {
    if (this.has(principal, node, level)) return;
    const what = level === "CAN_READ" ? "read" : level === "CAN_MANAGE" ? "manage" : "edit";
    throw denied(`${principal.name} does not have ${level} permission to ${what} ${shownPath}.`);
  }

  /** Gives the creator of an object CAN_MANAGE on it. */
  grantCreator(principal: Principal, node: TreeNode): void {
    this.ws.permissions.grantCreator(permissionType(node), String(node.object_id), principal);
  }

  /** The REPO node containing `path` (or at it), if any. */
  repoOf(path: string): TreeNode | undefined {
    for (let p: string | undefined = path; p !== undefined; p = parentOf(p)) {
      const node = this.get(p);
      if (node?.object_type === "REPO") return node;
    }
    return undefined;
  }
}

/** The `ObjectInfo` of the workspace API for a node, named with the caller's prefix. */
export function objectInfo(node: TreeNode, prefix: ResolvedPath["prefix"]): Record<string, unknown> {
  const info: Record<string, unknown> = {
    object_type: node.object_type,
    path: displayPath(node.path, prefix),
    object_id: node.object_id,
    resource_id: String(node.object_id),
  };
  if (node.object_type === "NOTEBOOK") {
    info.language = node.language;
    info.created_at = node.created_at;
    info.modified_at = node.modified_at;
  } else if (node.object_type === "FILE") {
    info.created_at = node.created_at;
    info.modified_at = node.modified_at;
    info.size = node.size ?? 0;
  }
  return info;
}

const workspaceTrees = new WeakMap<Workspace, WorkspaceTree>();
const volumeTrees = new WeakMap<Workspace, VolumeTree>();

/** The workspace tree of a workspace (one per workspace; registers its permission object types). */
export function workspaceTree(ws: Workspace): WorkspaceTree {
  let tree = workspaceTrees.get(ws);
  if (!tree) {
    tree = new WorkspaceTree(ws);
    workspaceTrees.set(ws, tree);
  }
  return tree;
}

/**
 * Files under `/Volumes/<catalog>/<schema>/<volume>/...` written through the Files API. A volume's
 * root exists implicitly. `authorize`, when set (by the service that owns volumes), decides who may
 * read or write a path; by default every authenticated caller may.
 */
export class VolumeTree extends FileTree {
  authorize?: (principal: Principal, path: string, access: "read" | "write") => void;

  constructor(store: Store) {
    super(store, "volume_files", "volume_file", 0);
  }
}

export function volumeTree(ws: Workspace): VolumeTree {
  let tree = volumeTrees.get(ws);
  if (!tree) {
    tree = new VolumeTree(ws.store);
    volumeTrees.set(ws, tree);
  }
  return tree;
}
