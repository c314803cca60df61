import { resolve } from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { expect } from "vitest";
import type { ArmOptions } from "../../src/azure/deploy.js";
import { armDefaults } from "../../src/azure/phase.js";
import type { RunningWorkspace } from "../../src/workspace/server.js";
import { FAKE_ARM_CA, type FakeArm } from "../fakes/azure-arm/server.js";

export const EXAMPLE = resolve("examples/platform");

/** The example's settings from the environment (secrets of the workspace part are canaries). */
export const EXAMPLE_ENV = {
  ML_SP_CLIENT_ID: "00000000-0000-0000-0000-00000000c11e",
  ML_SP_CLIENT_SECRET: "canary-sp-secret-azure-5e7d",
  GITHUB_TOKEN: "canary-ghp-azure-9a8b",
  PROD_DATABRICKS_HOST: "https://adb-3333.33.azuredatabricks.net",
};

export const TOKEN = "canary-arm-token-4c1f";

/** A credential handing out a fixed token, counting how often it was asked. */
export function staticCredential(): TokenCredential & { calls: number } {
  const cred = {
    calls: 0,
    async getToken(): Promise<AccessToken> {
      cred.calls++;
      return { token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  return cred;
}

export function armOptions(fake: FakeArm, lines?: string[]): ArmOptions {
  return {
    credential: staticCredential(),
    endpoint: fake.url,
    ca: FAKE_ARM_CA,
    pollIntervalMs: 10,
    ...(lines ? { progress: (l: string) => lines.push(l) } : {}),
  };
}

/**
 * Until the returned function is called, the CLI's Azure calls go to the fake and `env` is set in
 * the process environment; calling it restores both.
 */
export function useFakeArm(fake: FakeArm, env: Record<string, string> = {}): () => void {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(armDefaults, armOptions(fake));
  Object.assign(process.env, env);
  return () => {
    for (const k of Object.keys(armDefaults)) delete (armDefaults as Record<string, unknown>)[k];
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** A GET of the local workspace's API as its admin, which must answer 200. */
export async function workspaceGet<T>(ws: RunningWorkspace, path: string): Promise<T> {
  const res = await fetch(`${ws.url}${path}`, { headers: { Authorization: `Bearer ${ws.token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}
