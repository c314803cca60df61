import type { Limit, ResourceAdapter } from "../../engine/types.js";
import {
  canonicalWorkspacePath,
  compact,
  type DatabricksCtx,
  groupBy,
  mkdirs,
  type Obj,
  orMissing,
  parentPath,
} from "./common.js";
import {
  canonicalJupyter,
  canonicalSource,
  deleteObject,
  exportContent,
  importContent,
  type Language,
  localHash,
  readSource,
  sha256,
  status,
} from "./workspace-object.js";

/**
 * `databricks.notebook`: a local notebook imported at a workspace path (with overwrite). The id is
 * the notebook's path (for a Jupyter notebook, without `.ipynb`). Compared by content: the SHA-256 of
 * the notebook in canonical form (source notebooks without their header line and with cells trimmed;
 * Jupyter notebooks by cell type and source), local file against the exported notebook. The language
 * is compared too; moving the notebook replaces it.
 *
 * A plan reads the notebooks of a folder from the folder's list (type, language) and one export each
 * (content), instead of a status read and an export per notebook.
 */

const EXTENSIONS: Record<string, Language> = { py: "PYTHON", sql: "SQL", scala: "SCALA", r: "R" };

const extensionOf = (file: string) => file.slice(file.lastIndexOf(".") + 1).toLowerCase();

/** The import format: the configured one, else Jupyter for `.ipynb` files, else source. */
function formatOf(spec: Obj): string {
  const f = typeof spec.format === "string" ? spec.format : "AUTO";
  if (f !== "AUTO") return f;
  return extensionOf(String(spec.source)) === "ipynb" ? "JUPYTER" : "SOURCE";
}

function languageOf(spec: Obj): Language | undefined {
  if (typeof spec.language === "string") return spec.language as Language;
  return EXTENSIONS[extensionOf(String(spec.source))];
}

/** Where the notebook lands: the service drops `.ipynb` from the path of an imported Jupyter notebook. */
export function notebookPath(spec: Obj): string {
  const path = String(spec.path);
  return formatOf(spec) === "JUPYTER" && path.endsWith(".ipynb") ? path.slice(0, -".ipynb".length) : path;
}

function canonical(format: string, language: Language, data: Buffer): string {
  return format === "JUPYTER" ? canonicalJupyter(data.toString("utf8")) : canonicalSource(data.toString("utf8"), language);
}

async function read(ctx: DatabricksCtx, path: string): Promise<Obj | undefined> {
  const info = await status(ctx, path, true);
  if (info?.object_type !== "NOTEBOOK") return undefined;
  const format = info.repos_export_format === "JUPYTER" ? "JUPYTER" : "SOURCE";
  const language = (typeof info.language === "string" ? info.language : "PYTHON") as Language;
  const content = await exportContent(ctx, path, format);
  if (!content) return undefined;
  return { ...info, path, format, content_sha256: sha256(canonical(format, language, content)) };
}

/**
 * Reads the notebooks `paths` of one folder: the folder's list gives each one's type and language,
 * an export in `AUTO` format its content and (by `file_type`) whether it is kept as Jupyter or
 * source. A missing folder, or an object that is not a notebook, means the notebook is gone (as for
 * `read`); a path the list does not show is left out, for `read`.
 */
async function readFolder(
  ctx: DatabricksCtx,
  folder: string,
  paths: readonly string[],
  limit: Limit,
  out: Map<string, Obj | undefined>,
): Promise<void> {
  const listed = await limit(() => orMissing(ctx.client.get<{ objects?: Obj[] }>("/api/2.0/workspace/list", { path: folder })));
  const infos = new Map((listed?.objects ?? []).map((o) => [canonicalWorkspacePath(String(o.path)), o]));
  await Promise.all(
    paths.map(async (path) => {
      const info = infos.get(canonicalWorkspacePath(path));
      // No folder: no notebook. Not in the list (hidden from the caller?): left to `read`.
      if (!listed || info?.object_type !== "NOTEBOOK") {
        if (!listed || info) out.set(path, undefined);
        return;
      }
      const res = await limit(() =>
        orMissing(
          ctx.client.get<{ content?: string; file_type?: string }>("/api/2.0/workspace/export", { path, format: "AUTO" }),
        ),
      );
      if (!res) return out.set(path, undefined);
      if (typeof res.file_type !== "string") return; // cannot tell the format: left to `read`
      const format = res.file_type === "ipynb" ? "JUPYTER" : "SOURCE";
      const language = (typeof info.language === "string" ? info.language : "PYTHON") as Language;
      const content = Buffer.from(res.content ?? "", "base64");
      out.set(path, { ...info, path, format, content_sha256: sha256(canonical(format, language, content)) });
    }),
  );
}

/** The notebooks `paths`, by path, from the folders holding two or more of them (the others are left out). */
async function readByFolder(ctx: DatabricksCtx, paths: readonly string[], limit: Limit): Promise<Map<string, Obj | undefined>> {
  const out = new Map<string, Obj | undefined>();
  const byFolder = groupBy([...new Set(paths)], (path) => parentPath(canonicalWorkspacePath(path)) ?? "/");
  await Promise.all(
    [...byFolder]
      .filter(([, inFolder]) => inFolder.length > 1)
      .map(([folder, inFolder]) => readFolder(ctx, folder, inFolder, limit, out)),
  );
  return out;
}

async function upload(ctx: DatabricksCtx, spec: Obj): Promise<void> {
  const format = formatOf(spec);
  await importContent(ctx, String(spec.path), readSource(spec.source), format, languageOf(spec));
}

export const notebookAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.notebook",
  naturalKey: (spec) => canonicalWorkspacePath(notebookPath(spec)),

  read,

  /** A list per folder holding two or more of the notebooks, then one export per notebook. */
  readMany: (ctx, ids, limit) => readByFolder(ctx, ids, limit),

  async findMany(ctx, specs, limit) {
    const found = await readByFolder(ctx, specs.map(notebookPath), limit);
    return new Map([...found].map(([path, remote]) => [canonicalWorkspacePath(path), remote && { id: path, remote }]));
  },

  async find(ctx, spec) {
    const path = notebookPath(spec);
    const remote = await read(ctx, path);
    return remote ? { id: path, remote } : undefined;
  },

  async create(ctx, spec) {
    const path = notebookPath(spec);
    await mkdirs(ctx, parentPath(path));
    await upload(ctx, spec);
    return { id: path, remote: await read(ctx, path) };
  },

  async update(ctx, _id, spec) {
    await upload(ctx, spec);
    return read(ctx, notebookPath(spec));
  },

  async delete(ctx, id) {
    await deleteObject(ctx, id);
  },

  normalize: (remote) =>
    compact({
      path: canonicalWorkspacePath(String(remote.path)),
      language: remote.language,
      content_sha256: remote.content_sha256,
    }),

  normalizeDesired(spec) {
    const format = formatOf(spec);
    const language = languageOf(spec);
    return compact({
      path: canonicalWorkspacePath(notebookPath(spec)),
      // A Jupyter notebook's language comes from its kernel unless configured.
      language: format === "JUPYTER" ? spec.language : language,
      content_sha256: localHash(spec.source, (data) => canonical(format, language ?? "PYTHON", data)),
    });
  },

  outputs: (_id, remote) => (remote?.object_id === undefined ? {} : { object_id: remote.object_id }),
  rules: { recreateOn: ["path"] },
};
