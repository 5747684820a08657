/**
 * Template definitions, cached. Graph calls on a WABA are rate limited (200/h per app per WABA), so definitions are
 * fetched once per WABA and TTL — never once per item — and shared by every execution in the process.
 */
import { TtlCache } from './cache';
import { templateDefinitionSchema } from './templates';
import type { TemplateDefinition } from './templates';

export interface TemplateSource {
	/** Every APPROVED (and other) template of the WABA, raw Graph items. */
	listAllTemplates(): Promise<unknown[]>;
}

export interface TemplateCacheOptions {
	ttlMs: number;
	/** After a miss, refetch at most this often (a template approved a minute ago should appear without waiting a TTL). */
	missRefreshMs: number;
	now?: () => number;
}

export interface TemplateRef {
	id?: string;
	name?: string;
	language?: string;
}

/** "order_update" or "order_update (en_US)", as people copy it from WhatsApp Manager. */
export function parseTemplateName(text: string): TemplateRef {
	const match = /^(.+?)\s*\(([A-Za-z_]+)\)$/.exec(text.trim());
	return match ? { name: match[1], language: match[2] } : { name: text.trim() };
}

export class TemplateNotFoundError extends Error {
	constructor(
		message: string,
		readonly available: string[],
	) {
		super(message);
		this.name = 'TemplateNotFoundError';
	}
}

function parseDefinitions(raw: unknown[]): TemplateDefinition[] {
	const templates: TemplateDefinition[] = [];
	for (const item of raw) {
		const parsed = templateDefinitionSchema.safeParse(item);
		// One odd template must not hide the others; it simply cannot be chosen.
		if (parsed.success) templates.push(parsed.data);
	}
	return templates;
}

export class TemplateCache {
	private readonly cache: TtlCache<TemplateDefinition[]>;

	constructor(
		private readonly options: TemplateCacheOptions = { ttlMs: 5 * 60_000, missRefreshMs: 30_000 },
	) {
		this.cache = new TtlCache(options.ttlMs, { now: options.now });
	}

	/** Parsed definitions of one WABA (cache key: base URL + WABA id, so sandbox and Meta never mix). */
	list(key: string, source: TemplateSource, force = false): Promise<TemplateDefinition[]> {
		return this.cache.get(key, () => source.listAllTemplates().then(parseDefinitions), {
			fresh: force,
		});
	}

	/**
	 * Find a template by id, or by name (+ language code). A miss triggers one refetch (rate limited) before failing
	 * with the list of what exists.
	 */
	async find(
		key: string,
		source: TemplateSource,
		ref: { id?: string; name?: string; language?: string },
	): Promise<TemplateDefinition> {
		const match = (list: TemplateDefinition[]): TemplateDefinition | TemplateNotFoundError => {
			if (ref.id) {
				const byId = list.find((t) => t.id === ref.id);
				if (byId) return byId;
			}
			if (ref.name) {
				const named = list.filter((t) => t.name === ref.name);
				const chosen = ref.language
					? named.find((t) => t.language === ref.language)
					: named.length === 1
						? named[0]
						: undefined;
				if (chosen) return chosen;
				if (named.length > 1 && !ref.language) {
					return new TemplateNotFoundError(
						`Template "${ref.name}" exists in ${named.length} languages (${named.map((t) => t.language).join(', ')}): choose the language`,
						named.map((t) => `${t.name} (${t.language})`),
					);
				}
			}
			const wanted = ref.id
				? `with ID ${ref.id}`
				: `"${ref.name ?? ''}"${ref.language ? ` in ${ref.language}` : ''}`;
			return new TemplateNotFoundError(
				`No template ${wanted} in this WhatsApp Business Account. Check the name and language in WhatsApp Manager, or pick it from the list`,
				list.map((t) => `${t.name} (${t.language}, ${t.status})`),
			);
		};
		let result = match(await this.list(key, source));
		if (result instanceof TemplateNotFoundError) {
			const age = this.cache.age(key);
			if (age === undefined || age >= this.options.missRefreshMs) {
				result = match(await this.list(key, source, true));
			}
		}
		if (result instanceof TemplateNotFoundError) throw result;
		return result;
	}
}

let processCache: TemplateCache | undefined;
export function processTemplateCache(): TemplateCache {
	processCache ??= new TemplateCache();
	return processCache;
}
