import {
	httpStatusForCode,
	metaErrorBody,
	describeMetaError,
	type MetaErrorBody,
} from '../core/errors';
import type { SandboxConfig } from './options';
import type { Rng } from './rng';
import type { SandboxState } from './state';
import type { WorkTracker } from './tracker';
import type { WebhookDispatcher } from './webhooks';

/** What every handler needs: configuration, memory, randomness, pending work and the webhook sender. */
export interface SandboxContext {
	config: SandboxConfig;
	state: SandboxState;
	rng: Rng;
	tracker: WorkTracker;
	webhooks: WebhookDispatcher;
	/** `http://127.0.0.1:<port>` once listening (for paging links and media URLs). */
	baseUrl: string;
	newWamid(waId: string): string;
	newNumericId(): string;
}

/** An answer a handler wants written: HTTP status, JSON body, and the Meta code when it is an error. */
export interface ApiAnswer {
	status: number;
	body: unknown;
	code?: number;
	phoneNumberId?: string;
	to?: string;
	messageId?: string;
}

export interface GraphErrorOptions {
	details?: string;
	subcode?: number;
	type?: string;
	status?: number;
	/**
	 * Graph-level errors (unknown object, bad path, appsecret_proof) have no WhatsApp `error_data`
	 * and no "(#code)" prefix added by us.
	 */
	graphLevel?: boolean;
}

export function fbtraceId(rng: Rng): string {
	return Buffer.from(rng.hex(12), 'hex').toString('base64').replace(/[+/=]/g, 'A');
}

/** Meta's error answer for `code`, built by the one error catalogue in core/errors. */
export function graphError(
	ctx: Pick<SandboxContext, 'rng'>,
	code: number,
	message: string,
	options: GraphErrorOptions = {},
): ApiAnswer {
	const body: MetaErrorBody = metaErrorBody(code, message, options.details, fbtraceId(ctx.rng));
	if (options.type) body.error.type = options.type;
	if (options.subcode !== undefined) body.error.error_subcode = options.subcode;
	if (options.graphLevel) {
		body.error.message = message;
		delete body.error.error_data;
	}
	return { status: options.status ?? httpStatusForCode(code), body, code };
}

/** A WhatsApp error whose message is Meta's title for the code. */
export function whatsappError(
	ctx: Pick<SandboxContext, 'rng'>,
	code: number,
	details?: string,
): ApiAnswer {
	return graphError(ctx, code, describeMetaError(code).title, { details });
}

export function unknownObject(
	ctx: Pick<SandboxContext, 'rng'>,
	method: string,
	id: string,
): ApiAnswer {
	return graphError(
		ctx,
		100,
		`Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
		{ subcode: 33, type: 'GraphMethodException', graphLevel: true },
	);
}

export function ok(body: unknown, extra: Omit<ApiAnswer, 'status' | 'body'> = {}): ApiAnswer {
	return { status: 200, body, ...extra };
}
