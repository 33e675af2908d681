// Public API of policy loading: files, directories, text and Kubernetes API objects -> typed
// policies plus positioned diagnostics.

export { formatDiagnostic, type Diagnostic } from "./diagnostic.js";
export type { FileSummary, LoadResult } from "./load-result.js";
export { loadPolicyPaths } from "./load-paths.js";
export { parsePolicyText } from "./parse-text.js";
export { policyFromObject } from "./from-object.js";
