import type { Router } from "../http.js";
import type { Workspace } from "../workspace.js";
import { register as clusterPolicies } from "./cluster-policies.js";
import { register as clusters } from "./clusters.js";
import { register as control } from "./control.js";
import { register as instancePools } from "./instance-pools.js";
import { register as jobs } from "./jobs.js";
import { register as libraries } from "./libraries.js";
import { register as mlflow } from "./mlflow.js";
import { register as oauth } from "./oauth.js";
import { register as permissions } from "./permissions.js";
import { register as repos } from "./repos.js";
import { register as runs } from "./runs.js";
import { register as scim } from "./scim.js";
import { register as secrets } from "./secrets.js";
import { register as servingEndpoints } from "./serving-endpoints.js";
import { register as telemetry } from "./telemetry.js";
import { register as tokens } from "./tokens.js";
import { register as unityCatalog } from "./unity-catalog.js";
import { register as workspace } from "./workspace.js";

/** Every service of the local workspace. Each registers its routes and its permission object types. */
export function registerServices(r: Router, ws: Workspace): void {
  for (const register of [
    control,
    permissions,
    scim,
    oauth,
    tokens,
    telemetry,
    secrets,
    unityCatalog,
    mlflow,
    jobs,
    runs,
    clusterPolicies,
    instancePools,
    clusters,
    libraries,
    servingEndpoints,
    workspace,
    repos,
  ])
    register(r, ws);
}
