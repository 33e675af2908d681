// All HTTP rules of one endpoint and direction, indexed so that a request only tests the
// rules that could match it: first by literal method, then by the literal prefix of the path
// pattern. With 10,000 rules whose paths differ, a request tests a handful, not 10,000.
// (RE2.Set over thousands of paths exceeds RE2's DFA memory budget and fails to build, which is
// why the index is literal-prefix based.) Rules without a usable prefix are always candidates.

import type { HttpRuleMatcher } from "./http-rule.js";

class PrefixBuckets {
  private readonly byPrefix = new Map<string, number[]>();
  private lengths: number[] = [];

  add(prefix: string, id: number): void {
    let list = this.byPrefix.get(prefix);
    if (list === undefined) {
      list = [];
      this.byPrefix.set(prefix, list);
      if (!this.lengths.includes(prefix.length)) this.lengths.push(prefix.length);
    }
    list.push(id);
  }

  seal(): void {
    this.lengths.sort((a, b) => a - b);
  }

  collect(path: string, out: number[]): void {
    for (const len of this.lengths) {
      if (len > path.length) break;
      const ids = this.byPrefix.get(len === path.length ? path : path.slice(0, len));
      if (ids !== undefined) for (const id of ids) out.push(id);
    }
  }
}

export interface IndexedRule<T> {
  matcher: HttpRuleMatcher;
  /** The port entry (peer + port + policy) the rule belongs to. */
  entryId: number;
  data: T;
}

export class HttpIndex<T> {
  private readonly byMethod = new Map<string, PrefixBuckets>();
  private readonly anyMethod = new PrefixBuckets();
  /** Whether any rule carries header mismatch actions: then every matching rule must run. */
  readonly hasActions: boolean;

  constructor(readonly rules: readonly IndexedRule<T>[]) {
    let hasActions = false;
    rules.forEach((r, id) => {
      if (r.matcher.actions.length > 0) hasActions = true;
      const lit = r.matcher.methodLiteral;
      let buckets = this.anyMethod;
      if (lit !== null) {
        buckets = this.byMethod.get(lit) ?? new PrefixBuckets();
        this.byMethod.set(lit, buckets);
      }
      buckets.add(r.matcher.pathPrefix, id);
    });
    this.anyMethod.seal();
    for (const b of this.byMethod.values()) b.seal();
    this.hasActions = hasActions;
  }

  /** Rule ids that may match, in policy order. */
  candidates(method: string, path: string): number[] {
    const out: number[] = [];
    this.byMethod.get(method)?.collect(path, out);
    this.anyMethod.collect(path, out);
    if (out.length > 1) out.sort((a, b) => a - b);
    return out;
  }
}
