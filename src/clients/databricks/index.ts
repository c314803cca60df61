import { type DatabricksAuth, type DatabricksAuthOptions, resolveDatabricksAuth } from "./auth.js";
import { DatabricksClient, type DatabricksHttpOptions } from "./client.js";

export * from "./auth.js";
export * from "./client.js";
export { chooseProfile, type DatabricksConfigFile, loadConfigFile, parseConfigFile } from "./config-file.js";
export { type AccessToken, TokenCache } from "./oauth.js";

/** Resolves the auth (see `resolveDatabricksAuth`) and builds a client for that workspace. */
export async function connectDatabricks(
  options: DatabricksAuthOptions & { client?: DatabricksHttpOptions } = {},
): Promise<{ client: DatabricksClient; auth: DatabricksAuth }> {
  const { client: clientOptions, ...authOptions } = options;
  const auth = await resolveDatabricksAuth(authOptions);
  const client = new DatabricksClient({ ...clientOptions, host: auth.host, auth: auth.authProvider });
  return { client, auth };
}
