/**
 * What the two send nodes (send template, send message) share, so each rule has one home: the delivery settings,
 * recipient normalisation, tracking data, pacing to the number's throughput and pair rate, the open-request limit,
 * errors to Catch nodes, status badges, and a close that neither drops messages on their way nor waits for a queue.
 * A node supplies only how one msg becomes a message (`build`) and what it adds to the output.
 */
import {
	DEFAULT_MESSAGES_PER_SECOND,
	DEFAULT_PAIR_INTERVAL_MS,
	SendPacer,
	buildEnvelope,
	encodeTracking,
	normalizePhoneNumber,
	sendBatch,
	z,
} from '../../core';
import type { CloudApiClient, OutboundMessage, PacerOptions, TrackingData } from '../../core';
import type { NodeAPI, NodeDef, NodeInstance, NodeMessage } from '../types';
import { blank } from './cloud';
import type { CloudConnection } from './cloud';
import { concurrencyLimit } from './limit';
import {
	StatusBadge,
	asError,
	connectionOf,
	errorDetails,
	evaluate,
	parseNodeSettings,
} from './node';

const num = (schema: z.ZodNumber, fallback: number) =>
	z.preprocess(blank, z.coerce.number().pipe(schema).default(fallback));

/** The settings every send node has: where the recipient comes from, the journey, pacing, retries, dry run. */
export const deliverySettingsShape = {
	server: z
		.string({ required_error: 'choose a WhatsApp Cloud config' })
		.min(1, 'choose a WhatsApp Cloud config'),
	recipient: z.string().default('payload.to'),
	recipientType: z.string().default('msg'),
	journey: z.string().default(''),
	step: z.string().default(''),
	defaultCountry: z.string().trim().default(''),
	// 0 turns throughput pacing off (pair pacing still applies), as in the n8n node.
	messagesPerSecond: num(
		z
			.number()
			.min(0, 'Messages per second must be 0 (no pacing) to 1000')
			.max(1000, 'Messages per second must be 0 (no pacing) to 1000'),
		DEFAULT_MESSAGES_PER_SECOND,
	),
	pairIntervalSeconds: num(
		z.number().min(0).max(60, 'Pair interval must be 0–60 seconds'),
		DEFAULT_PAIR_INTERVAL_MS / 1000,
	),
	maxAttempts: num(z.number().int().min(1).max(10, 'Max attempts must be 1–10'), 6),
	retryUncertain: z.boolean().default(false),
	timeoutSeconds: num(z.number().min(1).max(300, 'Timeout must be 1–300 seconds'), 30),
	dryRun: z.boolean().default(false),
};
export type DeliverySettings = z.infer<z.ZodObject<typeof deliverySettingsShape>>;

/** msg.tracking: journey fields merged over the node's, or a string sent as biz_opaque_callback_data as is. */
const trackingOverrideSchema = z.union([
	z
		.string()
		.max(
			512,
			'msg.tracking as a string is sent as biz_opaque_callback_data, which Meta caps at 512 characters',
		),
	z.object({
		journey: z.string().optional(),
		step: z.string().optional(),
		custom: z.string().optional(),
	}),
]);

