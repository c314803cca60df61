export {
  type AzureDevopsCtx,
  type AzureDevopsOptions,
  createAzureDevopsContext,
} from "./context.js";
export { AZURE_DEVOPS_KINDS, type AzureDevopsProviderOptions, azureDevopsNames, azureDevopsProvider } from "./provider.js";
