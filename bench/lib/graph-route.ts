/**
 * Routes graph.facebook.com to the local sandbox for one benchmark, so that n8n's built-in WhatsApp node (whose
 * base URL is fixed to https://graph.facebook.com/v13.0) can be measured without modifying n8n:
 *
 * - a throwaway CA and a certificate for graph.facebook.com made with `openssl` in a temp dir (given to n8n via
 *   NODE_EXTRA_CA_CERTS; the sandbox's TLS listener on 127.0.0.1:443 presents the certificate);
 * - a line `127.0.0.1 graph.facebook.com` appended to /etc/hosts, removed again in `finally` and, should the bench
 *   die, by the exit hook;
 * - a guard that resolves the name the way every process on the machine will (dns.lookup → getaddrinfo, which
 *   reads /etc/hosts) and aborts unless every address is loopback: benchmark traffic never leaves this machine.
 */
import { execFileSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { onCleanup } from './cleanup';

export const GRAPH_HOST = 'graph.facebook.com';
const HOSTS_FILE = '/etc/hosts';

export interface ThrowawayCa {
	dir: string;
	caFile: string;
	certFile: string;
	keyFile: string;
	remove(): Promise<void>;
}

/** CA + server certificate for `host`, valid one day, in a fresh temp dir. */
export function makeThrowawayCa(host = GRAPH_HOST): ThrowawayCa {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-ca-'));
	const file = (name: string): string => path.join(dir, name);
	const openssl = (args: string[]): void => {
		execFileSync('openssl', args, {
			cwd: dir,
			stdio: ['ignore', 'ignore', 'pipe'],
			timeout: 60_000,
		});
	};
	openssl([
		'req',
		'-x509',
		'-newkey',
		'rsa:2048',
		'-nodes',
		'-days',
		'1',
		'-keyout',
		file('ca.key'),
		'-out',
		file('ca.crt'),
		'-subj',
		'/CN=n8n-nodes-whatsapp-journeys bench throwaway CA',
		'-addext',
		'basicConstraints=critical,CA:TRUE',
		'-addext',
		'keyUsage=critical,keyCertSign,cRLSign',
	]);
	openssl([
		'req',
		'-newkey',
		'rsa:2048',
		'-nodes',
		'-keyout',
		file('server.key'),
		'-out',
		file('server.csr'),
		'-subj',
		`/CN=${host}`,
	]);
	writeFileSync(
		file('server.ext'),
		`subjectAltName=DNS:${host}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
	);
	openssl([
		'x509',
		'-req',
		'-in',
		file('server.csr'),
		'-CA',
		file('ca.crt'),
		'-CAkey',
		file('ca.key'),
		'-CAcreateserial',
		'-days',
		'1',
		'-out',
		file('server.crt'),
		'-extfile',
		file('server.ext'),
	]);
	const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
	const remove = onCleanup(`throwaway CA ${dir}`, removeDir, removeDir);
	return {
		dir,
		caFile: file('ca.crt'),
		certFile: file('server.crt'),
		keyFile: file('server.key'),
		remove,
	};
}

function isLoopback(address: string): boolean {
	if (isIP(address) === 4) return address.startsWith('127.');
	return address === '::1' || address === '::ffff:127.0.0.1' || /^::ffff:127\./.test(address);
}

/** Throws unless `host` resolves (as any process here would resolve it) to loopback addresses only. */
export async function assertResolvesToLoopback(host = GRAPH_HOST): Promise<string[]> {
	let addresses: string[];
	try {
		addresses = (await lookup(host, { all: true })).map((a) => a.address);
	} catch (error) {
		throw new Error(
			`${host} does not resolve (${error instanceof Error ? error.message : String(error)}); refusing to start the benchmark`,
		);
	}
	const outside = addresses.filter((a) => !isLoopback(a));
	if (addresses.length === 0 || outside.length > 0) {
		throw new Error(
			`${host} resolves to ${addresses.join(', ')}: not loopback only. Aborting so no benchmark request can leave this machine.`,
		);
	}
	return addresses;
}

/** Appends `127.0.0.1 <host>` to /etc/hosts (tagged with this pid) and returns its undo. */
export function addHostsEntry(host = GRAPH_HOST): () => Promise<void> {
	const marker = `# n8n-nodes-whatsapp-journeys bench pid ${process.pid}`;
	const line = `127.0.0.1 ${host} ${marker}`;
	const current = readFileSync(HOSTS_FILE, 'utf8');
	appendFileSync(HOSTS_FILE, `${current.endsWith('\n') || current === '' ? '' : '\n'}${line}\n`);
	const removeLine = (): void => {
		// Rewritten in place (not renamed over): /etc/hosts is often a bind mount in containers.
		const text = readFileSync(HOSTS_FILE, 'utf8');
		const kept = text.split('\n').filter((l) => !l.includes(marker));
		writeFileSync(HOSTS_FILE, kept.join('\n'));
	};
	return onCleanup(`/etc/hosts entry for ${host}`, removeLine, removeLine);
}
