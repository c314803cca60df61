/** Dependency ordering of resources by address (`<kind>.<name>`). */

export class CycleError extends Error {
  constructor(readonly cycle: string[]) {
    super(`dependency cycle: ${cycle.join(" -> ")}`);
  }
}

/**
 * Orders `nodes` so that every node comes after the nodes it depends on. Edges to unknown nodes are
 * ignored (they are resources outside this plan). Throws CycleError naming one cycle.
 */
export function topoSort(nodes: Iterable<string>, dependsOn: (node: string) => Iterable<string>): string[] {
  const all = new Set(nodes);
  const state = new Map<string, 1 | 2>(); // 1 visiting, 2 done
  const order: string[] = [];
  const stack: string[] = [];
  const visit = (n: string) => {
    const s = state.get(n);
    if (s === 2) return;
    if (s === 1) {
      const start = stack.indexOf(n);
      throw new CycleError([...stack.slice(start), n]);
    }
    state.set(n, 1);
    stack.push(n);
    for (const d of dependsOn(n)) if (all.has(d)) visit(d);
    stack.pop();
    state.set(n, 2);
    order.push(n);
  };
  for (const n of [...all].sort()) visit(n);
  return order;
}
