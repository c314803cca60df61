/**
 * Built-in Azure role definitions Lakeforge knows by name. A role may also be given by its
 * definition GUID; the names below are the ones `lakeforge.yaml` accepts.
 */
export const BUILTIN_ROLES: Readonly<Record<string, string>> = {
  Owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  Contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  Reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
  "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
  "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
  "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
  "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
  "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
  "Log Analytics Reader": "73c42c96-874c-492b-b04d-ab87d138a893",
  "Log Analytics Contributor": "92aaf0da-9dab-42b6-94a3-d43ce8d16293",
  "Monitoring Reader": "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
  "Monitoring Contributor": "749f88d5-cbae-40b8-bcfc-e573ddc772fa",
};

/** Roles that can grant themselves or others anything: refused at subscription scope unless allowed. */
export const PRIVILEGED_ROLES: readonly string[] = ["Owner", "User Access Administrator"];

const byId = new Map(Object.entries(BUILTIN_ROLES).map(([name, id]) => [id, name]));

/** The definition GUID of a role given by name or GUID, or undefined for an unknown name. */
export function roleDefinitionGuid(role: string): string | undefined {
  const byName = BUILTIN_ROLES[role];
  if (byName) return byName;
  const lower = role.toLowerCase();
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(lower) ? lower : undefined;
}

/** The built-in name of a role definition GUID, if Lakeforge knows it. */
export const roleName = (guid: string): string | undefined => byId.get(guid.toLowerCase());

/** Whether a role (name or GUID) is Owner or User Access Administrator. */
export function isPrivilegedRole(role: string): boolean {
  const id = roleDefinitionGuid(role);
  return id !== undefined && PRIVILEGED_ROLES.some((r) => BUILTIN_ROLES[r] === id);
}