/** A msg property checked against a schema; the error names the property. */
export function fieldOf<S extends z.ZodTypeAny>(
	schema: S,
	value: unknown,
	field: string,
): z.output<S> | undefined {
	if (value === undefined || value === null) return undefined;
	const parsed = schema.safeParse(value);
	if (!parsed.success) throw new Error(`${field}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
	return parsed.data as z.output<S>;
}

/** Sleeps that a closing node can cut short, so it does not hold a redeploy for a queue of paced messages. */
class Sleeper {
	stopped = false;
	private readonly wakers = new Map<ReturnType<typeof setTimeout>, () => void>();

	readonly sleep = (ms: number): Promise<void> =>
		new Promise((resolve) => {
			if (this.stopped) return resolve();
			const timer = setTimeout(() => {
				this.wakers.delete(timer);
				resolve();
			}, ms);
			this.wakers.set(timer, resolve);
		});

	stop(): void {
		this.stopped = true;
		for (const [timer, wake] of this.wakers) {
			clearTimeout(timer);
			wake();
		}
		this.wakers.clear();
	}
}

const STOPPED = 'Not sent: the node was stopped (redeploy or shutdown) before this message left';

/** A pacer that refuses slots once its node closes, so queued messages fail visibly instead of leaving late. */
class NodePacer extends SendPacer {
	constructor(
		phoneNumberId: string,
		options: PacerOptions,
		private readonly sleeper: Sleeper,
	) {
		super(phoneNumberId, { ...options, sleep: sleeper.sleep });
	}

	override async acquire(waId: string): Promise<void> {
		if (this.sleeper.stopped) throw new Error(STOPPED);
		await super.acquire(waId);
		if (this.sleeper.stopped) throw new Error(STOPPED);
	}
}

/** Requests one node has open at once: enough for 1,000 msg/s at a 60 ms round trip (the n8n node's default too). */
const SEND_CONCURRENCY = 64;

/** How long a closing node waits for messages already on their way (Node-RED gives up on a node after 15 s). */
const CLOSE_GRACE_MS = 10_000;

/** What a node's `build` gets for one msg, once the recipient is normalised. */
export interface BuildContext<S extends DeliverySettings> {
	settings: S;
	cloud: CloudConnection;
	client: CloudApiClient;
	msg: NodeMessage;
	recipient: { e164: string; waId: string };
}

/** One msg turned into a message; `summary` goes into the output payload (and the dry-run payload). */
export interface BuiltMessage {
	message: OutboundMessage;
	marketingMessagesApi?: boolean;
	summary: Record<string, unknown>;
}

export interface SendNodeOptions<S extends DeliverySettings> {
	/** "WhatsApp Send Template": names the node in setting errors. */
	label: string;
	schema: z.ZodType<S, z.ZodTypeDef, unknown>;
	/** Said after "Recipient is empty: set msg.payload.to to the customer's WhatsApp number" (e.g. when payload is not an object). */
	recipientHint?: string;
	build(ctx: BuildContext<S>): Promise<BuiltMessage>;
}

/** Wires a send node: settings, client and pacer at deploy; per msg build → envelope → paced send → output or done(error). */
export function runSendNode<S extends DeliverySettings>(
	RED: NodeAPI,
	node: NodeInstance,
	def: NodeDef,
	options: SendNodeOptions<S>,
): void {
	const badge = new StatusBadge(node);
	let settings: S | undefined;
	let setupError: Error | undefined;
	let cloud: CloudConnection | undefined;
	let client: CloudApiClient | undefined;
	let pacer: Promise<NodePacer> | undefined;
	const inFlight = new Set<Promise<void>>();
	const sendSlots = concurrencyLimit(SEND_CONCURRENCY);
	const sleeper = new Sleeper();
	try {
		settings = parseNodeSettings(options.schema, def, options.label);
		cloud = connectionOf(RED, settings.server);
		client = cloud.client({
			maxAttempts: settings.maxAttempts,
			retryUncertain: settings.retryUncertain,
			timeoutMs: settings.timeoutSeconds * 1000,
		});
	} catch (error) {
		setupError = asError(error);
		node.status({ fill: 'red', shape: 'ring', text: setupError.message.slice(0, 60) });
		// Logged at deploy; every message then fails with the same error, which Catch nodes see.
		node.error(setupError.message);
	}

	const pacerFor = (s: S, c: CloudConnection): Promise<NodePacer> => {
		if (!pacer) {
			const pending = c.slots().then(
				(slots) =>
					new NodePacer(
						c.phoneNumberId,
						{
							messagesPerSecond: s.messagesPerSecond,
							pairIntervalMs: s.pairIntervalSeconds * 1000,
							slots,
						},
						sleeper,
					),
			);
			// A store that failed to open is tried again by the next message.
			pending.catch(() => {
				if (pacer === pending) pacer = undefined;
			});
			pacer = pending;
		}
		return pacer;
	};

	const trackingFor = (s: S, msg: NodeMessage): { tracking?: TrackingData; data: string } => {
		const override = fieldOf(trackingOverrideSchema, msg.tracking, 'msg.tracking');
		if (typeof override === 'string') return { data: override };
		// The flow stands for n8n's workflow, the message id for its execution: the join key back from statuses.
		const tracking: TrackingData = {
			workflowId: node.z || undefined,
			executionId: msg._msgid || undefined,
			journey: override?.journey ?? (s.journey || undefined),
			step: override?.step ?? (s.step || undefined),
			custom: override?.custom,
		};
		for (const key of Object.keys(tracking) as Array<keyof TrackingData>)
			if (tracking[key] === undefined) delete tracking[key];
		return { tracking, data: encodeTracking(tracking) };
	};

	const handle = async (msg: NodeMessage): Promise<NodeMessage> => {
		if (setupError || !settings || !cloud || !client)
			throw setupError ?? new Error(`${options.label} is not configured`);
		const s = settings;
		const to = await evaluate(RED, node, msg, s.recipient, s.recipientType);
		if ((typeof to !== 'string' && typeof to !== 'number') || String(to).trim() === '') {
			const where = s.recipientType === 'msg' ? `msg.${s.recipient}` : 'the Recipient field';
			throw new Error(
				`Recipient is empty: set ${where} to the customer's WhatsApp number${options.recipientHint ? ` ${options.recipientHint}` : ''}`,
			);
		}
		const recipient = normalizePhoneNumber(String(to), s.defaultCountry || undefined);
		const built = await options.build({ settings: s, cloud, client, msg, recipient });
		const { tracking, data } = trackingFor(s, msg);
		const request = buildEnvelope(recipient.e164, built.message, { bizOpaqueCallbackData: data });
		const marketingMessagesApi = built.marketingMessagesApi === true;
		if (s.dryRun) {
			msg.payload = {
				dryRun: true,
				recipient: recipient.e164,
				waId: recipient.waId,
				...built.summary,
				request,
			};
			return msg;
		}
		const paced = await pacerFor(s, cloud);
		const api = client;
		const [outcome] = await sendSlots(() =>
			sendBatch([{ itemIndex: 0, waId: recipient.waId, request, marketingMessagesApi }], {
				client: api,
				pacer: paced,
				concurrency: 1,
			}),
		);
		if (!outcome.ok) {
			// Attempts made, so a Catch flow can tell a first-try refusal from exhausted retries.
			msg.whatsappError = { ...errorDetails(outcome.error), attempts: outcome.retries.length + 1 };
			throw outcome.error;
		}
		msg.payload = {
			messageId: outcome.result.messageId,
			waId: outcome.result.waId ?? recipient.waId,
			recipient: recipient.e164,
			messageStatus: outcome.result.messageStatus,
			...built.summary,
			tracking: tracking ?? {},
			bizOpaqueCallbackData: data,
			attempts: outcome.result.attempts,
			sentAt: new Date().toISOString(),
		};
		return msg;
	};

	node.on('input', (msg, send, done) => {
		badge.start();
		const work = handle(msg).then(
			(out) => {
				badge.finish(true);
				send(out);
				done();
			},
			(error: unknown) => {
				badge.finish(false);
				msg.whatsappError ??= errorDetails(error);
				// done(error) is node.error(error, msg): Catch nodes receive the message with msg.error.
				done(asError(error));
			},
		);
		inFlight.add(work);
		void work.finally(() => inFlight.delete(work));
	});

	node.on('close', (_removed, done) => {
		sleeper.stop();
		let timer: ReturnType<typeof setTimeout> | undefined;
		const grace = new Promise<void>((resolve) => {
			timer = setTimeout(resolve, CLOSE_GRACE_MS);
		});
		void Promise.race([Promise.allSettled([...inFlight]), grace]).finally(() => {
			clearTimeout(timer);
			done();
		});
	});
}
