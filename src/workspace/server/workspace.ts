import { createHash, randomBytes } from "node:crypto";
import {
  ApiError,
  bool,
  int,
  invalid,
  type JsonObject,
  notFound,
  page,
  RawResponse,
  type RequestContext,
  type Router,
  requireStr,
  str,
} from "../http.js";
import type { Principal } from "../identity.js";
import {
  baseName,
  type Classified,
  cellSeparator,
  classifyFile,
  displayPath,
  EXTENSION,
  isForeign,
  isWithin,
  type JupyterDocument,
  jupyterLanguage,
  LANGUAGES,
  magicPrefix,
  type NotebookLanguage,
  normalizePath,
  notebookHeader,
  objectInfo,
  parentOf,
  parseJupyter,
  permissionType,
  type ResolvedPath,
  resolveWorkspacePath,
  type TreeNode,
  type VolumeTree,
  volumeTree,
  type WorkspaceTree,
  workspaceTree,
} from "../tree.js";
import type { Workspace } from "../workspace.js";
import { gitInfo } from "./repos.js";

/**
 * The Workspace API (`/api/2.0/workspace/*`), the workspace-files endpoints the Databricks CLI uses to
 * sync bundle files, and the Files API (`/api/2.0/fs/*`) for volume paths.
 */
export function register(r: Router, ws: Workspace): void {
  const tree = workspaceTree(ws);
  registerWorkspace(r, ws, tree);
  registerFiles(r, ws, volumeTree(ws));
}

/** The largest object the import and export calls accept (10 MiB), as on a real workspace. */
const MAX_IMPORT_EXPORT_BYTES = 10 * 1024 * 1024;
const SYSTEM_FOLDERS = new Set(["/", "/Users", "/Shared", "/Repos"]);
const IMPORT_FORMATS = new Set(["SOURCE", "AUTO", "RAW", "JUPYTER", "HTML", "DBC", "R_MARKDOWN"]);
const EXPORT_FORMATS = IMPORT_FORMATS;

const tooLarge = (size: number) =>
  new ApiError(
    400,
    "MAX_NOTEBOOK_SIZE_EXCEEDED",
    `File size imported is (${size} bytes), exceeded max size (${MAX_IMPORT_EXPORT_BYTES} bytes)`,
  );

const missingPath = (shown: string) => notFound(`Path (${shown}) doesn't exist.`);

