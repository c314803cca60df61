import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import sodium from "libsodium-wrappers";
import { writeFileAtomicAsync } from "../../engine/state.js";
import { UserError } from "../../lib/errors.js";
import { Secret } from "../../lib/secret.js";

/**
 * The local forge's layout on disk:
 *
 * ```
 * <forge>/repos/<name>.git                      bare git repository
 * <forge>/meta/<name>/repository.json           description, topics, teams, repository variables
 * <forge>/meta/<name>/environments/<env>.json   reviewers, deploy-from, wait timer, variables, secret names
 * <forge>/meta/<name>/secrets/<env>.json        secret values, each sealed with secretbox (own nonce)
 * <forge>/meta/<name>/secrets.json              repository-level secret values, sealed the same way
 * <forge>/keys/<name>.key                       the repository's 32-byte secretbox key (mode 0600)
 * <forge>/state/<name>.json                     the bootstrap's state (fingerprints only)
 * ```
 */

/** `--forge-dir`, else `$LAKEFORGE_FORGE_DIR`, else `~/.lakeforge/forge`. */
export function defaultForgeDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.LAKEFORGE_FORGE_DIR || join(homedir(), ".lakeforge", "forge"));
}

export const forgePaths = (forgeDir: string, repo: string) => ({
  repo: join(forgeDir, "repos", `${repo}.git`),
  meta: join(forgeDir, "meta", repo),
  repositoryManifest: join(forgeDir, "meta", repo, "repository.json"),
  environment: (env: string) => join(forgeDir, "meta", repo, "environments", `${env}.json`),
  secrets: (env: string) => join(forgeDir, "meta", repo, "secrets", `${env}.json`),
  repositorySecrets: join(forgeDir, "meta", repo, "secrets.json"),
  key: join(forgeDir, "keys", `${repo}.key`),
  state: join(forgeDir, "state", `${repo}.json`),
});

/** The encrypted secrets of one environment: name → nonce and ciphertext (base64). */
export interface SealedSecrets {
  version: 1;
  algorithm: "crypto_secretbox_easy";
  secrets: Record<string, { nonce: string; ciphertext: string }>;
}

let ready: Promise<void> | undefined;
const sodiumReady = () => {
  ready ??= sodium.ready;
  return ready;
};

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

export function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

export const writeJson = (file: string, value: unknown) => writeFileAtomicAsync(file, `${JSON.stringify(value, null, 2)}\n`);

/** The repository's key, made (random, mode 0600) on first use. */
export async function repositoryKey(forgeDir: string, repo: string): Promise<Uint8Array> {
  await sodiumReady();
  const file = forgePaths(forgeDir, repo).key;
  if (existsSync(file)) return new Uint8Array(readFileSync(file));
  mkdirSync(join(forgeDir, "keys"), { recursive: true, mode: 0o700 });
  const key = sodium.randombytes_buf(sodium.crypto_secretbox_KEYBYTES);
  writeFileSync(file, key, { mode: 0o600, flag: "wx" });
  return key;
}

/** Seals each value with `key` and a fresh random nonce. */
export async function sealSecrets(key: Uint8Array, values: Record<string, Secret>): Promise<SealedSecrets> {
  await sodiumReady();
  const secrets: SealedSecrets["secrets"] = {};
  for (const name of Object.keys(values).sort()) {
    const nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
    const ciphertext = sodium.crypto_secretbox_easy(sodium.from_string((values[name] as Secret).reveal()), nonce, key);
    secrets[name] = { nonce: b64(nonce), ciphertext: b64(ciphertext) };
  }
  return { version: 1, algorithm: "crypto_secretbox_easy", secrets };
}

/** Opens sealed secrets; throws when `key` is not the key they were sealed with. */
export async function openSecrets(key: Uint8Array, sealed: SealedSecrets): Promise<Record<string, Secret>> {
  await sodiumReady();
  const out: Record<string, Secret> = {};
  for (const [name, { nonce, ciphertext }] of Object.entries(sealed.secrets)) {
    let plain: Uint8Array;
    try {
      plain = sodium.crypto_secretbox_open_easy(unb64(ciphertext), unb64(nonce), key);
    } catch {
      throw new UserError(`secret ${name} cannot be decrypted with this key`, "the key file does not belong to this store");
    }
    out[name] = Secret.from(sodium.to_string(plain));
  }
  return out;
}

/**
 * The secrets of environment `env` of local repository `repo` (`null`: the repository-level ones),
 * decrypted with the repository's key file (or `key`). Resolves to an empty record when there are none.
 */
export async function readLocalSecrets(
  forgeDir: string,
  repo: string,
  env: string | null,
  key?: Uint8Array,
): Promise<Record<string, Secret>> {
  const paths = forgePaths(forgeDir, repo);
  const sealed = readJson<SealedSecrets>(env === null ? paths.repositorySecrets : paths.secrets(env));
  if (!sealed) return {};
  if (!key && !existsSync(paths.key)) throw new UserError(`no key for the secrets of ${repo}: ${paths.key} is missing`);
  return openSecrets(key ?? new Uint8Array(readFileSync(paths.key)), sealed);
}

/** Removes a file or folder if it is there. */
export const removePath = (path: string) => rmSync(path, { recursive: true, force: true });
