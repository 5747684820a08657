/**
 * What the two send nodes (send template, send message) share: reading the delivery settings, the recipient and
 * msg.tracking; one msg at a time through the number's pacer under the open-request limit; errors to Catch nodes,
 * status badges, and a close that neither drops messages on their way nor waits for a queue. The rules (limits,
 * tracking, envelope, output shape) are core's (core/journeys); a node supplies only how one msg becomes content.
 */
import {
	DELIVERY_OPTION_LIMITS,
	SendPacer,
	deliveryOptionNumber,
	deliveryOptionsSchema,
	createJourneySendGate,
	normalizeRecipient,
	customerOf,
	pacingOf,
	parseJourneyRules,
	isSkippedDecision,
	prepareJourneySend,
	retryPolicyOf,
	sendBatch,
	toDryRunResult,
	toSendResult,
	recordJourneySends,
	z,
} from '../../core';
import type {
	CloudApiClient,
	DeliveryOptionName,
	JourneyRules,
	PacerOptions,
	PolicyResult,
	SendRelease,
	SendContent,
} from '../../core';
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

/** A delivery option as the editor saves it (a string, maybe blank), within core's range; the error names the field. */
const option = (name: DeliveryOptionName, wording: (min: number, max: number) => string) => {
	const limit = DELIVERY_OPTION_LIMITS[name];
	const schema = deliveryOptionNumber(name, wording(limit.min, limit.max));
	return z.preprocess(blank, z.coerce.number().pipe(schema).default(limit.default));
};

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
	messagesPerSecond: option(
		'messagesPerSecond',
		(min, max) => `Messages per second must be ${min} (no pacing) to ${max}`,
	),
	pairIntervalSeconds: option(
		'pairIntervalSeconds',
		(min, max) => `Pair interval must be ${min}–${max} seconds`,
	),
	maxAttempts: option('maxAttempts', (min, max) => `Max attempts must be ${min}–${max}`),
	retryUncertain: deliveryOptionsSchema.shape.retryUncertain,
	timeoutSeconds: option('timeoutSeconds', (min, max) => `Timeout must be ${min}–${max} seconds`),
	dryRun: deliveryOptionsSchema.shape.dryRun,
	// Journey rules (core/journeys/rules.ts), flat as the editor saves them; rulesOf() gives core's shape.
	oncePerStep: z.boolean().default(true),
	reentryPeriodHours: z.preprocess(blank, z.coerce.number().default(0)),
	retryWhenOutcomeUnknown: z.boolean().default(false),
	/** Blank: no frequency cap. */
	capMaxMessages: z.preprocess(blank, z.coerce.number().optional()),
	capPeriodHours: z.preprocess(blank, z.coerce.number().default(168)),
	capCategories: z.string().default('MARKETING'),
	/** Blank start and end: no quiet hours. */
	quietStart: z.string().trim().default(''),
	quietEnd: z.string().trim().default(''),
	quietTimeZone: z.string().trim().default(''),
	quietExempt: z.string().default('AUTHENTICATION,UTILITY'),
	quietWhenOutside: z.enum(['hold', 'skip']).default('hold'),
	messagingLimitGuard: z.boolean().default(true),
	qualityGuard: z.boolean().default(true),
};
export type DeliverySettings = z.infer<z.ZodObject<typeof deliverySettingsShape>>;

const list = (value: string): string[] =>
	value
		.split(',')
		.map((v) => v.trim().toUpperCase())
		.filter(Boolean);

/** The node's journey-rule settings in core's shape, validated by core (the error names the field). */
export function rulesOf(s: DeliverySettings): JourneyRules {
	return parseJourneyRules(
		{
			oncePerStep: s.oncePerStep,
			reentryPeriodHours: s.reentryPeriodHours,
			retryWhenOutcomeUnknown: s.retryWhenOutcomeUnknown,
			messagingLimitGuard: s.messagingLimitGuard,
			qualityGuard: s.qualityGuard,
			frequencyCap:
				s.capMaxMessages !== undefined
					? {
							maxMessages: s.capMaxMessages,
							periodHours: s.capPeriodHours,
							categories: list(s.capCategories),
						}
					: undefined,
			quietHours:
				s.quietStart || s.quietEnd
					? {
							start: s.quietStart,
							end: s.quietEnd,
							timeZone: s.quietTimeZone || undefined,
							exemptCategories: list(s.quietExempt),
							whenOutside: s.quietWhenOutside,
						}
					: undefined,
		},
		'Journey rules',
	);
}

