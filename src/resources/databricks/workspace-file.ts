import type { ResourceAdapter } from "../../engine/types.js";
import { canonicalWorkspacePath, type DatabricksCtx, mkdirs, type Obj, parentPath } from "./common.js";
import { deleteObject, exportContent, importContent, localHash, readSource, sha256, status } from "./workspace-object.js";

/**
 * `databricks.workspace_file`: a local file uploaded to a workspace path (imported as a file, with
 * overwrite). The id is the path. Compared by content: the SHA-256 of the local file against that of
 * the exported object, so a file edited in the workspace is drift. Moving it replaces it.
 */

async function read(ctx: DatabricksCtx, path: string): Promise<Obj | undefined> {
  const info = await status(ctx, path);
  if (info?.object_type !== "FILE") return undefined;
  const content = await exportContent(ctx, path, "SOURCE");
  if (!content) return undefined;
  return { ...info, path, content_sha256: sha256(content) };
}

async function upload(ctx: DatabricksCtx, spec: Obj): Promise<void> {
  await importContent(ctx, String(spec.path), readSource(spec.source), "RAW");
}

export const workspaceFileAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.workspace_file",
  naturalKey: (spec) => canonicalWorkspacePath(String(spec.path)),

  read,

  async find(ctx, spec) {
    const remote = await read(ctx, String(spec.path));
    return remote ? { id: String(spec.path), remote } : undefined;
  },

  async create(ctx, spec) {
    await mkdirs(ctx, parentPath(String(spec.path)));
    await upload(ctx, spec);
    return { id: String(spec.path), remote: await read(ctx, String(spec.path)) };
  },

  async update(ctx, _id, spec) {
    await upload(ctx, spec);
    return read(ctx, String(spec.path));
  },

  async delete(ctx, id) {
    await deleteObject(ctx, id);
  },

  normalize: (remote) => ({
    path: canonicalWorkspacePath(String(remote.path)),
    content_sha256: remote.content_sha256,
  }),

  normalizeDesired: (spec) => ({
    path: canonicalWorkspacePath(String(spec.path)),
    content_sha256: localHash(spec.source),
  }),

  outputs: (_id, remote) => (remote?.object_id === undefined ? {} : { object_id: remote.object_id }),
  rules: { recreateOn: ["path"] },
};
