import type { ResourceAdapter } from "../../engine/types.js";
import { catalogAdapter } from "./catalog.js";
import { clusterAdapter } from "./cluster.js";
import { clusterPolicyAdapter } from "./cluster-policy.js";
import type { DatabricksCtx } from "./common.js";
import { experimentAdapter } from "./experiment.js";
import { gitCredentialAdapter } from "./git-credential.js";
import { grantAdapter } from "./grant.js";
import { groupAdapter } from "./group.js";
import { instancePoolAdapter } from "./instance-pool.js";
import { jobAdapter } from "./job.js";
import { notebookAdapter } from "./notebook.js";
import { permissionsAdapter } from "./permissions.js";
import { registeredModelAdapter } from "./registered-model.js";
import { repoAdapter } from "./repo.js";
import { schemaAdapter } from "./schema.js";
import { secretAdapter } from "./secret.js";
import { secretAclAdapter } from "./secret-acl.js";
import { secretScopeAdapter } from "./secret-scope.js";
import { servicePrincipalAdapter } from "./service-principal.js";
import { servingEndpointAdapter } from "./serving-endpoint.js";
import { volumeAdapter } from "./volume.js";
import { workspaceFileAdapter } from "./workspace-file.js";

export type { DatabricksCtx } from "./common.js";

/** Every Databricks adapter, in no particular order. */
export const DATABRICKS_ADAPTERS: readonly ResourceAdapter<DatabricksCtx>[] = [
  clusterAdapter,
  clusterPolicyAdapter,
  instancePoolAdapter,
  jobAdapter,
  secretScopeAdapter,
  secretAdapter,
  secretAclAdapter,
  gitCredentialAdapter,
  repoAdapter,
  workspaceFileAdapter,
  notebookAdapter,
  permissionsAdapter,
  catalogAdapter,
  schemaAdapter,
  volumeAdapter,
  registeredModelAdapter,
  grantAdapter,
  experimentAdapter,
  groupAdapter,
  servicePrincipalAdapter,
  servingEndpointAdapter,
];

/** The Databricks resource adapters by kind (`databricks.job`, ...), for the engine's `adapters` option. */
export function databricksAdapters(): Map<string, ResourceAdapter<DatabricksCtx>> {
  return new Map(DATABRICKS_ADAPTERS.map((a) => [a.kind, a]));
}

export {
  catalogAdapter,
  clusterAdapter,
  clusterPolicyAdapter,
  experimentAdapter,
  gitCredentialAdapter,
  grantAdapter,
  groupAdapter,
  instancePoolAdapter,
  jobAdapter,
  notebookAdapter,
  permissionsAdapter,
  registeredModelAdapter,
  repoAdapter,
  schemaAdapter,
  secretAclAdapter,
  secretAdapter,
  secretScopeAdapter,
  servicePrincipalAdapter,
  servingEndpointAdapter,
  volumeAdapter,
  workspaceFileAdapter,
};
