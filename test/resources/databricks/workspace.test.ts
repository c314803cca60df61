import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Secret } from "../../../src/lib/secret.js";
import {
  gitCredentialAdapter,
  jobAdapter,
  notebookAdapter,
  permissionsAdapter,
  repoAdapter,
  workspaceFileAdapter,
} from "../../../src/resources/databricks/index.js";
import { compare, lifecycle, useWorkspace } from "./helpers.js";

const { ctx } = useWorkspace();

const dir = mkdtempSync(join(tmpdir(), "lakeforge-resources-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe("databricks.git_credential", () => {
  it("goes through create, find by provider, update and delete; the token is never read back", async () => {
    const spec = {
      git_provider: "gitHub",
      git_username: "octocat",
      personal_access_token: Secret.from("ghp_canary_token_value"),
    };
    await lifecycle(gitCredentialAdapter, ctx(), {
      spec,
      changed: { ...spec, git_username: "hubot" },
      changedPaths: ["git_username"],
      updated: (r) => {
        expect(r.git_username).toBe("hubot");
        expect(JSON.stringify(r)).not.toContain("ghp_canary_token_value");
      },
    });
  });
});

describe("databricks.repo", () => {
  it("creates the folder, checks out the branch, then a tag, and deletes", async () => {
    const spec = {
      url: "https://github.com/example/project.git",
      provider: "gitHub",
      path: "/Repos/lakeforge/project",
      branch: "develop",
    };
    await lifecycle(repoAdapter, ctx(), {
      spec,
      changed: { ...spec, branch: "release" },
      changedPaths: ["branch"],
      updated: (r) => expect(r.branch).toBe("release"),
    });
  });

  it("remembers the tag it checked out, and sees a move to a branch", async () => {
    const spec = { url: "https://github.com/example/tagged.git", path: "/Workspace/Repos/lakeforge/tagged", tag: "v1.0" };
    const { id, remote: created } = await repoAdapter.create(ctx(), spec);
    expect(created?.head_commit_id).toBeDefined();
    const remote = (await repoAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(remote.branch).toBeUndefined();
    expect(compare(repoAdapter, spec, remote, spec)).toEqual([]);
    expect(compare(repoAdapter, { ...spec, tag: "v2.0" }, remote, spec)).toMatchObject([
      { path: "tag", before: "v1.0", after: "v2.0" },
    ]);
    // Checked out on a branch behind Lakeforge's back: the tag is no longer there.
    await ctx().client.patch(`/api/2.0/repos/${id}`, { branch: "main" });
    const moved = (await repoAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(compare(repoAdapter, spec, moved, spec).map((c) => c.path)).toEqual(["tag"]);
    await repoAdapter.update(ctx(), id, spec, moved);
    const back = (await repoAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(back.branch).toBeUndefined();
    expect(compare(repoAdapter, spec, back, spec)).toEqual([]);
    expect(compare(repoAdapter, { ...spec, url: "https://github.com/example/other.git" }, remote, spec)).toMatchObject([
      { path: "url", forcesRecreate: true },
    ]);
    await repoAdapter.delete(ctx(), id);
    expect(await repoAdapter.read(ctx(), id)).toBeUndefined();
  });
});

describe("databricks.workspace_file", () => {
  it("uploads, compares by content hash, re-uploads a changed file and deletes", async () => {
    const source = file("config.yaml", "alpha: 1\n");
    const changedSource = file("config-2.yaml", "alpha: 2\n");
    const spec = { source, path: "/Shared/lakeforge/files/config.yaml" };
    const id = await lifecycle(workspaceFileAdapter, ctx(), {
      spec,
      changed: { ...spec, source: changedSource },
      changedPaths: ["content_sha256"],
      updated: (r) => expect(r.object_type).toBe("FILE"),
    });
    expect(id).toBe("/Shared/lakeforge/files/config.yaml");
  });

  it("sees a file edited in the workspace, and a local file that cannot be read", async () => {
    const source = file("edited.txt", "original\n");
    const spec = { source, path: "/Shared/lakeforge/files/edited.txt" };
    const { id, remote } = await workspaceFileAdapter.create(ctx(), spec);
    expect(workspaceFileAdapter.outputs?.(id, remote)).toMatchObject({ object_id: expect.any(Number) });
    await ctx().client.post("/api/2.0/workspace/import", {
      path: spec.path,
      content: Buffer.from("edited by hand\n").toString("base64"),
      format: "RAW",
      overwrite: true,
    });
    const edited = (await workspaceFileAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(compare(workspaceFileAdapter, spec, edited, spec).map((c) => c.path)).toEqual(["content_sha256"]);
    const missing = compare(workspaceFileAdapter, { ...spec, source: join(dir, "nope.txt") }, edited, spec);
    expect(String(missing[0]?.after)).toMatch(/cannot read .*nope\.txt: ENOENT/);
    await expect(workspaceFileAdapter.update(ctx(), id, { ...spec, source: join(dir, "nope.txt") }, edited)).rejects.toThrow(
      /cannot read/,
    );
    await workspaceFileAdapter.delete(ctx(), id);
  });
});

describe("databricks.notebook", () => {
  it("imports a source notebook, ignores the header the service adds, and re-imports a change", async () => {
    const source = file("train.py", "print('train')\n");
    const changedSource = file("train-2.py", "print('train v2')\n");
    const spec = { source, path: "/Shared/lakeforge/notebooks/train" };
    await lifecycle(notebookAdapter, ctx(), {
      spec,
      changed: { ...spec, source: changedSource },
      changedPaths: ["content_sha256"],
      updated: (r) => expect(r.language).toBe("PYTHON"),
    });
  });

  it("compares a Jupyter notebook by its cells and lands it without the .ipynb extension", async () => {
    const doc = {
      cells: [
        { cell_type: "markdown", source: ["# Title\n"], metadata: {} },
        { cell_type: "code", source: ["x = 1\n", "print(x)"], metadata: {}, outputs: [], execution_count: null },
      ],
      metadata: { kernelspec: { language: "python", name: "python3" } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    const source = file("explore.ipynb", JSON.stringify(doc, null, 2));
    const spec = { source, path: "/Shared/lakeforge/notebooks/explore.ipynb" };
    const { id } = await notebookAdapter.create(ctx(), spec);
    expect(id).toBe("/Shared/lakeforge/notebooks/explore");
    const remote = (await notebookAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(remote.format).toBe("JUPYTER");
    expect(compare(notebookAdapter, spec, remote, spec)).toEqual([]);
    expect((await notebookAdapter.find(ctx(), spec))?.id).toBe(id);
    await notebookAdapter.delete(ctx(), id);
    expect(await notebookAdapter.read(ctx(), id)).toBeUndefined();
  });
});

describe("databricks.permissions", () => {
  it("replaces the access list of a job, keeping its owner, and compares it in any order", async () => {
    const job = await jobAdapter.create(ctx(), { name: "lf-permissions-job" });
    await ctx().client.post("/api/2.0/preview/scim/v2/Groups", { displayName: "lf-readers" });
    const spec = {
      object_type: "jobs",
      object_id: job.id,
      access_control_list: [
        { group_name: "users", permission_level: "CAN_VIEW" },
        { group_name: "lf-readers", permission_level: "CAN_MANAGE_RUN" },
      ],
    };
    const id = await lifecycle(permissionsAdapter, ctx(), {
      spec,
      changed: {
        ...spec,
        access_control_list: [{ ...spec.access_control_list[1] }, { group_name: "users", permission_level: "CAN_MANAGE_RUN" }],
      },
      changedPaths: ["access_control_list"],
      updated: (r) => expect(JSON.stringify(r)).toContain("IS_OWNER"),
      afterDelete: (r) => {
        // The access list belongs to the job: after the delete only the owner and admins remain.
        expect(permissionsAdapter.normalize?.(r as Record<string, unknown>)).toMatchObject({
          access_control_list: [],
          owner: "user_name:admin@lakeforge.local",
        });
      },
    });
    expect(id).toBe(`jobs/${job.id}`);
    // The order of the configured list does not matter.
    const reversed = { ...spec, access_control_list: [...spec.access_control_list].reverse() };
    await permissionsAdapter.create(ctx(), spec);
    const remote = (await permissionsAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(compare(permissionsAdapter, reversed, remote, spec)).toEqual([]);
    await jobAdapter.delete(ctx(), job.id);
    expect(await permissionsAdapter.read(ctx(), id)).toBeUndefined();
  });

  it("resolves a notebook named by its path to the object id", async () => {
    const source = file("perm.py", "print(1)\n");
    const nb = await notebookAdapter.create(ctx(), { source, path: "/Shared/lakeforge/perm" });
    const spec = {
      object_type: "notebooks",
      object_id: nb.id,
      access_control_list: [{ group_name: "users", permission_level: "CAN_READ" }],
    };
    const { id } = await permissionsAdapter.create(ctx(), spec);
    expect(id).toMatch(/^notebooks\/\d+$/);
    expect((await permissionsAdapter.find(ctx(), spec))?.id).toBe(id);
    const remote = (await permissionsAdapter.read(ctx(), id)) as Record<string, unknown>;
    expect(compare(permissionsAdapter, spec, remote, spec)).toEqual([]);
    await notebookAdapter.delete(ctx(), nb.id);
    expect(await permissionsAdapter.find(ctx(), spec)).toBeUndefined();
  });
});
