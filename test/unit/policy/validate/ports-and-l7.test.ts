import { describe, expect, it } from "vitest";
import { cnp, errorsOf, expectDiagnostic } from "./diagnose.js";

const ingressPorts = (ports: string, rules = ""): string =>
  cnp(`endpointSelector: {}
ingress:
- toPorts:
  - ports:
${ports
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}${rules === "" ? "" : `\n    rules:\n${rules.split("\n").map((l) => `      ${l}`).join("\n")}`}`);

describe("ports", () => {
  it("rejects a port above 65535", () => {
    const text = ingressPorts(`- port: "70000"`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].ports[0].port", message: 'invalid port "70000": must be 0..65535 or a service name', at: '"70000"', code: "L7P_ERR_POLICY_PORT" });
  });

  it("rejects endPort above 65535 and endPort below port", () => {
    const high = ingressPorts(`- {port: "80", endPort: 70000, protocol: TCP}`);
    expectDiagnostic(high, { fieldPath: "spec.ingress[0].toPorts[0].ports[0].endPort", message: "70000 is out of range 0..65535", at: "70000" });
    const low = ingressPorts(`- {port: "8080", endPort: 80, protocol: TCP}`);
    expectDiagnostic(low, { fieldPath: "spec.ingress[0].toPorts[0].ports[0].endPort", message: "endPort 80 must be >= port 8080", at: "80," });
  });

  it("rejects more than 40 ports in one port rule", () => {
    const ports = Array.from({ length: 41 }, (_, i) => `- port: "${1000 + i}"`).join("\n");
    const text = ingressPorts(ports);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].ports", message: "too many items: 41, at most 40", at: '- port: "1000"' });
  });

  it("requires port in a port entry", () => {
    const text = ingressPorts(`- protocol: TCP`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].ports[0]", message: "port must be specified", at: "protocol: TCP" });
  });

  it("accepts port 0, a range, a named port and ANY without L7 rules", () => {
    const text = ingressPorts(`- {port: "0"}
- {port: "8000", endPort: 8100, protocol: ANY}
- {port: http-alt, protocol: TCP}`);
    expect(errorsOf(text)).toEqual([]);
  });
});