/** msg.occurrenceKey and msg.timeZone: what differs per msg. */
const occurrenceSchema = z.union([z.string(), z.number()]).transform(String);
const timeZoneSchema = z.string().trim().min(1);

/** msg.tracking: journey fields merged over the node's, or a string sent as biz_opaque_callback_data as is. */
const trackingOverrideSchema = z.union([
	z.string(),
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

	override async acquire(waId: string): Promise<SendRelease> {
		if (this.sleeper.stopped) throw new Error(STOPPED);
		const release = await super.acquire(waId);
		if (this.sleeper.stopped) {
			release();
			throw new Error(STOPPED);
		}
		return release;
	}
}

/** Requests one node has open at once: the n8n node's default. */
const SEND_CONCURRENCY = DELIVERY_OPTION_LIMITS.concurrency.default;

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

export interface SendNodeOptions<S extends DeliverySettings> {
	/** "WhatsApp Send Template": names the node in setting errors. */
	label: string;
	schema: z.ZodType<S, z.ZodTypeDef, unknown>;
	/** Said after "Recipient is empty: set msg.payload.to to the customer's WhatsApp number" (e.g. when payload is not an object). */
	recipientHint?: string;
	build(ctx: BuildContext<S>): Promise<SendContent>;
	/**
	 * Instead of sending the result on the one output: hands the sent msg on (Send and Wait holds it until the customer
	 * answers). Errors go to Catch nodes like a failed send.
	 */
	deliver?(ctx: {
		settings: S;
		cloud: CloudConnection;
		msg: NodeMessage;
	}): Promise<'sent' | 'held'>;
	/** Called once at deploy with the parsed settings (Send and Wait registers its waits for resumes). */
	ready?(ctx: { settings: S; cloud: CloudConnection }): void;
	/** The node closes (after its in-flight sends). */
	close?(): void;
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
		client = cloud.client(retryPolicyOf(settings));
		options.ready?.({ settings, cloud });
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
						// A pacer even with nothing to pace: it is what refuses queued messages once the node closes.
						{ messagesPerSecond: 0, pairIntervalMs: 0, ...pacingOf(s), slots },
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

	/**
	 * The journey step of a msg and its tracking: msg.tracking's journey, step and custom over the node's, or, as a
	 * string, its own callback data (which replaces the tracking). The flow stands for n8n's workflow, the message id
	 * for its execution: the join key back from statuses.
	 */
	const journeyOf = (s: S, msg: NodeMessage) => {
		const override = fieldOf(trackingOverrideSchema, msg.tracking, 'msg.tracking');
		const fields = typeof override === 'object' ? override : undefined;
		return {
			journey: fields?.journey ?? (s.journey || undefined),
			step: fields?.step ?? (s.step || undefined),
			tracking: {
				workflowId: node.z || undefined,
				executionId: msg._msgid || undefined,
				custom: fields?.custom,
				callbackData: typeof override === 'string' ? override : undefined,
			},
		};
	};

	let rules: JourneyRules | undefined;
	try {
		if (settings) rules = rulesOf(settings);
	} catch (error) {
		setupError ??= asError(error);
		node.status({ fill: 'red', shape: 'ring', text: setupError.message.slice(0, 60) });
		node.error(setupError.message);
	}

	/** The gate of one msg: the rules, the config's store, and what the store knows about the account. */
	const gateFor = async (
		c: CloudConnection,
		api: CloudApiClient,
		r: JourneyRules,
		template: { name: string; language: string } | undefined,
	) =>
		createJourneySendGate({
			store: await c.store(),
			client: api,
			phoneNumberId: c.phoneNumberId,
			wabaId: c.settings.wabaId,
			baseUrl: c.settings.baseUrl,
			rules: r,
			templates: template ? [template] : [],
		});

	/** Quiet hours "hold": the msg stays in this node until resumeAt (lost on redeploy or restart: see the help). */
	const holdUntil = async (resumeAt: string): Promise<void> => {
		badge.holding(1);
		try {
			await sleeper.sleep(Math.max(0, Date.parse(resumeAt) - Date.now()));
		} finally {
			badge.holding(-1);
		}
		if (sleeper.stopped)
			throw new Error(
				`Not sent: the node was stopped (redeploy or shutdown) while holding this message for quiet hours until ${resumeAt}`,
			);
	};

	const handle = async (msg: NodeMessage): Promise<{ msg: NodeMessage; skipped: boolean }> => {
		if (setupError || !settings || !cloud || !client || !rules)
			throw setupError ?? new Error(`${options.label} is not configured`);
		const s = settings;
		const r = rules;
		const to = await evaluate(RED, node, msg, s.recipient, s.recipientType);
		if ((typeof to !== 'string' && typeof to !== 'number') || String(to).trim() === '') {
			const where = s.recipientType === 'msg' ? `msg.${s.recipient}` : 'the Recipient field';
			throw new Error(
				`Recipient is empty: set ${where} to the customer's WhatsApp number or business-scoped user id (BSUID)${options.recipientHint ? ` ${options.recipientHint}` : ''}`,
			);
		}
		const recipient = normalizeRecipient(String(to), s.defaultCountry || undefined);
		// One customer whichever id the message holds: a BSUID the store paired with a number is keyed by the number.
		const customer = await customerOf(() => cloud.store(), cloud.phoneNumberId, recipient);
		const content = await options.build({ settings: s, cloud, client, msg, recipient });
		const { journey, step, tracking } = journeyOf(s, msg);
		const prepared = prepareJourneySend({
			itemIndex: 0,
			recipient,
			customer,
			content,
			phoneNumberId: cloud.phoneNumberId,
			journey,
			step,
			// Without journey and step, the step is this node for this msg (the msg id plays n8n's execution).
			scope: `${node.z ?? ''}/${node.id}`,
			occurrenceKey: fieldOf(occurrenceSchema, msg.occurrenceKey, 'msg.occurrenceKey'),
			runOccurrence: msg._msgid,
			itemTimeZone: fieldOf(timeZoneSchema, msg.timeZone, 'msg.timeZone'),
			oncePerStep: r.oncePerStep,
			tracking,
			callbackDataField: 'msg.tracking',
		});
		const gate = await gateFor(cloud, client, r, prepared.gate.template);
		if (s.dryRun) {
			const policy = await gate.preview(prepared.gate);
			msg.payload = { ...toDryRunResult(prepared), policy };
			msg.policy = policy;
			return { msg, skipped: isSkippedDecision(policy.decision) };
		}
		const paced = await pacerFor(s, cloud);
		const api = client;
		for (;;) {
			const [outcome] = await sendSlots(() =>
				sendBatch([prepared], { client: api, pacer: paced, concurrency: 1, gate }),
			);
			const policy: PolicyResult | undefined = outcome.policy;
			if (
				outcome.ok === 'skipped' &&
				policy?.decision === 'quiet_hours' &&
				policy.resumeAt &&
				r.quietHours?.whenOutside === 'hold'
			) {
				await holdUntil(policy.resumeAt);
				continue;
			}
			await recordJourneySends(cloud.phoneNumberId, [prepared], [outcome], () => cloud.store());
			const result = toSendResult(prepared, outcome);
			if (policy) msg.policy = policy;
			if (outcome.ok === false) {
				// With the attempts made, so a Catch flow can tell a first-try refusal from exhausted retries.
				msg.whatsappError = result;
				throw outcome.error;
			}
			msg.payload = result;
			return {
				msg,
				skipped: outcome.ok === 'skipped' && isSkippedDecision(outcome.policy.decision),
			};
		}
	};
	const deliver = async (msg: NodeMessage): Promise<{ msg?: NodeMessage; skipped: boolean }> => {
		const result = await handle(msg);
		if (result.skipped || !options.deliver || !settings || !cloud) return result;
		return (await options.deliver({ settings, cloud, msg: result.msg })) === 'held'
			? { skipped: false }
			: result;
	};
	// Skipped by a journey rule is the last output (after Send and Wait's outputs when the node waits).
	const outputCount = Math.max(2, Number(def.outputs) || 2);
	const routed = (out: NodeMessage, skipped: boolean): Array<NodeMessage | null> => {
		const outputs = new Array<NodeMessage | null>(outputCount).fill(null);
		outputs[skipped ? outputCount - 1 : 0] = out;
		return outputs;
	};

	node.on('input', (msg, send, done) => {
		badge.start();
		const work = deliver(msg).then(
			({ msg: out, skipped }) => {
				if (skipped) badge.skip();
				else badge.finish(true);
				// Output 1: sent (or already sent earlier); the last: skipped by a journey rule, with msg.policy.
				if (out) send(routed(out, skipped));
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
			options.close?.();
			done();
		});
	});
}
