import type { Identity } from "azure-devops-node-api/interfaces/IdentitiesInterfaces.js";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type AzureDevopsCtx, projectId, rawRequest, teamsOf } from "../context.js";
import { repositoryByName, splitProjectId, str } from "./common.js";

/**
 * `azure-devops.repository_permission`: a team's access to one Git repository, as an access control
 * entry of the Git Repositories security namespace on the repository's token
 * (`repoV2/<project id>/<repository id>`). Spec: `{ project, repository, team, permission }` with
 * `permission` one of the request's levels (pull, triage, push, maintain, admin), mapped to read,
 * contribute or administer bits. The entry is written whole (`merge: false`): its allow bits are the
 * level's, nothing is denied. Written through the security API (`_apis/accesscontrolentries`,
 * `_apis/accesscontrollists`) and the team's identity descriptor read from the identities API, which
 * the Node library has no client for. Id `project/<repository id>/<team id>`.
 */

/** The Git Repositories security namespace. */
export const GIT_REPOSITORIES_NAMESPACE = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87";
const API_VERSION = "7.1";

/** Permission bits of the Git Repositories namespace (GitRepositoryPermissions). */
export const GIT_PERMISSIONS = {
  GenericRead: 2,
  GenericContribute: 4,
  ForcePush: 8,
  CreateBranch: 16,
  CreateTag: 32,
  ManageNote: 64,
  RenameRepository: 1024,
  EditPolicies: 2048,
  RemoveOthersLocks: 4096,
  ManagePermissions: 8192,
  PullRequestContribute: 16384,
} as const;

const B = GIT_PERMISSIONS;
/** What each access level allows. Deleting the repository and bypassing policies are never granted. */
export const ACCESS_LEVELS = {
  read: B.GenericRead | B.PullRequestContribute,
  contribute: B.GenericRead | B.GenericContribute | B.CreateBranch | B.CreateTag | B.ManageNote | B.PullRequestContribute,
  administer:
    B.GenericRead |
    B.GenericContribute |
    B.CreateBranch |
    B.CreateTag |
    B.ManageNote |
    B.PullRequestContribute |
    B.ForcePush |
    B.RenameRepository |
    B.EditPolicies |
    B.RemoveOthersLocks |
    B.ManagePermissions,
} as const;
export type AccessLevel = keyof typeof ACCESS_LEVELS;

/** The access level of a request's team permission (GitHub's names, shared by every forge). */
export function accessLevelOf(permission: string): AccessLevel {
  if (permission === "admin") return "administer";
  if (permission === "push" || permission === "maintain") return "contribute";
  if (permission === "pull" || permission === "triage") return "read";
  throw new UserError(`azure-devops.repository_permission: unknown permission ${permission}`, "use pull, push or admin");
}

/** One access control entry (REST reference: Security - AccessControlEntry). */
export interface AccessControlEntry {
  descriptor: string;
  allow: number;
  deny: number;
  extendedInfo?: unknown;
}

/** An access control list (REST reference: Security - AccessControlList). */
export interface AccessControlList {
  token: string;
  inheritPermissions?: boolean;
  acesDictionary?: Record<string, AccessControlEntry>;
  includeExtendedInfo?: boolean;
}

/** The body of Access Control Entries - Set Access Control Entries. */
export interface SetAccessControlEntries {
  token: string;
  merge: boolean;
  accessControlEntries: AccessControlEntry[];
}

interface ListOf<T> {
  count?: number;
  value?: T[];
}

const tokenOf = (projectGuid: string, repoId: string) => `repoV2/${projectGuid}/${repoId}`;

const parse = (id: string) => {
  const { project, rest } = splitProjectId(id, "azure-devops.repository_permission");
  const [repoId, teamId, extra] = rest.split("/");
  if (!repoId || !teamId || extra !== undefined) throw new UserError(`azure-devops.repository_permission: malformed id ${id}`);
  return { project, repoId, teamId };
};

/** A team's identity descriptor (`<identity type>;<identifier>`), read once per run; undefined when unknown. */
export function descriptorOf(ctx: AzureDevopsCtx, identityId: string): Promise<string | undefined> {
  const key = identityId.toLowerCase();
  let p = ctx.descriptors.get(key);
  if (!p) {
    p = (async () => {
      const base = await ctx.identitiesUrl();
      const found = await rawRequest<ListOf<Identity>>(
        ctx,
        "GET",
        `_apis/identities?identityIds=${encodeURIComponent(identityId)}&queryMembership=None`,
        API_VERSION,
        undefined,
        base,
      );
      const d = (found?.value ?? []).find((i) => i?.id?.toLowerCase() === key)?.descriptor;
      return d?.identityType && d.identifier ? `${d.identityType};${d.identifier}` : undefined;
    })();
    p.catch(() => ctx.descriptors.delete(key));
    ctx.descriptors.set(key, p);
  }
  return p;
}

async function teamOf(ctx: AzureDevopsCtx, project: string, team: string) {
  const t = (await teamsOf(ctx, project)).get(team.toLowerCase());
  if (!t) throw new UserError(`azure-devops.repository_permission: team ${team} is not a team of project ${project}`);
  return t;
}

async function needDescriptor(ctx: AzureDevopsCtx, project: string, team: { id: string; name: string }) {
  const d = await descriptorOf(ctx, team.id);
  if (!d)
    throw new UserError(`azure-devops.repository_permission: no identity found for team ${team.name} of project ${project}`);
  return d;
}

