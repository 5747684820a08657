/**
 * Node-RED node `whatsapp-webhook-status`: Meta's webhook endpoint on Node-RED's own HTTP server. GET answers the
 * subscription challenge; a POST goes through core's webhook receive (signature on the raw bytes, parse, de-duplicate,
 * no regression, windows, statuses and opt-outs recorded in the journey state store), as the n8n trigger's does;
 * Meta gets 200 only once that is recorded (500 on a store failure, so it delivers again), then each event goes
 * out as one message. With "Registration: automatic" the node also points the config's phone number at itself at
 * Meta (lib/registration).
 */
import type { ServerResponse } from 'node:http';

import {
	acceptsWebhookPosts,
	ALL_EVENT_KINDS,
	DEFAULT_EMITTED_EVENTS,
	DEFAULT_STOP_KEYWORDS,
	emitKey,
	receiveIngestOptions,
	receiveWebhook,
	resumeDispatcher,
	verifySubscription,
	z,
} from '../core';
import type { IngestedEvent } from '../core';
import type {
	HttpRequest,
	NodeAPI,
	NodeDef,
	NodeInstance,
	NodeMessage,
	RequestHandler,
} from './types';
import { RawBodyCapture, queryOf, rawBodyReader, removeRoutes, reply } from './lib/http';
import { resumeInProcess } from './lib/waits';
import { mediaOnMessage } from './lib/media';
import { asError, connectionOf, errorDetails, parseNodeSettings } from './lib/node';
import {
	RegistrationHandovers,
	callbackUrl,
	currentCallback,
	publicUrlSchema,
	releaseLater,
	sameNumber,
	sameRegistration,
	setCallback,
	shortReason,
} from './lib/registration';
import type { Registration } from './lib/registration';

/** Parts of Node-RED's node API used only here: deploy events, the HTTP server and httpNodeRoot. */
interface RuntimeExtras {
	events?: {
		on(event: string, listener: () => void): unknown;
		removeListener(event: string, listener: () => void): unknown;
	};
	server?: { listening?: boolean; once(event: 'listening', listener: () => void): unknown };
	settings: { httpNodeRoot?: unknown };
}

/** Resolves once Node-RED's server accepts connections (flows start before it listens) or `stop` settles. */
function serverListening(RED: RuntimeExtras, stop: Promise<void>): Promise<void> {
	const server = RED.server;
	if (!server || server.listening !== false) return Promise.resolve();
	return Promise.race([new Promise<void>((resolve) => server.once('listening', resolve)), stop]);
}

/** Meta batches up to 1,000 statuses in one POST; core refuses bodies past 4 MB, so read no further. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

const settingsSchema = z.object({
	server: z
		.string({ required_error: 'choose a WhatsApp Cloud config' })
		.min(1, 'choose a WhatsApp Cloud config'),
	url: z
		.string({ required_error: 'Path is required, e.g. /whatsapp/webhook' })
		.trim()
		.regex(
			/^\/[A-Za-z0-9/_.~-]*$/,
			'Path must start with "/" and use letters, digits and / _ . ~ - only (e.g. /whatsapp/webhook)',
		),
	events: z
		.array(
			z.enum(ALL_EVENT_KINDS as [string, ...string[]], {
				message: `Events must be among ${ALL_EVENT_KINDS.join(', ')}`,
			}),
		)
		.default([...DEFAULT_EMITTED_EVENTS]),
	allPhoneNumbers: z.boolean().default(false),
	deduplicate: z.boolean().default(true),
	includeRaw: z.boolean().default(false),
	/** Download each inbound media file onto its msg (msg.media.data, a Buffer). */
	attachMedia: z.boolean().default(false),
	lateStatuses: z
		.enum(['drop', 'flag'], { message: "Late statuses must be 'drop' or 'flag'" })
		.default('drop'),
	recordWindows: z.boolean().default(true),
	recordOptOuts: z.boolean().default(true),
	stopKeywords: z.string().default(DEFAULT_STOP_KEYWORDS),
	allowUnsigned: z.boolean().default(false),
	registration: z
		.enum(['manual', 'automatic'], { message: "Registration must be 'manual' or 'automatic'" })
		.default('manual'),
	publicUrl: z.string().default(''),
});
type WebhookSettings = z.infer<typeof settingsSchema>;
type WebhookDef = NodeDef & Partial<Record<keyof WebhookSettings, unknown>>;

/** Per process, not per load: a node restarted by a deploy finds what its previous instance registered. */
let handovers: RegistrationHandovers | undefined;

