import type { TokenCredential } from "@azure/identity";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import { UserError } from "../../lib/errors.js";
import { redact, Secret } from "../../lib/secret.js";
import type { AzureCredential } from "./credential.js";

/**
 * Reads secrets from Azure Key Vault with the official `SecretClient`. Values become `Secret`
 * objects the moment they arrive; failures become `KeyVaultError`s that say what went wrong in
 * terms a user can act on (which identity was refused, which role it needs, which secret is missing).
 */

/** One secret to read: the vault's URL, the secret's name and optionally a version (else the latest). */
export interface KeyVaultSecretRef {
  vaultUrl: string;
  name: string;
  version?: string;
}

export type KeyVaultFailure =
  /** No token could be obtained (no credentials configured, or Entra ID refused them). */
  | "credential"
  /** The vault refused the token (401). */
  | "unauthorized"
  /** The identity may not read the secret (403). */
  | "forbidden"
  | "not-found"
  | "disabled"
  | "unreachable"
  /** The secret has no value. */
  | "empty"
  | "other";

export class KeyVaultError extends UserError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly failure: KeyVaultFailure,
    readonly ref: KeyVaultSecretRef,
    /** The HTTP status and the vault's error code, when the vault answered. */
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message, hint);
    this.name = "KeyVaultError";
  }
}

export interface KeyVaultReaderOptions {
  credential: AzureCredential | TokenCredential;
  /** Passed to every `SecretClient` (retry, proxy, TLS, `disableChallengeResourceVerification`). */
  clientOptions?: SecretClientOptions;
  /** Reads in flight at most in `readAll`. Default 4. */
  concurrency?: number;
}

export const DEFAULT_KEY_VAULT_CONCURRENCY = 4;

