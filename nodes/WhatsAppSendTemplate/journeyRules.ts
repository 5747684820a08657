/**
 * The "Journey Rules" options of both send operations: how the node's settings map onto core's JourneyRules. The
 * rules themselves (what a step key is, caps, quiet hours, guards) are core's (core/journeys/rules.ts); this file
 * only reads parameters.
 */
import { NodeOperationError } from 'n8n-workflow';
import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';

import { journeyRulesSchema } from '../../core';
import type { JourneyRules } from '../../core';
import type { ParameterReader } from '../shared/parameters';

const categoryOptions = [
	{ name: 'Marketing', value: 'MARKETING' },
	{ name: 'Utility', value: 'UTILITY' },
	{ name: 'Authentication', value: 'AUTHENTICATION' },
];

export const journeyRulesProperty: INodeProperties = {
	displayName: 'Journey Rules',
	name: 'journeyRules',
	type: 'collection',
	placeholder: 'Add Rule',
	default: {},
	description:
		'Rules checked for each item before its message leaves; an item a rule stops is not sent and says why in "policy"',
	options: [
		{
			displayName: 'Frequency Cap',
			name: 'frequencyCap',
			type: 'fixedCollection',
			default: {},
			description:
				'At most this many messages per customer in a rolling period, counted across all journeys and workflows that share the state store',
			options: [
				{
					displayName: 'Cap',
					name: 'cap',
					values: [
						{
							displayName: 'Max Messages per Customer',
							name: 'maxMessages',
							type: 'number',
							typeOptions: { minValue: 1 },
							default: 2,
						},
						{
							displayName: 'Period (Hours)',
							name: 'periodHours',
							type: 'number',
							typeOptions: { minValue: 1 },
							default: 168,
							description: 'Rolling window; 168 hours is 7 days',
						},
						{
							displayName: 'Categories',
							name: 'categories',
							type: 'multiOptions',
							options: categoryOptions,
							default: ['MARKETING'],
							description: 'Template categories that count and are capped',
						},
					],
				},
			],
		},
		{
			displayName: 'Messaging Limit Guard',
			name: 'messagingLimitGuard',
			type: 'boolean',
			default: true,
			description:
				"Whether to stop before Meta's messaging limit (unique customers reached with business-initiated messages per rolling 24 hours) instead of letting Meta refuse",
		},
		{
			displayName: 'Occurrence Key',
			name: 'occurrenceKey',
			type: 'string',
			default: '',
			placeholder: '={{ $json.orderId }}',
			description:
				'Makes each occurrence of the step its own: e.g. the order ID, so a customer gets one confirmation per order. Empty: once per customer for the journey step.',
		},
		{
			displayName: 'Once per Step',
			name: 'oncePerStep',
			type: 'boolean',
			default: true,
			description:
				'Whether a customer gets this journey step (Journey + Journey Step, or this node in this execution when they are empty) only once, also after Retry On Fail, a crash or a re-run',
		},
		{
			displayName: 'Quality Guard',
			name: 'qualityGuard',
			type: 'boolean',
			default: true,
			description:
				'Whether MARKETING sends stop while Meta rates the number RED or flags it, or has paused or disabled the template',
		},
		{
			displayName: 'Quiet Hours',
			name: 'quietHours',
			type: 'fixedCollection',
			default: {},
			description:
				"Hours in the customer's local time (from their phone number) when messages are not sent",
			options: [
				{
					displayName: 'Hours',
					name: 'hours',
					values: [
						{
							displayName: 'End',
							name: 'end',
							type: 'string',
							default: '08:00',
							placeholder: '08:00',
							description: 'Local time (HH:mm) from which sending is allowed again',
						},
						{
							displayName: 'Exempt Categories',
							name: 'exemptCategories',
							type: 'multiOptions',
							options: categoryOptions,
							default: ['AUTHENTICATION', 'UTILITY'],
						},
						{
							displayName: 'Start',
							name: 'start',
							type: 'string',
							default: '21:00',
							placeholder: '21:00',
							description: 'Local time (HH:mm) from which nothing is sent',
						},
						{
							displayName: 'Time Zone',
							name: 'timeZone',
							type: 'string',
							default: '',
							placeholder: '={{ $json.timeZone }}',
							description:
								'IANA time zone (e.g. America/Chicago) used instead of the one the phone number implies; may differ per item. Empty: from the number (where a country spans zones, the output says which was assumed).',
						},
						{
							displayName: 'When Outside',
							name: 'whenOutside',
							type: 'options',
							options: [
								{
									name: 'Hold',
									value: 'hold',
									description:
										'The execution waits until the earliest allowed time of the held items, then sends them',
								},
								{
									name: 'Skip',
									value: 'skip',
									description: 'Route the item out with policy.resumeAt (e.g. to a Wait node)',
								},
							],
							default: 'hold',
						},
					],
				},
			],
		},
		{
			displayName: 'Re-Entry Period (Hours)',
			name: 'reentryPeriodHours',
			type: 'number',
			typeOptions: { minValue: 0 },
			default: 0,
			description:
				'After this many hours the same customer may receive the step again. 0: once per occurrence, for as long as the state store keeps the step (see README).',
		},
		{
			displayName: 'Resend When Step Outcome Unknown',
			name: 'retryWhenOutcomeUnknown',
			type: 'boolean',
			default: false,
			description:
				'Whether to send again when an earlier attempt of this step may have reached Meta (crash or timeout after the request left, no status since). The customer could get it twice.',
		},
	],
};

