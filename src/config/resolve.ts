import { readFileSync, statSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { Secret } from "../lib/secret.js";
import { resolveAzure } from "./azure.js";
import type { ConfigIssue, Loc } from "./errors.js";
import {
  createVariables,
  type InterpolationContext,
  interpolate,
  type RefSite,
  unescapeDeep,
  unescapeRefs,
} from "./interpolate.js";
import { validate } from "./issues.js";
import {
  KINDS,
  type KindInfo,
  kindBySection,
  PERMISSIONS_KIND,
  SECRET_ACL_KIND,
  SECRET_KIND,
  SECTIONS,
  specFields,
} from "./kinds.js";
import type { ProjectDocument } from "./loader.js";
import { AzureOutputRef, KeyVaultSecret, parseExpression, Ref, splitInterpolation, Template } from "./refs.js";
import { AZURE_OUTPUTS, type AzureSettings } from "./schema/azure.js";
import { resources as resourcesSchema, workspaceTarget } from "./schema/document.js";
import { languageFromExtension } from "./schema/workspace.js";
import { didYouMean } from "./suggest.js";
import {
  emptyMap,
  getMap,
  issueAt,
  type KeyedArrays,
  type LNode,
  type MapNode,
  overrideMerge,
  type PathSeg,
  pathString,
  type ScalarNode,
  toPlain,
} from "./tree.js";

/** Where an environment deploys to. */
export type WorkspaceTarget =
  | { type: "local" }
  | {
      type: "remote";
      host?: string;
      profile?: string;
      auth_type?: string;
      client_id?: string;
      azure_client_id?: string;
      azure_tenant_id?: string;
      azure_workspace_resource_id?: string;
      root_path?: string;
    };

/** One object the configuration wants to exist (structurally the engine's `DesiredResource`). */
export interface ResolvedResource {
  /** `databricks.<kind>`, e.g. `databricks.job`. */
  kind: string;
  /**
   * The key under `resources.<section>`; for resources made from parts of another one:
   * `<section>.<name>` (permissions), `<scope>.<key>` (secrets), `<scope>.<principal>` (secret ACLs).
   */
  name: string;
  /** The configured fields, with `Ref`/`Template` placeholders, `Secret` and `KeyVaultSecret` values. */
  spec: Record<string, unknown>;
  /** Resources this one needs first: references it makes plus implied ones (a schema's catalog, ...). */
  dependsOn: Ref[];
  preventDestroy: boolean;
  /** Where it is declared. */
  source: Loc;
  /** For permissions, secrets and secret ACLs: the resource they belong to. */
  parent?: { kind: string; name: string };
}

/** One environment of the configuration, ready for the engine. */
export interface ResolvedConfig {
  project: { name: string; description?: string };
  environment: string;
  workspace: WorkspaceTarget;
  /** Values of the variables used, after interpolation. */
  variables: Record<string, unknown>;
  resources: ResolvedResource[];
  /** The main configuration file and its directory. */
  file: string;
  root: string;
  /** Every configuration file read. */
  files: string[];
  /** The environment's `azure:` section, when it has one. */
  azure?: ResolvedAzure;
}

/** The Azure infrastructure of an environment. */
export interface ResolvedAzure {
  settings: AzureSettings;
  /** `${azure.*}` outputs used elsewhere whose values were not given (known after apply in resources). */
  pending: string[];
  /** Those of `pending` the workspace target itself uses (its host, typically): it cannot be reached before. */
  workspacePending: string[];
}

export interface EnvironmentOptions {
  /** The selected environment: missing environment variables, secret sources and local files are errors. */
  strict: boolean;
  env: Readonly<Record<string, string | undefined>>;
  variables: Readonly<Record<string, string>>;
  /** Values of the Azure infrastructure's outputs, for `${azure.<part>.<field>}`. */
  azureOutputs?: Readonly<Record<string, string>>;
}

const ID_SEP = ".";
const idOf = (section: string, name: string) => `${section}${ID_SEP}${name}`;

interface Edge {
  from: string;
  to: string;
  field: string;
  /** The reference that makes the edge, or the resource for implied edges. */
  at: LNode;
  implied?: string;
}

/** Checks one environment; in strict mode (the selected environment) also builds its resources. */
export function analyseEnvironment(
  project: ProjectDocument,
  environment: string,
  opts: EnvironmentOptions,
): { issues: ConfigIssue[]; config?: ResolvedConfig } {
  const { doc } = project;
  const issues: ConfigIssue[] = [];
  const projectNode = getMap(doc, "project");
  const scalarOf = (m: MapNode | undefined, k: string) => {
    const v = m?.entries.get(k);
    return v?.t === "scalar" && typeof v.value === "string" ? v.value : undefined;
  };
  const projectName = scalarOf(projectNode, "name") ?? "";
  const envs = getMap(doc, "environments");
  const envNode = envs ? getMap(envs, environment) : undefined;

  const variables = createVariables(
    {
      declarations: getMap(doc, "variables"),
      values: envNode ? getMap(envNode, "variables") : undefined,
      overrides: opts.strict ? opts.variables : {},
      env: opts.strict ? opts.env : {},
    },
    { environment, project: projectName, env: opts.env, strict: opts.strict, issues },
  );
  variables.checkAll();
  const azureRefs = {
    names: AZURE_OUTPUTS,
    pending: new Set<string>(),
    ...(opts.strict && opts.azureOutputs ? { outputs: opts.azureOutputs } : {}),
  };
  /** A fresh context for interpolating one part of the environment. */
  const contextWith = (azure: InterpolationContext["azure"]): InterpolationContext => ({
    environment,
    project: projectName,
    env: opts.env,
    strict: opts.strict,
    variables,
    issues,
    refs: [],
    unresolved: new Set(),
    azure,
  });
  const azureResult = resolveAzure(
    doc,
    envNode,
    contextWith({ ...azureRefs, refused: "the azure section cannot refer to its own outputs" }),
  );
  issues.push(...azureResult.issues);
  const context = (): InterpolationContext =>
    contextWith(
      azureResult.declared
        ? azureRefs
        : { ...azureRefs, refused: `environment ${environment} has no azure section`, pending: new Set() },
    );

  // The workspace.
  let workspace: WorkspaceTarget = { type: "local" };
  const wsNode = envNode?.entries.get("workspace");
  if (wsNode) {
    const ctx = context();
    const ws = interpolate(wsNode, ctx, [], false);
    const plain = toPlain(ws);
    const wsIssues = validate({ schema: workspaceTarget, data: plain, tree: ws, unresolved: ctx.unresolved });
    issues.push(...wsIssues);
    if (wsIssues.length === 0 && plain !== "local" && typeof plain === "object" && plain !== null) {
      workspace = { type: "remote", ...(unescapeDeep(plain) as Record<string, string>) };
    }
  }
  // The workspace target is interpolated first: what is pending now, it waits for.
  const workspacePending = [...azureRefs.pending].sort();

  // Shared resources with this environment's overrides.
  const merged = mergeResources(doc, envNode);
  const ctx = context();
  const tree = interpolate(merged, ctx) as MapNode;
  issues.push(...validate({ schema: resourcesSchema, data: toPlain(tree), tree, unresolved: ctx.unresolved }));

  const sectionOf = (s: string) => getMap(tree, s);
  const edges: Edge[] = [];
  const subEdges: Edge[] = [];
  for (const site of ctx.refs) {
    const owner = ownerOf(site.path);
    checkReference(site, owner, environment, sectionOf, issues, owner.split(ID_SEP).length > 2 ? subEdges : edges);
  }
  const implied = impliedEdges(tree);
  edges.push(...implied.main);
  subEdges.push(...implied.sub);
  issues.push(...findCycles(tree, edges));

  if (!opts.strict || issues.length > 0) return { issues };
  const config = build(project, environment, workspace, tree, variables.plain(), [...edges, ...subEdges], opts, issues);
  if (azureResult.settings) {
    config.azure = { settings: azureResult.settings, pending: [...azureRefs.pending].sort(), workspacePending };
  }
  return issues.length > 0 ? { issues } : { issues, config };
}

function keyedArrays(info: KindInfo): KeyedArrays {
  return (rel) => (rel.length === 1 ? info.keyedArrays?.[String(rel[0])] : undefined);
}

function mergeResources(doc: MapNode, envNode: MapNode | undefined): MapNode {
  const shared = getMap(doc, "resources");
  const over = envNode ? getMap(envNode, "resources") : undefined;
  const base = shared ?? over ?? emptyMap(doc.loc, ["resources"]);
  const entries = new Map<string, LNode>();
  for (const info of KINDS) {
    const b = shared ? getMap(shared, info.section) : undefined;
    const o = over ? getMap(over, info.section) : undefined;
    const holder = b ?? o;
    if (!holder) continue;
    const items = new Map<string, LNode>(b?.entries ?? []);
    for (const [name, node] of o?.entries ?? []) {
      const existing = items.get(name);
      const m = existing
        ? overrideMerge(existing, node, keyedArrays(info))
        : node.t === "scalar" && node.value === null
          ? undefined
          : node;
      if (m === undefined) items.delete(name);
      else items.set(name, m);
    }
    entries.set(info.section, { ...holder, entries: items });
  }
  return { ...base, entries };
}

/** Fields `${resources.<section>.<name>.<field>}` may name. */
function referencable(info: KindInfo): string[] {
  const secret = new Set((info.secretPaths ?? []).map((p) => p.split(".")[0]));
  return [...new Set([...info.outputs, ...specFields(info)])].filter((f) => !secret.has(f));
}

/**
 * The resource a value at `path` (in the merged resources) belongs to: the resource itself, or the
 * permissions, secret or secret ACL made from it (`jobs.train.permissions`, `secret_scopes.s.acls.0`).
 */
function ownerOf(path: readonly PathSeg[]): string {
  const id = idOf(String(path[0]), String(path[1]));
  if (path[2] === "permissions") return `${id}${ID_SEP}permissions`;
  if (path[0] === "secret_scopes" && (path[2] === "secrets" || path[2] === "acls") && path.length > 3) {
    return `${id}${ID_SEP}${path[2]}${ID_SEP}${String(path[3])}`;
  }
  return id;
}

function checkReference(
  site: RefSite,
  owner: string,
  environment: string,
  sectionOf: (s: string) => MapNode | undefined,
  issues: ConfigIssue[],
  edges: Edge[],
): void {
  const text = `\${resources.${site.section}.${site.name}.${site.field}}`;
  const info = kindBySection(site.section);
  if (!info) {
    issues.push(issueAt(site.node, `${text}: unknown resource kind "${site.section}"${didYouMean(site.section, SECTIONS)}`));
    return;
  }
  const names = [...(sectionOf(site.section)?.entries.keys() ?? [])];
  if (!names.includes(site.name)) {
    issues.push(
      issueAt(
        site.node,
        `${text}: no ${site.section} named "${site.name}" in environment ${environment}${didYouMean(site.name, names)}`,
      ),
    );
    return;
  }
  const secret = (info.secretPaths ?? []).some((p) => p.split(".")[0] === site.field);
  if (secret) {
    issues.push(issueAt(site.node, `${text}: "${site.field}" holds a secret and cannot be referenced`));
    return;
  }
  const fields = referencable(info);
  if (!fields.includes(site.field)) {
    issues.push(
      issueAt(
        site.node,
        `${text}: ${site.section} have no field "${site.field}"${didYouMean(site.field, fields)}`,
        `outputs of ${site.section}: ${info.outputs.join(", ")}`,
      ),
    );
    return;
  }
  edges.push({ from: owner, to: idOf(site.section, site.name), field: site.field, at: site.node });
}

// -------------------------------------------------------------------------------------------------
// Dependencies implied by names (a schema's catalog, a grant's principal, a group's members, ...)

function impliedEdges(tree: MapNode): { main: Edge[]; sub: Edge[] } {
  const main: Edge[] = [];
  const sub: Edge[] = [];
  const plainOf = (section: string) => {
    const out = new Map<string, { node: LNode; spec: Record<string, unknown> }>();
    for (const [name, node] of getMap(tree, section)?.entries ?? []) {
      const spec = toPlain(node);
      if (spec && typeof spec === "object" && !Array.isArray(spec))
        out.set(name, { node, spec: spec as Record<string, unknown> });
    }
    return out;
  };
  const literal = (v: unknown) => (typeof v === "string" && !v.includes("${") ? v : undefined);
  const indexBy = (section: string, key: (s: Record<string, unknown>) => string | undefined) => {
    const m = new Map<string, string>();
    for (const [name, { spec }] of plainOf(section)) {
      const k = key(spec);
      if (k !== undefined && !m.has(k)) m.set(k, name);
    }
    return m;
  };
  const full = (...parts: unknown[]) => (parts.every((p) => literal(p) !== undefined) ? parts.join(".") : undefined);
  const catalogs = indexBy("catalogs", (s) => literal(s.name));
  const schemas = indexBy("schemas", (s) => full(s.catalog_name, s.name));
  const volumes = indexBy("volumes", (s) => full(s.catalog_name, s.schema_name, s.name));
  const models = indexBy("registered_models", (s) => full(s.catalog_name, s.schema_name, s.name));
  const groups = indexBy("groups", (s) => literal(s.display_name));
  const sps = indexBy("service_principals", (s) => literal(s.application_id));

  const add = (list: Edge[], from: string, section: string, name: string | undefined, at: LNode, why: string) => {
    if (name === undefined) return;
    const to = idOf(section, name);
    if (to !== from) list.push({ from, to, field: "id", at, implied: why });
  };
  const principal = (list: Edge[], from: string, p: unknown, at: LNode) => {
    const name = literal(p);
    if (name === undefined) return;
    add(list, from, "groups", groups.get(name), at, `principal ${name}`);
    add(list, from, "service_principals", sps.get(name), at, `principal ${name}`);
  };
  const member = (list: Edge[], from: string, m: unknown, at: LNode) => {
    if (!m || typeof m !== "object") return;
    const r = m as Record<string, unknown>;
    const g = literal(r.group_name);
    const sp = literal(r.service_principal_name);
    if (g !== undefined) add(list, from, "groups", groups.get(g), at, `group ${g}`);
    if (sp !== undefined) add(list, from, "service_principals", sps.get(sp), at, `service principal ${sp}`);
  };

  for (const info of KINDS) {
    for (const [name, { node, spec }] of plainOf(info.section)) {
      const from = idOf(info.section, name);
      const keyNode = node;
      if (info.section === "schemas")
        add(main, from, "catalogs", catalogs.get(literal(spec.catalog_name) ?? ""), keyNode, "catalog");
      if (info.section === "volumes" || info.section === "registered_models") {
        add(main, from, "catalogs", catalogs.get(literal(spec.catalog_name) ?? ""), keyNode, "catalog");
        add(main, from, "schemas", schemas.get(full(spec.catalog_name, spec.schema_name) ?? ""), keyNode, "schema");
      }
      if ("owner" in spec) principal(main, from, spec.owner, keyNode);
      if (info.section === "grants") {
        const sec = spec.securable as { type?: string; name?: string } | undefined;
        const n = literal(sec?.name) ?? "";
        const target: Record<string, [string, Map<string, string>]> = {
          catalog: ["catalogs", catalogs],
          schema: ["schemas", schemas],
          volume: ["volumes", volumes],
          registered_model: ["registered_models", models],
        };
        const t = sec?.type ? target[sec.type] : undefined;
        if (t) add(main, from, t[0], t[1].get(n), keyNode, "securable");
        principal(main, from, spec.principal, keyNode);
      }
      if (info.section === "groups" && Array.isArray(spec.members)) for (const m of spec.members) member(main, from, m, keyNode);
      if (info.section === "jobs") {
        const runAs = spec.run_as as Record<string, unknown> | undefined;
        const sp = literal(runAs?.service_principal_name);
        if (sp !== undefined) add(main, from, "service_principals", sps.get(sp), keyNode, "run_as");
      }
      if (info.section === "repos")
        for (const cred of getMap(tree, "git_credentials")?.entries.keys() ?? []) {
          add(main, from, "git_credentials", cred, keyNode, "git credentials");
        }
      if (Array.isArray(spec.permissions)) {
        const permsFrom = `${from}${ID_SEP}permissions`;
        for (const p of spec.permissions) member(sub, permsFrom, p, keyNode);
      }
      if (info.section === "secret_scopes" && Array.isArray(spec.acls)) {
        spec.acls.forEach((a, i) => {
          principal(sub, `${from}${ID_SEP}acls${ID_SEP}${i}`, (a as Record<string, unknown>)?.principal, keyNode);
        });
      }
    }
  }
  return { main, sub };
}

/** Every dependency cycle among resources, each reported once at the reference that closes it. */
function findCycles(tree: MapNode, edges: Edge[]): ConfigIssue[] {
  const out = new Map<string, Edge[]>();
  for (const e of edges) {
    const list = out.get(e.from) ?? [];
    list.push(e);
    out.set(e.from, list);
  }
  const nodes: string[] = [];
  for (const info of KINDS)
    for (const name of getMap(tree, info.section)?.entries.keys() ?? []) nodes.push(idOf(info.section, name));
  const state = new Map<string, 1 | 2>();
  const stack: Edge[] = [];
  const issues: ConfigIssue[] = [];
  const reported = new Set<string>();
  const visit = (n: string) => {
    state.set(n, 1);
    for (const e of out.get(n) ?? []) {
      const s = state.get(e.to);
      if (s === 2) continue;
      if (s === 1) {
        const start = stack.findIndex((x) => x.from === e.to);
        const cycle = [...(start < 0 ? [] : stack.slice(start)), e];
        const ids = cycle.map((x) => x.from);
        const key = [...ids].sort().join(" ");
        if (!reported.has(key)) {
          reported.add(key);
          const first = cycle[0] as Edge;
          const path = [...ids, e.to].join(" -> ");
          const why = cycle.filter((x) => x.implied).map((x) => `${x.from} needs ${x.to} (${x.implied})`);
          issues.push(
            issueAt(
              first.at,
              `dependency cycle: ${path}`,
              why.length > 0 ? `implied by names: ${why.join("; ")}` : "remove one of the references",
              first.implied !== undefined,
            ),
          );
        }
        continue;
      }
      stack.push(e);
      visit(e.to);
      stack.pop();
    }
    state.set(n, 2);
  };
  for (const n of nodes) if (!state.has(n)) visit(n);
  return issues;
}

// -------------------------------------------------------------------------------------------------
// Building the desired resources of the selected environment

function build(
  project: ProjectDocument,
  environment: string,
  workspace: WorkspaceTarget,
  tree: MapNode,
  variables: Record<string, unknown>,
  edges: Edge[],
  opts: EnvironmentOptions,
  issues: ConfigIssue[],
): ResolvedConfig {
  const projectMap = getMap(project.doc, "project");
  const projectPlain = (projectMap ? toPlain(projectMap) : {}) as { name: string; description?: string };
  const specs = new Map<string, Record<string, unknown>>();
  const building = new Set<string>();

  const specOf = (section: string, name: string): Record<string, unknown> | undefined => {
    const id = idOf(section, name);
    const known = specs.get(id);
    if (known) return known;
    if (building.has(id)) return undefined;
    const info = kindBySection(section) as KindInfo;
    const node = getMap(tree, section)?.entries.get(name);
    if (!node) return undefined;
    building.add(id);
    const spec = convert(node, info, [], issues) as Record<string, unknown>;
    building.delete(id);
    specs.set(id, spec);
    return spec;
  };

  const convert = (node: LNode, info: KindInfo, rel: PathSeg[], out: ConfigIssue[]): unknown => {
    if (isSecretPath(info, rel)) return secretValue(node, opts, out);
    if (node.t === "map") {
      const o: Record<string, unknown> = {};
      for (const [k, v] of node.entries) o[k] = convert(v, info, [...rel, k], out);
      return o;
    }
    if (node.t === "seq") return node.items.map((v, i) => convert(v, info, [...rel, i], out));
    if (typeof node.value !== "string" || !node.value.includes("$")) return node.value;
    return convertString(node, out);
  };

  const convertString = (node: ScalarNode, out: ConfigIssue[]): unknown => {
    const { segments } = splitInterpolation(node.value as string);
    const parts: (string | Ref)[] = [];
    const whole = segments.length === 1 && "expr" in (segments[0] as object);
    for (const seg of segments) {
      if ("text" in seg) {
        parts.push(seg.text);
        continue;
      }
      const e = parseExpression(seg.expr);
      if (typeof e !== "string" && e.type === "azure") {
        // An output of infrastructure not deployed yet: known after apply (deployed outputs were
        // put in place while interpolating).
        const pending = new AzureOutputRef(e.output);
        if (whole) return pending;
        parts.push(pending);
        continue;
      }
      if (typeof e === "string" || e.type !== "resource") {
        out.push(issueAt(node, `unresolved reference \${${seg.expr}}`));
        return undefined;
      }
      const info = kindBySection(e.section) as KindInfo;
      let value: unknown;
      if (info.outputs.includes(e.field)) value = new Ref(info.kind, e.name, e.field, e.section);
      else {
        const target = specOf(e.section, e.name);
        if (target === undefined) {
          out.push(issueAt(node, `\${${seg.expr}} refers back to this resource`));
          return undefined;
        }
        value = target[e.field];
        if (value === undefined) {
          out.push(
            issueAt(node, `\${${seg.expr}}: ${e.section}.${e.name} does not set "${e.field}" in environment ${environment}`),
          );
          return undefined;
        }
      }
      if (whole) return value;
      if (value instanceof Ref) parts.push(value);
      else if (value instanceof Template) parts.push(...value.parts);
      else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") parts.push(String(value));
      else {
        out.push(issueAt(node, `\${${seg.expr}} is not a string, number or boolean and cannot be part of a string`));
        return undefined;
      }
    }
    const joined: (string | Ref)[] = [];
    for (const p of parts) {
      const last = joined[joined.length - 1];
      if (typeof p === "string" && typeof last === "string") joined[joined.length - 1] = last + p;
      else joined.push(p);
    }
    if (joined.every((p) => typeof p === "string")) return joined.join("");
    return new Template(joined);
  };

  const resources: ResolvedResource[] = [];
  for (const info of KINDS) {
    const section = getMap(tree, info.section);
    for (const [name, node] of section?.entries ?? []) {
      const id = idOf(info.section, name);
      const spec = specOf(info.section, name);
      if (!spec || node.t !== "map") continue;
      checkLocalFiles(info, node, spec, issues);
      const depsOf = (from: string) => uniqueRefs(edges.filter((e) => e.from === from).map((e) => refTo(e)));
      const preventDestroy = spec.prevent_destroy === true;
      const { permissions, prevent_destroy: _p, ...rest } = spec;
      let main = rest;
      const source = node.keyLoc ?? node.loc;
      const parent = { kind: info.kind, name };
      const sub: ResolvedResource[] = [];
      if (info.section === "secret_scopes") {
        const { secrets, acls, ...scope } = rest;
        main = scope;
        for (const [key, value] of Object.entries((secrets ?? {}) as Record<string, unknown>)) {
          const at = getMap(node, "secrets")?.entries.get(key);
          sub.push({
            kind: SECRET_KIND,
            name: `${name}.${key}`,
            spec: { scope: scope.name, key, string_value: value },
            dependsOn: uniqueRefs([new Ref(info.kind, name, "id", info.section), ...depsOf(`${id}.secrets.${key}`)]),
            preventDestroy: false,
            source: at?.keyLoc ?? source,
            parent,
          });
        }
        const aclNodes = node.entries.get("acls");
        ((acls ?? []) as { principal: string; permission: string }[]).forEach((a, i) => {
          const at = aclNodes?.t === "seq" ? aclNodes.items[i] : undefined;
          sub.push({
            kind: SECRET_ACL_KIND,
            name: `${name}.${String(a.principal)}`,
            spec: { scope: scope.name, principal: a.principal, permission: a.permission },
            dependsOn: uniqueRefs([new Ref(info.kind, name, "id", info.section), ...depsOf(`${id}.acls.${i}`)]),
            preventDestroy: false,
            source: at?.loc ?? source,
            parent,
          });
        });
      }
      if (Array.isArray(permissions) && info.permissionsObjectType) {
        const at = node.entries.get("permissions");
        sub.push({
          kind: PERMISSIONS_KIND,
          name: id,
          spec: {
            object_type: info.permissionsObjectType,
            object_id: new Ref(info.kind, name, "id", info.section),
            access_control_list: (permissions as Record<string, unknown>[]).map((p) => {
              const { level, ...who } = p;
              return { ...who, permission_level: level };
            }),
          },
          dependsOn: uniqueRefs([new Ref(info.kind, name, "id", info.section), ...depsOf(`${id}.permissions`)]),
          preventDestroy: false,
          source: at?.keyLoc ?? source,
          parent,
        });
      }
      resources.push({ kind: info.kind, name, spec: main, dependsOn: depsOf(id), preventDestroy, source }, ...sub);
    }
  }
  return {
    project: projectPlain.description === undefined ? { name: projectPlain.name } : projectPlain,
    environment,
    workspace,
    variables,
    resources,
    file: project.file,
    root: project.root,
    files: project.files,
  };
}

function refTo(e: Edge): Ref {
  const [section, ...rest] = e.to.split(ID_SEP);
  const info = kindBySection(section as string) as KindInfo;
  return new Ref(info.kind, rest.join(ID_SEP), e.field, info.section);
}

function uniqueRefs(refs: Ref[]): Ref[] {
  const seen = new Set<string>();
  return refs.filter((r) => {
    const k = `${r.kind}\u0000${r.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function isSecretPath(info: KindInfo, rel: readonly PathSeg[]): boolean {
  return (info.secretPaths ?? []).some((p) => {
    const segs = p.split(".");
    return segs.length === rel.length && segs.every((s, i) => s === "*" || s === String(rel[i]));
  });
}

/** A secret source turned into its value: `from_env` and `from_file` are read now, Key Vault later. */
function secretValue(node: LNode, opts: EnvironmentOptions, issues: ConfigIssue[]): Secret | KeyVaultSecret | undefined {
  if (node.t !== "map") return undefined;
  const fromEnv = node.entries.get("from_env");
  if (fromEnv?.t === "scalar") {
    const name = String(fromEnv.value);
    const v = opts.env[name];
    if (v === undefined) {
      issues.push(
        issueAt(
          fromEnv,
          `environment variable ${name} is not set`,
          `export ${name} with the secret value before running lakeforge`,
        ),
      );
      return undefined;
    }
    if (v === "") {
      issues.push(issueAt(fromEnv, `environment variable ${name} is empty`));
      return undefined;
    }
    return Secret.from(v);
  }
  const fromFile = node.entries.get("from_file");
  if (fromFile?.t === "scalar") {
    const file = resolvePath(dirname(fromFile.loc.file), unescapeRefs(String(fromFile.value)));
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      issues.push(
        issueAt(fromFile, `cannot read secret file ${String(fromFile.value)}: ${code === "ENOENT" ? "no such file" : code}`),
      );
      return undefined;
    }
    const value = text.replace(/\r?\n$/, "");
    if (value === "") {
      issues.push(issueAt(fromFile, `secret file ${String(fromFile.value)} is empty`));
      return undefined;
    }
    return Secret.from(value);
  }
  const kv = node.entries.get("azure_key_vault");
  if (kv?.t === "map") {
    const p = unescapeDeep(toPlain(kv)) as { vault: string; secret: string; version?: string };
    return new KeyVaultSecret(p.vault, p.secret, p.version, { ...kv.loc, path: pathString(kv.path) });
  }
  return undefined;
}

/** Sources of workspace files and notebooks must exist; they are resolved against their file. */
function checkLocalFiles(info: KindInfo, node: MapNode, spec: Record<string, unknown>, issues: ConfigIssue[]): void {
  if (info.section !== "workspace_files" && info.section !== "notebooks") return;
  const src = node.entries.get("source");
  if (src?.t !== "scalar" || typeof spec.source !== "string") return;
  const abs = resolvePath(dirname(src.loc.file), spec.source);
  let isFile = false;
  try {
    isFile = statSync(abs).isFile();
  } catch {
    isFile = false;
  }
  if (!isFile) {
    issues.push(issueAt(src, `source file ${spec.source} does not exist`, "paths are relative to the file that names them"));
    return;
  }
  if (info.section === "notebooks" && spec.language === undefined && languageFromExtension(abs) === undefined) {
    issues.push(
      issueAt(src, `cannot tell the notebook's language from "${spec.source}"`, "set `language` (PYTHON, SQL, SCALA or R)"),
    );
  }
  spec.source = abs;
}
