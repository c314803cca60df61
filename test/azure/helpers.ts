import { resolve } from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { ArmOptions } from "../../src/azure/deploy.js";
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