interface RawRules {
	oncePerStep?: boolean;
	reentryPeriodHours?: number;
	retryWhenOutcomeUnknown?: boolean;
	messagingLimitGuard?: boolean;
	qualityGuard?: boolean;
	frequencyCap?: { cap?: { maxMessages?: number; periodHours?: number; categories?: string[] } };
	quietHours?: {
		hours?: {
			start?: string;
			end?: string;
			timeZone?: string;
			exemptCategories?: string[];
			whenOutside?: string;
		};
	};
}

/**
 * The rules of this run, read once (item 0) and validated by core: they shape the gate built once per execution.
 * The per-item parts (occurrence key, time zone) are read per item by `itemRuleInputs`.
 */
export function readJourneyRules(ctx: IExecuteFunctions): JourneyRules {
	const raw = ctx.getNodeParameter('journeyRules', 0, {}) as RawRules;
	const cap = raw.frequencyCap?.cap;
	const quiet = raw.quietHours?.hours;
	const candidate = {
		oncePerStep: raw.oncePerStep,
		reentryPeriodHours: raw.reentryPeriodHours,
		retryWhenOutcomeUnknown: raw.retryWhenOutcomeUnknown,
		messagingLimitGuard: raw.messagingLimitGuard,
		qualityGuard: raw.qualityGuard,
		frequencyCap: cap
			? {
					maxMessages: cap.maxMessages ?? 2,
					periodHours: cap.periodHours ?? 168,
					categories: cap.categories ?? ['MARKETING'],
				}
			: undefined,
		quietHours: quiet
			? {
					start: quiet.start ?? '21:00',
					end: quiet.end ?? '08:00',
					exemptCategories: quiet.exemptCategories ?? ['AUTHENTICATION', 'UTILITY'],
					whenOutside: quiet.whenOutside ?? 'hold',
				}
			: undefined,
	};
	const parsed = journeyRulesSchema.safeParse(candidate);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		throw new NodeOperationError(
			ctx.getNode(),
			`Journey Rules → ${issue.path.join(' → ')}: ${issue.message}`,
		);
	}
	return parsed.data;
}

/** What differs per item: the occurrence and the customer's time zone. */
export function itemRuleInputs(
	param: ParameterReader,
	itemIndex: number,
): { occurrenceKey?: string; timeZone?: string } {
	const occurrence = param<unknown>('journeyRules.occurrenceKey', itemIndex, '');
	const timeZone = param<string>('journeyRules.quietHours.hours.timeZone', itemIndex, '');
	return {
		occurrenceKey:
			occurrence === undefined || occurrence === null || occurrence === ''
				? undefined
				: String(occurrence),
		timeZone: timeZone || undefined,
	};
}
