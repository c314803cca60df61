import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { MASK, redact, registeredSecretCount, registerSecretValue, Secret } from "../../../src/lib/secret.js";

describe("Secret", () => {
  it("reveals its value only through reveal()", () => {
    const s = Secret.from("tok-3f9a1c");
    expect(s.reveal()).toBe("tok-3f9a1c");
    expect(String(s)).toBe(MASK);
    expect(`${s}`).toBe(MASK);
    expect(`x${s}`).toBe("x***");
    expect(JSON.stringify({ s })).toBe('{"s":"***"}');
    expect(inspect(s)).toBe(MASK);
    expect(inspect({ nested: { s } }, { depth: 5 })).not.toContain("tok-3f9a1c");
    expect(Object.keys(s)).toEqual([]);
    expect(s.length).toBe(10);
  });

  it("from() returns a Secret as is; optional() skips empty values", () => {
    const s = Secret.from("abcdef");
    expect(Secret.from(s)).toBe(s);
    expect(Secret.optional(undefined)).toBeUndefined();
    expect(Secret.optional("")).toBeUndefined();
    expect(Secret.optional("value1")?.reveal()).toBe("value1");
    expect(Secret.isSecret(s)).toBe(true);
    expect(Secret.isSecret("abcdef")).toBe(false);
  });

  it("fingerprints with a salt: stable per salt, different across salts and values", () => {
    const a = Secret.from("password-1");
    expect(a.fingerprint("salt-a")).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.fingerprint("salt-a")).toBe(Secret.from("password-1").fingerprint("salt-a"));
    expect(a.fingerprint("salt-a")).not.toBe(a.fingerprint("salt-b"));
    expect(a.fingerprint("salt-a")).not.toBe(Secret.from("password-2").fingerprint("salt-a"));
    expect(a.fingerprint("salt-a")).not.toContain("password-1");
  });

  it("compares in constant time", () => {
    const a = Secret.from("same-value");
    expect(a.equals(Secret.from("same-value"))).toBe(true);
    expect(a.equals("same-value")).toBe(true);
    expect(a.equals("other-value")).toBe(false);
    expect(a.equals("short")).toBe(false);
  });
});

describe("redact", () => {
  it("replaces the given secrets, longest first, and their URL-encoded forms", () => {
    const text = "token abc123def and abc123 and a+b/c%3D and a%2Bb%2Fc%3D";
    expect(redact(text, [Secret.from("abc123"), "abc123def", "a+b/c="])).toBe("token *** and *** and a+b/c%3D and ***");
  });

  it("uses the process-wide registry by default; every Secret registers itself", () => {
    const before = registeredSecretCount();
    Secret.from("registry-canary-77");
    registerSecretValue("plain-canary-88");
    registerSecretValue("ab"); // too short to scrub safely
    expect(registeredSecretCount()).toBeGreaterThanOrEqual(before + 2);
    expect(redact("x registry-canary-77 y plain-canary-88 ab")).toBe("x *** y *** ab");
  });

  it("leaves text without secrets alone", () => {
    expect(redact("nothing here", [])).toBe("nothing here");
    expect(redact("", ["x"])).toBe("");
  });
});
