/**
 * Glob patterns of template.yaml, matched against `/`-separated paths relative to the template:
 * `*` and `?` stay within a path segment, `**` spans segments (`a/**` matches everything under a,
 * `**\/x` matches x in any folder), `{a,b}` is either. Dot files match like any other file.
 */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  let i = 0;
  let braces = 0;
  while (i < glob.length) {
    const ch = glob[i] as string;
    if (ch === "*") {
      if (glob[i + 1] === "*") {
        const before = i === 0 || glob[i - 1] === "/";
        const after = glob[i + 2] === "/" || i + 2 === glob.length;
        if (before && after) {
          // `**/` matches zero or more whole segments; a final `**` everything below.
          if (glob[i + 2] === "/") {
            re += "(?:[^/]*/)*";
            i += 3;
          } else {
            re += ".*";
            i += 2;
          }
          continue;
        }
      }
      re += "[^/]*";
      i++;
      continue;
    }
    if (ch === "?") re += "[^/]";
    else if (ch === "{") {
      re += "(?:";
      braces++;
    } else if (ch === "}" && braces > 0) {
      re += ")";
      braces--;
    } else if (ch === "," && braces > 0) re += "|";
    else re += ch.replace(/[.+^$()|[\]\\]/g, "\\$&");
    i++;
  }
  if (braces > 0) throw new Error(`unclosed "{" in ${glob}`);
  return new RegExp(`^${re}$`);
}