/** The same secret read twice gives the same key: vault URL (lower case, one trailing slash), name, version. */
export function keyVaultRefKey(ref: KeyVaultSecretRef): string {
  const vault = ref.vaultUrl.toLowerCase().replace(/\/*$/, "/");
  return `${vault}\u0000${ref.name.toLowerCase()}\u0000${ref.version?.toLowerCase() ?? ""}`;
}

/** `secret "name"` or `version v of secret "name"`, for messages. */
export function describeRef(ref: KeyVaultSecretRef): string {
  return ref.version ? `version ${ref.version} of secret "${ref.name}"` : `secret "${ref.name}"`;
}

export class KeyVaultReader {
  readonly #credential: AzureCredential | TokenCredential;
  readonly #clientOptions: SecretClientOptions;
  readonly #concurrency: number;
  readonly #clients = new Map<string, SecretClient>();

  constructor(options: KeyVaultReaderOptions) {
    this.#credential = options.credential;
    this.#clientOptions = options.clientOptions ?? {};
    this.#concurrency = Math.max(1, options.concurrency ?? DEFAULT_KEY_VAULT_CONCURRENCY);
  }

  /** Reads one secret. Throws `KeyVaultError`. */
  async read(ref: KeyVaultSecretRef): Promise<Secret> {
    let value: string | undefined;
    try {
      const secret = await this.#client(ref.vaultUrl).getSecret(ref.name, ref.version ? { version: ref.version } : {});
      value = secret.value;
    } catch (e) {
      throw this.#explain(e, ref);
    }
    if (value === undefined || value === "") {
      throw new KeyVaultError(
        `${describeRef(ref)} in Azure Key Vault ${ref.vaultUrl} has no value`,
        "set a value in the vault, or name another version",
        "empty",
        ref,
      );
    }
    return Secret.from(value);
  }

  /**
   * Reads each distinct secret once (see `keyVaultRefKey`), `concurrency` at a time. Every read is
   * attempted; the result maps each key to its value or its error.
   */
  async readAll(refs: Iterable<KeyVaultSecretRef>): Promise<Map<string, Secret | KeyVaultError>> {
    const distinct = new Map<string, KeyVaultSecretRef>();
    for (const ref of refs) {
      const key = keyVaultRefKey(ref);
      if (!distinct.has(key)) distinct.set(key, ref);
    }
    const queue = [...distinct.entries()];
    const out = new Map<string, Secret | KeyVaultError>();
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [key, ref] = next;
        try {
          out.set(key, await this.read(ref));
        } catch (e) {
          if (!(e instanceof KeyVaultError)) throw e;
          out.set(key, e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, queue.length) }, worker));
    return out;
  }

  #client(vaultUrl: string): SecretClient {
    const key = vaultUrl.toLowerCase();
    let client = this.#clients.get(key);
    if (!client) {
      client = new SecretClient(vaultUrl, this.#credential, this.#clientOptions);
      this.#clients.set(key, client);
    }
    return client;
  }

  #identity(): string {
    const c = this.#credential as Partial<AzureCredential>;
    return typeof c.describeIdentity === "function" ? c.describeIdentity() : "the configured Azure identity";
  }

  #explain(e: unknown, ref: KeyVaultSecretRef): KeyVaultError {
    const vault = `Azure Key Vault ${ref.vaultUrl}`;
    const what = describeRef(ref);
    const err = e as {
      name?: string;
      message?: string;
      statusCode?: number;
      code?: string;
      details?: { error?: { code?: string; message?: string; innerError?: { code?: string } } };
      cause?: { code?: string; message?: string };
    };
    const name = err?.name ?? "";
    if (CREDENTIAL_ERRORS.has(name)) {
      const entra = /AADSTS\d+:[^\r\n]*/.exec(err.message ?? "")?.[0];
      return new KeyVaultError(
        `no Azure token to read ${what} from ${vault}: ${this.#identity()}: ${entra ? redact(entra.trim()) : firstLine(err.message)}`,
        "configure Azure credentials: AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, `az login`, or a managed identity; LAKEFORGE_AZURE_AUTH chooses the method",
        "credential",
        ref,
      );
    }
    const status = typeof err?.statusCode === "number" ? err.statusCode : undefined;
    const body = err?.details?.error;
    const code = body?.code ?? (typeof err?.code === "string" ? err.code : undefined);
    const inner = body?.innerError?.code;
    const remote = firstLine(body?.message ?? err?.message);
    const codes = [code, inner].filter(Boolean).join("/");
    const said = `${status ?? ""}${codes ? ` ${codes}` : ""}${remote ? `: ${remote}` : ""}`.trim();
    if (status === 404) {
      return new KeyVaultError(
        `${what} was not found in ${vault} (${said})`,
        ref.version
          ? "check the secret's name and version in the vault (az keyvault secret list-versions)"
          : "check the secret's name in the vault (az keyvault secret list)",
        "not-found",
        ref,
        status,
        code,
      );
    }
    if (status === 403 && (inner === "SecretDisabled" || /disabled/i.test(remote))) {
      return new KeyVaultError(
        `${what} in ${vault} is disabled (${said})`,
        "enable it in the vault, or name an enabled version",
        "disabled",
        ref,
        status,
        code,
      );
    }
    if (status === 403) {
      return new KeyVaultError(
        `${this.#identity()} may not read ${what} in ${vault} (${said})`,
        'grant it the "Key Vault Secrets User" role on the vault (or, on a vault using access policies, an access policy allowing Get on secrets); role assignments can take a few minutes to apply',
        "forbidden",
        ref,
        status,
        code,
      );
    }
    if (status === 401) {
      return new KeyVaultError(
        `${vault} refused the token of ${this.#identity()} (${said})`,
        "the identity must belong to the vault's tenant: check AZURE_TENANT_ID and the vault's directory",
        "unauthorized",
        ref,
        status,
        code,
      );
    }
    if (status === undefined) {
      const network = networkCode(err);
      if (network) {
        return new KeyVaultError(
          `cannot reach ${vault} (${network})`,
          "check the vault's name or URL, the network path to it (firewall, private endpoint) and proxy settings",
          "unreachable",
          ref,
          undefined,
          network,
        );
      }
    }
    return new KeyVaultError(
      `cannot read ${what} from ${vault}: ${said || firstLine(err?.message) || String(e)}`,
      undefined,
      "other",
      ref,
      status,
      code,
    );
  }
}

/** What `@azure/identity` throws when it cannot get a token. */
const CREDENTIAL_ERRORS = new Set([
  "CredentialUnavailableError",
  "AuthenticationError",
  "AggregateAuthenticationError",
  "AuthenticationRequiredError",
]);

const NETWORK_CODES =
  /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|CERT_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID)\b/;

/** The network error code of a request that got no answer (`ENOTFOUND`, `ECONNREFUSED`, a TLS failure, ...). */
function networkCode(err: { code?: string; message?: string; cause?: { code?: string; message?: string } }): string | undefined {
  for (const candidate of [err.cause?.code, err.code, err.cause?.message, err.message]) {
    const m = typeof candidate === "string" ? NETWORK_CODES.exec(candidate) : null;
    if (m) return m[1];
  }
  if (err.code === "REQUEST_SEND_ERROR") return "REQUEST_SEND_ERROR";
  return undefined;
}

/**
 * The first line of a remote or SDK message, cut after its first sentence when long, scrubbed of
 * any registered secret value.
 */
function firstLine(text: string | undefined): string {
  let line = (text ?? "").split(/\r?\n/)[0]?.trim() ?? "";
  const stop = line.indexOf(". ");
  if (line.length > 120 && stop > 0) line = line.slice(0, stop + 1);
  return redact(line);
}