function registerWorkspace(r: Router, ws: Workspace, tree: WorkspaceTree): void {
  /** Resolves `path` from the input; `shown` is how error messages name it (as the caller did). */
  const target = (input: JsonObject, key = "path"): ResolvedPath & { shown: string } => {
    const raw = requireStr(input, key);
    return { ...resolveWorkspacePath(raw), shown: raw };
  };
  const existing = (p: ResolvedPath & { shown: string }): TreeNode => {
    const node = tree.get(p.path);
    if (!node) throw missingPath(p.shown);
    return node;
  };

  r.get("/api/2.0/workspace/get-status", (c) => {
    tree.ensureHomes();
    const p = target(c.input);
    const node = existing(p);
    tree.require(c.principal, node, "CAN_READ", p.shown);
    const info = objectInfo(node, p.prefix);
    // Not in the public API reference, but sent by the Databricks CLI to tell source from Jupyter notebooks.
    if (bool(c.input, "return_export_info") && node.object_type === "NOTEBOOK") {
      info.repos_export_format = node.notebook_format ?? "SOURCE";
    }
    if (bool(c.input, "return_git_info")) {
      const repo = tree.repoOf(node.path);
      const git = repo ? gitInfo(ws, repo) : undefined;
      if (git) info.git_info = git;
    }
    return info;
  });

  r.get("/api/2.0/workspace/list", (c) => {
    tree.ensureHomes();
    const p = target(c.input);
    const node = existing(p);
    tree.require(c.principal, node, "CAN_READ", p.shown);
    // Listing an object that is not a folder answers the object itself.
    if (node.object_type !== "DIRECTORY" && node.object_type !== "REPO") return { objects: [objectInfo(node, p.prefix)] };
    const after = int(c.input, "notebooks_modified_after");
    const objects = tree
      .list(node.path)
      .filter((child) => tree.has(c.principal, child, "CAN_READ"))
      .filter((child) => after === undefined || child.object_type !== "NOTEBOOK" || child.modified_at > after)
      .map((child) => objectInfo(child, p.prefix));
    return objects.length > 0 ? { objects } : {};
  });

  r.post("/api/2.0/workspace/mkdirs", (c) => {
    tree.ensureHomes();
    const p = target(c.input);
    const node = tree.get(p.path);
    if (node) {
      if (node.object_type !== "DIRECTORY" && node.object_type !== "REPO") {
        throw alreadyExistsLegacy(`Path (${p.shown}) already exists and is not a directory.`);
      }
      tree.require(c.principal, node, "CAN_READ", p.shown);
      return {};
    }
    const blocker = tree.blockerOf(p.path);
    if (blocker) {
      throw alreadyExistsLegacy(
        `Cannot create directory ${p.shown}: ${displayPath(blocker.path, p.prefix)} is a ${blocker.object_type.toLowerCase()}.`,
      );
    }
    let ancestor = parentOf(p.path) as string;
    while (!tree.get(ancestor)) ancestor = parentOf(ancestor) as string;
    tree.require(c.principal, tree.get(ancestor) as TreeNode, "CAN_EDIT", displayPath(ancestor, p.prefix));
    tree.mkdirs(p.path, (created) => tree.grantCreator(c.principal, created));
    return {};
  });

  r.post("/api/2.0/workspace/import", (c) => {
    tree.ensureHomes();
    const input = importInput(c);
    const p = target(input);
    const content = input.content as Buffer;
    if (content.length > MAX_IMPORT_EXPORT_BYTES) throw tooLarge(content.length);
    const format = str(input, "format") ?? "SOURCE";
    if (!IMPORT_FORMATS.has(format)) throw invalid(`Invalid import format: ${format}`);
    const language = str(input, "language");
    if (language !== undefined && !LANGUAGES.includes(language as NotebookLanguage)) {
      throw invalid(`Invalid language: ${language}`);
    }
    let classified: Classified;
    switch (format) {
      case "SOURCE":
        if (!language) {
          // Without a language, SOURCE means a zip archive of source notebooks (a directory import).
          throw invalid(
            "The zip file may not be valid or may be an unsupported version. Hint: Objects imported using format=SOURCE are expected to be zip encoded databricks source notebook(s) by default. Please specify a language using the `language` field if you are importing a single notebook.",
          );
        }
        classified = { path: p.path, type: "NOTEBOOK", language: language as NotebookLanguage, format: "SOURCE" };
        break;
      case "JUPYTER": {
        const doc = parseJupyter(content);
        if (!doc) throw invalid(`Unable to parse the content of ${p.shown} as a Jupyter notebook.`);
        classified = {
          path: p.path.endsWith(".ipynb") ? p.path.slice(0, -".ipynb".length) : p.path,
          type: "NOTEBOOK",
          language: (language as NotebookLanguage | undefined) ?? jupyterLanguage(doc),
          format: "JUPYTER",
        };
        break;
      }
      case "AUTO":
        classified = classifyFile(p.path, content);
        break;
      case "RAW":
        classified = { path: p.path, type: "FILE" };
        break;
      default:
        throw invalid(`Import format ${format} is not supported by this workspace; use SOURCE, AUTO, JUPYTER or RAW.`);
    }
    writeObject(ws, tree, c.principal, classified, content, bool(input, "overwrite") ?? false, p.prefix, "import");
    return {};
  });

  r.get("/api/2.0/workspace/export", (c) => {
    tree.ensureHomes();
    const p = target(c.input);
    const node = existing(p);
    tree.require(c.principal, node, "CAN_READ", p.shown);
    const format = str(c.input, "format") ?? "SOURCE";
    if (!EXPORT_FORMATS.has(format)) throw invalid(`Invalid export format: ${format}`);
    const { content, fileType } = exportObject(tree, c.principal, node, format, p.shown);
    if (content.length > MAX_IMPORT_EXPORT_BYTES) throw tooLarge(content.length);
    if (bool(c.input, "direct_download")) {
      return new RawResponse(200, content, { "content-type": "application/octet-stream" });
    }
    return { content: content.toString("base64"), ...(fileType ? { file_type: fileType } : {}) };
  });

  r.post("/api/2.0/workspace/delete", (c) => {
    tree.ensureHomes();
    const p = target(c.input);
    const node = existing(p);
    const parent = parentOf(node.path);
    if (SYSTEM_FOLDERS.has(node.path)) throw invalid(`Cannot delete ${p.shown}: it is a system folder.`);
    // An object another service owns (an MLflow experiment) needs the level its own delete call needs.
    tree.require(c.principal, node, isForeign(node) ? "CAN_MANAGE" : "CAN_EDIT", p.shown);
    if (!c.principal.admin && (parent === "/Users" || parent === "/Repos")) {
      throw new ApiError(403, "PERMISSION_DENIED", `Only workspace admins may delete the user folder ${p.shown}.`);
    }
    if (tree.hasChildren(node.path) && !(bool(c.input, "recursive") ?? false)) {
      throw new ApiError(400, "DIRECTORY_NOT_EMPTY", `Folder (${p.shown}) is not empty`);
    }
    // The owners of objects in the subtree (Git folders, MLflow experiments) follow through the
    // tree's removal hooks: an experiment removed here is deleted, as by its own delete call.
    tree.removeSubtree(node.path);
    return {};
  });

  /** Raw upload used by the Databricks CLI (`bundle deploy`, `sync`): notebooks are detected as with AUTO. */
  r.post(
    "/api/2.0/workspace-files/import-file/*path",
    (c) => {
      tree.ensureHomes();
      const raw = `/${(c.params.path as string).replace(/^\/+/, "")}`;
      const p = resolveWorkspacePath(raw);
      const overwrite = c.query.get("overwrite") === "true";
      writeObject(ws, tree, c.principal, classifyFile(p.path, c.rawBody), c.rawBody, overwrite, p.prefix, "import-file");
      return {};
    },
    { rawBody: true },
  );

  /** Reads a workspace file without the size limit of export (the CLI reads bundle state this way). */
  r.get("/api/2.0/workspace-files/*path", (c) => {
    tree.ensureHomes();
    const raw = `/${(c.params.path as string).replace(/^\/+/, "")}`;
    const p = resolveWorkspacePath(raw);
    const node = tree.get(p.path);
    if (node?.object_type !== "FILE") throw notFound(`File Not Found: ${raw}`);
    tree.require(c.principal, node, "CAN_READ", raw);
    return new RawResponse(200, tree.content(node), { "content-type": "application/octet-stream" });
  });
}

