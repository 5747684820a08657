/**
 * CPU profile of another Node process (the n8n main process) over a chosen interval, through its inspector
 * (`--inspect=127.0.0.1:<port>` in its NODE_OPTIONS) and the Chrome DevTools Protocol: the same sampling profiler
 * as `node --cpu-prof`, but covering one benchmark run instead of n8n's whole life (start-up included).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { summarise } from '../profile-summary';
import type { ProfileSummary } from './profiler';
import { RESULTS_DIR } from './results';

interface CdpMessage {
	id?: number;
	result?: unknown;
	error?: { message: string };
}

class Cdp {
	private nextId = 1;
	private readonly pending = new Map<
		number,
		{ resolve: (v: unknown) => void; reject: (e: Error) => void }
	>();

	private constructor(private readonly ws: WebSocket) {
		ws.addEventListener('message', (event) => {
			const message = JSON.parse(String(event.data)) as CdpMessage;
			if (message.id === undefined) return;
			const waiter = this.pending.get(message.id);
			if (!waiter) return;
			this.pending.delete(message.id);
			if (message.error) waiter.reject(new Error(message.error.message));
			else waiter.resolve(message.result);
		});
	}

	static async connect(inspectPort: number): Promise<Cdp> {
		const targets = (await (
			await fetch(`http://127.0.0.1:${inspectPort}/json/list`)
		).json()) as Array<{ webSocketDebuggerUrl: string }>;
		const url = targets[0]?.webSocketDebuggerUrl;
		if (!url) throw new Error(`no inspector target on port ${inspectPort}`);
		const ws = new WebSocket(url);
		await new Promise<void>((resolve, reject) => {
			ws.addEventListener('open', () => resolve(), { once: true });
			ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), {
				once: true,
			});
		});
		return new Cdp(ws);
	}

	send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
		const id = this.nextId++;
		this.ws.send(JSON.stringify({ id, method, params }));
		return new Promise<T>((resolve, reject) =>
			this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }),
		);
	}

	close(): void {
		this.ws.close();
	}
}

/** Profiles the process behind `inspectPort` while `fn` runs; writes bench/results/profiles/<name>.cpuprofile. */
export async function profileRemote<T>(
	inspectPort: number,
	name: string,
	fn: () => Promise<T>,
): Promise<{ value: T; summary: ProfileSummary }> {
	const cdp = await Cdp.connect(inspectPort);
	try {
		await cdp.send('Profiler.enable');
		await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
		await cdp.send('Profiler.start');
		const value = await fn();
		const { profile } = await cdp.send<{ profile: Parameters<typeof summarise>[0] }>(
			'Profiler.stop',
		);
		const dir = path.join(RESULTS_DIR, 'profiles');
		mkdirSync(dir, { recursive: true });
		const file = path.join(dir, `${name}.cpuprofile`);
		writeFileSync(file, JSON.stringify(profile));
		const all = summarise(profile, 600);
		const interesting = (fn: string): boolean =>
			/n8n-nodes-whatsapp-journeys|n8n-core|n8n-workflow|~\/n8n\/|backend-network|typeorm|pg\/|cipher|crypto|credentials|garbage/i.test(
				fn,
			);
		return {
			value,
			summary: {
				file: path.relative(path.resolve(RESULTS_DIR, '..', '..'), file),
				sampledMs: all.sampledMs,
				self: all.self.slice(0, 20),
				inclusive: all.total.filter((l) => interesting(l.fn)).slice(0, 60),
			},
		};
	} finally {
		cdp.close();
	}
}
