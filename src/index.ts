export { UserError } from "./lib/errors.js";
export { VERSION } from "./lib/version.js";
export * from "./workspace/index.js";
