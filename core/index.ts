/**
 * The public API of core/: everything the n8n nodes, the Node-RED nodes, the sandbox and the benchmarks use.
 * Adapters import from here only — the published package bundles this file with its libraries (scripts/bundle-core.js).
 */
export { z } from 'zod';
export * from './errors';
export * from './phone';
export * from './templates';
export * from './messages';
export * from './tracking';
export * from './webhooks';
export * from './state';
export * from './transport';
export * from './client';
export * from './pacing';
export * from './cache';
export * from './connection';
export * from './send';
export * from './templateCache';
export * from './ingest';
export * from './time';
export * from './failure';
export * from './media';
export * from './journeys';
export * from './report';
