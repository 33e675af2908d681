// Port values as Cilium's PortProtocol sanitize reads them: an IANA service name (a named
// port) or a number 0..65535 ("0" = all ports). The CRD pattern alone is looser (it is not
// anchored on both sides), so this is the stricter of the two.

import type { ValueProblem } from "./shape.js";

/** IANA service name syntax (RFC 6335 §5.1): 1-15 chars, letters/digits/hyphens, at least one letter, no leading, trailing or double hyphen. */
function isServiceName(text: string): boolean {
  return (
    text.length >= 1 &&
    text.length <= 15 &&
    /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(text) &&
    /[A-Za-z]/.test(text) &&
    !text.includes("--")
  );
}

/** The numeric port, "named" for a service name, or a problem. */
export function parseCiliumPort(text: string): number | "named" | ValueProblem {
  if (isServiceName(text)) return "named";
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    return { code: "L7P_ERR_POLICY_PORT", message: `invalid port ${JSON.stringify(text)}: must be 0..65535 or a service name (named port)` };
  }
  return Number(text);
}

export function checkCiliumPort(text: string): ValueProblem | undefined {
  const p = parseCiliumPort(text);
  return typeof p === "object" ? p : undefined;
}

/** Kubernetes NetworkPolicyPort.port: 1..65535 or an IANA_SVC_NAME (lower case). */
export function checkK8sPort(value: number | string): ValueProblem | undefined {
  if (typeof value === "number") {
    return value >= 1 && value <= 65535 ? undefined : { code: "L7P_ERR_POLICY_PORT", message: `invalid port ${value}: must be 1..65535` };
  }
  if (/^[a-z0-9-]+$/.test(value) && isServiceName(value)) return undefined;
  if (/^\d+$/.test(value)) {
    return { code: "L7P_ERR_POLICY_PORT", message: `invalid port ${JSON.stringify(value)}: a port number must not be quoted in a NetworkPolicy` };
  }
  return { code: "L7P_ERR_POLICY_PORT", message: `invalid port name ${JSON.stringify(value)}: must be at most 15 lower-case letters, digits and '-', with at least one letter` };
}
