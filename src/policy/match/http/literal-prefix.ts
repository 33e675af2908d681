// The literal text every match of an RE2 pattern must start with, so that HTTP rules can be
// indexed by path prefix instead of being scanned. Conservative by construction: whenever
// the pattern is not obviously a literal at some point (metacharacters, flags, top-level
// alternation), the prefix ends there; "" means "no usable prefix", never a wrong one.

const META = new Set(["\\", ".", "[", "]", "(", ")", "{", "}", "*", "+", "?", "|", "^", "$"]);
const QUANTIFIERS = new Set(["*", "+", "?", "{"]);

function hasTopLevelAlternation(re: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < re.length; i++) {
    const c = re[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      // A ']' right after '[' or '[^' is a literal member of the class.
      if (re[i + 1] === "^") i++;
      if (re[i + 1] === "]") i++;
    } else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return true;
  }
  return false;
}

export function literalPrefix(re: string): string {
  if (hasTopLevelAlternation(re)) return "";
  let i = re.startsWith("^") ? 1 : 0;
  // Each literal atom with the position it started at, so a following quantifier can drop it.
  const atoms: string[] = [];
  while (i < re.length) {
    const c = re[i] as string;
    let atom: string;
    let next: number;
    if (c === "\\") {
      const e = re[i + 1];
      // Escaped punctuation is that character; escapes like \d, \w, \Q, \x are classes or syntax.
      if (e === undefined || /[A-Za-z0-9]/.test(e)) break;
      atom = e;
      next = i + 2;
    } else if (META.has(c)) {
      break;
    } else {
      // Whole code points, so a surrogate pair is never split by a quantifier.
      const cp = re.codePointAt(i) ?? 0;
      atom = String.fromCodePoint(cp);
      next = i + atom.length;
    }
    const after = re[next];
    if (after !== undefined && QUANTIFIERS.has(after)) break;
    atoms.push(atom);
    i = next;
  }
  return atoms.join("");
}

/** Whether the pattern is a plain literal (no metacharacters at all): exact comparison suffices. */
export function isPlainLiteral(re: string): boolean {
  for (const c of re) if (META.has(c)) return false;
  return true;
}
