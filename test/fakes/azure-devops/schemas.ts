import type {
  GitPush,
  GitRefUpdate,
  GitRepository,
  GitRepositoryCreateOptions,
} from "azure-devops-node-api/interfaces/GitInterfaces.js";
import { ItemContentType, VersionControlChangeType } from "azure-devops-node-api/interfaces/GitInterfaces.js";
import {
  ConfigurationType,
  type CreatePipelineParameters,
  RepositoryType,
} from "azure-devops-node-api/interfaces/PipelinesInterfaces.js";
import type { PolicyConfiguration } from "azure-devops-node-api/interfaces/PolicyInterfaces.js";
import type {
  EnvironmentCreateParameter,
  EnvironmentUpdateParameter,
  VariableGroupParameters,
} from "azure-devops-node-api/interfaces/TaskAgentInterfaces.js";
import { z } from "zod";
import type {
  BuildValidationSettings,
  MinimumReviewersSettings,
} from "../../../src/bootstrap/azure-devops/resources/branch-policy.js";
import type { CheckConfiguration } from "../../../src/bootstrap/azure-devops/resources/environment.js";
import type { YamlPipelineConfiguration } from "../../../src/bootstrap/azure-devops/resources/pipeline.js";
import type { ResourcePipelinePermissions } from "../../../src/bootstrap/azure-devops/resources/pipeline-permission.js";
import type { SetAccessControlEntries } from "../../../src/bootstrap/azure-devops/resources/repository-permission.js";

/**
 * Request bodies the Azure DevOps fake accepts, written from the `azure-devops-node-api` interfaces
 * (GitInterfaces, TaskAgentInterfaces, PipelinesInterfaces, PolicyInterfaces). Objects are strict: a
 * field the interface does not declare is a malformed body. `Conforms` below makes `tsc` fail when a
 * schema allows a field or a type the library's interface does not (a library upgrade that renames or
 * retypes a field is caught at compile time). Where the library types a field as `any` (policy
 * settings) or declares less than the REST API takes (a YAML pipeline's file and repository, the
 * checks API it has no client for), the schema follows the REST reference and the interfaces the
 * provider declares for it.
 */

const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
const sha = z.string().regex(/^[0-9a-f]{40}$/);

export const repositoryCreateSchema = z.strictObject({
  name: z.string().min(1),
  project: z.strictObject({ id: guid, name: z.string().optional() }),
});

export const repositoryUpdateSchema = z.strictObject({
  defaultBranch: z.string().startsWith("refs/heads/").optional(),
  name: z.string().min(1).optional(),
});

const changeSchema = z.strictObject({
  changeType: z.union([
    z.literal(VersionControlChangeType.Add),
    z.literal(VersionControlChangeType.Edit),
    z.literal(VersionControlChangeType.Delete),
  ]),
  item: z.strictObject({ path: z.string().startsWith("/") }),
  newContent: z
    .strictObject({
      content: z.string(),
      contentType: z.union([z.literal(ItemContentType.RawText), z.literal(ItemContentType.Base64Encoded)]),
    })
    .optional(),
});

export const refUpdateSchema = z.strictObject({
  name: z.string().startsWith("refs/"),
  oldObjectId: sha,
  newObjectId: sha.optional(),
  isLocked: z.boolean().optional(),
  repositoryId: z.string().optional(),
});

export const pushSchema = z.strictObject({
  refUpdates: z.array(refUpdateSchema).length(1),
  commits: z
    .array(
      z.strictObject({
        comment: z.string().min(1),
        changes: z.array(changeSchema),
        parents: z.array(sha).optional(),
      }),
    )
    .length(1),
});

export const refUpdatesSchema = z.array(refUpdateSchema.extend({ newObjectId: sha })).min(1);

const variableValueSchema = z.strictObject({
  value: z.string().optional(),
  isSecret: z.boolean().optional(),
  isReadOnly: z.boolean().optional(),
});

export const variableGroupSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  type: z.literal("Vsts").optional(),
  variables: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), variableValueSchema),
  variableGroupProjectReferences: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        description: z.string().optional(),
        projectReference: z.strictObject({ id: guid, name: z.string().optional() }),
      }),
    )
    .min(1),
});

export const environmentSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
});

export const pipelineCreateSchema = z.strictObject({
  name: z.string().min(1),
  folder: z.string().startsWith("\\").optional(),
  configuration: z.strictObject({
    type: z.literal(ConfigurationType.Yaml),
    path: z.string().min(1),
    repository: z.strictObject({ id: guid, type: z.literal(RepositoryType.AzureReposGit), name: z.string().optional() }),
  }),
});

const scopeSchema = z.strictObject({
  repositoryId: guid,
  refName: z.string().startsWith("refs/heads/"),
  matchKind: z.enum(["Exact", "Prefix"]),
});

export const minimumReviewersSettingsSchema = z.strictObject({
  minimumApproverCount: z.number().int().min(1).max(10),
  creatorVoteCounts: z.boolean(),
  allowDownvotes: z.boolean(),
  resetOnSourcePush: z.boolean(),
  scope: z.array(scopeSchema).min(1),
});

export const buildValidationSettingsSchema = z.strictObject({
  buildDefinitionId: z.number().int().positive(),
  displayName: z.string(),
  manualQueueOnly: z.boolean(),
  queueOnSourceUpdateOnly: z.boolean(),
  validDuration: z.number(),
  scope: z.array(scopeSchema).min(1),
});

