import { UserError } from "../../../lib/errors.js";

/** Ids of GitHub objects are paths: `owner/repo`, `owner/repo/<name>`, `owner/repo/<env>/<name>`. */
export function splitId(id: string, parts: number, kind: string): string[] {
  const segs = id.split("/");
  if (segs.length !== parts || segs.some((s) => s === "")) throw new UserError(`${kind}: malformed id ${id}`);
  return segs;
}

export const str = (v: unknown): string => (typeof v === "string" ? v : String(v ?? ""));
export const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
export const sorted = (v: string[]) => [...v].sort();