/** The legacy workspace API answers conflicts with 400 RESOURCE_ALREADY_EXISTS. */
const alreadyExistsLegacy = (message: string) => new ApiError(400, "RESOURCE_ALREADY_EXISTS", message);

/** Import input from a JSON body (base64 `content`) or a multipart form (a `content` file part). */
function importInput(c: RequestContext): JsonObject {
  const ct = String(c.headers["content-type"] ?? "").toLowerCase();
  if (ct.startsWith("multipart/form-data")) {
    const parts = parseMultipart(c.rawBody, ct);
    const input: JsonObject = { ...c.input };
    for (const [name, part] of parts) input[name] = name === "content" ? part.data : part.data.toString("utf8");
    input.content ??= Buffer.alloc(0);
    return input;
  }
  const encoded = c.input.content;
  if (encoded !== undefined && encoded !== null && typeof encoded !== "string") throw invalid("content must be a base64 string");
  return { ...c.input, content: Buffer.from((encoded as string | undefined) ?? "", "base64") };
}

/**
 * Writes a notebook or file at `target.path`: the parent folder must exist (404 otherwise), an
 * existing object needs `overwrite` and CAN_EDIT on it, a new one CAN_EDIT on its folder.
 * `import-file` answers an existing file with 409, as the CLI expects.
 */