describe("where L7 rules may appear", () => {
  it("rejects HTTP rules on UDP, and on an omitted protocol (ANY)", () => {
    const udp = ingressPorts(`- {port: "80", protocol: UDP}`, `http: [{path: /}]`);
    expectDiagnostic(udp, { fieldPath: "spec.ingress[0].toPorts[0].ports[0].protocol", message: "L7 rules can only apply to TCP (not UDP) except for DNS rules", at: "UDP" });
    const any = ingressPorts(`- {port: "80"}`, `http: [{path: /}]`);
    expectDiagnostic(any, { fieldPath: "spec.ingress[0].toPorts[0].ports[0].port", message: "L7 rules can only apply to TCP (not ANY, the default when protocol is omitted)", at: '"80"' });
  });

  it("rejects L7 rules on port 0 and without ports", () => {
    const zero = ingressPorts(`- {port: "0", protocol: TCP}`, `http: [{}]`);
    expectDiagnostic(zero, { fieldPath: "spec.ingress[0].toPorts[0].rules", message: "L7 rules can not be used when a port is 0", at: "rules" });
    const none = cnp(`endpointSelector: {}
ingress:
- toPorts:
  - rules:
      http: [{}]`);
    expectDiagnostic(none, { fieldPath: "spec.ingress[0].toPorts[0].rules", message: "L7 rules need at least one port", at: "rules" });
  });

  it("rejects several L7 kinds in one port rule", () => {
    const text = ingressPorts(`- {port: "80", protocol: TCP}`, `http: [{}]\nkafka: [{topic: t}]`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka", message: "multiple L7 protocol rule types specified in single rule", at: "kafka" });
  });

  it("rejects an empty rules object, which the CRD's oneOf refuses", () => {
    const text = ingressPorts(`- {port: "80", protocol: TCP}`, `{}`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules", message: "rules must have one of http, kafka, dns or l7proto", at: "{}", nth: 1 });
  });

  it("rejects DNS rules on ingress", () => {
    const text = ingressPorts(`- {port: "53", protocol: UDP}`, `dns: [{matchPattern: "*"}]`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.dns", message: "DNS rules are not allowed on ingress", at: "dns" });
  });

  it("rejects DNS rules without ports and with port ranges", () => {
    const noPorts = cnp(`endpointSelector: {}
egress:
- toEndpoints: [{}]
  toPorts:
  - rules:
      dns: [{matchPattern: "*"}]`);
    expectDiagnostic(noPorts, { fieldPath: "spec.egress[0].toPorts[0].rules", message: "port 53 must be specified for DNS rules", at: "rules" });
    const range = cnp(`endpointSelector: {}
egress:
- toEndpoints: [{}]
  toPorts:
  - ports: [{port: "53", endPort: 54, protocol: ANY}]
    rules:
      dns: [{matchPattern: "*"}]`);
    expectDiagnostic(range, { fieldPath: "spec.egress[0].toPorts[0].ports[0].endPort", message: "DNS rules do not support port ranges", at: "54" });
  });

  it("accepts DNS on UDP and ANY, HTTP on TCP port ranges", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toEndpoints: [{}]
  toPorts:
  - ports: [{port: "53", protocol: UDP}, {port: "53", protocol: ANY}]
    rules:
      dns: [{matchPattern: "*"}]
- toEndpoints: [{}]
  toPorts:
  - ports: [{port: "8000", endPort: 8080, protocol: TCP}]
    rules:
      http: [{method: GET, path: "/api/.*"}]`);
    expect(errorsOf(text)).toEqual([]);
  });
});

describe("HTTP regexes", () => {
  it("reports RE2's own message for an invalid path, at the value", () => {
    const text = ingressPorts(`- {port: "80", protocol: TCP}`, `http:\n- method: GET\n  path: "/v1/(unclosed"`);
    const d = expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].path", message: "invalid RE2 regex: missing )", at: '"/v1/(unclosed"', code: "L7P_ERR_POLICY_REGEX" });
    expect(d.message).toBe("invalid RE2 regex: missing )");
  });

  it("rejects invalid method and host regexes, and Perl-only syntax RE2 does not support", () => {
    const text = ingressPorts(`- {port: "80", protocol: TCP}`, `http:\n- method: "GET**"\n  host: "[a-"\n- path: "/(?=x)"`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].method", message: "invalid RE2 regex: bad repetition operator", at: '"GET**"' });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].host", message: "invalid RE2 regex: missing ]", at: '"[a-"' });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.http[1].path", message: "invalid RE2 regex", at: '"/(?=x)"' });
  });

  it("validates headerMatches: name required, mismatch enum", () => {
    const text = ingressPorts(`- {port: "80", protocol: TCP}`, `http:\n- headerMatches:\n  - {value: x}\n  - {name: X-A, mismatch: DROP}`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].headerMatches[0].name", message: "required field is missing", at: "{value: x}" });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].headerMatches[1].mismatch", message: 'invalid value "DROP": must be one of LOG, ADD, DELETE, REPLACE', at: "DROP" });
  });
});

describe("Kafka rules", () => {
  const kafka = (rule: string): string => ingressPorts(`- {port: "9092", protocol: TCP}`, `kafka:\n- ${rule}`);

  it("rejects role together with apiKey", () => {
    expectDiagnostic(kafka(`{role: produce, apiKey: produce}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].apiKey", message: "cannot set both role and apiKey", at: "apiKey" });
  });

  it("rejects an unknown role and singular apiKey names from the docs", () => {
    expectDiagnostic(kafka(`{role: admin}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].role", message: 'invalid value "admin": must be one of produce, consume', at: "admin" });
    expectDiagnostic(kafka(`{apiKey: createtopic}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].apiKey", message: 'unknown Kafka apiKey "createtopic"', at: "createtopic" });
  });

  it("accepts plural names in any case, not numbers (as Cilium's Sanitize)", () => {
    expect(errorsOf(kafka(`{apiKey: CreateTopics, apiVersion: "3"}`))).toEqual([]);
    expectDiagnostic(kafka(`{apiKey: "19"}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].apiKey", message: 'unknown Kafka apiKey "19": Cilium takes names, not numbers: use createtopics', at: '"19"' });
    expectDiagnostic(kafka(`{apiKey: "99"}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].apiKey", message: "use a name such as produce", at: '"99"' });
  });

  it("rejects apiVersion that is not a non-negative int16", () => {
    expectDiagnostic(kafka(`{apiVersion: "-1"}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].apiVersion", message: 'invalid Kafka apiVersion "-1"', at: '"-1"' });
    expectDiagnostic(kafka(`{apiVersion: "40000"}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].apiVersion", message: "0..32767", at: '"40000"' });
  });

  it("rejects topics that are too long or use other characters", () => {
    const long = "t".repeat(256);
    expectDiagnostic(kafka(`{topic: ${long}}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].topic", message: "too long: 256 characters, at most 255", at: long });
    expectDiagnostic(kafka(`{topic: "a/b"}`), { fieldPath: "spec.ingress[0].toPorts[0].rules.kafka[0].topic", message: 'invalid Kafka topic "a/b"', at: '"a/b"' });
    expect(errorsOf(kafka(`{topic: ${"t".repeat(255)}}`))).toEqual([]);
  });
});
