import type { Router } from "../http.js";
import type { Workspace } from "../workspace.js";
import { register as control } from "./control.js";
import { register as permissions } from "./permissions.js";
import { register as scim } from "./scim.js";

/** Every service of the local workspace. Each registers its routes and its permission object types. */
export function registerServices(r: Router, ws: Workspace): void {
  for (const register of [control, permissions, scim]) register(r, ws);
}
