import type { ResourceAdapter } from "../../../engine/types.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { splitId, str } from "./common.js";

/**
 * `github.variable` (repository variables) and `github.environment_variable`: plain configuration
 * values (hosts, catalog names, client ids) that workflows read as `vars.NAME`. GitHub stores names
 * upper-case. Spec: `{ owner, repo, name, value }`, plus `environment` for an environment variable.
 * Ids `owner/repo/NAME` and `owner/repo/<environment>/NAME`.
 */

interface VariableData {
  name: string;
  value: string;
}

function variableAdapter(kind: "github.variable" | "github.environment_variable"): ResourceAdapter<GithubCtx> {
  const inEnv = kind === "github.environment_variable";
  const idOf = (spec: Record<string, unknown>) =>
    [str(spec.owner), str(spec.repo), ...(inEnv ? [str(spec.environment)] : []), str(spec.name).toUpperCase()].join("/");
  const parse = (id: string) => {
    const segs = splitId(id, inEnv ? 4 : 3, kind);
    return inEnv
      ? { owner: segs[0] as string, repo: segs[1] as string, environment_name: segs[2] as string, name: segs[3] as string }
      : { owner: segs[0] as string, repo: segs[1] as string, name: segs[2] as string };
  };
  const base = inEnv
    ? "/repos/{owner}/{repo}/environments/{environment_name}/variables"
    : "/repos/{owner}/{repo}/actions/variables";
  const remoteOf = (p: ReturnType<typeof parse>, v: VariableData) => ({
    owner: p.owner,
    repo: p.repo,
    ...("environment_name" in p ? { environment: p.environment_name } : {}),
    name: v.name.toUpperCase(),
    value: v.value,
  });
  const adapter: ResourceAdapter<GithubCtx> = {
    kind,
    naturalKey: (spec) => idOf(spec).toLowerCase(),
    async read(ctx, id) {
      const p = parse(id);
      const v = await ghMaybe<VariableData>(ctx, `GET ${base}/{name}`, p);
      return v ? remoteOf(p, v) : undefined;
    },
    async find(ctx, spec) {
      const remote = await adapter.read(ctx, idOf(spec));
      return remote ? { id: idOf(spec), remote } : undefined;
    },
    async create(ctx, spec) {
      const id = idOf(spec);
      const { name, ...where } = parse(id);
      await gh(ctx, `POST ${base}`, { ...where, name, value: str(spec.value) });
      return { id, remote: remoteOf(parse(id), { name, value: str(spec.value) }) };
    },
    async update(ctx, id, spec) {
      const p = parse(id);
      await gh(ctx, `PATCH ${base}/{name}`, { ...p, value: str(spec.value) });
      return remoteOf(p, { name: p.name, value: str(spec.value) });
    },
    async delete(ctx, id) {
      await gh(ctx, `DELETE ${base}/{name}`, parse(id));
    },
    normalizeDesired: (spec) => ({ ...spec, name: str(spec.name).toUpperCase() }),
    rules: { recreateOn: ["owner", "repo", "environment", "name"] },
  };
  return adapter;
}

export const repositoryVariableAdapter = variableAdapter("github.variable");
export const environmentVariableAdapter = variableAdapter("github.environment_variable");
