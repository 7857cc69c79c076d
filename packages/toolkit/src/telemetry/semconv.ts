import type * as semconv from '@opentelemetry/semantic-conventions';

// The stable OpenTelemetry attribute names meshkit's spans set, spelled out: importing them would
// load the package's whole index, every name it defines (~0.4 MiB of heap in every process, tracing
// or not), for these few strings. Each is typed by the package's own constant, so the compiler
// checks the spelling.

export const ATTR_ERROR_TYPE: typeof semconv.ATTR_ERROR_TYPE = 'error.type';
export const ATTR_HTTP_REQUEST_METHOD: typeof semconv.ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
export const ATTR_HTTP_REQUEST_RESEND_COUNT: typeof semconv.ATTR_HTTP_REQUEST_RESEND_COUNT = 'http.request.resend_count';
export const ATTR_HTTP_RESPONSE_STATUS_CODE: typeof semconv.ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
export const ATTR_HTTP_ROUTE: typeof semconv.ATTR_HTTP_ROUTE = 'http.route';
export const ATTR_SERVER_ADDRESS: typeof semconv.ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT: typeof semconv.ATTR_SERVER_PORT = 'server.port';
export const ATTR_URL_PATH: typeof semconv.ATTR_URL_PATH = 'url.path';
