/**
 * The part of Node-RED's runtime API these nodes use, typed here so the adapters compile without Node-RED's
 * (unpublished) typings. Node-RED hands every node module a `RED` object; nothing here is imported at run time.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface NodeMessage {
	_msgid?: string;
	payload?: unknown;
	topic?: string;
	[property: string]: unknown;
}

export interface NodeStatus {
	fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
	shape?: 'ring' | 'dot';
	text?: string;
}

/** What the editor saves for a node: its `defaults`, plus id, type, name, flow (z) and wires. */
export interface NodeDef {
	id: string;
	type: string;
	name?: string;
	z?: string;
	[property: string]: unknown;
}

export type SendFunction = (
	msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null> | null,
) => void;
export type DoneFunction = (error?: Error) => void;

export interface NodeInstance {
	id: string;
	type: string;
	name?: string;
	/** The flow (tab) the node is on. */
	z?: string;
	credentials?: Record<string, string | undefined>;
	on(
		event: 'input',
		listener: (msg: NodeMessage, send: SendFunction, done: DoneFunction) => void | Promise<void>,
	): void;
	on(event: 'close', listener: (removed: boolean, done: () => void) => void): void;
	send(msg: NodeMessage | Array<NodeMessage | null> | null): void;
	status(status: NodeStatus): void;
	error(error: unknown, msg?: NodeMessage): void;
	warn(message: unknown): void;
	log(message: unknown): void;
}

/** A request as Express hands it to a route handler (Node's IncomingMessage plus what body parsers add). */
export interface HttpRequest extends IncomingMessage {
	/** Route parameters (`/:id`), set by Express. */
	params?: Record<string, string>;
	body?: unknown;
	/** The exact bytes received, set by lib/http. */
	whatsappRawBody?: Buffer;
}

export type RequestHandler = (
	req: HttpRequest,
	res: ServerResponse,
	next: (error?: unknown) => void,
) => void;

/** One entry of an Express router stack (enough to find and remove our own routes). */
export interface RouterLayer {
	handle?: unknown;
	route?: { path?: string; stack?: Array<{ handle?: unknown }> };
}

/** RED.httpNode / RED.httpAdmin: Express applications (4.x in Node-RED 3–5, `router` in Express 5). */
export interface HttpApp {
	get(path: string, ...handlers: RequestHandler[]): unknown;
	post(path: string, ...handlers: RequestHandler[]): unknown;
	use(handler: RequestHandler): unknown;
	/** Where the app is mounted ("/" for httpNodeRoot "/"). */
	path?(): string;
	/** The application this one is mounted on (Node-RED's root app). */
	parent?: HttpApp;
	_router?: { stack: RouterLayer[] };
	router?: { stack: RouterLayer[] };
}

export type CredentialTypes = Record<string, { type: 'text' | 'password' }>;

export type PropertyType =
	| 'msg'
	| 'flow'
	| 'global'
	| 'str'
	| 'num'
	| 'bool'
	| 'json'
	| 'date'
	| 'env'
	| 'jsonata'
	| 'bin'
	| 're';

export interface NodeAPI {
	nodes: {
		createNode(node: NodeInstance, def: NodeDef): void;
		registerType<D extends NodeDef>(
			type: string,
			constructor: (this: NodeInstance, def: D) => void,
			options?: { credentials?: CredentialTypes },
		): void;
		getNode(id: string): unknown;
	};
	httpAdmin: HttpApp;
	httpNode: HttpApp;
	auth: { needsPermission(permission: string): RequestHandler };
	settings: { userDir?: string };
	util: {
		evaluateNodeProperty(
			value: string,
			type: string,
			node: NodeInstance,
			msg: NodeMessage,
			callback: (error: Error | null | undefined, result: unknown) => void,
		): void;
	};
}
