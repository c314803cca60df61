import sodium from "libsodium-wrappers";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { Secret } from "../../../lib/secret.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { splitId, str } from "./common.js";

/**
 * `github.environment_secret`: a secret of a deployment environment. Spec: `{ owner, repo,
 * environment, name, value }` with `value` a `Secret`. Id `owner/repo/environment/NAME`.
 *
 * `github.secret`: a repository secret (Actions), for values that workflows read outside any
 * environment (a pull request's validation job). Spec: `{ owner, repo, name, value }`. Id
 * `owner/repo/NAME`.
 *
 * The value is sealed with libsodium's `crypto_box_seal` against the environment's (or repository's)
 * public key and sent base64-encoded (original variant); GitHub never returns it, so a change is
 * detected by the fingerprint kept in state.
 */

/** Seals `value` for a GitHub public key (base64, original variant), as GitHub's secrets API expects. */
export async function sealForGithub(publicKeyBase64: string, value: Secret): Promise<string> {
  await sodium.ready;
  const key = sodium.from_base64(publicKeyBase64, sodium.base64_variants.ORIGINAL);
  const sealed = sodium.crypto_box_seal(sodium.from_string(value.reveal()), key);
  return sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
}

type Where = { owner: string; repo: string; environment_name?: string };

function secretAdapter(kind: "github.environment_secret" | "github.secret"): ResourceAdapter<GithubCtx> {
  const inEnv = kind === "github.environment_secret";
  const base = inEnv ? "/repos/{owner}/{repo}/environments/{environment_name}/secrets" : "/repos/{owner}/{repo}/actions/secrets";
  const idOf = (spec: Record<string, unknown>) =>
    [str(spec.owner), str(spec.repo), ...(inEnv ? [str(spec.environment)] : []), str(spec.name).toUpperCase()].join("/");
  const parse = (id: string): Where & { secret_name: string } => {
    const segs = splitId(id, inEnv ? 4 : 3, kind) as string[];
    return inEnv
      ? { owner: segs[0] as string, repo: segs[1] as string, environment_name: segs[2] as string, secret_name: segs[3] as string }
      : { owner: segs[0] as string, repo: segs[1] as string, secret_name: segs[2] as string };
  };
  const publicKey = (ctx: GithubCtx, p: Where) => {
    const key = [p.owner, p.repo, ...(p.environment_name !== undefined ? [p.environment_name] : [])].join("/").toLowerCase();
    let k = ctx.publicKeys.get(key);
    if (!k) {
      const where = {
        owner: p.owner,
        repo: p.repo,
        ...(p.environment_name !== undefined ? { environment_name: p.environment_name } : {}),
      };
      k = gh<{ key_id: string; key: string }>(ctx, `GET ${base}/public-key`, where).then((r) => r.data);
      k.catch(() => ctx.publicKeys.delete(key));
      ctx.publicKeys.set(key, k);
    }
    return k;
  };
  const put = async (ctx: GithubCtx, spec: Record<string, unknown>): Promise<string> => {
    const id = idOf(spec);
    const p = parse(id);
    if (!Secret.isSecret(spec.value)) throw new UserError(`${kind} ${id}: the value must be a secret`);
    const key = await publicKey(ctx, p);
    const encrypted_value = await sealForGithub(key.key, spec.value);
    await gh(ctx, `PUT ${base}/{secret_name}`, { ...p, encrypted_value, key_id: key.key_id });
    return id;
  };
  const remoteOf = (id: string) => {
    const p = parse(id);
    return {
      owner: p.owner,
      repo: p.repo,
      ...(p.environment_name !== undefined ? { environment: p.environment_name } : {}),
      name: p.secret_name.toUpperCase(),
    };
  };
  const adapter: ResourceAdapter<GithubCtx> = {
    kind,
    naturalKey: (spec) => idOf(spec).toLowerCase(),
    async read(ctx, id) {
      const s = await ghMaybe<{ name: string }>(ctx, `GET ${base}/{secret_name}`, parse(id));
      return s ? remoteOf(id) : undefined;
    },
    async find(ctx, spec) {
      const remote = await adapter.read(ctx, idOf(spec));
      return remote ? { id: idOf(spec), remote } : undefined;
    },
    async create(ctx, spec) {
      const id = await put(ctx, spec);
      return { id, remote: remoteOf(id) };
    },
    async update(ctx, id, spec) {
      await put(ctx, spec);
      return remoteOf(id);
    },
    async delete(ctx, id) {
      await gh(ctx, `DELETE ${base}/{secret_name}`, parse(id));
    },
    normalizeDesired: (spec) => ({ ...spec, name: str(spec.name).toUpperCase() }),
    rules: { recreateOn: ["owner", "repo", "environment", "name"], sensitive: ["value"] },
  };
  return adapter;
}

export const environmentSecretAdapter = secretAdapter("github.environment_secret");
export const repositorySecretAdapter = secretAdapter("github.secret");
