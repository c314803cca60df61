import type { FetchLike } from "../../../src/clients/http.js";

export interface Call {
  url: string;
  init: RequestInit;
  headers: Record<string, string>;
  body: string | undefined;
}

export type Step = Response | Error | ((call: Call) => Response | Promise<Response>);

/** A fetch answering from a script of steps, recording every call. */
export function scriptedFetch(steps: Step[]): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const call: Call = {
      url,
      init,
      headers: { ...(init.headers as Record<string, string>) },
      body: typeof init.body === "string" ? init.body : undefined,
    };
    calls.push(call);
    const step = steps.shift();
    if (step === undefined) throw new Error(`unexpected request ${init.method} ${url}`);
    if (step instanceof Error) throw step;
    return typeof step === "function" ? step(call) : step;
  };
  return { fetch, calls };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The rejection undici's fetch gives for a connection error with this code. */
export function networkError(code: string, message = code): Error {
  return new TypeError("fetch failed", { cause: Object.assign(new Error(message), { code }) });
}

/** A clock that only moves when the client sleeps. */
export function fakeClock(start = 1_700_000_000_000) {
  const sleeps: number[] = [];
  let t = start;
  return {
    sleeps,
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}
