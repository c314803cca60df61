import { createHmac, timingSafeEqual } from "node:crypto";

/** What a secret looks like whenever something tries to print or serialise it. */
export const MASK = "***";

/**
 * Values shorter than this are not added to the process-wide registry: scrubbing output for a
 * two-character "secret" would mangle every line that happens to contain those characters.
 * They are still wrapped (and masked) by `Secret`.
 */
export const MIN_REGISTERED_LENGTH = 4;

const registry = new Set<string>();

/**
 * A sensitive string (token, client secret, password). The value is kept in a private field and only
 * `reveal()` returns it; `String(s)`, `${s}`, `JSON.stringify(s)` and `util.inspect(s)` all give `***`.
 * State files and plans keep `fingerprint(salt)` instead of the value.
 *
 * Every value wrapped is also remembered in a process-wide registry so the output layer can scrub
 * anything it prints with `redact(text)`.
 */
export class Secret {
  readonly #value: string;

  private constructor(value: string) {
    this.#value = value;
    registerSecretValue(value);
  }

  /** Wraps a value (a `Secret` is returned as is). */
  static from(value: string | Secret): Secret {
    return value instanceof Secret ? value : new Secret(value);
  }

  /** Wraps a value when there is one: `undefined` and `""` stay `undefined`. */
  static optional(value: string | Secret | undefined | null): Secret | undefined {
    if (value === undefined || value === null || value === "") return undefined;
    return Secret.from(value);
  }

  static isSecret(value: unknown): value is Secret {
    return value instanceof Secret;
  }

  /** The sensitive value. Call it at the last moment, where the value leaves for the wire. */
  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  /**
   * A salted digest for state and plans, `sha256:<hex>` (HMAC-SHA-256 keyed by the salt): equal values
   * under one salt give equal fingerprints, so a change can be detected without keeping the value.
   */
  fingerprint(salt: string): string {
    return `sha256:${createHmac("sha256", salt).update(this.#value, "utf8").digest("hex")}`;
  }

  /** Constant-time comparison. */
  equals(other: Secret | string): boolean {
    const a = Buffer.from(this.#value, "utf8");
    const b = Buffer.from(other instanceof Secret ? other.#value : other, "utf8");
    return a.length === b.length && timingSafeEqual(a, b);
  }

  toString(): string {
    return MASK;
  }

  toJSON(): string {
    return MASK;
  }

  [Symbol.toPrimitive](): string {
    return MASK;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return MASK;
  }
}

/**
 * Adds a value to the process-wide registry of secret values scrubbed by `redact(text)`. `Secret`
 * registers its value itself; call this for sensitive strings that never become a `Secret`.
 */
export function registerSecretValue(value: string): void {
  if (value.length < MIN_REGISTERED_LENGTH) return;
  registry.add(value);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) registry.add(encoded);
}

/** How many values the registry holds (for tests and diagnostics; never the values). */
export function registeredSecretCount(): number {
  return registry.size;
}

/**
 * Replaces every occurrence of a secret value in `text` with `***`. With `secrets` given, those values
 * (and their URL-encoded forms) are replaced; without, every value in the process-wide registry is.
 */
export function redact(text: string, secrets?: Iterable<Secret | string>): string {
  let values: string[];
  if (secrets === undefined) values = [...registry];
  else {
    values = [];
    for (const s of secrets) {
      const v = s instanceof Secret ? s.reveal() : s;
      if (!v) continue;
      values.push(v);
      const encoded = encodeURIComponent(v);
      if (encoded !== v) values.push(encoded);
    }
  }
  if (values.length === 0 || text.length === 0) return text;
  // Longest first, so a value containing another is replaced whole.
  values.sort((a, b) => b.length - a.length);
  let out = text;
  for (const v of values) {
    if (out.includes(v)) out = out.split(v).join(MASK);
  }
  return out;
}