function writeObject(
  ws: Workspace,
  tree: WorkspaceTree,
  principal: Principal,
  target: Classified,
  content: Buffer,
  overwrite: boolean,
  prefix: ResolvedPath["prefix"],
  via: "import" | "import-file",
): TreeNode {
  const shown = displayPath(target.path, prefix);
  // Content goes to the blob store only once the write is allowed.
  const fields = () => ({
    object_type: target.type,
    ...(target.language ? { language: target.language } : {}),
    ...(target.format ? { notebook_format: target.format } : {}),
    ...tree.putContent(content),
  });
  const current = tree.get(target.path);
  if (current) {
    // Folders and objects other services own (MLflow experiments) are never replaced by a write.
    const isFolder = current.object_type === "DIRECTORY" || current.object_type === "REPO";
    if (!overwrite || isFolder || isForeign(current)) {
      if (via === "import-file" && current.object_type === "FILE") {
        throw new ApiError(409, "RESOURCE_ALREADY_EXISTS", `File already exists at (${shown}).`);
      }
      throw alreadyExistsLegacy(`Path (${shown}) already exists.`);
    }
    tree.require(principal, current, "CAN_EDIT", shown);
    const next: TreeNode = {
      path: current.path,
      object_id: current.object_id,
      created_at: current.created_at,
      ...fields(),
      modified_at: Date.now(),
    };
    // A notebook replaced by a file (or the reverse) keeps its permissions under its new object type.
    const oldType = permissionType(current);
    const newType = permissionType(next);
    if (oldType !== newType) {
      const entries = ws.permissions.direct(oldType, String(current.object_id));
      ws.permissions.drop(oldType, String(current.object_id));
      tree.update(next);
      if (entries.length > 0) ws.permissions.write(newType, String(next.object_id), entries, "merge");
      return next;
    }
    return tree.update(next);
  }
  const parent = parentOf(target.path) as string;
  const folder = tree.get(parent);
  if (!folder || (folder.object_type !== "DIRECTORY" && folder.object_type !== "REPO")) {
    throw notFound(`The parent folder (${displayPath(parent, prefix)}) does not exist.`);
  }
  tree.require(principal, folder, "CAN_EDIT", displayPath(parent, prefix));
  const node = tree.add({ path: target.path, ...fields() });
  tree.grantCreator(principal, node);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Export

function exportObject(
  tree: WorkspaceTree,
  principal: Principal,
  node: TreeNode,
  format: string,
  shown: string,
): { content: Buffer; fileType?: string } {
  const unsupported = () => invalid(`Export format ${format} is not supported for ${shown} by this workspace.`);
  if (isForeign(node)) {
    throw invalid(`${shown} is of type ${node.object_type}, which cannot be exported.`);
  }
  switch (node.object_type) {
    case "DIRECTORY":
    case "REPO": {
      if (format !== "SOURCE" && format !== "AUTO") throw unsupported();
      // A zip archive of the folder: source notebooks with their extension, and (AUTO) workspace files.
      const entries: { name: string; data: Buffer }[] = [];
      const root = node.path;
      const rootName = node.path === "/" ? "" : `${baseName(node.path)}/`;
      for (const item of tree.subtree(root)) {
        if (item === node || !tree.has(principal, item, "CAN_READ")) continue;
        const rel = `${rootName}${item.path.slice(root === "/" ? 1 : root.length + 1)}`;
        if (item.object_type === "NOTEBOOK") {
          entries.push({ name: `${rel}.${EXTENSION[item.language ?? "PYTHON"]}`, data: notebookSource(tree, item) });
        } else if (item.object_type === "FILE" && format === "AUTO") {
          entries.push({ name: rel, data: tree.content(item) });
        }
      }
      return { content: zip(entries), fileType: "zip" };
    }
    case "NOTEBOOK": {
      const language = node.language ?? "PYTHON";
      const asJupyter = format === "JUPYTER" || (format === "AUTO" && node.notebook_format === "JUPYTER");
      if (asJupyter) {
        const content =
          node.notebook_format === "JUPYTER"
            ? tree.content(node)
            : Buffer.from(
                JSON.stringify(sourceToJupyter(tree.content(node).toString("utf8"), language, baseName(node.path)), null, 1),
              );
        return { content, fileType: "ipynb" };
      }
      if (format !== "SOURCE" && format !== "AUTO" && format !== "RAW") throw unsupported();
      return { content: notebookSource(tree, node), fileType: EXTENSION[language] };
    }
    default: {
      if (format !== "SOURCE" && format !== "AUTO" && format !== "RAW") throw unsupported();
      const name = baseName(node.path);
      const dot = name.lastIndexOf(".");
      return { content: tree.content(node), ...(dot > 0 ? { fileType: name.slice(dot + 1) } : {}) };
    }
  }
}

/** A notebook as source text with the Databricks header of its language. */
function notebookSource(tree: WorkspaceTree, node: TreeNode): Buffer {
  const language = node.language ?? "PYTHON";
  const content = tree.content(node);
  if (node.notebook_format === "JUPYTER") {
    const doc = parseJupyter(content);
    return Buffer.from(doc ? jupyterToSource(doc, language) : `${notebookHeader(language)}\n`);
  }
  const text = content.toString("utf8");
  if (text.replace(/^\uFEFF/, "").startsWith(notebookHeader(language))) return content;
  return Buffer.from(`${notebookHeader(language)}\n${text}`);
}

const cellText = (source: string | string[] | undefined) => (Array.isArray(source) ? source.join("") : (source ?? ""));

/** Jupyter cells as a source notebook: markdown cells become `%md` magic cells. */
export function jupyterToSource(doc: JupyterDocument, language: NotebookLanguage): string {
  const magic = magicPrefix(language);
  const cells = doc.cells.map((cell) => {
    const text = cellText(cell.source).replace(/\n$/, "");
    if (cell.cell_type === "markdown") {
      return [`%md`, ...text.split("\n")].map((line) => (line ? `${magic} ${line}` : magic)).join("\n");
    }
    return text;
  });
  return `${notebookHeader(language)}\n${cells.join(`\n\n${cellSeparator(language)}\n\n`)}\n`;
}

/** A source notebook as a Jupyter document: `%md` magic cells become markdown cells. */
export function sourceToJupyter(source: string, language: NotebookLanguage, name: string): JupyterDocument {
  const header = notebookHeader(language);
  const magic = magicPrefix(language);
  let body = source.replace(/^\uFEFF/, "");
  if (body.startsWith(header)) body = body.slice(header.length).replace(/^\r?\n/, "");
  const separator = new RegExp(`\\r?\\n[ \\t]*${escapeRegExp(cellSeparator(language))}[ \\t]*\\r?\\n`);
  const toLines = (text: string) => text.split("\n").map((line, i, all) => (i < all.length - 1 ? `${line}\n` : line));
  const cells = body
    .split(separator)
    .map((cell) => cell.replace(/^\s*\n/, "").replace(/\s+$/, ""))
    .filter((cell, _i, all) => cell !== "" || all.length === 1)
    .map((cell) => {
      const lines = cell.split("\n");
      const isMagic = lines.every((line) => line === magic || line.startsWith(`${magic} `));
      const unmagic = isMagic ? lines.map((line) => line.slice(magic.length + 1)) : lines;
      if (isMagic && unmagic[0]?.startsWith("%md")) {
        const md = [unmagic[0].slice(3).trim(), ...unmagic.slice(1)].filter((line, i) => i > 0 || line !== "");
        return { cell_type: "markdown", metadata: {}, source: toLines(md.join("\n")) };
      }
      return { cell_type: "code", execution_count: null, metadata: {}, outputs: [], source: toLines(unmagic.join("\n")) };
    });
  const lang = language.toLowerCase();
  return {
    cells,
    metadata: {
      "application/vnd.databricks.v1+notebook": { language: lang, notebookName: name },
      language_info: { name: lang },
    },
    nbformat: 4,
    nbformat_minor: 0,
  };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// ---------------------------------------------------------------------------------------------
// Multipart forms and zip archives

/** Parts of a `multipart/form-data` body by field name. */
export function parseMultipart(body: Buffer, contentType: string): Map<string, { data: Buffer; filename?: string }> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2]?.trim();
  if (!boundary) throw invalid("Malformed multipart body: no boundary");
  const delimiter = Buffer.from(`--${boundary}`);
  const parts = new Map<string, { data: Buffer; filename?: string }>();
  let pos = body.indexOf(delimiter);
  if (pos === -1) throw invalid("Malformed multipart body");
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing "--"
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    if (headerEnd === -1) throw invalid("Malformed multipart body");
    const headers = body.subarray(pos, headerEnd).toString("utf8");
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd + 4);
    if (next === -1) throw invalid("Malformed multipart body");
    const data = body.subarray(headerEnd + 4, next);
    const disposition = /content-disposition:[^\r\n]*/i.exec(headers)?.[0] ?? "";
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    if (name !== undefined) parts.set(name, { data, ...(filename !== undefined ? { filename } : {}) });
    pos = next + 2;
  }
  return parts;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A zip archive of stored (uncompressed) entries with UTF-8 names. */
