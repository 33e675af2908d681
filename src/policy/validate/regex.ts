// HTTP path/method/host rules are RE2 regexes (Envoy safe_regex, full match). Validation
// compiles them with the same engine that later matches, so what passes here cannot fail later.

import RE2 from "re2";

/** Returns RE2's own message (e.g. "missing )") or undefined when the regex compiles. */
export function re2Error(pattern: string): string | undefined {
  try {
    new RE2(pattern);
    return undefined;
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    // RE2 reports "<what>: <offending fragment>"; the fragment is only worth repeating when it
    // is a part of the pattern rather than all of it.
    const sep = text.indexOf(": ");
    if (sep < 0) return text;
    const what = text.slice(0, sep);
    // The re2 package escapes "/" in the source it reports; undo that before comparing.
    const fragment = text.slice(sep + 2).replace(/\\\//g, "/");
    return fragment === pattern || fragment === "" ? what : `${what} at ${JSON.stringify(fragment)}`;
  }
}
