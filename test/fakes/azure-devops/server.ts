import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TeamProject, WebApiTeam } from "azure-devops-node-api/interfaces/CoreInterfaces.js";
import type { ApiResourceLocation } from "azure-devops-node-api/interfaces/common/VSSInterfaces.js";
import {
  type GitCommit,
  GitObjectType,
  type GitPush,
  type GitRef,
  type GitRefUpdateResult,
  GitRefUpdateStatus,
  type GitRepository,
  type GitTreeRef,
  ItemContentType,
  VersionControlChangeType,
} from "azure-devops-node-api/interfaces/GitInterfaces.js";
import type { Identity } from "azure-devops-node-api/interfaces/IdentitiesInterfaces.js";
import type { ConnectionData, ResourceAreaInfo } from "azure-devops-node-api/interfaces/LocationsInterfaces.js";
import { ConfigurationType, type Pipeline, RepositoryType } from "azure-devops-node-api/interfaces/PipelinesInterfaces.js";
import type { PolicyConfiguration } from "azure-devops-node-api/interfaces/PolicyInterfaces.js";
import type { EnvironmentInstance, VariableGroup, VariableValue } from "azure-devops-node-api/interfaces/TaskAgentInterfaces.js";
import type { z } from "zod";
import type { CheckConfiguration } from "../../../src/bootstrap/azure-devops/resources/environment.js";
import type { ResourcePipelinePermissions } from "../../../src/bootstrap/azure-devops/resources/pipeline-permission.js";
import type {
  AccessControlEntry,
  AccessControlList,
} from "../../../src/bootstrap/azure-devops/resources/repository-permission.js";
import { GitStore } from "../github/git.js";
import {
  checkConfigurationSchema,
  environmentSchema,
  pipelineCreateSchema,
  pipelinePermissionsSchema,
  policyConfigurationSchema,
  pushSchema,
  refUpdatesSchema,
  repositoryCreateSchema,
  repositoryUpdateSchema,
  setAccessControlEntriesSchema,
  variableGroupSchema,
} from "./schemas.js";

/**
 * A stateful fake of the Azure DevOps REST API (the operations a repository bootstrap uses), listening
 * on 127.0.0.1 as an organisation `http://127.0.0.1:<port>/<org>`. It answers the discovery requests
 * `azure-devops-node-api` makes before any call (`GET _apis/ResourceAreas`, `OPTIONS _apis/<area>`
 * with the resource locations and their route templates), checks every request body against the
 * schemas in ./schemas.ts (written from the library's interfaces) and every request for an
 * `api-version`, and answers with objects typed by the library's interfaces. An unknown route or a
 * malformed body is answered 404/400 and recorded in `violations`, which tests assert to be empty.
 */

export interface RecordedRequest {
  method: string;
  url: string;
  route?: string;
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface HookRequest {
  method: string;
  route: string;
  path: string;
  body: unknown;
}
export type RequestHook = (req: HookRequest) => { status: number; body?: unknown; headers?: Record<string, string> } | undefined;

export interface FakeRepository {
  id: string;
  name: string;
  project: FakeProject;
  defaultBranch?: string;
  git: GitStore;
  pushes: number;
}

export interface FakeTeam {
  id: string;
  name: string;
  /** The team's identity descriptor, `Microsoft.TeamFoundation.Identity;S-1-9-...`. */
  descriptor: string;
}

export interface FakeProject {
  id: string;
  name: string;
  teams: Map<string, FakeTeam>;
}

/** An entry of a repository's access control list in the Git Repositories namespace. */
export interface FakeRepositoryAce {
  /** The repository's name (it may have been deleted since: its list stays, as in Azure DevOps). */
  repository: string;
  token: string;
  /** The team the descriptor belongs to. */
  team: string;
  allow: number;
  deny: number;
}

export interface FakeVariableGroup {
  id: number;
  name: string;
  description: string;
  projectIds: string[];
  variables: Record<string, { value: string; isSecret: boolean }>;
}

export interface AzureDevopsFake {
  /** The organisation URL. */
  url: string;
  org: string;
  stop(): Promise<void>;
  addProject(name: string): FakeProject;
  addTeam(project: string, name: string): FakeTeam;
  /** A token: `pat` for Basic (personal access token), `bearer` for a bearer token. */
  addToken(token: string, kind?: "pat" | "bearer"): void;
  repo(project: string, name: string): FakeRepository | undefined;
  repositories(): FakeRepository[];
  variableGroups(): FakeVariableGroup[];
  environments(): { id: number; name: string; projectId: string }[];
  checks(): CheckConfiguration[];
  pipelines(): { id: number; name: string; folder: string; path: string; repositoryId: string; projectId: string }[];
  policies(): PolicyConfiguration[];
  /** Pipelines authorised to use a resource, by `<resourceType>/<resource id>`. */
  pipelinePermissions(): Map<string, number[]>;
  /** Entries of repositories' access control lists (Git Repositories namespace), deleted repositories' too. */
  repositoryAces(): FakeRepositoryAce[];
  readonly violations: string[];
  readonly requests: RecordedRequest[];
  /** Successful writes (POST, PUT, PATCH, DELETE) so far. */
  writes(): number;
  /** The write after the next `n` successful ones fails with `status` (`count` times, default 1). */
  failAfterWrites(n: number, opts?: { status?: number; count?: number }): void;
  /** The next `count` requests are answered 429 with `Retry-After: seconds`. */
  rateLimit(count: number, seconds?: number): void;
  addHook(hook: RequestHook): void;
  clearFaults(): void;
  /** Empty every store but projects, teams and tokens. */
  reset(): void;
}

const ZERO = "0000000000000000000000000000000000000000";

/** Resource areas (the library looks up each client's area by id) and locations (per area). */
const AREAS: Record<string, { id: string; locations: ApiResourceLocation[] }> = {};
function location(area: string, id: string, resourceName: string, routeTemplate: string): ApiResourceLocation {
  return {
    id,
    area,
    resourceName,
    routeTemplate,
    resourceVersion: 9,
    minVersion: "1.0",
    maxVersion: "7.2",
    releasedVersion: "7.1",
  };
}
AREAS.location = {
  id: "00000000-0000-0000-0000-000000000000",
  locations: [
    location("Location", "e81700f7-3be2-46de-8624-2eb35882fcaa", "ResourceAreas", "_apis/{resource}/{areaId}"),
    location("Location", "00d9565f-ed9c-4a06-9a50-00e7896ccab4", "ConnectionData", "_apis/{resource}"),
  ],
};
AREAS.core = {
  id: "79134c72-4a58-4b42-976c-04e7115f32bf",
  locations: [
    location("core", "603fe2ac-9723-48b9-88ad-09305aa6c6e1", "projects", "_apis/{resource}/{*projectId}"),
    location("core", "d30a3dd1-f8ba-442a-b86a-bd0c0c383e59", "teams", "_apis/projects/{projectId}/{resource}/{*teamId}"),
  ],
};
AREAS.git = {
  id: "4e080c62-fa21-4fbc-8fef-2a10a2b38049",
  locations: [
    location("git", "225f7195-f9c7-4d14-ab28-a83f7ff77e1f", "repositories", "{project}/_apis/{area}/{resource}/{repositoryId}"),
    location(
      "git",
      "ea98d07b-3c87-4971-8ede-a613694ffb55",
      "pushes",
      "{project}/_apis/{area}/repositories/{repositoryId}/{resource}/{pushId}",
    ),
    location(
      "git",
      "2d874a60-a811-4f62-9c9f-963a6ea0a55b",
      "refs",
      "{project}/_apis/{area}/repositories/{repositoryId}/{resource}/{*filter}",
    ),
    location(
      "git",
      "c2570c3b-5b3f-41b8-98bf-5407bfde8d58",
      "commits",
      "{project}/_apis/{area}/repositories/{repositoryId}/{resource}/{commitId}",
    ),
    location(
      "git",
      "729f6437-6f92-44ec-8bee-273a7111063c",
      "trees",
      "{project}/_apis/{area}/repositories/{repositoryId}/{resource}/{sha1}",
    ),
  ],
};
AREAS.distributedtask = {
  id: "a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd",
  locations: [
    location("distributedtask", "ef5b7057-ffc3-4c77-bbad-c10b4a4abcc7", "variablegroups", "_apis/{area}/{resource}/{groupId}"),
    location(
      "distributedtask",
      "f5b09dd5-9d54-45a1-8b5a-1c8287d634cc",
      "variablegroups",
      "{project}/_apis/{area}/{resource}/{groupId}",
    ),
    location(
      "distributedtask",
      "8572b1fc-2482-47fa-8f74-7e3ed53ee54b",
      "environments",
      "{project}/_apis/{area}/{resource}/{environmentId}",
    ),
  ],
};
// The library resolves the Pipelines client through this area id.
AREAS.pipelines = {
  id: "5264459e-e5e0-4bd8-b118-0985e68a4ec5",
  locations: [
    location("pipelines", "28e1305e-2afe-47bf-abaf-cbb0e6a91988", "pipelines", "{project}/_apis/{resource}/{pipelineId}"),
  ],
};
AREAS.build = {
  id: "965220d5-5bb9-42cf-8d67-9b146df2a5a4",
  locations: [
    location("build", "dbeaf647-6167-421a-bda9-c9327b25e2e6", "definitions", "{project}/_apis/{area}/{resource}/{definitionId}"),
  ],
};
// Identities are served by their own area (on vssps.dev.azure.com for Azure DevOps Services).
AREAS.ims = {
  id: "8a3d49b8-91f0-46ef-b33d-dda338c25db3",
  locations: [location("IMS", "28010c54-d0c0-4c89-a5b0-1c9e188b9fb7", "Identities", "_apis/{resource}/{identityId}")],
};
AREAS.policy = {
  id: "fb13a388-40dd-4a04-b530-013a739c72ef",
  locations: [
    location(
      "policy",
      "dad91cbe-d183-45f8-9c6e-9c1164472121",
      "configurations",
      "{project}/_apis/{area}/{resource}/{configurationId}",
    ),
  ],
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly typeKey = "VssServiceException",
  ) {
    super(message);
  }
}

