import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../../src/workspace/http.js";
import { decodeJwt, verifyJwt } from "../../../src/workspace/server/oauth.js";
import { applyPatch, evaluate, parseFilter } from "../../../src/workspace/server/scim.js";

const user = {
  id: "42",
  userName: "Alice@Example.com",
  displayName: "Alice Example",
  active: true,
  externalId: "Ext-1",
  emails: [
    { value: "alice@example.com", type: "work", primary: true },
    { value: "alice@home.example", type: "home" },
  ],
  name: { givenName: "Alice", familyName: "Example" },
  groups: [{ value: "7", display: "users", type: "direct" }],
};

const matches = (filter: string) => evaluate(parseFilter(filter), user);

describe("SCIM filters", () => {
  it("compares strings case-insensitively, ids and external ids exactly", () => {
    expect(matches('userName eq "alice@example.com"')).toBe(true);
    expect(matches('USERNAME EQ "ALICE@EXAMPLE.COM"')).toBe(true);
    expect(matches('externalId eq "ext-1"')).toBe(false);
    expect(matches('externalId eq "Ext-1"')).toBe(true);
    expect(matches("id eq '42'")).toBe(true);
  });

  it("supports every operator, logic and grouping", () => {
    expect(matches('displayName co "ice ex"')).toBe(true);
    expect(matches('displayName sw "alice"')).toBe(true);
    expect(matches('displayName ew "example"')).toBe(true);
    expect(matches('displayName ne "Alice Example"')).toBe(false);
    expect(matches("active eq true and externalId pr")).toBe(true);
    expect(matches('title pr or userName eq "nobody"')).toBe(false);
    expect(matches('not (active eq false) and (userName eq "x" or name.givenName eq "alice")')).toBe(true);
    expect(matches('userName gt "a" and userName lt "b"')).toBe(true);
  });

  it("matches multi-valued attributes by any value and by value paths", () => {
    expect(matches('emails eq "alice@home.example"')).toBe(true);
    expect(matches('emails.value co "home"')).toBe(true);
    expect(matches('emails[type eq "work" and value sw "alice@"]')).toBe(true);
    expect(matches('emails[type eq "work" and value co "home"]')).toBe(false);
    expect(matches('groups.display eq "users"')).toBe(true);
    expect(matches('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "alice"')).toBe(true);
  });

  it("rejects malformed filters with 400 INVALID_PARAMETER_VALUE", () => {
    for (const bad of ['userName zz "x"', 'userName eq "x', "(userName pr", "userName eq", "and"]) {
      expect(() => parseFilter(bad), bad).toThrow(ApiError);
    }
  });
});

describe("SCIM PATCH", () => {
  const group = { id: "1", displayName: "team", members: [{ value: "10" }, { value: "11" }] };

  it("adds and removes members, by value list or filter", () => {
    const added = applyPatch(
      group,
      { Operations: [{ op: "add", path: "members", value: [{ value: "11" }, { value: "12" }] }] },
      "Groups",
    );
    expect(added.members).toEqual([{ value: "10" }, { value: "11" }, { value: "12" }]);
    const filtered = applyPatch(added, { Operations: [{ op: "remove", path: 'members[value eq "10"]' }] }, "Groups");
    expect(filtered.members).toEqual([{ value: "11" }, { value: "12" }]);
    const listed = applyPatch(filtered, { Operations: [{ op: "Remove", path: "members", value: [{ value: "12" }] }] }, "Groups");
    expect(listed.members).toEqual([{ value: "11" }]);
    expect(group.members).toHaveLength(2); // the input is not modified
  });

  it("replaces attributes with or without a path, case-insensitively", () => {
    const out = applyPatch(
      user,
      {
        Operations: [
          { op: "Replace", path: "Active", value: "False" },
          { op: "replace", value: { displayName: "A. E.", "name.familyName": "E" } },
          { op: "replace", path: 'emails[type eq "work"].value', value: "ae@example.com" },
          { op: "remove", path: "externalId" },
        ],
      },
      "Users",
    );
    expect(out.active).toBe("False");
    expect(out.displayName).toBe("A. E.");
    expect(out.name).toEqual({ givenName: "Alice", familyName: "E" });
    expect((out.emails as { value: string }[])[0]?.value).toBe("ae@example.com");
    expect(out.externalId).toBeUndefined();
  });

  it("refuses operations it cannot apply", () => {
    expect(() => applyPatch(user, { Operations: [] }, "Users")).toThrow(ApiError);
    expect(() => applyPatch(user, { Operations: [{ op: "move", path: "active" }] }, "Users")).toThrow(ApiError);
    expect(() => applyPatch(user, { Operations: [{ op: "remove" }] }, "Users")).toThrow(ApiError);
    expect(() => applyPatch(user, { Operations: [{ op: "replace", path: "active" }] }, "Users")).toThrow(ApiError);
  });
});

describe("federated token signatures", () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

  it("verifies RS256 and ES256 tokens against a JWKS and rejects other keys", () => {
    for (const [type, alg] of [
      ["rsa", "RS256"],
      ["ec", "ES256"],
    ] as const) {
      const { privateKey, publicKey } =
        type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
      const other =
        type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
      const input = `${b64({ alg, kid: "k1" })}.${b64({ iss: "https://issuer.example", sub: "me" })}`;
      const signature = sign(
        "sha256",
        Buffer.from(input),
        type === "ec" ? { key: privateKey, dsaEncoding: "ieee-p1363" } : privateKey,
      );
      const jwt = decodeJwt(`${input}.${signature.toString("base64url")}`);
      expect(jwt?.payload.sub).toBe("me");
      const jwks = (key: typeof publicKey) => ({ keys: [{ ...key.export({ format: "jwk" }), kid: "k1" }] });
      expect(verifyJwt(jwt as NonNullable<typeof jwt>, jwks(publicKey))).toBe(true);
      expect(verifyJwt(jwt as NonNullable<typeof jwt>, jwks(other.publicKey))).toBe(false);
    }
  });

  it("refuses unsigned tokens when keys are configured", () => {
    const jwt = decodeJwt(`${b64({ alg: "none" })}.${b64({ sub: "me" })}.`);
    expect(jwt).toBeDefined();
    expect(verifyJwt(jwt as NonNullable<typeof jwt>, { keys: [] })).toBe(false);
    expect(decodeJwt("not-a-jwt")).toBeUndefined();
  });
});
