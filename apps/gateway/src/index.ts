export { createGateway, GATEWAY_NAME, type GatewayHandle, type GatewayOptions } from './gateway.js';
export { createGatewayApp, DEFAULT_GATEWAY_PORT, type GatewayAppOptions } from './main.js';
export { compileRoutes, defaultRoutes, matchRoute, type Route, validateRoutes } from './route-table.js';
export { type RegistryInstanceView, type RegistryView, registryView } from './registry-view.js';
export { isValidTraceparent, newTraceparent } from './headers.js';
export * from './fault-injection.js';
export { mergeDocuments, mergedDocs, type MergedDocsOptions, type ServiceDocument } from './api-docs.js';