/** The team's entry on the repository's access control list, or undefined. */
async function entryOf(ctx: AzureDevopsCtx, token: string, descriptor: string): Promise<AccessControlEntry | undefined> {
  const q = new URLSearchParams({ token, descriptors: descriptor, includeExtendedInfo: "false", recurse: "false" });
  const lists = await rawRequest<ListOf<AccessControlList>>(
    ctx,
    "GET",
    `_apis/accesscontrollists/${GIT_REPOSITORIES_NAMESPACE}?${q}`,
    API_VERSION,
  );
  for (const acl of lists?.value ?? [])
    if (acl.token.toLowerCase() === token.toLowerCase()) {
      const ace = Object.values(acl.acesDictionary ?? {}).find((e) => e.descriptor.toLowerCase() === descriptor.toLowerCase());
      if (ace && (ace.allow !== 0 || ace.deny !== 0)) return ace;
    }
  return undefined;
}

async function setEntry(ctx: AzureDevopsCtx, token: string, descriptor: string, allow: number) {
  await rawRequest<ListOf<AccessControlEntry>>(
    ctx,
    "POST",
    `_apis/accesscontrolentries/${GIT_REPOSITORIES_NAMESPACE}`,
    API_VERSION,
    { token, merge: false, accessControlEntries: [{ descriptor, allow, deny: 0 }] } satisfies SetAccessControlEntries,
  );
}

const levelName = (allow: number, deny: number): string => {
  if (deny === 0) for (const [name, bits] of Object.entries(ACCESS_LEVELS)) if (bits === allow) return name;
  return `custom (allow ${allow}, deny ${deny})`;
};

const remoteOf = (project: string, repository: string | undefined, team: string, ace: AccessControlEntry) => ({
  project,
  ...(repository !== undefined ? { repository } : {}),
  team,
  access: levelName(ace.allow, ace.deny),
  allow: ace.allow,
  deny: ace.deny,
});

async function resolve(ctx: AzureDevopsCtx, spec: Record<string, unknown>) {
  const project = str(spec.project);
  const repo = await repositoryByName(ctx, project, str(spec.repository));
  if (!repo?.id) return undefined;
  const team = await teamOf(ctx, project, str(spec.team));
  const descriptor = await needDescriptor(ctx, project, team);
  const token = tokenOf(await projectId(ctx, project), repo.id);
  return { project, repoId: repo.id, repoName: str(repo.name), team, descriptor, token };
}

export const repositoryPermissionAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.repository_permission",
  naturalKey: (spec) => `${str(spec.project)}/${str(spec.repository)}/${str(spec.team)}`.toLowerCase(),
  async read(ctx, id) {
    const { project, repoId, teamId } = parse(id);
    const descriptor = await descriptorOf(ctx, teamId);
    if (!descriptor) return undefined;
    const ace = await entryOf(ctx, tokenOf(await projectId(ctx, project), repoId), descriptor);
    if (!ace) return undefined;
    const team = [...(await teamsOf(ctx, project)).values()].find((t) => t.id.toLowerCase() === teamId.toLowerCase());
    return remoteOf(project, undefined, team?.name ?? teamId, ace);
  },
  async find(ctx, spec) {
    const r = await resolve(ctx, spec);
    if (!r) return undefined;
    const ace = await entryOf(ctx, r.token, r.descriptor);
    return ace
      ? { id: `${r.project}/${r.repoId}/${r.team.id}`, remote: remoteOf(r.project, r.repoName, r.team.name, ace) }
      : undefined;
  },
  async create(ctx, spec) {
    const r = await resolve(ctx, spec);
    if (!r)
      throw new UserError(
        `azure-devops.repository_permission: repository ${str(spec.project)}/${str(spec.repository)} does not exist`,
      );
    const allow = ACCESS_LEVELS[accessLevelOf(str(spec.permission))];
    await setEntry(ctx, r.token, r.descriptor, allow);
    return {
      id: `${r.project}/${r.repoId}/${r.team.id}`,
      remote: remoteOf(r.project, r.repoName, r.team.name, { descriptor: r.descriptor, allow, deny: 0 }),
    };
  },
  async update(ctx, id, spec) {
    const { project, repoId, teamId } = parse(id);
    const descriptor = await needDescriptor(ctx, project, { id: teamId, name: str(spec.team) });
    const allow = ACCESS_LEVELS[accessLevelOf(str(spec.permission))];
    await setEntry(ctx, tokenOf(await projectId(ctx, project), repoId), descriptor, allow);
    return remoteOf(project, str(spec.repository), str(spec.team), { descriptor, allow, deny: 0 });
  },
  async delete(ctx, id) {
    const { project, repoId, teamId } = parse(id);
    const descriptor = await descriptorOf(ctx, teamId);
    // A team that is gone took its entries with it.
    if (!descriptor) return;
    const q = new URLSearchParams({ token: tokenOf(await projectId(ctx, project), repoId), descriptors: descriptor });
    await rawRequest<boolean>(ctx, "DELETE", `_apis/accesscontrolentries/${GIT_REPOSITORIES_NAMESPACE}?${q}`, API_VERSION);
  },
  normalize: (remote, previous) => ({
    project: remote.project,
    // Read back by id: the names applied last time stand.
    repository: remote.repository ?? previous?.repository,
    team:
      previous?.team !== undefined && str(previous.team).toLowerCase() === str(remote.team).toLowerCase()
        ? previous.team
        : remote.team,
    access: remote.access,
  }),
  normalizeDesired: (spec) => ({
    project: spec.project,
    repository: spec.repository,
    team: spec.team,
    access: accessLevelOf(str(spec.permission)),
  }),
  rules: { recreateOn: ["project", "repository", "team"] },
};
