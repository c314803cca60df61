import sodium from "libsodium-wrappers";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { Secret } from "../../../lib/secret.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { splitId, str } from "./common.js";

/**
 * `github.environment_secret`: a secret of a deployment environment. Spec: `{ owner, repo,
 * environment, name, value }` with `value` a `Secret`. The value is sealed with libsodium's
 * `crypto_box_seal` against the environment's public key and sent base64-encoded (original variant);
 * GitHub never returns it, so a change is detected by the fingerprint kept in state. Id
 * `owner/repo/environment/NAME`.
 */

const idOf = (spec: Record<string, unknown>) =>
  `${str(spec.owner)}/${str(spec.repo)}/${str(spec.environment)}/${str(spec.name).toUpperCase()}`;
const parse = (id: string) => {
  const [owner, repo, environment_name, secret_name] = splitId(id, 4, "github.environment_secret") as [
    string,
    string,
    string,
    string,
  ];
  return { owner, repo, environment_name, secret_name };
};

function publicKey(ctx: GithubCtx, p: { owner: string; repo: string; environment_name: string }) {
  const key = `${p.owner}/${p.repo}/${p.environment_name}`.toLowerCase();
  let k = ctx.publicKeys.get(key);
  if (!k) {
    k = gh<{ key_id: string; key: string }>(ctx, "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key", {
      owner: p.owner,
      repo: p.repo,
      environment_name: p.environment_name,
    }).then((r) => r.data);
    k.catch(() => ctx.publicKeys.delete(key));
    ctx.publicKeys.set(key, k);
  }
  return k;
}

/** Seals `value` for a GitHub public key (base64, original variant), as GitHub's secrets API expects. */
export async function sealForGithub(publicKeyBase64: string, value: Secret): Promise<string> {
  await sodium.ready;
  const key = sodium.from_base64(publicKeyBase64, sodium.base64_variants.ORIGINAL);
  const sealed = sodium.crypto_box_seal(sodium.from_string(value.reveal()), key);
  return sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
}

async function put(ctx: GithubCtx, spec: Record<string, unknown>): Promise<string> {
  const id = idOf(spec);
  const p = parse(id);
  if (!Secret.isSecret(spec.value)) throw new UserError(`github.environment_secret ${id}: the value must be a secret`);
  const key = await publicKey(ctx, p);
  const encrypted_value = await sealForGithub(key.key, spec.value);
  await gh(ctx, "PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}", {
    ...p,
    encrypted_value,
    key_id: key.key_id,
  });
  return id;
}

const remoteOf = (id: string) => {
  const p = parse(id);
  return { owner: p.owner, repo: p.repo, environment: p.environment_name, name: p.secret_name.toUpperCase() };
};

export const environmentSecretAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.environment_secret",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  async read(ctx, id) {
    const s = await ghMaybe<{ name: string }>(
      ctx,
      "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
      parse(id),
    );
    return s ? remoteOf(id) : undefined;
  },
  async find(ctx, spec) {
    const remote = await environmentSecretAdapter.read(ctx, idOf(spec));
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
    await gh(ctx, "DELETE /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}", parse(id));
  },
  normalizeDesired: (spec) => ({ ...spec, name: str(spec.name).toUpperCase() }),
  rules: { recreateOn: ["owner", "repo", "environment", "name"], sensitive: ["value"] },
};
