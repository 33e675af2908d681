// The HTTP/2 settings `l7proxy run` uses by default (from the run configuration schema).
import { parseRunConfig } from "../../src/config/run-config.js";
import { http2SettingsOf } from "../../src/datapath/http2/session-settings.js";
import type { Http2Settings } from "../../src/datapath/http2/session-settings.js";

export function http2SettingsFromDefaults(): Http2Settings {
  return http2SettingsOf(parseRunConfig([], {}));
}
