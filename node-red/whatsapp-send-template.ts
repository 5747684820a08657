/**
 * Node-RED node `whatsapp-send-template`: one message in, one approved template message out to its recipient.
 * The same rules as the n8n node, from the same core: validation before anything leaves, US-marketing and opt-out
 * guards, tracking data for status joins, pacing to the number's throughput and pair rate, the client's safe retries.
 */
import {
  DEFAULT_MESSAGES_PER_SECOND,
  DEFAULT_PAIR_INTERVAL_MS,
  SendPacer,
  TemplateValidationError,
  buildEnvelope,
  buildTemplateMessage,
  encodeTracking,
  extractTemplateVariables,
  isUsNumber,
  normalizePhoneNumber,
  parseTemplateName,
  sendBatch,
  validateTemplateMessage,
  z,
} from '../core';
import type { CloudApiClient, PacerOptions, TemplateDefinition, TemplateObject, TrackingData } from '../core';
import type { NodeAPI, NodeDef, NodeInstance, NodeMessage } from './types';
import { blank } from './lib/cloud';
import type { CloudConnection, TemplateRef } from './lib/cloud';
import { StatusBadge, asError, connectionOf, errorDetails, evaluate, parseNodeSettings } from './lib/node';
import { concurrencyLimit } from './lib/limit';

const num = (schema: z.ZodNumber, fallback: number) => z.preprocess(blank, z.coerce.number().pipe(schema).default(fallback));

const settingsSchema = z.object({
  server: z.string({ required_error: 'choose a WhatsApp Cloud config' }).min(1, 'choose a WhatsApp Cloud config'),
  recipient: z.string().default('payload.to'),
  recipientType: z.string().default('msg'),
  templateId: z.string().default(''),
  templateName: z.string().default(''),
  templateLanguage: z.string().default(''),
  /** Editor mapping: one typed input per template variable key. */
  variables: z
    .array(z.object({ key: z.string().regex(/^[a-z0-9_]+$/, 'variable keys are [a-z0-9_]'), value: z.string().default(''), type: z.string().default('str') }))
    .default([]),
  journey: z.string().default(''),
  step: z.string().default(''),
  defaultCountry: z.string().trim().default(''),
  allowUsMarketing: z.boolean().default(false),
  skipOptedOut: z.boolean().default(true),
  useMarketingMessagesApi: z.boolean().default(false),
  // 0 turns throughput pacing off (pair pacing still applies), as in the n8n node.
  messagesPerSecond: num(z.number().min(0, 'Messages per second must be 0 (no pacing) to 1000').max(1000, 'Messages per second must be 0 (no pacing) to 1000'), DEFAULT_MESSAGES_PER_SECOND),
  pairIntervalSeconds: num(z.number().min(0).max(60, 'Pair interval must be 0–60 seconds'), DEFAULT_PAIR_INTERVAL_MS / 1000),
  maxAttempts: num(z.number().int().min(1).max(10, 'Max attempts must be 1–10'), 6),
  retryUncertain: z.boolean().default(false),
  timeoutSeconds: num(z.number().min(1).max(300, 'Timeout must be 1–300 seconds'), 30),
  dryRun: z.boolean().default(false),
});
type SendSettings = z.infer<typeof settingsSchema>;
type SendDef = NodeDef & Partial<Record<keyof SendSettings, unknown>>;

/** msg.template: "name", "name (en_US)", or { id | name, language?, components? } to send prepared components. */
const templateOverrideSchema = z.union([
  z.string().trim().min(1, 'msg.template is an empty string'),
  z
    .object({
      id: z.string().trim().min(1).optional(),
      name: z.string().trim().min(1).optional(),
      language: z.string().trim().min(1).optional(),
      components: z.array(z.unknown()).optional(),
    })
    .refine((t) => t.id !== undefined || t.name !== undefined, 'msg.template needs an id or a name'),
]);
type TemplateOverride = z.infer<typeof templateOverrideSchema>;

/** msg.tracking: journey fields merged over the node's, or a string sent as biz_opaque_callback_data as is. */
const trackingOverrideSchema = z.union([
  z.string().max(512, 'msg.tracking as a string is sent as biz_opaque_callback_data, which Meta caps at 512 characters'),
  z.object({ journey: z.string().optional(), step: z.string().optional(), custom: z.string().optional() }),
]);

