import type { ResourceAdapter } from "../../engine/types.js";
import { canonicalWorkspacePath, compact, type DatabricksCtx, mkdirs, type Obj, parentPath } from "./common.js";
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

async function upload(ctx: DatabricksCtx, spec: Obj): Promise<void> {
  const format = formatOf(spec);
  await importContent(ctx, String(spec.path), readSource(spec.source), format, languageOf(spec));
}

export const notebookAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.notebook",
  naturalKey: (spec) => canonicalWorkspacePath(notebookPath(spec)),

  read,

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
