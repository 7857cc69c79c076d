export { type FrontDoor, type EdgeOptions, installEdge } from './edge.js';
export { EdgeRequest } from './edge-request.js';
export { type ClientResponse, EdgeResponse } from './edge-response.js';
