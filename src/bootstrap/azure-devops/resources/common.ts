import type { GitRepository } from "azure-devops-node-api/interfaces/GitInterfaces.js";
import { UserError } from "../../../lib/errors.js";
import type { AzureDevopsCtx } from "../context.js";

/** Ids are `project/<id>` (project names cannot hold a slash), or `project/repo:branch` for branches. */
export function splitProjectId(id: string, kind: string): { project: string; rest: string } {
  const slash = id.indexOf("/");
  if (slash <= 0 || slash === id.length - 1) throw new UserError(`${kind}: malformed id ${id}`);
  return { project: id.slice(0, slash), rest: id.slice(slash + 1) };
}

export function splitBranchId(id: string, kind: string): { project: string; repo: string; branch: string } {
  const { project, rest } = splitProjectId(id, kind);
  const colon = rest.indexOf(":");
  if (colon <= 0 || colon === rest.length - 1) throw new UserError(`${kind}: malformed id ${id}`);
  return { project, repo: rest.slice(0, colon), branch: rest.slice(colon + 1) };
}

export const str = (v: unknown): string => (typeof v === "string" ? v : String(v ?? ""));
export const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
export const sorted = (v: string[]) => [...v].sort();

export const ZERO_ID = "0000000000000000000000000000000000000000";
export const heads = (branch: string) => `refs/heads/${branch}`;
export const branchOf = (ref: string | undefined) => (ref ?? "").replace(/^refs\/heads\//, "");

/** The repository by name (or id); undefined when it does not exist. */
export async function repositoryByName(ctx: AzureDevopsCtx, project: string, name: string): Promise<GitRepository | undefined> {
  const git = await ctx.git();
  const r = await ctx.call(`GET /${project}/_apis/git/repositories/${name}`, () => git.getRepository(name, project));
  return r?.id ? r : undefined;
}

/** The repository, or an error naming what is missing (for writes that need it). */
export async function needRepository(
  ctx: AzureDevopsCtx,
  project: string,
  name: string,
  what: string,
): Promise<GitRepository & { id: string }> {
  const r = await repositoryByName(ctx, project, name);
  if (!r?.id) throw new UserError(`${what}: repository ${project}/${name} does not exist`);
  return r as GitRepository & { id: string };
}

/** The object id a branch points at, or undefined. */
export async function branchHead(
  ctx: AzureDevopsCtx,
  project: string,
  repoId: string,
  branch: string,
): Promise<string | undefined> {
  const git = await ctx.git();
  const refs = await ctx.call(`GET /${project}/_apis/git/repositories/${repoId}/refs`, () =>
    git.getRefs(repoId, project, `heads/${branch}`),
  );
  return (refs ?? []).find((r) => r.name === heads(branch))?.objectId;
}