const lc = (s: string) => s.toLowerCase();

/** The Git Repositories security namespace: the only one a bootstrap writes. */
const GIT_NAMESPACE = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87";
/** Every permission bit of the Git Repositories namespace. */
const GIT_ALL_BITS = 65535;

export async function startAzureDevopsFake(org = "acme"): Promise<AzureDevopsFake> {
  const projects = new Map<string, FakeProject>(); // lower-case name → project
  const tokens = new Map<string, "pat" | "bearer">();
  const repos = new Map<string, FakeRepository>(); // id → repository
  let groups = new Map<number, FakeVariableGroup>();
  let envs = new Map<number, { id: number; name: string; description: string; projectId: string; createdOn: Date }>();
  let checks = new Map<number, CheckConfiguration & { projectId: string }>();
  // `<projectId>/<type>/<resource id>` → authorised pipeline ids.
  let permissions = new Map<string, Set<number>>();
  let pipelines = new Map<
    number,
    { id: number; name: string; folder: string; path: string; repositoryId: string; projectId: string }
  >();
  let policies = new Map<number, PolicyConfiguration & { projectId: string }>();
  // Security token → identity descriptor → entry; every repository ever made, by id (the recycle bin).
  let acls = new Map<string, Map<string, { allow: number; deny: number }>>();
  let madeRepos = new Map<string, { name: string; projectId: string }>();
  const violations: string[] = [];
  const requests: RecordedRequest[] = [];
  const hooks: RequestHook[] = [];
  let writeCount = 0;
  let nextId = 1;
  let fault: { after: number; status: number; count: number } | undefined;
  let limited: { count: number; seconds: number } | undefined;
  let base = "";

  const projectOf = (key: string): FakeProject => {
    const k = lc(decodeURIComponent(key));
    const p = projects.get(k) ?? [...projects.values()].find((x) => lc(x.id) === k);
    if (!p)
      throw new HttpError(
        404,
        `TF200016: The following project does not exist: ${decodeURIComponent(key)}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.`,
        "ProjectDoesNotExistWithNameException",
      );
    return p;
  };
  const repoOf = (project: FakeProject, key: string): FakeRepository => {
    const k = lc(decodeURIComponent(key));
    const r = [...repos.values()].find((x) => x.project === project && (lc(x.id) === k || lc(x.name) === k));
    if (!r)
      throw new HttpError(
        404,
        `TF401019: The Git repository with name or identifier ${decodeURIComponent(key)} does not exist or you do not have permissions for the operation you are attempting.`,
        "GitRepositoryNotFoundException",
      );
    return r;
  };
  const projectRef = (p: FakeProject) => ({ id: p.id, name: p.name, state: 1, visibility: 0 });
  const repoObj = (r: FakeRepository): GitRepository => ({
    id: r.id,
    name: r.name,
    url: `${base}/${r.project.id}/_apis/git/repositories/${r.id}`,
    project: projectRef(r.project) as GitRepository["project"],
    ...(r.defaultBranch ? { defaultBranch: r.defaultBranch } : {}),
    size: 0,
    remoteUrl: `${base}/${encodeURIComponent(r.project.name)}/_git/${encodeURIComponent(r.name)}`,
    webUrl: `${base}/${encodeURIComponent(r.project.name)}/_git/${encodeURIComponent(r.name)}`,
    isDisabled: false,
    isInMaintenance: false,
  });
  const groupObj = (g: FakeVariableGroup): VariableGroup => ({
    id: g.id,
    name: g.name,
    description: g.description,
    type: "Vsts",
    isShared: false,
    // Secret values are never returned.
    variables: Object.fromEntries(
      Object.entries(g.variables).map(([k, v]): [string, VariableValue] => [
        k,
        v.isSecret ? { isSecret: true } : { value: v.value },
      ]),
    ),
    variableGroupProjectReferences: g.projectIds.map((id) => {
      const p = [...projects.values()].find((x) => x.id === id);
      return { name: g.name, description: g.description, projectReference: { id, name: p?.name } };
    }),
  });
  const envObj = (e: {
    id: number;
    name: string;
    description: string;
    projectId: string;
    createdOn: Date;
  }): EnvironmentInstance => ({
    id: e.id,
    name: e.name,
    description: e.description,
    createdOn: e.createdOn,
    lastModifiedOn: e.createdOn,
    project: { id: e.projectId },
  });
  const pipelineObj = (p: {
    id: number;
    name: string;
    folder: string;
    path: string;
    repositoryId: string;
  }): Pipeline & {
    configuration: { type: ConfigurationType; path: string; repository: { id: string; type: RepositoryType } };
  } => ({
    id: p.id,
    name: p.name,
    folder: p.folder,
    revision: 1,
    url: `${base}/_apis/pipelines/${p.id}`,
    configuration: {
      type: ConfigurationType.Yaml,
      path: p.path,
      repository: { id: p.repositoryId, type: RepositoryType.AzureReposGit },
    },
  });
  const policyObj = (c: PolicyConfiguration & { projectId: string }): PolicyConfiguration => {
    const { projectId: _p, ...rest } = c;
    return rest;
  };
  const checkObj = (c: CheckConfiguration & { projectId: string }): CheckConfiguration => {
    const { projectId: _p, ...rest } = c;
    return rest;
  };
  const list = <T>(value: T[]) => ({ count: value.length, value });

  const validate = <S extends z.ZodType>(schema: S, body: unknown, route: string): z.infer<S> => {
    const r = schema.safeParse(body);
    if (!r.success) {
      violations.push(`${route}: malformed body: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
      throw new HttpError(400, `malformed body: ${r.error.issues[0]?.message ?? "invalid"}`, "InvalidArgumentValueException");
    }
    return r.data;
  };

  /** Applies a push's changes on top of `parent` (or nothing); returns the new commit id. */
  const commitChanges = (r: FakeRepository, parent: string | undefined, push: z.infer<typeof pushSchema>): string => {
    const c = push.commits[0];
    if (!c) throw new HttpError(400, "no commit");
    const files = parent ? r.git.flatten(r.git.get(parent, "commit")?.tree ?? "") : new Map();
    for (const ch of c.changes) {
      const path = ch.item.path.replace(/^\/+/, "");
      if (ch.changeType === VersionControlChangeType.Delete) {
        if (!files.has(path)) throw new HttpError(400, `TF401174: The item ${ch.item.path} could not be found in the repository`);
        files.delete(path);
        continue;
      }
      if (!ch.newContent) throw new HttpError(400, `change of ${ch.item.path} has no content`);
      if (ch.changeType === VersionControlChangeType.Add && files.has(path))
        throw new HttpError(400, `TF402455: The path ${ch.item.path} already exists`);
      if (ch.changeType === VersionControlChangeType.Edit && !files.has(path))
        throw new HttpError(400, `TF401174: The item ${ch.item.path} could not be found in the repository`);
      const data =
        ch.newContent.contentType === ItemContentType.Base64Encoded
          ? Buffer.from(ch.newContent.content, "base64")
          : Buffer.from(ch.newContent.content);
      files.set(path, { mode: "100644", type: "blob", sha: r.git.put({ type: "blob", data }) });
    }
    const tree = r.git.writeTree(files);
    const who = { name: "Lakeforge", email: "lakeforge@example.invalid", date: new Date().toISOString() };
    return r.git.put({ type: "commit", tree, parents: parent ? [parent] : [], message: c.comment, author: who, committer: who });
  };

  type Handler = (m: RegExpExecArray, q: URLSearchParams, body: unknown) => { status?: number; body?: unknown };
  const P = "([^/]+)";
  const routes: [string, RegExp, Handler][] = [];
  const on = (method: string, pattern: string, h: Handler) => routes.push([method, new RegExp(`^${pattern}$`, "i"), h]);

  on("GET", "/_apis/ResourceAreas", () => ({
    body: list(
      Object.values(AREAS)
        .filter((a) => !a.id.startsWith("00000000"))
        .map((a): ResourceAreaInfo => ({ id: a.id, name: a.locations[0]?.area, locationUrl: base })),
    ),
  }));
  on("GET", "/_apis/connectionData", () => {
    const data: ConnectionData = {
      authenticatedUser: { id: "9f3b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", providerDisplayName: "Lakeforge Tester", isActive: true },
      authorizedUser: { id: "9f3b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", providerDisplayName: "Lakeforge Tester", isActive: true },
      instanceId: "5c4e7b1a-0000-4000-8000-00000000a11e",
    };
    return { body: data };
  });
  on("GET", `/_apis/projects/${P}`, (m) => {
    const p = projectOf(m[1] as string);
    const body: TeamProject = { id: p.id, name: p.name, description: "", url: `${base}/_apis/projects/${p.id}`, revision: 1 };
    return { body };
  });
  on("GET", `/_apis/projects/${P}/teams`, (m, q) => {
    const p = projectOf(m[1] as string);
    const all = [...p.teams.values()].map(
      (t): WebApiTeam => ({ id: t.id, name: t.name, projectId: p.id, projectName: p.name, description: "" }),
    );
    const skip = Number(q.get("$skip") ?? 0);
    const top = Number(q.get("$top") ?? 100);
    return { body: list(all.slice(skip, skip + top)) };
  });

  // Git repositories.
  on("POST", `/${P}/_apis/git/repositories`, (m, _q, body) => {
    const p = projectOf(m[1] as string);
    const b = validate(repositoryCreateSchema, body, "POST git/repositories");
    if (b.project.id !== p.id) throw new HttpError(400, "the project of the body is not the project of the URL");
    if ([...repos.values()].some((r) => r.project === p && lc(r.name) === lc(b.name)))
      throw new HttpError(
        409,
        `TF400948: A Git repository with the name ${b.name} already exists.`,
        "GitRepositoryNameAlreadyExistsException",
      );
    const r: FakeRepository = { id: randomUUID(), name: b.name, project: p, git: new GitStore(), pushes: 0 };
    repos.set(r.id, r);
    madeRepos.set(r.id, { name: r.name, projectId: p.id });
    return { status: 201, body: repoObj(r) };
  });
  on("GET", `/${P}/_apis/git/repositories/${P}`, (m) => ({ body: repoObj(repoOf(projectOf(m[1] as string), m[2] as string)) }));
  on("PATCH", `/${P}/_apis/git/repositories/${P}`, (m, _q, body) => {
    const r = repoOf(projectOf(m[1] as string), m[2] as string);
    const b = validate(repositoryUpdateSchema, body, "PATCH git/repositories");
    if (b.defaultBranch) {
      if (!r.git.refs.has(b.defaultBranch)) throw new HttpError(400, `TF401398: The branch ${b.defaultBranch} does not exist`);
      r.defaultBranch = b.defaultBranch;
    }
    if (b.name) r.name = b.name;
    return { body: repoObj(r) };
  });
  on("DELETE", `/${P}/_apis/git/repositories/${P}`, (m) => {
    const r = repoOf(projectOf(m[1] as string), m[2] as string);
    repos.delete(r.id);
    return { status: 204 };
  });
  on("POST", `/${P}/_apis/git/repositories/${P}/pushes`, (m, _q, body) => {
    const r = repoOf(projectOf(m[1] as string), m[2] as string);
    const b = validate(pushSchema, body, "POST git/pushes");
    const u = b.refUpdates[0];
    if (!u) throw new HttpError(400, "no ref update");
    const current = r.git.refs.get(u.name);
    if ((current ?? ZERO) !== u.oldObjectId)
      throw new HttpError(
        409,
        `TF401028: The reference '${u.name}' has already been updated by another client, so you cannot update it.`,
        "GitReferenceStaleException",
      );
    const commit = commitChanges(r, current, b);
    r.git.refs.set(u.name, commit);
    r.defaultBranch ??= u.name;
    r.pushes++;
    const answer: GitPush = {
      pushId: r.pushes,
      date: new Date(),
      commits: [{ commitId: commit, comment: b.commits[0]?.comment }],
      refUpdates: [{ name: u.name, oldObjectId: u.oldObjectId, newObjectId: commit }],
      repository: repoObj(r),
    };
    return { status: 201, body: answer };
  });
  on("GET", `/${P}/_apis/git/repositories/${P}/refs(?:/(.*))?`, (m, q) => {
    const r = repoOf(projectOf(m[1] as string), m[2] as string);
    const filter = `refs/${q.get("filter") ?? m[3] ?? ""}`;
    const refs = [...r.git.refs]
      .filter(([name]) => name.startsWith(filter))
      .map(
        ([name, objectId]): GitRef => ({
          name,
          objectId,
          url: `${base}/_apis/git/repositories/${r.id}/refs?filter=${name.slice(5)}`,
        }),
      );
    return { body: list(refs) };
  });
  on("POST", `/${P}/_apis/git/repositories/${P}/refs`, (m, _q, body) => {
    const r = repoOf(projectOf(m[1] as string), m[2] as string);
    const b = validate(refUpdatesSchema, body, "POST git/refs");
    const results: GitRefUpdateResult[] = b.map((u) => {
      const current = r.git.refs.get(u.name) ?? ZERO;
      const ok = current === u.oldObjectId && (u.newObjectId === ZERO || r.git.get(u.newObjectId, "commit") !== undefined);
      if (ok) {
        if (u.newObjectId === ZERO) r.git.refs.delete(u.name);
        else r.git.refs.set(u.name, u.newObjectId);
      }
      return {
        name: u.name,
        oldObjectId: u.oldObjectId,
        newObjectId: u.newObjectId,
        repositoryId: r.id,
        success: ok,
        updateStatus: ok ? GitRefUpdateStatus.Succeeded : GitRefUpdateStatus.StaleOldObjectId,
        ...(ok ? {} : { customMessage: "the old object id is not the ref's current value" }),
      };
    });
    return { body: list(results) };
  });
  on("GET", `/${P}/_apis/git/repositories/${P}/commits/${P}`, (m) => {
    const r = repoOf(projectOf(m[1] as string), m[2] as string);
    const c = r.git.get(m[3] as string, "commit");
    if (!c)
      throw new HttpError(404, `TF401175: The version descriptor ${m[3]} could not be resolved`, "GitItemNotFoundException");
    const body: GitCommit = { commitId: m[3], treeId: c.tree, parents: c.parents, comment: c.message };
    return { body };
  });
  on("GET", `/${P}/_apis/git/repositories/${P}/trees/${P}`, (m, q) => {
    const r = repoOf(projectOf(m[1] as string), m[2] as string);
    const tree = m[3] as string;
    if (!r.git.get(tree, "tree")) throw new HttpError(404, `TF401174: tree ${tree} not found`, "GitItemNotFoundException");
    if (q.get("recursive") !== "true") violations.push("GET git/trees: expected recursive=true");
    const entries = [...r.git.flatten(tree)].map(([path, e]) => ({
      relativePath: path,
      objectId: e.sha,
      mode: e.mode,
      gitObjectType: GitObjectType.Blob,
      size: r.git.get(e.sha, "blob")?.data.length ?? 0,
    }));
    const body: GitTreeRef = { objectId: tree, treeEntries: entries, size: entries.length };
    return { body };
  });

  // Variable groups.
  on("POST", "/_apis/distributedtask/variablegroups", (_m, _q, body) => {
    const b = validate(variableGroupSchema, body, "POST distributedtask/variablegroups");
    const projectIds = b.variableGroupProjectReferences.map((r) => projectOf(r.projectReference.id).id);
    for (const g of groups.values())
      if (lc(g.name) === lc(b.name) && g.projectIds.some((id) => projectIds.includes(id)))
        throw new HttpError(400, `Variable group with name ${b.name} already exists.`, "VariableGroupExistsException");
    const g: FakeVariableGroup = {
      id: nextId++,
      name: b.name,
      description: b.description ?? "",
      projectIds,
      variables: Object.fromEntries(
        Object.entries(b.variables).map(([k, v]) => [k, { value: v.value ?? "", isSecret: v.isSecret === true }]),
      ),
    };
    groups.set(g.id, g);
    return { body: groupObj(g) };
  });
  on("PUT", `/_apis/distributedtask/variablegroups/(\\d+)`, (m, _q, body) => {
    const g = groups.get(Number(m[1]));
    if (!g) throw new HttpError(404, `Variable group ${m[1]} not found`, "VariableGroupNotFoundException");
    const b = validate(variableGroupSchema, body, "PUT distributedtask/variablegroups");
    g.name = b.name;
    g.description = b.description ?? "";
    const before = g.variables;
    g.variables = Object.fromEntries(
      Object.entries(b.variables).map(([k, v]) => [
        k,
        // A secret sent without a value keeps the value it had.
        { value: v.value ?? (v.isSecret ? (before[k]?.value ?? "") : ""), isSecret: v.isSecret === true },
      ]),
    );
    return { body: groupObj(g) };
  });
  on("DELETE", `/_apis/distributedtask/variablegroups/(\\d+)`, (m, q) => {
    const g = groups.get(Number(m[1]));
    if (!g) throw new HttpError(404, `Variable group ${m[1]} not found`, "VariableGroupNotFoundException");
    const ids = (q.get("projectIds") ?? "").split(",").filter(Boolean);
    if (ids.length === 0) {
      violations.push("DELETE distributedtask/variablegroups: projectIds missing");
      throw new HttpError(400, "projectIds is required");
    }
    g.projectIds = g.projectIds.filter((id) => !ids.includes(id));
    if (g.projectIds.length === 0) groups.delete(g.id);
    for (const pid of ids) permissions.delete(`${pid}/variablegroup/${g.id}`);
    return { status: 204 };
  });
  on("GET", `/${P}/_apis/distributedtask/variablegroups`, (m, q) => {
    const p = projectOf(m[1] as string);
    const pattern = q.get("groupName");
    const re = pattern ? new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i") : undefined;
    return {
      body: list([...groups.values()].filter((g) => g.projectIds.includes(p.id) && (!re || re.test(g.name))).map(groupObj)),
    };
  });
  on("GET", `/${P}/_apis/distributedtask/variablegroups/(\\d+)`, (m) => {
    const p = projectOf(m[1] as string);
    const g = groups.get(Number(m[2]));
    if (!g?.projectIds.includes(p.id))
      throw new HttpError(404, `Variable group ${m[2]} not found`, "VariableGroupNotFoundException");
    return { body: groupObj(g) };
  });

  // Environments.
  on("POST", `/${P}/_apis/distributedtask/environments`, (m, _q, body) => {
    const p = projectOf(m[1] as string);
    const b = validate(environmentSchema, body, "POST distributedtask/environments");
    if ([...envs.values()].some((e) => e.projectId === p.id && lc(e.name) === lc(b.name)))
      throw new HttpError(409, `Environment ${b.name} already exists in current project.`, "EnvironmentExistsException");
    const e = { id: nextId++, name: b.name, description: b.description ?? "", projectId: p.id, createdOn: new Date() };
    envs.set(e.id, e);
    return { body: envObj(e) };
  });
  on("GET", `/${P}/_apis/distributedtask/environments`, (m, q) => {
    const p = projectOf(m[1] as string);
    const name = q.get("name");
    return {
      body: list([...envs.values()].filter((e) => e.projectId === p.id && (!name || lc(e.name) === lc(name))).map(envObj)),
    };
  });
  const envIn = (m: RegExpExecArray) => {
    const p = projectOf(m[1] as string);
    const e = envs.get(Number(m[2]));
    if (!e || e.projectId !== p.id) throw new HttpError(404, `Environment ${m[2]} not found`, "EnvironmentNotFoundException");
    return e;
  };
  on("GET", `/${P}/_apis/distributedtask/environments/(\\d+)`, (m) => ({ body: envObj(envIn(m)) }));
  on("PATCH", `/${P}/_apis/distributedtask/environments/(\\d+)`, (m, _q, body) => {
    const e = envIn(m);
    const b = validate(environmentSchema, body, "PATCH distributedtask/environments");
    e.name = b.name;
    e.description = b.description ?? "";
    return { body: envObj(e) };
  });
  on("DELETE", `/${P}/_apis/distributedtask/environments/(\\d+)`, (m) => {
    const e = envIn(m);
    envs.delete(e.id);
    permissions.delete(`${e.projectId}/environment/${e.id}`);
    // Checks of a deleted resource go with it.
    for (const [id, c] of checks) if (c.resource.type === "environment" && c.resource.id === String(e.id)) checks.delete(id);
    return { status: 204 };
  });

  // Checks (approvals) of environments.
  on("POST", `/${P}/_apis/pipelines/checks/configurations`, (m, _q, body) => {
    const p = projectOf(m[1] as string);
    const b = validate(checkConfigurationSchema, body, "POST pipelines/checks/configurations");
    const env = envs.get(Number(b.resource.id));
    if (!env || env.projectId !== p.id) throw new HttpError(400, `resource environment ${b.resource.id} does not exist`);
    for (const a of b.settings.approvers)
      if (![...p.teams.values()].some((t) => t.id === a.id)) throw new HttpError(400, `identity ${a.id} does not exist`);
    const c: CheckConfiguration & { projectId: string } = { ...b, id: nextId++, projectId: p.id };
    checks.set(c.id as number, c);
    return { body: checkObj(c) };
  });
  on("GET", `/${P}/_apis/pipelines/checks/configurations`, (m, q) => {
    const p = projectOf(m[1] as string);
    const type = q.get("resourceType");
    const id = q.get("resourceId");
    if (!type || !id) violations.push("GET pipelines/checks/configurations: resourceType and resourceId are required");
    return {
      body: list(
        [...checks.values()]
          .filter((c) => c.projectId === p.id && c.resource.type === type && c.resource.id === id)
          .map(checkObj),
      ),
    };
  });
  const checkIn = (m: RegExpExecArray) => {
    const p = projectOf(m[1] as string);
    const c = checks.get(Number(m[2]));
    if (!c || c.projectId !== p.id)
      throw new HttpError(404, `check configuration ${m[2]} not found`, "CheckConfigurationNotFoundException");
    return c;
  };
  on("GET", `/${P}/_apis/pipelines/checks/configurations/(\\d+)`, (m) => ({ body: checkObj(checkIn(m)) }));
  on("PATCH", `/${P}/_apis/pipelines/checks/configurations/(\\d+)`, (m, _q, body) => {
    const c = checkIn(m);
    const b = validate(checkConfigurationSchema, body, "PATCH pipelines/checks/configurations");
    Object.assign(c, b, { id: c.id });
    return { body: checkObj(c) };
  });
  on("DELETE", `/${P}/_apis/pipelines/checks/configurations/(\\d+)`, (m) => {
    checks.delete(checkIn(m).id as number);
    return { status: 204 };
  });

  // Pipeline permissions of protected resources (variable groups, environments).
  const permissionResource = (m: RegExpExecArray) => {
    const p = projectOf(m[1] as string);
    const type = m[2] as string;
    const id = Number(m[3]);
    const exists =
      type === "variablegroup"
        ? groups.get(id)?.projectIds.includes(p.id) === true
        : type === "environment"
          ? envs.get(id)?.projectId === p.id
          : undefined;
    if (exists === undefined) {
      violations.push(`pipelinePermissions: resource type ${type} is not one a bootstrap uses`);
      throw new HttpError(400, `unknown resource type ${type}`);
    }
    if (!exists) throw new HttpError(404, `resource ${type} ${id} not found`, "ResourceNotFoundException");
    return { p, type, id, key: `${p.id}/${type}/${id}` };
  };
  const permissionsObj = (r: ReturnType<typeof permissionResource>): ResourcePipelinePermissions => ({
    resource: { type: r.type, id: String(r.id) },
    pipelines: [...(permissions.get(r.key) ?? [])].map((id) => ({
      id,
      authorized: true,
      authorizedBy: { id: "00000000-0000-0000-0000-0000000000aa", displayName: "Lakeforge" },
      authorizedOn: new Date(0).toISOString(),
    })),
    allPipelines: null,
  });
  const PERMS = `/${P}/_apis/pipelines/pipelinePermissions/([a-z]+)/(\\d+)`;
  on("GET", PERMS, (m) => ({ body: permissionsObj(permissionResource(m)) }));
  on("PATCH", PERMS, (m, _q, body) => {
    const r = permissionResource(m);
    const b = validate(pipelinePermissionsSchema, body, "PATCH pipelines/pipelinePermissions");
    if (b.resource && (b.resource.type !== r.type || b.resource.id !== String(r.id)))
      throw new HttpError(400, "the body's resource is not the one of the URL");
    const set = permissions.get(r.key) ?? new Set<number>();
    for (const x of b.pipelines ?? []) {
      const pipe = pipelines.get(x.id);
      if (!pipe || pipe.projectId !== r.p.id) throw new HttpError(400, `pipeline ${x.id} does not exist`);
      if (x.authorized) set.add(x.id);
      else set.delete(x.id);
    }
    permissions.set(r.key, set);
    return { body: permissionsObj(r) };
  });

  // Identities (only teams: the identities a bootstrap looks up).
  const teamIdentity = (p: FakeProject, t: FakeTeam): Identity => {
    const [identityType, identifier] = t.descriptor.split(";") as [string, string];
    return {
      id: t.id,
      descriptor: { identityType, identifier },
      providerDisplayName: `[${p.name}]\\${t.name}`,
      isActive: true,
      isContainer: true,
      memberIds: [],
      members: [],
      memberOf: [],
      properties: {},
      resourceVersion: 2,
      metaTypeId: 255,
    };
  };
  on("GET", "/_apis/identities", (_m, q) => {
    const all = [...projects.values()].flatMap((p) => [...p.teams.values()].map((t) => ({ p, t })));
    const ids = q.get("identityIds");
    const filter = q.get("searchFilter");
    let found: typeof all;
    if (ids) {
      const want = new Set(ids.split(",").map(lc));
      found = all.filter(({ t }) => want.has(lc(t.id)));
    } else if (filter) {
      const value = lc(q.get("filterValue") ?? "");
      found = all.filter(({ p, t }) => lc(`[${p.name}]\\${t.name}`) === value || lc(`${p.name}\\${t.name}`) === value);
    } else {
      violations.push("GET identities: identityIds, descriptors or searchFilter is required");
      throw new HttpError(400, "a filter is required");
    }
    return { body: list(found.map(({ p, t }) => teamIdentity(p, t))) };
  });

  // Access control lists of the Git Repositories security namespace (repository tokens only).
  const teamOfDescriptor = (d: string) => {
    for (const p of projects.values()) for (const t of p.teams.values()) if (lc(t.descriptor) === lc(d)) return t;
    return undefined;
  };
  const securityNamespace = (m: RegExpExecArray) => {
    if (lc(m[1] as string) !== GIT_NAMESPACE) {
      violations.push(`security namespace ${m[1]} is not one a bootstrap writes`);
      throw new HttpError(400, `unknown security namespace ${m[1]}`);
    }
  };
  const repoToken = (token: string | null, live: boolean) => {
    const t = /^repoV2\/([0-9a-f-]{36})\/([0-9a-f-]{36})$/i.exec(token ?? "");
    if (!t) {
      violations.push(`access control: token ${token} is not a repository token (repoV2/<project id>/<repository id>)`);
      throw new HttpError(400, `invalid token ${token}`);
    }
    const made = madeRepos.get(lc(t[2] as string));
    if (!made || lc(made.projectId) !== lc(t[1] as string)) throw new HttpError(400, `no repository for token ${token}`);
    if (live && !repos.has(lc(t[2] as string))) throw new HttpError(404, `repository ${t[2]} was deleted`);
    return `repoV2/${lc(t[1] as string)}/${lc(t[2] as string)}`;
  };
  const aclObj = (token: string, only?: Set<string>): AccessControlList => ({
    inheritPermissions: true,
    token,
    acesDictionary: Object.fromEntries(
      [...(acls.get(token) ?? [])]
        .filter(([d]) => !only || only.has(lc(d)))
        .map(([descriptor, e]): [string, AccessControlEntry] => [descriptor, { descriptor, allow: e.allow, deny: e.deny }]),
    ),
  });
  on("GET", "/_apis/accesscontrollists/([^/]+)", (m, q) => {
    securityNamespace(m);
    const token = repoToken(q.get("token"), false);
    if (q.get("recurse") === "true")
      violations.push("GET accesscontrollists: a repository token has no children to recurse into");
    const descriptors = q.get("descriptors");
    const only = descriptors ? new Set(descriptors.split(",").map(lc)) : undefined;
    return { body: list(acls.has(token) ? [aclObj(token, only)] : []) };
  });
  on("POST", "/_apis/accesscontrolentries/([^/]+)", (m, _q, body) => {
    securityNamespace(m);
    const b = validate(setAccessControlEntriesSchema, body, "POST accesscontrolentries");
    const token = repoToken(b.token, true);
    const acl = acls.get(token) ?? new Map<string, { allow: number; deny: number }>();
    const out: AccessControlEntry[] = [];
    for (const e of b.accessControlEntries) {
      if (!teamOfDescriptor(e.descriptor))
        throw new HttpError(400, `identity ${e.descriptor} does not exist`, "InvalidIdentityException");
      if (((e.allow | e.deny) & ~GIT_ALL_BITS) !== 0 || (e.allow & e.deny) !== 0)
        throw new HttpError(400, `invalid permission bits allow ${e.allow} deny ${e.deny}`);
      const before = acl.get(e.descriptor);
      const next = b.merge && before ? { allow: (before.allow | e.allow) & ~e.deny, deny: (before.deny | e.deny) & ~e.allow } : e;
      acl.set(e.descriptor, { allow: next.allow, deny: next.deny });
      out.push({ descriptor: e.descriptor, allow: next.allow, deny: next.deny });
    }
    acls.set(token, acl);
    return { body: list(out) };
  });
  on("DELETE", "/_apis/accesscontrolentries/([^/]+)", (m, q) => {
    securityNamespace(m);
    const token = repoToken(q.get("token"), false);
    const descriptors = (q.get("descriptors") ?? "").split(",").filter(Boolean);
    if (descriptors.length === 0) violations.push("DELETE accesscontrolentries: descriptors missing");
    const acl = acls.get(token);
    let removed = false;
    for (const d of descriptors)
      for (const k of [...(acl?.keys() ?? [])]) if (lc(k) === lc(d)) removed = acl?.delete(k) === true || removed;
    if (acl?.size === 0) acls.delete(token);
    return { body: removed };
  });

  // Pipelines and build definitions.
  on("POST", `/${P}/_apis/pipelines`, (m, _q, body) => {
    const p = projectOf(m[1] as string);
    const b = validate(pipelineCreateSchema, body, "POST pipelines");
    const folder = b.folder ?? "\\";
    if ([...pipelines.values()].some((x) => x.projectId === p.id && lc(x.name) === lc(b.name) && lc(x.folder) === lc(folder)))
      throw new HttpError(409, `A pipeline with name ${b.name} already exists in folder ${folder}.`, "DefinitionExistsException");
    const repo = repoOf(p, b.configuration.repository.id);
    const head = repo.defaultBranch ? repo.git.refs.get(repo.defaultBranch) : undefined;
    const path = b.configuration.path.replace(/^\/+/, "");
    if (!head || !repo.git.file(repo.defaultBranch as string, path))
      throw new HttpError(
        400,
        `File ${b.configuration.path} not found in repository ${repo.name} branch ${repo.defaultBranch}`,
        "BuildDefinitionYamlFileNotFoundException",
      );
    const x = { id: nextId++, name: b.name, folder, path: `/${path}`, repositoryId: repo.id, projectId: p.id };
    pipelines.set(x.id, x);
    return { body: pipelineObj(x) };
  });
  on("GET", `/${P}/_apis/pipelines`, (m) => {
    const p = projectOf(m[1] as string);
    return { body: list([...pipelines.values()].filter((x) => x.projectId === p.id).map(pipelineObj)) };
  });
  on("GET", `/${P}/_apis/pipelines/(\\d+)`, (m) => {
    const p = projectOf(m[1] as string);
    const x = pipelines.get(Number(m[2]));
    if (!x || x.projectId !== p.id) throw new HttpError(404, `Pipeline ${m[2]} not found`, "PipelineNotFoundException");
    return { body: pipelineObj(x) };
  });
  on("DELETE", `/${P}/_apis/build/definitions/(\\d+)`, (m) => {
    const p = projectOf(m[1] as string);
    const x = pipelines.get(Number(m[2]));
    if (!x || x.projectId !== p.id) throw new HttpError(404, `Definition ${m[2]} not found`, "DefinitionNotFoundException");
    pipelines.delete(x.id);
    for (const set of permissions.values()) set.delete(x.id);
    return { status: 204 };
  });

  // Branch policies.
  const policyCheck = (p: FakeProject, b: z.infer<typeof policyConfigurationSchema>) => {
    for (const s of b.settings.scope) repoOf(p, s.repositoryId);
    if ("buildDefinitionId" in b.settings) {
      const x = pipelines.get(b.settings.buildDefinitionId);
      if (!x || x.projectId !== p.id) throw new HttpError(400, `build definition ${b.settings.buildDefinitionId} does not exist`);
    }
    const kind =
      "buildDefinitionId" in b.settings ? "0609b952-1397-4640-95ec-e00a01b2c241" : "fa4e907d-c16b-4a4c-9dfa-4906e5d171dd";
    if (lc(b.type.id) !== kind) throw new HttpError(400, `the settings do not match policy type ${b.type.id}`);
  };
  on("POST", `/${P}/_apis/policy/configurations`, (m, _q, body) => {
    const p = projectOf(m[1] as string);
    const b = validate(policyConfigurationSchema, body, "POST policy/configurations");
    policyCheck(p, b);
    const c = {
      ...b,
      id: nextId++,
      revision: 1,
      createdDate: new Date(),
      url: `${base}/_apis/policy/configurations`,
      projectId: p.id,
    };
    policies.set(c.id, c);
    return { body: policyObj(c) };
  });
  on("GET", `/${P}/_apis/policy/configurations`, (m, q) => {
    const p = projectOf(m[1] as string);
    const type = q.get("policyType");
    return {
      body: list(
        [...policies.values()].filter((c) => c.projectId === p.id && (!type || lc(c.type?.id ?? "") === lc(type))).map(policyObj),
      ),
    };
  });
  const policyIn = (m: RegExpExecArray) => {
    const p = projectOf(m[1] as string);
    const c = policies.get(Number(m[2]));
    if (!c || c.projectId !== p.id)
      throw new HttpError(404, `policy configuration ${m[2]} not found`, "PolicyConfigurationNotFoundException");
    return { p, c };
  };
  on("GET", `/${P}/_apis/policy/configurations/(\\d+)`, (m) => ({ body: policyObj(policyIn(m).c) }));
  on("PUT", `/${P}/_apis/policy/configurations/(\\d+)`, (m, _q, body) => {
    const { p, c } = policyIn(m);
    const b = validate(policyConfigurationSchema, body, "PUT policy/configurations");
    policyCheck(p, b);
    Object.assign(c, b, { id: c.id, revision: (c.revision ?? 1) + 1 });
    return { body: policyObj(c) };
  });
  on("DELETE", `/${P}/_apis/policy/configurations/(\\d+)`, (m) => {
    policies.delete(policyIn(m).c.id as number);
    return { status: 204 };
  });

  const authorized = (h: string | undefined): boolean => {
    if (!h) return false;
    const [scheme, value] = [h.slice(0, h.indexOf(" ")), h.slice(h.indexOf(" ") + 1)];
    if (lc(scheme) === "bearer") return tokens.get(value) === "bearer";
    if (lc(scheme) === "basic") {
      const decoded = Buffer.from(value, "base64").toString();
      const token = decoded.slice(decoded.indexOf(":") + 1);
      return tokens.get(token) === "pat";
    }
    return false;
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { "content-type": "application/json; charset=utf-8" } : {}), ...headers });
    res.end(text);
  };
  const errorBody = (message: string, typeKey: string) => ({
    $id: "1",
    innerException: null,
    message,
    typeName: `Microsoft.TeamFoundation.${typeKey}, Microsoft.TeamFoundation`,
    typeKey,
    errorCode: 0,
    eventId: 3000,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? "/", "http://fake");
    const method = (req.method ?? "GET").toUpperCase();
    const record: RecordedRequest = { method, url: req.url ?? "", status: 0, body: raw, headers: req.headers };
    requests.push(record);
    const reply = (status: number, body?: unknown, headers?: Record<string, string>) => {
      record.status = status;
      send(res, status, body, headers);
    };

    const prefix = `/${org}`;
    if (!url.pathname.toLowerCase().startsWith(`${prefix.toLowerCase()}/`)) {
      violations.push(`${method} ${url.pathname}: outside the organisation`);
      return reply(404, errorBody("not found", "NotFoundException"));
    }
    const path = url.pathname.slice(prefix.length);
    if (!authorized(req.headers.authorization)) return reply(401);
    if (limited && limited.count > 0) {
      limited.count--;
      return reply(429, errorBody("Request was blocked due to exceeding usage of resource", "RateLimitException"), {
        "retry-after": String(limited.seconds),
      });
    }
    if (method === "OPTIONS") {
      const m = /^\/_apis\/([^/]+)\/?$/.exec(path);
      const area = m
        ? Object.values(AREAS).find((a) => a.locations.some((l) => lc(l.area ?? "") === lc(m[1] as string)))
        : undefined;
      if (!area) {
        violations.push(`OPTIONS ${path}: unknown area`);
        return reply(404, errorBody("unknown area", "NotFoundException"));
      }
      record.route = `OPTIONS ${path}`;
      return reply(200, list(area.locations));
    }
    const found = routes.find(([m, re]) => m === method && re.test(path));
    if (!found) {
      violations.push(`${method} ${path}: no such route in the fake`);
      return reply(404, errorBody(`no route ${method} ${path}`, "NotFoundException"));
    }
    const [, re, h] = found;
    record.route = `${method} ${re.source}`;
    const accept = String(req.headers.accept ?? "");
    if (path !== "/_apis/connectionData" && !/api-version=\d+\.\d+/.test(accept) && !url.searchParams.has("api-version"))
      violations.push(`${method} ${path}: no api-version`);
    let body: unknown;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        violations.push(`${method} ${path}: body is not JSON`);
        return reply(400, errorBody("body is not JSON", "InvalidArgumentValueException"));
      }
    }
    const isWrite = method !== "GET";
    for (const hook of hooks) {
      const a = hook({ method, route: re.source, path, body });
      if (a) return reply(a.status, a.body ?? errorBody("injected", "InjectedException"), a.headers);
    }
    if (isWrite && fault && writeCount >= fault.after && fault.count > 0) {
      fault.count--;
      return reply(fault.status, errorBody("injected failure", "InjectedFailureException"));
    }
    try {
      const out = h(re.exec(path) as RegExpExecArray, url.searchParams, body);
      if (isWrite) writeCount++;
      return reply(out.status ?? 200, out.body);
    } catch (e) {
      if (e instanceof HttpError) return reply(e.status, errorBody(e.message, e.typeKey));
      violations.push(`${method} ${path}: the fake failed: ${(e as Error).stack}`);
      return reply(500, errorBody("fake failure", "InternalException"));
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      violations.push(`handler crashed: ${(e as Error).stack}`);
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${org}`;

  return {
    url: base,
    org,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
    addProject(name) {
      const p: FakeProject = { id: randomUUID(), name, teams: new Map() };
      projects.set(lc(name), p);
      return p;
    },
    addTeam(project, name) {
      const p = projectOf(project);
      const sid = `S-1-9-1551374245-${[...randomBytes(16)].map((b) => b % 10).join("")}-1-${p.teams.size + 1}`;
      const t: FakeTeam = { id: randomUUID(), name, descriptor: `Microsoft.TeamFoundation.Identity;${sid}` };
      p.teams.set(lc(name), t);
      return t;
    },
    addToken(token, kind = "pat") {
      tokens.set(token, kind);
    },
    repo(project, name) {
      const p = projects.get(lc(project));
      return [...repos.values()].find((r) => r.project === p && lc(r.name) === lc(name));
    },
    repositories: () => [...repos.values()],
    variableGroups: () => [...groups.values()],
    environments: () => [...envs.values()].map((e) => ({ id: e.id, name: e.name, projectId: e.projectId })),
    checks: () => [...checks.values()].map(checkObj),
    pipelinePermissions: () =>
      new Map([...permissions].filter(([, v]) => v.size > 0).map(([k, v]) => [k.slice(k.indexOf("/") + 1), [...v].sort()])),
    pipelines: () => [...pipelines.values()],
    repositoryAces: () =>
      [...acls].flatMap(([token, acl]) =>
        [...acl].map(([descriptor, e]) => ({
          repository: madeRepos.get(token.slice(token.lastIndexOf("/") + 1))?.name ?? "",
          token,
          team: teamOfDescriptor(descriptor)?.name ?? descriptor,
          allow: e.allow,
          deny: e.deny,
        })),
      ),
    policies: () => [...policies.values()].map(policyObj),
    violations,
    requests,
    writes: () => writeCount,
    failAfterWrites(n, opts = {}) {
      fault = { after: writeCount + n, status: opts.status ?? 500, count: opts.count ?? 1 };
    },
    rateLimit(count, seconds = 0) {
      limited = { count, seconds };
    },
    addHook(hook) {
      hooks.push(hook);
    },
    clearFaults() {
      fault = undefined;
      limited = undefined;
      hooks.length = 0;
    },
    reset() {
      repos.clear();
      groups = new Map();
      envs = new Map();
      checks = new Map();
      permissions = new Map();
      acls = new Map();
      madeRepos = new Map();
      pipelines = new Map();
      policies = new Map();
    },
  };
}