export function zip(entries: { name: string; data: Buffer }[]): Buffer {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time and date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(0, 10);
    header.writeUInt32LE(0, 12);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(entry.data.length, 20);
    header.writeUInt32LE(entry.data.length, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(offset, 42);
    chunks.push(local, name, entry.data);
    central.push(header, name);
    offset += local.length + name.length + entry.data.length;
  }
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...chunks, ...central, end]);
}

// ---------------------------------------------------------------------------------------------
// Files API (volumes)

/** Volume paths have at least `/Volumes/<catalog>/<schema>/<volume>`; that root exists implicitly. */
const VOLUME_ROOT_DEPTH = 4;
const depth = (path: string) => (path === "/" ? 0 : path.split("/").length - 1);
const httpDate = (ms: number) => new Date(ms).toUTCString();

const filesError = (status: number, code: string, message: string, reason?: string) =>
  new ApiError(
    status,
    code,
    message,
    {},
    reason
      ? [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason, domain: "filesystem.databricks.com", metadata: {} }]
      : undefined,
  );
const fileNotFound = () => filesError(404, "NOT_FOUND", "The file being accessed is not found.");
const directoryNotFound = () => filesError(404, "NOT_FOUND", "The directory being accessed is not found.");

interface UploadSession {
  path: string;
  overwrite: boolean;
  principal: Principal;
  parts: Map<number, { blob: string; etag: string }>;
  expires: number;
}

