import { execFile } from "node:child_process";
import { createHash } from "node:crypto";

/**
 * Runs real `git` for the local forge. The environment isolates it from the user's and the system's
 * configuration (no hooks, signing or line-ending conversion) and never prompts. Nothing sensitive
 * ever goes into the arguments: repositories are plain paths.
 */

const ENV: Record<string, string> = {
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: "Lakeforge",
  GIT_AUTHOR_EMAIL: "lakeforge@localhost",
  GIT_COMMITTER_NAME: "Lakeforge",
  GIT_COMMITTER_EMAIL: "lakeforge@localhost",
};

export class GitError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | undefined,
  ) {
    super(
      `git ${args[0] ?? ""} failed${exitCode === undefined ? "" : ` (exit ${exitCode})`}: ${stderr.trim().split("\n").pop() ?? ""}`,
    );
  }
}

/** Runs `git <args>` in `cwd` and resolves to its stdout. */
export function git(cwd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      { cwd, env: { ...process.env, ...ENV }, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error) reject(new GitError(args, String(stderr), typeof error.code === "number" ? error.code : undefined));
        else resolve(String(stdout));
      },
    );
  });
}

/** Like `git`, but resolves to `undefined` when git exits non-zero (a ref that does not exist). */
export async function gitMaybe(cwd: string, args: readonly string[]): Promise<string | undefined> {
  try {
    return await git(cwd, args);
  } catch (e) {
    if (e instanceof GitError && e.exitCode !== undefined) return undefined;
    throw e;
  }
}

/** The id git gives `content` as a blob (SHA-1 object format). */
export const blobId = (content: Buffer) => createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");

/**
 * A digest of a tree's files: paths and blob ids, in code-point order. Equal for the rendered files
 * and for a branch holding exactly them, whatever the history.
 */
export function treeDigest(entries: Iterable<[path: string, blob: string]>): string {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const h = createHash("sha256");
  for (const [path, blob] of sorted) h.update(`${path}\0${blob}\n`);
  return `sha256:${h.digest("hex")}`;
}

/** The files of `ref` in a repository as [path, blob id] pairs, or `undefined` when the ref does not exist. */
export async function listTree(gitDir: string, ref: string): Promise<[string, string][] | undefined> {
  if ((await gitMaybe(gitDir, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`])) === undefined) return undefined;
  const out = await git(gitDir, ["ls-tree", "-r", "-z", "--full-tree", ref]);
  const entries: [string, string][] = [];
  for (const line of out.split("\0")) {
    if (!line) continue;
    const tab = line.indexOf("\t");
    const [, type, id] = line.slice(0, tab).split(" ");
    if (type === "blob" && id) entries.push([line.slice(tab + 1), id]);
  }
  return entries;
}
