/**
 * The large-campaign example (examples/large-campaign-*.json, README "Scaling: one process or queue mode") is wired as
 * the README says, before any n8n runs it: chunks reach the chunk workflow through its production webhook, only chunk
 * descriptors travel, and the send node shares the number's limit and journey state through Redis. The real-n8n run is
 * test/e2e/queue-campaign.e2e.test.ts.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { INodeProperties } from 'n8n-workflow';
import { WhatsAppSendTemplate } from '../../nodes/WhatsAppSendTemplate/WhatsAppSendTemplate.node';
import { CHUNK_WEBHOOK_PATH, LARGE_CAMPAIGN_FILES, planChunks } from '../../harness/large-campaign';
import { jsonFieldPath } from '../../nodes/shared/parameters';

interface Node {
	name: string;
	type: string;
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string; name: string }>;
}
interface Workflow {
	name: string;
	nodes: Node[];
	connections: Record<string, { main: Array<Array<{ node: string }>> }>;
}

const load = (file: string): Workflow =>
	JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'examples', file), 'utf8')) as Workflow;
const dispatch = load(LARGE_CAMPAIGN_FILES.dispatch);
const chunk = load(LARGE_CAMPAIGN_FILES.chunk);
const node = (w: Workflow, name: string): Node => {
	const found = w.nodes.find((n) => n.name === name);
	if (!found) throw new Error(`${w.name} has no node ${name}`);
	return found;
};

describe('large-campaign example', () => {
	it.each([dispatch, chunk])('$name: every connection joins nodes that exist, in one line', (w) => {
		const names = new Set(w.nodes.map((n) => n.name));
		for (const [from, { main }] of Object.entries(w.connections)) {
			expect(names.has(from)).toBe(true);
			for (const target of main.flat()) expect(names.has(target.node)).toBe(true);
		}
		// A straight line: every node but the first is reached once.
		expect(Object.keys(w.connections)).toHaveLength(w.nodes.length - 1);
	});

	it("posts each chunk to the chunk workflow's production webhook, which answers at once", () => {
		const hook = node(chunk, 'Chunk');
		expect(hook.type).toBe('n8n-nodes-base.webhook');
		expect(hook.parameters).toMatchObject({
			httpMethod: 'POST',
			path: CHUNK_WEBHOOK_PATH,
			responseMode: 'onReceived',
		});
		const settings = (
			node(dispatch, 'Campaign settings').parameters.assignments as {
				assignments: Array<{ name: string; value: unknown }>;
			}
		).assignments;
		const url = settings.find((a) => a.name === 'chunkWebhookUrl')?.value;
		expect(url).toBe(`http://localhost:5678/webhook/${CHUNK_WEBHOOK_PATH}`);
		expect(settings.find((a) => a.name === 'chunkSize')?.value).toBe(1000);
		expect(node(dispatch, 'Start chunk').parameters).toMatchObject({ method: 'POST' });
		// Only the chunk's place travels; the chunk reads its own recipients.
		expect(String(node(dispatch, 'Start chunk').parameters.jsonBody)).not.toMatch(/phone/);
		expect(String(node(chunk, 'Read chunk').parameters.query)).toMatch(/LIMIT \$2 OFFSET \$3/);
	});

	it.each([1, 999, 5000, 25_000, 100_000, 100_003])(
		'plans %i recipients as chunks that cover each one once, in order',
		(recipients) => {
			const plan = planChunks(recipients, 1000);
			let next = 0;
			for (const [i, c] of plan.entries()) {
				expect(c).toMatchObject({ offset: next, chunk: i + 1 });
				expect(c.limit).toBeGreaterThan(0);
				next += c.limit;
			}
			expect(next).toBe(recipients);
		},
	);

	it('varies chunk sizes so that chunks started together do not end together (bench K lost 1 s per wave of equal chunks)', () => {
		const sizes = planChunks(100_000, 1000).map((c) => c.limit);
		// Memory per worker stays bounded by the chunk size: no chunk over 1½ of it, none under ½ (but the last).
		expect(Math.max(...sizes)).toBeLessThanOrEqual(1500);
		expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThanOrEqual(500);
		// Every run of 16 chunks in a row (two waves of 2 workers × --concurrency 4) holds 16 different sizes.
		for (let i = 0; i + 16 <= sizes.length - 1; i++)
			expect(new Set(sizes.slice(i, i + 16)).size).toBe(16);
		// And the plan averages the chunk size: about 100 chunks for 100,000 recipients.
		expect(sizes.length).toBeGreaterThanOrEqual(98);
		expect(sizes.length).toBeLessThanOrEqual(102);
	});

	it('gives the send node no per-item expression but `{{ $json.field }}`, which it reads without n8n evaluating it', () => {
		// n8n 2.40 evaluates every other expression in an isolated VM, per item: in bench K's worker profile the old
		// mapper and journey expressions took about 35 % of each worker's profile at 1,000 msg/s.
		const send = chunk.nodes.find(
			(n) => n.type === 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate',
		);
		const expressions: string[] = [];
		const walk = (value: unknown): void => {
			if (typeof value === 'string' && value.startsWith('=')) expressions.push(value);
			else if (value && typeof value === 'object') Object.values(value).forEach(walk);
		};
		walk(send?.parameters);
		expect(expressions.length).toBeGreaterThan(0);
		for (const expression of expressions) expect(jsonFieldPath(expression)).toBeDefined();
		// The query names its columns after the template's variables: the node maps them automatically.
		expect(send?.parameters.variables).toMatchObject({ mappingMode: 'autoMapInputData' });
		expect(String(node(chunk, 'Read chunk').parameters.query)).toMatch(
			/AS header_text_store_name.*AS body_first_name.*AS body_end_date.*AS body_points/,
		);
	});

	it('sends with the Redis store, a journey and a step, and only options the node has', () => {
		const send = chunk.nodes.find(
			(n) => n.type === 'n8n-nodes-whatsapp-journeys.whatsAppSendTemplate',
		);
		expect(send?.parameters.stateStore).toBe('redis');
		expect(Object.keys(send?.credentials ?? {}).sort()).toEqual(['metaWhatsAppCloudApi', 'redis']);
		const options = send?.parameters.options as Record<string, unknown>;
		expect(options.journey).toBeTruthy();
		expect(options.step).toBe('announcement');
		const described = new WhatsAppSendTemplate().description.properties;
		const known = new Set(
			described
				.filter((p) => p.name === 'options')
				.flatMap((p) => (p.options ?? []) as INodeProperties[])
				.map((o) => o.name),
		);
		for (const name of Object.keys(options)) expect(known).toContain(name);
		const topLevel = new Set(described.map((p) => p.name));
		for (const name of Object.keys(send?.parameters ?? {})) expect(topLevel).toContain(name);
	});
});
