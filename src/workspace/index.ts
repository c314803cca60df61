export { type LocalWorkspaceClient, openLocalWorkspace, runningLocalWorkspace } from "./connect.js";
export { ApiError } from "./http.js";
export { ADMIN_USER_NAME } from "./identity.js";
export { type RunningWorkspace, startWorkspace, WorkspaceLockedError, type WorkspaceOptions } from "./server.js";
export type { Workspace } from "./workspace.js";
