// Field path -> file position, by walking the YAML document's node tree (which keeps source
// ranges) instead of the plain value. Paths that stop early (a missing field) resolve to the
// deepest node that exists, which is where the user has to add it.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from "yaml";
import type { SourceLocation } from "../api/types.js";
import type { PathSegment } from "../validate/index.js";

export type Locator = (path: readonly PathSegment[], at?: "key" | "value") => SourceLocation;

export function makeLocator(doc: Document, lineCounter: LineCounter, file: string, base: readonly PathSegment[] = []): Locator {
  const position = (offset: number | undefined): SourceLocation => {
    if (offset === undefined) return { file, line: 0, col: 0 };
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  return (path, at = "value") => {
    let node: unknown = doc.contents;
    let keyNode: Node | undefined;
    let lastGood: Node | undefined = isNodeLike(node) ? node : undefined;
    let lastGoodKey: Node | undefined;
    let resolved = true;
    for (const seg of [...base, ...path]) {
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined) {
          resolved = false;
          break;
        }
        keyNode = isNodeLike(pair.key) ? pair.key : undefined;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === "number" && seg < node.items.length) {
        keyNode = undefined;
        node = node.items[seg];
      } else {
        resolved = false;
        break;
      }
      if (isNodeLike(node)) {
        lastGood = node;
        lastGoodKey = keyNode;
      } else if (keyNode !== undefined) {
        // `field:` with no value: the key is all there is to point at.
        lastGood = keyNode;
        lastGoodKey = keyNode;
      }
    }
    if (resolved) {
      // `field:` with nothing after it parses as an empty null scalar; the key is what to show.
      const emptyValue = isNodeLike(node) && node.range?.[0] === node.range?.[1];
      const valueNode = isNodeLike(node) && !emptyValue ? node : keyNode;
      const target = at === "key" ? (keyNode ?? valueNode) : valueNode;
      return position((target ?? lastGood)?.range?.[0]);
    }
    return position((lastGoodKey ?? lastGood)?.range?.[0]);
  };
}

function isNodeLike(v: unknown): v is Node {
  return typeof v === "object" && v !== null && "range" in v && Array.isArray((v as { range?: unknown }).range);
}
