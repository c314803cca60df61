import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { UserError } from "../../lib/errors.js";
import { canonicalWorkspacePath, type DatabricksCtx, type Obj, orMissing } from "./common.js";

/**
 * Shared by `databricks.workspace_file` and `databricks.notebook`: content hashes, status reads and
 * imports through the Workspace API.
 */

export type Language = "PYTHON" | "SQL" | "SCALA" | "R";

const COMMENT: Record<Language, string> = { PYTHON: "#", R: "#", SCALA: "//", SQL: "--" };

export const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** The local file's bytes, or why they cannot be read. */
export function localContent(source: unknown): Buffer | { error: string } {
  try {
    return readFileSync(String(source));
  } catch (e) {
    return { error: `cannot read ${String(source)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
}

/** The hash of the local file in the comparison form, or a marker saying why there is none (shown as a change). */
export function localHash(source: unknown, canonical: (data: Buffer) => Buffer | string = (d) => d): string {
  const data = localContent(source);
  return Buffer.isBuffer(data) ? sha256(canonical(data)) : `(${data.error})`;
}

/**
 * A source notebook's text in canonical form: no byte-order mark, LF line ends, no header line, and
 * cells split at the language's `COMMAND ----------` separator with surrounding blank space trimmed,
 * so the service's reformatting on export is not a change.
 */
export function canonicalSource(text: string, language: Language): string {
  const comment = COMMENT[language].replace(/[/\\^$*+?.()|[\]{}-]/g, "\\$&");
  let body = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  const header = new RegExp(`^[ \\t]*${comment} Databricks notebook source[ \\t]*(\\n|$)`);
  body = body.replace(header, "");
  const separator = new RegExp(`^[ \\t]*${comment} COMMAND -+[ \\t]*$`, "m");
  return body
    .split(separator)
    .map((cell) =>
      cell
        .split("\n")
        .map((line) => line.trimEnd())
        .join("\n")
        .trim(),
    )
    .join("\n\u0000\n");
}

/** A Jupyter notebook's cells (type and source) in canonical form; outputs and metadata do not count. */
export function canonicalJupyter(text: string): string {
  try {
    const doc = JSON.parse(text) as { cells?: { cell_type?: string; source?: string | string[] }[] };
    if (!Array.isArray(doc.cells)) return text;
    return doc.cells
      .map((c) => {
        const src = Array.isArray(c.source) ? c.source.join("") : (c.source ?? "");
        return `${c.cell_type ?? "code"}\n${src.replace(/\r\n?/g, "\n").trim()}`;
      })
      .join("\n\u0000\n");
  } catch {
    return text;
  }
}

/** `get-status` of a path, or undefined when nothing is there. */
export async function status(ctx: DatabricksCtx, path: string, exportInfo = false): Promise<Obj | undefined> {
  return orMissing(
    ctx.client.get<Obj>("/api/2.0/workspace/get-status", exportInfo ? { path, return_export_info: true } : { path }),
  );
}

/** The object's content as exported in `format`. */
export async function exportContent(ctx: DatabricksCtx, path: string, format: string): Promise<Buffer | undefined> {
  const res = await orMissing(ctx.client.get<{ content?: string }>("/api/2.0/workspace/export", { path, format }));
  return res ? Buffer.from(res.content ?? "", "base64") : undefined;
}

/** Imports (overwriting) content at a path. Overwriting makes a replay harmless. */
export async function importContent(
  ctx: DatabricksCtx,
  path: string,
  content: Buffer,
  format: string,
  language?: string,
): Promise<void> {
  await ctx.client.post(
    "/api/2.0/workspace/import",
    { path, content: content.toString("base64"), format, ...(language ? { language } : {}), overwrite: true },
    { idempotent: true },
  );
}

export async function deleteObject(ctx: DatabricksCtx, path: string): Promise<void> {
  await orMissing(ctx.client.post("/api/2.0/workspace/delete", { path, recursive: false }, { idempotent: true }));
}

export const samePath = (a: unknown, b: unknown) =>
  typeof a === "string" && typeof b === "string" && canonicalWorkspacePath(a) === canonicalWorkspacePath(b);

/** Reads the local source file (create and update need it). */
export function readSource(source: unknown): Buffer {
  const data = localContent(source);
  if (!Buffer.isBuffer(data)) throw new UserError(data.error, "paths are relative to the configuration file that names them");
  return data;
}
