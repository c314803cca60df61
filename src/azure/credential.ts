import type { TokenCredential } from "@azure/core-auth";
import { azureCredential } from "../clients/azure/credential.js";

/**
 * The credential Azure Resource Manager calls use: the shared Azure credential (client secret,
 * workload identity / OIDC, GitHub Actions OIDC, else the default chain), from `env`. Tokens are
 * never printed: the credential hands them to the SDK's bearer policy only.
 */
export function armCredential(
  env: Readonly<Record<string, string | undefined>> = process.env,
  tenantId?: string,
): TokenCredential {
  const withArmNames = {
    ...env,
    AZURE_CLIENT_ID: env.AZURE_CLIENT_ID ?? env.ARM_CLIENT_ID,
    AZURE_TENANT_ID: env.AZURE_TENANT_ID ?? env.ARM_TENANT_ID,
    AZURE_CLIENT_SECRET: env.AZURE_CLIENT_SECRET ?? env.ARM_CLIENT_SECRET,
  };
  return azureCredential({ env: withArmNames, ...(tenantId ? { tenantId } : {}) });
}