function register(RED: NodeAPI): void {
	/** Paths taken on this Node-RED's HTTP server: a second node on one path would never be reached. */
	const pathsInUse = new Map<string, string>();
	const rawBodies = new RawBodyCapture(RED.httpNode, MAX_BODY_BYTES);
	const runtime = RED as NodeAPI & RuntimeExtras;
	handovers ??= new RegistrationHandovers(runtime.events);
	const restarts = handovers;

	function WhatsAppWebhookStatusNode(this: NodeInstance, def: WebhookDef): void {
		RED.nodes.createNode(this, def);
		const node = this;
		let settings: WebhookSettings;
		let cloud: ReturnType<typeof connectionOf>;
		/** The callback URL given to Meta, with "Registration: automatic". */
		let automaticUrl: string | undefined;
		// What the previous instance of this node registered, when this start is a redeploy.
		const previous = restarts.take(node.id);
		try {
			settings = parseNodeSettings(settingsSchema, def, 'WhatsApp Webhook Status');
			cloud = connectionOf(RED, settings.server);
			const owner = pathsInUse.get(settings.url);
			if (owner && owner !== node.id)
				throw new Error(
					`Path ${settings.url} is already used by another WhatsApp Webhook Status node: choose another path`,
				);
			if (settings.registration === 'automatic') {
				const publicUrl = publicUrlSchema.safeParse(settings.publicUrl);
				if (!publicUrl.success)
					throw new Error(
						`WhatsApp Webhook Status: publicUrl: ${publicUrl.error.issues[0]?.message ?? 'invalid'}`,
					);
				if (!cloud.verifyToken)
					throw new Error(
						'Automatic registration needs a Webhook Verify Token in the WhatsApp Cloud config: Meta checks the URL with it',
					);
				automaticUrl = callbackUrl(publicUrl.data, runtime.settings.httpNodeRoot, settings.url);
			}
		} catch (error) {
			const message = asError(error).message;
			node.status({ fill: 'red', shape: 'ring', text: message.slice(0, 60) });
			node.error(message);
			if (previous) void releaseLater(previous);
			return;
		}
		const s = settings;
		const c = cloud;
		const ingest = receiveIngestOptions(s);
		const receiving = acceptsWebhookPosts(c, s.allowUnsigned);
		if (!receiving) {
			const message =
				'The WhatsApp Cloud config has no App Secret, so webhook signatures cannot be checked: every POST gets 401. Add the app secret, or tick "Allow unsigned requests" for local testing only';
			node.status({ fill: 'red', shape: 'ring', text: 'no app secret: POSTs get 401' });
			node.error(message);
		} else {
			node.status({ fill: 'grey', shape: 'ring', text: `listening on ${s.url}` });
		}

		const counts = { events: 0, duplicates: 0, stale: 0 };
		let closed = false;
		const inFlight = new Set<Promise<void>>();

		const emitEvents = async (events: IngestedEvent[]): Promise<void> => {
			for (const event of events) {
				counts.events++;
				const msg: NodeMessage = { topic: emitKey(event), payload: event };
				const mediaId = s.attachMedia && event.kind === 'message' ? event.media?.id : undefined;
				if (mediaId) {
					try {
						const media = await mediaOnMessage(c.client(), mediaId, {
							fileName: event.kind === 'message' ? event.media?.filename : undefined,
						});
						msg.media = media;
						msg.filename = media.fileName;
					} catch (error) {
						msg.whatsappError = errorDetails(error);
					}
				}
				if (!closed) node.send(msg);
			}
			node.status({
				fill: 'green',
				shape: 'dot',
				text: `events ${counts.events} · duplicates ${counts.duplicates}${counts.stale > 0 ? ` · stale ${counts.stale}` : ''}`,
			});
		};

		const challenge: RequestHandler = (req, res) => {
			const check = verifySubscription(queryOf(req), c.verifyToken);
			if (check.ok) reply(res, 200, check.challenge);
			else reply(res, 403, 'Forbidden');
		};

		const readBody = rawBodyReader(MAX_BODY_BYTES);
		const handle = async (req: HttpRequest, res: ServerResponse): Promise<void> => {
			const header = req.headers['x-hub-signature-256'];
			const outcome = await receiveWebhook({
				raw: req.whatsappRawBody ?? Buffer.alloc(0),
				signatureHeader: Array.isArray(header) ? header[0] : header,
				credential: c,
				allowUnsigned: s.allowUnsigned,
				allPhoneNumbers: s.allPhoneNumbers,
				includeRaw: s.includeRaw,
				store: () => c.store(),
				ingest,
				// Replies and statuses that end a Send and Wait of this process resume it (node-red/lib/waits.ts).
				resume: resumeInProcess,
			});
			if (outcome.kind === 'failed') {
				reply(res, outcome.status, outcome.reason);
				node.status({ fill: 'red', shape: 'ring', text: 'state store failed: see debug' });
				// With the body, a Catch flow can keep what could not be recorded.
				node.error(asError(outcome.error), { payload: outcome.body });
				return;
			}
			if (outcome.kind === 'refused') {
				reply(res, outcome.status, outcome.reason);
				return;
			}
			// Recorded: only now may Meta be told so (a crash after a 200 would lose what it then never resends).
			reply(res, 200, 'EVENT_RECEIVED');
			counts.duplicates += outcome.duplicates;
			counts.stale += outcome.stale;
			if (!closed && outcome.received > 0) await emitEvents(outcome.events);
		};
		const receive: RequestHandler = (req, res) => {
			const work = handle(req, res).catch((error: unknown) => {
				reply(res, 500, 'The webhook could not be handled; deliver again');
				node.error(asError(error));
			});
			inFlight.add(work);
			void work.finally(() => inFlight.delete(work));
		};

		const captureKey = rawBodies.add(s.url);
		RED.httpNode.get(s.url, challenge);
		RED.httpNode.post(s.url, readBody, receive);
		pathsInUse.set(s.url, node.id);
		// Resumes claimed by a process that stopped before delivering them are delivered from here (after their lease).
		void c
			.store()
			.then((store) => resumeDispatcher(store, resumeInProcess))
			.catch(() => undefined);

		let signalClosed = (): void => undefined;
		const closing = new Promise<void>((resolve) => (signalClosed = resolve));
		const report = (error: unknown, action: string): void => {
			// With Meta's code in msg.whatsappError, a Catch flow can tell a refused challenge from a bad token.
			node.error(`WhatsApp Webhook Status: ${action} failed: ${asError(error).message}`, {
				whatsappError: errorDetails(error),
			});
		};
		let mine: Registration | undefined;
		if (automaticUrl && receiving) {
			const url = automaticUrl;
			const wanted = { cloud: c, url, verifyToken: c.verifyToken };
			const register = async (): Promise<void> => {
				if (previous) {
					await previous.settled.catch(() => undefined);
					// Another number now: the old one must not keep pointing here. Same number: setting replaces it.
					if (!sameNumber(previous, wanted)) await releaseLater(previous);
				}
				// Meta's challenge comes back to this route at once: Node-RED's server must accept connections first.
				await serverListening(runtime, closing);
				if (closed) return;
				node.status({ fill: 'blue', shape: 'ring', text: 'registering with Meta…' });
				// A restart with nothing new for Meta (same number, URL and token) only checks the override is still ours.
				const kept =
					previous !== undefined &&
					sameRegistration(previous, wanted) &&
					(await currentCallback(c)) === url;
				if (!kept) await setCallback(c, url, c.verifyToken);
				if (!closed)
					node.status({ fill: 'green', shape: 'dot', text: `registered: ${url}`.slice(0, 60) });
			};
			const settled = register().catch((error: unknown) => {
				if (!closed)
					node.status({
						fill: 'red',
						shape: 'ring',
						text: `registration failed: ${shortReason(error)}`.slice(0, 100),
					});
				report(error, `registering ${url} as the phone number's callback at Meta`);
			});
			mine = { ...wanted, settled, report };
		} else if (previous) {
			// Now manual (or unable to receive): leave Meta's override only if someone else set it.
			void releaseLater(previous);
		}

		node.on('close', (removed, done) => {
			closed = true;
			signalClosed();
			removeRoutes(RED.httpNode, [challenge, receive]);
			rawBodies.remove(captureKey);
			if (pathsInUse.get(s.url) === node.id) pathsInUse.delete(s.url);
			const pending: Array<Promise<unknown>> = [...inFlight];
			if (mine && removed) pending.push(releaseLater(mine));
			// Restarting (redeploy, Node-RED stopping): the next instance or the end of the deploy decides.
			else if (mine) restarts.handOver(node.id, mine);
			void Promise.allSettled(pending).finally(done);
		});
	}
	RED.nodes.registerType('whatsapp-webhook-status', WhatsAppWebhookStatusNode);
}

export = register;