function registerFiles(r: Router, ws: Workspace, tree: VolumeTree): void {
  /** Storage URLs point at the host the client reached the workspace through. */
  const base = (c: RequestContext) => (typeof c.headers.host === "string" ? `http://${c.headers.host}` : ws.url);
  const sessions = new Map<string, UploadSession>();
  const downloads = new Map<string, { path: string; expires: number }>();

  const volumePath = (raw: string): string => {
    const path = normalizePath(`/${raw.replace(/^\/+/, "")}`);
    if (!isWithin(path, "/Volumes") || depth(path) < VOLUME_ROOT_DEPTH) {
      throw invalid(`Invalid path ${path}: the Files API accepts paths of the form /Volumes/<catalog>/<schema>/<volume>/...`);
    }
    return path;
  };
  const authorize = (principal: Principal, path: string, access: "read" | "write") => tree.authorize?.(principal, path, access);

  /** A directory, counting the implicit volume roots (and their ancestors) as directories. */
  const directory = (path: string): TreeNode | "implicit" | undefined => {
    const node = tree.get(path);
    if (node) return node.object_type === "DIRECTORY" ? node : undefined;
    return depth(path) <= VOLUME_ROOT_DEPTH && isWithin(path, "/Volumes") ? "implicit" : undefined;
  };

  /** Creates the missing directories above a file (or a directory), refusing to cross a file. */
  const ensureDirectories = (path: string) => {
    if (tree.blockerOf(path)) {
      throw filesError(409, "ALREADY_EXISTS", `Cannot create ${path}: a file exists where a parent directory is expected.`);
    }
    tree.mkdirs(path);
  };

  const writeFile = (principal: Principal, path: string, content: Buffer, overwrite: boolean) => {
    authorize(principal, path, "write");
    const current = tree.get(path);
    if (current?.object_type === "DIRECTORY") {
      throw filesError(
        409,
        "ALREADY_EXISTS",
        "The given path points to an existing directory. This API does not support operations on directories.",
      );
    }
    if (current && !overwrite) throw filesError(409, "ALREADY_EXISTS", "The file being created already exists.");
    const content_ = tree.putContent(content);
    if (current) {
      tree.update({ ...current, ...content_, modified_at: Date.now() });
      return;
    }
    ensureDirectories(parentOf(path) as string);
    tree.add({ path, object_type: "FILE", ...content_ });
  };

  const fileHeaders = (node: TreeNode) => ({
    "content-type": "application/octet-stream",
    "last-modified": httpDate(node.modified_at),
    "accept-ranges": "bytes",
  });

  /** The file's bytes, honouring a `Range: bytes=a-b` header with 206 Partial Content. */
  const download = (c: RequestContext, node: TreeNode): RawResponse => {
    const unmodifiedSince = c.headers["if-unmodified-since"];
    if (typeof unmodifiedSince === "string" && Date.parse(unmodifiedSince) < Math.floor(node.modified_at / 1000) * 1000) {
      throw filesError(412, "FAILED_PRECONDITION", "The file has been modified since the given time.");
    }
    const content = tree.content(node);
    const range = typeof c.headers.range === "string" ? /^bytes=(\d*)-(\d*)$/.exec(c.headers.range.trim()) : null;
    // HEAD answers through the same path: the server sends the headers (content-length included) only.
    if (!range || (range[1] === "" && range[2] === "")) return new RawResponse(200, content, fileHeaders(node));
    let start: number;
    let end: number;
    if (range[1] === "") {
      start = Math.max(0, content.length - Number(range[2]));
      end = content.length - 1;
    } else {
      start = Number(range[1]);
      end = range[2] === "" ? content.length - 1 : Math.min(Number(range[2]), content.length - 1);
    }
    if (start >= content.length || start > end) {
      throw new ApiError(416, "INVALID_PARAMETER_VALUE", `Range not satisfiable: ${c.headers.range}`, {
        "content-range": `bytes */${content.length}`,
      });
    }
    return new RawResponse(206, content.subarray(start, end + 1), {
      ...fileHeaders(node),
      "content-range": `bytes ${start}-${end}/${content.length}`,
    });
  };

  r.put(
    "/api/2.0/fs/files/*path",
    (c) => {
      const path = volumePath(c.params.path as string);
      writeFile(c.principal, path, c.rawBody, c.query.get("overwrite") !== "false");
      return new RawResponse(204, undefined);
    },
    { rawBody: true },
  );

  r.get("/api/2.0/fs/files/*path", (c) => {
    const path = volumePath(c.params.path as string);
    authorize(c.principal, path, "read");
    const node = tree.get(path);
    if (node?.object_type !== "FILE") throw fileNotFound();
    return download(c, node);
  });

  r.delete("/api/2.0/fs/files/*path", (c) => {
    const path = volumePath(c.params.path as string);
    authorize(c.principal, path, "write");
    const node = tree.get(path);
    if (node?.object_type !== "FILE") throw fileNotFound();
    tree.removeSubtree(path);
    return new RawResponse(204, undefined);
  });

  /**
   * Multipart uploads (what the SDKs use for large files): initiate, then parts PUT to URLs handed
   * out by `create-upload-part-urls`, then complete with the parts' ETags.
   */
  r.post("/api/2.0/fs/files/*path", (c) => {
    const path = volumePath(c.params.path as string);
    const action = c.query.get("action");
    if (action === "initiate-upload") {
      authorize(c.principal, path, "write");
      const overwrite = c.query.get("overwrite") !== "false";
      const current = tree.get(path);
      if (current && (!overwrite || current.object_type === "DIRECTORY")) {
        throw filesError(409, "ALREADY_EXISTS", "The file being created already exists.");
      }
      const token = randomBytes(24).toString("base64url");
      sessions.set(token, { path, overwrite, principal: c.principal, parts: new Map(), expires: Date.now() + 24 * 3600_000 });
      return { multipart_upload: { session_token: token } };
    }
    if (action === "complete-upload") {
      const session = uploadSession(c.query.get("session_token"), path);
      const listed = (c.input.parts ?? []) as { part_number?: number; etag?: string }[];
      if (!Array.isArray(listed) || listed.length === 0) throw invalid("complete-upload needs the list of uploaded parts");
      const chunks: Buffer[] = [];
      for (const part of [...listed].sort((a, b) => (a.part_number ?? 0) - (b.part_number ?? 0))) {
        const stored = session.parts.get(Number(part.part_number));
        if (!stored || (part.etag && part.etag !== stored.etag)) throw invalid(`Part ${part.part_number} was not uploaded`);
        chunks.push(ws.store.getBlob(stored.blob));
      }
      sessions.delete(c.query.get("session_token") as string);
      writeFile(session.principal, path, Buffer.concat(chunks), session.overwrite);
      return {};
    }
    throw invalid(`Unsupported action: ${action ?? "(none)"}`);
  });

  const uploadSession = (token: string | null | undefined, path?: string): UploadSession => {
    const session = token ? sessions.get(token) : undefined;
    if (!session || session.expires < Date.now() || (path !== undefined && session.path !== path)) {
      throw filesError(404, "NOT_FOUND", "The upload session does not exist or has expired.");
    }
    return session;
  };

  r.post("/api/2.0/fs/create-upload-part-urls", (c) => {
    const token = requireStr(c.input, "session_token");
    const session = uploadSession(token, volumePath(requireStr(c.input, "path")));
    const start = int(c.input, "start_part_number") ?? 1;
    const count = int(c.input, "count") ?? 1;
    if (start < 1 || count < 1 || count > 1000)
      throw invalid("start_part_number and count must be positive (count at most 1000)");
    const upload_part_urls = Array.from({ length: count }, (_, i) => ({
      url: `${base(c)}/storage/uploads/${token}/${start + i}`,
      part_number: start + i,
      headers: [],
    }));
    session.expires = Math.max(session.expires, Date.now() + 3600_000);
    return { upload_part_urls };
  });

  r.post("/api/2.0/fs/create-abort-upload-url", (c) => {
    const token = requireStr(c.input, "session_token");
    uploadSession(token, volumePath(requireStr(c.input, "path")));
    return { abort_upload_url: { url: `${base(c)}/storage/uploads/${token}`, headers: [] } };
  });

  r.post("/api/2.0/fs/create-download-url", (c) => {
    const path = volumePath(requireStr(c.input, "path"));
    authorize(c.principal, path, "read");
    const node = tree.get(path);
    if (node?.object_type !== "FILE") throw fileNotFound();
    const token = randomBytes(24).toString("base64url");
    const expires = Date.now() + 3600_000;
    downloads.set(token, { path, expires });
    for (const [t, d] of downloads) if (d.expires < Date.now()) downloads.delete(t);
    return { url: `${base(c)}/storage/downloads/${token}`, headers: [] };
  });

  // The "presigned" storage URLs: unauthenticated, authorised by the unguessable token in the path.
  r.put(
    "/storage/uploads/:token/:part",
    (c) => {
      const session = uploadSession(c.params.token);
      const part = Number(c.params.part);
      if (!Number.isSafeInteger(part) || part < 1) throw invalid("Invalid part number");
      const etag = `"${createHash("md5").update(c.rawBody).digest("hex")}"`;
      session.parts.set(part, { blob: ws.store.putBlob(c.rawBody), etag });
      return new RawResponse(200, undefined, { etag });
    },
    { auth: false, rawBody: true },
  );
  r.delete(
    "/storage/uploads/:token",
    (c) => {
      sessions.delete(c.params.token as string);
      return new RawResponse(204, undefined);
    },
    { auth: false },
  );
  r.get(
    "/storage/downloads/:token",
    (c) => {
      const grant = downloads.get(c.params.token as string);
      if (!grant || grant.expires < Date.now()) throw filesError(403, "PERMISSION_DENIED", "The download URL has expired.");
      const node = tree.get(grant.path);
      if (node?.object_type !== "FILE") throw fileNotFound();
      return download(c, node);
    },
    { auth: false },
  );

  r.put("/api/2.0/fs/directories/*path", (c) => {
    const path = volumePath(c.params.path as string);
    authorize(c.principal, path, "write");
    const current = tree.get(path);
    if (current && current.object_type !== "DIRECTORY") {
      throw filesError(
        409,
        "ALREADY_EXISTS",
        "The given path points to an existing file. This API does not support operations on files.",
      );
    }
    ensureDirectories(path);
    return new RawResponse(204, undefined);
  });

  r.get("/api/2.0/fs/directories/*path", (c) => {
    const path = volumePath(c.params.path as string);
    authorize(c.principal, path, "read");
    if (!directory(path)) throw directoryNotFound();
    if (c.method === "HEAD") return new RawResponse(200, undefined);
    const size = Math.min(Math.max(int(c.input, "page_size") ?? 1000, 1), 1000);
    const entries = tree.list(path).map((node) =>
      node.object_type === "DIRECTORY"
        ? { path: node.path, is_directory: true, name: baseName(node.path) }
        : {
            path: node.path,
            is_directory: false,
            file_size: node.size ?? 0,
            last_modified: node.modified_at,
            name: baseName(node.path),
          },
    );
    const { items, next } = page(entries, str(c.input, "page_token"), size);
    return { contents: items, ...(next ? { next_page_token: next } : {}) };
  });

  r.delete("/api/2.0/fs/directories/*path", (c) => {
    const path = volumePath(c.params.path as string);
    authorize(c.principal, path, "write");
    const node = tree.get(path);
    if (node?.object_type !== "DIRECTORY") throw directoryNotFound();
    if (tree.hasChildren(path)) {
      throw filesError(400, "BAD_REQUEST", "The directory being deleted is not empty.", "FILES_API_DIRECTORY_IS_NOT_EMPTY");
    }
    tree.removeSubtree(path);
    return new RawResponse(204, undefined);
  });
}