export const policyConfigurationSchema = z.strictObject({
  isEnabled: z.boolean(),
  isBlocking: z.boolean(),
  type: z.strictObject({ id: guid }),
  settings: z.union([minimumReviewersSettingsSchema, buildValidationSettingsSchema]),
  id: z.number().optional(),
});

export const checkConfigurationSchema = z.strictObject({
  id: z.number().optional(),
  type: z.strictObject({ id: guid, name: z.string().optional() }),
  settings: z.strictObject({
    approvers: z.array(z.strictObject({ id: guid, displayName: z.string().optional() })).min(1),
    executionOrder: z.enum(["anyOrder", "inSequence"]).optional(),
    instructions: z.string().optional(),
    minRequiredApprovers: z.number().int().min(0).optional(),
    requesterCannotBeApprover: z.boolean().optional(),
    blockedApprovers: z.array(z.strictObject({ id: guid })).optional(),
  }),
  resource: z.strictObject({ type: z.literal("environment"), id: z.string().regex(/^\d+$/), name: z.string().optional() }),
  timeout: z.number().int().positive().optional(),
});

/** Pipeline permissions of a resource (REST reference: Pipeline Permissions - Update Pipeline Permisions For Resource). */
export const pipelinePermissionsSchema = z.strictObject({
  resource: z
    .strictObject({ type: z.enum(["variablegroup", "environment"]), id: z.string().regex(/^\d+$/), name: z.string().optional() })
    .optional(),
  pipelines: z
    .array(
      z.strictObject({
        id: z.number().int().positive(),
        authorized: z.boolean(),
        authorizedBy: z.unknown().optional(),
        authorizedOn: z.string().optional(),
      }),
    )
    .optional(),
  allPipelines: z.strictObject({ authorized: z.boolean() }).nullable().optional(),
});

/**
 * Access Control Entries - Set Access Control Entries (REST reference; the library has no security
 * client): the token, whether to merge with an existing entry, and the entries by identity descriptor.
 */
export const setAccessControlEntriesSchema = z.strictObject({
  token: z.string().min(1),
  merge: z.boolean(),
  accessControlEntries: z
    .array(
      z.strictObject({
        descriptor: z.string().regex(/^[A-Za-z.]+;.+$/),
        allow: z.number().int().min(0),
        deny: z.number().int().min(0),
        extendedInfo: z.unknown().optional(),
      }),
    )
    .min(1),
});

// ---- compile-time conformance with the library's interfaces -------------------------------------

type AllTrue<O> = false extends O[keyof O] ? false : true;
type IsAny<T> = 0 extends 1 & T ? true : false;
/**
 * `true` when every value `S` describes is a value of `T`, and `S` names no field `T` lacks (deeply:
 * objects, arrays, records). `T` being `any` accepts anything.
 */
export type Conforms<S, T> =
  IsAny<T> extends true
    ? true
    : S extends readonly (infer E)[]
      ? NonNullable<T> extends readonly (infer F)[]
        ? Conforms<E, F>
        : false
      : S extends object
        ? Exclude<keyof S, keyof NonNullable<T>> extends never
          ? AllTrue<{ [K in keyof S]-?: Conforms<NonNullable<S[K]>, NonNullable<NonNullable<T>[K & keyof NonNullable<T>]>> }>
          : false
        : [S] extends [T]
          ? true
          : false;

type PipelineBody = CreatePipelineParameters & { configuration: YamlPipelineConfiguration };

/** Each line fails to compile when the schema drifts from the library's (or the provider's) interface. */
export const conformance: {
  repositoryCreate: Conforms<z.infer<typeof repositoryCreateSchema>, GitRepositoryCreateOptions>;
  repositoryUpdate: Conforms<z.infer<typeof repositoryUpdateSchema>, GitRepository>;
  push: Conforms<z.infer<typeof pushSchema>, GitPush>;
  refUpdates: Conforms<z.infer<typeof refUpdatesSchema>, GitRefUpdate[]>;
  variableGroup: Conforms<z.infer<typeof variableGroupSchema>, VariableGroupParameters>;
  environmentCreate: Conforms<z.infer<typeof environmentSchema>, EnvironmentCreateParameter>;
  environmentUpdate: Conforms<z.infer<typeof environmentSchema>, EnvironmentUpdateParameter>;
  pipeline: Conforms<z.infer<typeof pipelineCreateSchema>, PipelineBody>;
  policy: Conforms<z.infer<typeof policyConfigurationSchema>, PolicyConfiguration>;
  minimumReviewers: Conforms<z.infer<typeof minimumReviewersSettingsSchema>, MinimumReviewersSettings>;
  buildValidation: Conforms<z.infer<typeof buildValidationSettingsSchema>, BuildValidationSettings>;
  check: Conforms<z.infer<typeof checkConfigurationSchema>, CheckConfiguration>;
  pipelinePermissions: Conforms<z.infer<typeof pipelinePermissionsSchema>, ResourcePipelinePermissions>;
  accessControlEntries: Conforms<z.infer<typeof setAccessControlEntriesSchema>, SetAccessControlEntries>;
} = {
  repositoryCreate: true,
  repositoryUpdate: true,
  push: true,
  refUpdates: true,
  variableGroup: true,
  environmentCreate: true,
  environmentUpdate: true,
  pipeline: true,
  policy: true,
  minimumReviewers: true,
  buildValidation: true,
  check: true,
  pipelinePermissions: true,
  accessControlEntries: true,
};