const variablesSchema = z.record(z.unknown(), { invalid_type_error: 'msg.payload.variables must be an object keyed by variable (body_1, header_text_1, ...)' });

function fieldOf<S extends z.ZodTypeAny>(schema: S, value: unknown, field: string): z.output<S> | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${field}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data as z.output<S>;
}


interface Prepared {
  waId: string;
  recipient: string;
  request: unknown;
  marketingMessagesApi: boolean;
  template: { id?: string; name: string; language: string; category: string };
  tracking?: TrackingData;
  bizOpaqueCallbackData: string;
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

function register(RED: NodeAPI): void {
  function WhatsAppSendTemplateNode(this: NodeInstance, def: SendDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const badge = new StatusBadge(node);
    let settings: SendSettings | undefined;
    let setupError: Error | undefined;
    let cloud: CloudConnection | undefined;
    let client: CloudApiClient | undefined;
    let pacer: Promise<NodePacer> | undefined;
    const inFlight = new Set<Promise<void>>();
    const sendSlots = concurrencyLimit(SEND_CONCURRENCY);
    const sleeper = new Sleeper();
    try {
      settings = parseNodeSettings(settingsSchema, def, 'WhatsApp Send Template');
      cloud = connectionOf(RED, settings.server);
      client = cloud.client({ maxAttempts: settings.maxAttempts, retryUncertain: settings.retryUncertain, timeoutMs: settings.timeoutSeconds * 1000 });
    } catch (error) {
      setupError = asError(error);
      node.status({ fill: 'red', shape: 'ring', text: setupError.message.slice(0, 60) });
      // Logged at deploy; every message then fails with the same error, which Catch nodes see.
      node.error(setupError.message);
    }

    const pacerFor = (s: SendSettings, c: CloudConnection): Promise<NodePacer> => {
      if (!pacer) {
        const pending = c
          .slots()
          .then((slots) => new NodePacer(c.phoneNumberId, { messagesPerSecond: s.messagesPerSecond, pairIntervalMs: s.pairIntervalSeconds * 1000, slots }, sleeper));
        // A store that failed to open is tried again by the next message.
        pending.catch(() => {
          if (pacer === pending) pacer = undefined;
        });
        pacer = pending;
      }
      return pacer;
    };

    const templateFor = (s: SendSettings, c: CloudConnection, api: CloudApiClient, override: TemplateOverride | undefined): Promise<TemplateDefinition> => {
      let ref: TemplateRef;
      if (typeof override === 'string') ref = parseTemplateName(override);
      else if (override) ref = { id: override.id, name: override.name, language: override.language };
      else ref = { id: s.templateId || undefined, name: s.templateName || undefined, language: s.templateLanguage || undefined };
      if (!ref.id && !ref.name) throw new Error('No template: pick one in the node, or set msg.template to its name (or { name, language })');
      return c.findTemplate(api, ref);
    };

    /** Editor mappings for this template's variables, then msg.payload.variables on top (all keys, so typos are reported). */
    const valuesFor = async (s: SendSettings, template: TemplateDefinition, msg: NodeMessage): Promise<Record<string, unknown>> => {
      const values: Record<string, unknown> = {};
      const keys = new Set(extractTemplateVariables(template).map((v) => v.key));
      for (const mapping of s.variables) {
        if (!keys.has(mapping.key) || mapping.value === '') continue;
        const value = await evaluate(RED, node, msg, mapping.value, mapping.type);
        if (value !== undefined && value !== null && value !== '') values[mapping.key] = value;
      }
      const payload = msg.payload;
      if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
        const fromMsg = fieldOf(variablesSchema, (payload as Record<string, unknown>).variables, 'msg.payload.variables');
        for (const [key, value] of Object.entries(fromMsg ?? {})) if (value !== undefined) values[key] = value;
      }
      return values;
    };

    const prepare = async (s: SendSettings, c: CloudConnection, api: CloudApiClient, msg: NodeMessage): Promise<Prepared> => {
      const to = await evaluate(RED, node, msg, s.recipient, s.recipientType);
      if ((typeof to !== 'string' && typeof to !== 'number') || String(to).trim() === '') {
        throw new Error(`Recipient is empty: set ${s.recipientType === 'msg' ? `msg.${s.recipient}` : 'the Recipient field'} to the customer's WhatsApp number`);
      }
      const { e164, waId } = normalizePhoneNumber(String(to), s.defaultCountry || undefined);
      const override = fieldOf(templateOverrideSchema, msg.template, 'msg.template');
      const template = await templateFor(s, c, api, override);
      if (template.status !== 'APPROVED') {
        throw new Error(`Template "${template.name}" (${template.language}) is ${template.status}, not APPROVED: Meta only sends approved templates (error 132001)`);
      }

      let message: TemplateObject;
      if (typeof override === 'object' && override.components !== undefined) {
        message = { name: template.name, language: { code: template.language }, components: override.components } as TemplateObject;
        const issue = validateTemplateMessage(template, message);
        if (issue) throw new TemplateValidationError([issue]);
      } else {
        message = buildTemplateMessage(template, await valuesFor(s, template, msg));
      }

      const isMarketing = template.category === 'MARKETING';
      if (isMarketing && isUsNumber(e164) && !s.allowUsMarketing) {
        throw new Error(
          `Not sent: "${template.name}" is a MARKETING template and ${e164} is a US number; Meta withholds marketing templates to US numbers (error 131049). Use a UTILITY template, or tick "Allow marketing to US numbers".`,
        );
      }
      if (isMarketing && s.skipOptedOut) {
        const store = await c.store();
        if (await store.isOptedOut({ phoneNumberId: c.phoneNumberId, waId })) {
          throw new Error(`Not sent: ${e164} stopped marketing messages from this business (recorded from a user_preferences or STOP webhook); Meta would answer 131050`);
        }
      }

      const trackingOverride = fieldOf(trackingOverrideSchema, msg.tracking, 'msg.tracking');
      let tracking: TrackingData | undefined;
      let data: string;
      if (typeof trackingOverride === 'string') {
        data = trackingOverride;
      } else {
        // The flow stands for n8n's workflow, the message id for its execution: the join key back from statuses.
        tracking = {
          workflowId: node.z || undefined,
          executionId: msg._msgid || undefined,
          journey: trackingOverride?.journey ?? (s.journey || undefined),
          step: trackingOverride?.step ?? (s.step || undefined),
          custom: trackingOverride?.custom,
        };
        for (const key of Object.keys(tracking) as Array<keyof TrackingData>) if (tracking[key] === undefined) delete tracking[key];
        data = encodeTracking(tracking);
      }
      return {
        waId,
        recipient: e164,
        request: buildEnvelope(e164, { type: 'template', template: message }, { bizOpaqueCallbackData: data }),
        marketingMessagesApi: isMarketing && s.useMarketingMessagesApi,
        template: { id: template.id, name: template.name, language: template.language, category: template.category },
        tracking,
        bizOpaqueCallbackData: data,
      };
    };

    const handle = async (msg: NodeMessage): Promise<NodeMessage> => {
      if (setupError || !settings || !cloud || !client) throw setupError ?? new Error('WhatsApp Send Template is not configured');
      const p = await prepare(settings, cloud, client, msg);
      if (settings.dryRun) {
        msg.payload = { dryRun: true, recipient: p.recipient, waId: p.waId, template: p.template, request: p.request, marketingMessagesApi: p.marketingMessagesApi };
        return msg;
      }
      const pacer = await pacerFor(settings, cloud);
      const [outcome] = await sendSlots(() =>
        sendBatch([{ itemIndex: 0, waId: p.waId, request: p.request, marketingMessagesApi: p.marketingMessagesApi }], { client: client!, pacer, concurrency: 1 }),
      );
      if (!outcome.ok) {
        // Attempts made, so a Catch flow can tell a first-try refusal from exhausted retries.
        msg.whatsappError = { ...errorDetails(outcome.error), attempts: outcome.retries.length + 1 };
        throw outcome.error;
      }
      msg.payload = {
        messageId: outcome.result.messageId,
        waId: outcome.result.waId ?? p.waId,
        recipient: p.recipient,
        messageStatus: outcome.result.messageStatus,
        template: p.template,
        marketingMessagesApi: p.marketingMessagesApi,
        tracking: p.tracking ?? {},
        bizOpaqueCallbackData: p.bizOpaqueCallbackData,
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
  RED.nodes.registerType('whatsapp-send-template', WhatsAppSendTemplateNode);
}

export = register;
