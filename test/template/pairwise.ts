/**
 * A small deterministic pairwise (all-pairs) generator: a list of cases in which every value of every
 * dimension appears and every allowed pair of values of two dimensions appears together at least once.
 * Greedy, in the manner of AETG: each new case starts from the first uncovered pair and fills the
 * other dimensions with the value that covers the most uncovered pairs (ties: the first value).
 */

export type Dimensions = Record<string, readonly unknown[]>;
export type Case = Record<string, unknown>;
/** Whether two values of two dimensions may appear in the same case (constraints are pairwise). */
export type Allowed = (a: string, av: unknown, b: string, bv: unknown) => boolean;

const key = (a: string, ai: number, b: string, bi: number) => (a < b ? `${a}=${ai}|${b}=${bi}` : `${b}=${bi}|${a}=${ai}`);

/** Every allowed pair, as keys. */
export function allPairs(dims: Dimensions, allowed: Allowed = () => true): Set<string> {
  const names = Object.keys(dims);
  const pairs = new Set<string>();
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a = names[i] as string;
      const b = names[j] as string;
      (dims[a] as readonly unknown[]).forEach((av, ai) => {
        (dims[b] as readonly unknown[]).forEach((bv, bi) => {
          if (allowed(a, av, b, bv) && allowed(b, bv, a, av)) pairs.add(key(a, ai, b, bi));
        });
      });
    }
  }
  return pairs;
}

/** The pairs a case covers. */
export function pairsOf(dims: Dimensions, c: Case): string[] {
  const names = Object.keys(dims);
  const index = (n: string) => (dims[n] as readonly unknown[]).findIndex((v) => JSON.stringify(v) === JSON.stringify(c[n]));
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a = names[i] as string;
      const b = names[j] as string;
      out.push(key(a, index(a), b, index(b)));
    }
  }
  return out;
}

export function pairwise(dims: Dimensions, allowed: Allowed = () => true): Case[] {
  const names = Object.keys(dims);
  const uncovered = allPairs(dims, allowed);
  const cases: Case[] = [];
  const fits = (assigned: Map<string, number>, n: string, vi: number) => {
    const v = (dims[n] as readonly unknown[])[vi];
    for (const [m, mi] of assigned) {
      const mv = (dims[m] as readonly unknown[])[mi];
      if (!allowed(n, v, m, mv) || !allowed(m, mv, n, v)) return false;
    }
    return true;
  };
  while (uncovered.size > 0) {
    const first = [...uncovered].sort()[0] as string;
    const assigned = new Map<string, number>();
    for (const part of first.split("|")) {
      const [n, i] = part.split("=") as [string, string];
      assigned.set(n, Number(i));
    }
    for (const n of names) {
      if (assigned.has(n)) continue;
      let best = -1;
      let bestGain = -1;
      (dims[n] as readonly unknown[]).forEach((_, vi) => {
        if (!fits(assigned, n, vi)) return;
        let gain = 0;
        for (const [m, mi] of assigned) if (uncovered.has(key(n, vi, m, mi))) gain++;
        if (gain > bestGain) {
          best = vi;
          bestGain = gain;
        }
      });
      if (best < 0) throw new Error(`pairwise: no value of ${n} fits ${JSON.stringify([...assigned])}`);
      assigned.set(n, best);
    }
    const c: Case = {};
    for (const n of names) c[n] = (dims[n] as readonly unknown[])[assigned.get(n) as number];
    for (const p of pairsOf(dims, c)) uncovered.delete(p);
    cases.push(c);
  }
  return cases;
}

/** The full cartesian product of the dimensions, minus disallowed combinations. */
export function product(dims: Dimensions, allowed: Allowed = () => true): Case[] {
  let out: Case[] = [{}];
  for (const [n, values] of Object.entries(dims)) {
    const next: Case[] = [];
    for (const c of out) {
      for (const v of values) {
        if (Object.entries(c).every(([m, mv]) => allowed(n, v, m, mv) && allowed(m, mv, n, v))) next.push({ ...c, [n]: v });
      }
    }
    out = next;
  }
  return out;
}
