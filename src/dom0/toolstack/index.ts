// The toolstack as xl sees it: the libxl-shaped Toolstack interface and its types, and the
// xl.cfg parser that turns a configuration file into a DomainConfig.
export * from './config/index.js';
export * from './types.js';
