import { homedir } from 'node:os';
import { join } from 'node:path';

import type { ICredentialDataDecryptedObject, INodeProperties } from 'n8n-workflow';

import { sharedStateStore, storeFilePath, z } from '../../core';
import type { JourneyStateStore, StoreSettings } from '../../core';
import { RecentReadings } from './credentials';
import type { N8nContext } from './transport';

/**
 * The journey state store as the three nodes see it. The defaults match across nodes, so a trigger and a check
 * node dropped into two workflows share windows, de-duplication and opt-outs without any setting.
 */
export const stateStoreProperties: INodeProperties[] = [
	{
		displayName: 'State Store',
		name: 'stateStore',
		type: 'options',
		options: [
			{
				name: 'Embedded (SQLite File)',
				value: 'embedded',
				description:
					'Zero configuration: one file in the n8n user folder. For a single n8n instance.',
			},
			{
				name: 'Redis',
				value: 'redis',
				description:
					'For queue mode and several n8n instances: every worker sees the same windows, de-duplication and limits',
			},
		],
		default: 'embedded',
		description:
			'Where conversation windows, delivered statuses, webhook de-duplication and opt-outs are kept. Use the same store in the trigger and the action nodes.',
	},
	{
		displayName: 'Store File Path',
		name: 'storePath',
		type: 'string',
		default: '',
		placeholder: '~/.n8n/whatsapp-journeys.sqlite',
		description:
			'Leave empty for the default file in the n8n user folder, shared by every workflow',
		displayOptions: { show: { stateStore: ['embedded'] } },
	},
	{
		displayName: 'Redis Key Prefix',
		name: 'redisKeyPrefix',
		type: 'string',
		default: 'wj:',
		description:
			'Prefix of every key this package writes, so several environments can share one Redis',
		displayOptions: { show: { stateStore: ['redis'] } },
	},
];

const redisCredentialSchema = z.object({
	host: z.string().min(1, 'Redis host is empty').default('localhost'),
	port: z.coerce.number().int().positive().default(6379),
	password: z.string().optional(),
	user: z.string().optional(),
	database: z.coerce.number().int().min(0).default(0),
	ssl: z.boolean().optional(),
});

export function defaultStorePath(): string {
	// n8n keeps its own data in <N8N_USER_FOLDER or home>/.n8n; the store file lives beside it.
	return join(process.env.N8N_USER_FOLDER ?? homedir(), '.n8n', 'whatsapp-journeys.sqlite');
}

const redisReadings = new RecentReadings<ICredentialDataDecryptedObject>(30_000);

/** One store per configuration per process, reused by every execution (connections are not per item). */
export async function getStateStore(ctx: N8nContext, itemIndex = 0): Promise<JourneyStateStore> {
	return sharedStateStore(await stateStoreSettings(ctx, itemIndex));
}

/** The node's store settings as plain data (the receiver's worker thread opens its own connection with them). */
export async function stateStoreSettings(ctx: N8nContext, itemIndex = 0): Promise<StoreSettings> {
	const getParam = (name: string, fallback: string): string => {
		const value = (
			ctx as { getNodeParameter(n: string, i: number, d: string): unknown }
		).getNodeParameter(name, itemIndex, fallback);
		return typeof value === 'string' ? value : fallback;
	};
	const backend = getParam('stateStore', 'embedded');
	if (backend === 'redis') {
		// The trigger asks for its store on every POST: reuse the Redis credential reading as it reuses Meta's.
		const credentialId = ctx.getNode().credentials?.redis?.id;
		const raw = credentialId
			? await redisReadings.get(credentialId, () => ctx.getCredentials('redis'))
			: await ctx.getCredentials('redis');
		const parsed = redisCredentialSchema.safeParse(raw);
		if (!parsed.success) {
			throw new Error(
				`Redis credential: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`,
			);
		}
		const c = parsed.data;
		// Shared by settings that match in everything, password and TLS included (see storeSettingsKey).
		return {
			backend: 'redis',
			redis: {
				host: c.host,
				port: c.port,
				password: c.password || undefined,
				username: c.user || undefined,
				db: c.database,
				tls: c.ssl === true,
			},
			keyPrefix: getParam('redisKeyPrefix', 'wj:'),
		};
	}
	// A user-given path follows n8n's file-access rules (N8N_RESTRICT_FILE_ACCESS_TO and friends).
	const path = storeFilePath(getParam('storePath', ''), defaultStorePath());
	return { backend: 'embedded', path };
}
