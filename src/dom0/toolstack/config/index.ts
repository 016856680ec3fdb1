// xl.cfg: libxlu's language (lexer, parser, accessors) and the typed domain configuration built
// from it, with libxl's JSON form of that configuration.
export { type Got, type ReadResult, readConfigData, XluConfig } from './cfg.js';
export {
  type DomainConfig,
  type DomainType,
  type ParseDomainOptions,
  type ParseDomainResult,
  parseDomainConfig,
  type ShutdownAction,
  withExtraConfig,
} from './domain-config.js';
export {
  domainConfigJson,
  domainConfigToJson,
  type Json,
  type JsonMap,
  yajlBeautify,
} from './json.js';
export type { CfgSetting, CfgValue } from './parser.js';
export { atoi, strtol, strtoul } from './strtol.js';
export { generateUuid, NIL_UUID, parseUuid } from './uuid.js';
