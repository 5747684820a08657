import { createHmac } from 'node:crypto';
import type { TemplateDefinition } from '../../core/templates';
import type { Sandbox } from '../../sandbox';
import {
	APP_SECRET,
	CallbackReceiver,
	TEST_TEMPLATES,
	TOKEN,
	VERSION,
	api,
	bodyAs,
	control,
	errorOf,
	start,
} from './helpers';

describe('sandbox Graph API: auth, paths and nodes', () => {
	let sandbox: Sandbox;
	beforeAll(async () => {
		sandbox = await start();
	});
	afterAll(() => sandbox.close());
	beforeEach(() => sandbox.reset());

	const phonePath = () => `/${sandbox.config.phoneNumberId}`;

	it('answers 401 with code 190 (OAuthException) for a wrong bearer token', async () => {
		const res = await api(sandbox, 'GET', phonePath(), undefined, { token: 'not-the-token' });
		expect(res.status).toBe(401);
		const error = errorOf(res);
		expect(error.code).toBe(190);
		expect(error.type).toBe('OAuthException');
		expect(error.error_data).toBeUndefined();
	});

	it('answers 401 with code 190 when no token is sent at all', async () => {
		const res = await api(sandbox, 'POST', `${phonePath()}/messages`, {}, { token: null });
		expect(res.status).toBe(401);
		expect(errorOf(res).code).toBe(190);
	});

	it('accepts the token as access_token query parameter too, like Graph', async () => {
		const res = await api(
			sandbox,
			'GET',
			`${sandbox.url}/${VERSION}${phonePath()}?access_token=${TOKEN}`,
			undefined,
			{ token: null },
		);
		expect(res.status).toBe(200);
	});

	it('checks appsecret_proof: the HMAC-SHA256 of the token keyed with the app secret passes, anything else is code 100', async () => {
		const proof = createHmac('sha256', APP_SECRET).update(TOKEN).digest('hex');
		const good = await api(sandbox, 'GET', `${phonePath()}?appsecret_proof=${proof}`);
		expect(good.status).toBe(200);

		const wrong = createHmac('sha256', 'another-secret').update(TOKEN).digest('hex');
		const bad = await api(sandbox, 'GET', `${phonePath()}?appsecret_proof=${wrong}`);
		expect(bad.status).toBe(400);
		const error = errorOf(bad);
		expect(error.code).toBe(100);
		expect(error.message).toMatch(/appsecret_proof/);
	});

	it('accepts every current Graph version and refuses unknown ones with code 2500', async () => {
		for (const version of ['v21.0', 'v22.0', 'v23.0', 'v24.0', 'v25.0', 'v26.0']) {
			const res = await api(sandbox, 'GET', `${sandbox.url}/${version}${phonePath()}`);
			expect(res.status).toBe(200);
		}
		const res = await api(sandbox, 'GET', `${sandbox.url}/v99.0${phonePath()}`);
		expect(res.status).toBe(400);
		expect(errorOf(res).code).toBe(2500);
		const unversioned = await api(sandbox, 'GET', `${sandbox.url}${phonePath()}`);
		expect(errorOf(unversioned).code).toBe(2500);
	});

	it('answers an unknown phone number id or WABA id with code 100, subcode 33 (GraphMethodException)', async () => {
		for (const path of [
			'/999999999999/messages',
			'/999999999999/message_templates',
			'/999999999999',
		]) {
			const res = await api(
				sandbox,
				path.endsWith('messages') ? 'POST' : 'GET',
				path,
				path.endsWith('messages') ? {} : undefined,
			);
			expect(res.status).toBe(400);
			const error = errorOf(res);
			expect(error.code).toBe(100);
			expect(error.error_subcode).toBe(33);
			expect(error.type).toBe('GraphMethodException');
			expect(error.message).toContain("Object with ID '999999999999' does not exist");
		}
	});

	it('describes the business phone number with Meta default fields, and only the requested ones with `fields`', async () => {
		const all = await api(sandbox, 'GET', phonePath());
		expect(all.status).toBe(200);
		expect(all.body).toEqual(
			expect.objectContaining({
				id: sandbox.config.phoneNumberId,
				verified_name: sandbox.config.verifiedName,
				display_phone_number: expect.stringMatching(/^\+1 555-078-3881$/),
				quality_rating: 'GREEN',
				code_verification_status: 'VERIFIED',
				throughput: { level: 'STANDARD' },
			}),
		);
		const some = await api(sandbox, 'GET', `${phonePath()}?fields=verified_name,throughput`);
		expect(some.body).toEqual({
			verified_name: sandbox.config.verifiedName,
			throughput: { level: 'STANDARD' },
			id: sandbox.config.phoneNumberId,
		});

		const unknown = await api(sandbox, 'GET', `${phonePath()}?fields=favourite_colour`);
		expect(unknown.status).toBe(400);
		expect(errorOf(unknown).message).toContain('nonexisting field (favourite_colour)');
	});

	it('lists the WABA phone numbers', async () => {
		const res = await api(sandbox, 'GET', `/${sandbox.config.wabaId}/phone_numbers`);
		expect(bodyAs<{ data: Array<{ id: string }> }>(res).data.map((p) => p.id)).toEqual([
			sandbox.config.phoneNumberId,
		]);
	});

	it('stores an uploaded media file and describes it by id', async () => {
		const form = new FormData();
		form.append('messaging_product', 'whatsapp');
		form.append('type', 'image/png');
		form.append(
			'file',
			new Blob([Buffer.from('fake-png-bytes')], { type: 'image/png' }),
			'pic.png',
		);
		const upload = await fetch(`${sandbox.url}/${VERSION}${phonePath()}/media`, {
			method: 'POST',
			headers: { authorization: `Bearer ${TOKEN}` },
			body: form,
		});
		expect(upload.status).toBe(200);
		const { id } = (await upload.json()) as { id: string };
		expect(id).toMatch(/^\d+$/);

		const info = await api(sandbox, 'GET', `/${id}`);
		expect(info.body).toEqual(
			expect.objectContaining({
				messaging_product: 'whatsapp',
				id,
				mime_type: 'image/png',
				file_size: 'fake-png-bytes'.length,
			}),
		);
		// Like Meta's media URLs, it takes the access token.
		const download = await fetch(bodyAs<{ url: string }>(info).url, {
			headers: { authorization: `Bearer ${TOKEN}` },
		});
		expect(Buffer.from(await download.arrayBuffer()).toString()).toBe('fake-png-bytes');
		expect((await fetch(bodyAs<{ url: string }>(info).url)).status).toBe(401);

		expect((await api(sandbox, 'DELETE', `/${id}`)).body).toEqual({ success: true });
		expect(errorOf(await api(sandbox, 'GET', `/${id}`)).error_subcode).toBe(33);
	});

	it('refuses a media upload without a file', async () => {
		const form = new FormData();
		form.append('messaging_product', 'whatsapp');
		const res = await fetch(`${sandbox.url}/${VERSION}${phonePath()}/media`, {
			method: 'POST',
			headers: { authorization: `Bearer ${TOKEN}` },
			body: form,
		});
		expect(res.status).toBe(400);
		expect(((await res.json()) as { error: { code: number } }).error.code).toBe(100);
	});

	it('records every API request with the code it answered', async () => {
		await api(sandbox, 'GET', phonePath(), undefined, { token: 'wrong' });
		await api(sandbox, 'GET', phonePath());
		const all = bodyAs<{ data: Array<{ httpStatus: number; code?: number; path: string }> }>(
			await control(sandbox, 'GET', 'requests'),
		);
		expect(all.data.map((r) => [r.httpStatus, r.code])).toEqual([
			[401, 190],
			[200, undefined],
		]);
		const only190 = bodyAs<{ data: unknown[] }>(await control(sandbox, 'GET', 'requests?code=190'));
		expect(only190.data).toHaveLength(1);
	});
});

describe('sandbox Graph API: message templates paging', () => {
	let sandbox: Sandbox;
	const many: TemplateDefinition[] = Array.from({ length: 7 }, (_, i) => ({
		id: String(2000 + i),
		name: `bulk_${i}`,
		language: 'en_US',
		status: i === 3 ? 'REJECTED' : 'APPROVED',
		category: 'UTILITY',
		components: [{ type: 'BODY', text: `Bulk ${i}` }],
	})) as TemplateDefinition[];

	beforeAll(async () => {
		sandbox = await start({ templates: many });
	});
	afterAll(() => sandbox.close());

	type Page = {
		data: Array<Record<string, unknown>>;
		paging: { cursors: { before?: string; after?: string }; next?: string; previous?: string };
	};

	it('pages with cursors: next on every page but the last, previous after the first, all items once', async () => {
		const seen: string[] = [];
		let url: string | undefined =
			`/${sandbox.config.wabaId}/message_templates?limit=3&fields=name,status`;
		const pages: Page[] = [];
		while (url) {
			const res = await api(sandbox, 'GET', url);
			expect(res.status).toBe(200);
			const page = bodyAs<Page>(res);
			pages.push(page);
			seen.push(...page.data.map((t) => String(t.name)));
			url = page.paging.next;
		}
		expect(pages.map((p) => p.data.length)).toEqual([3, 3, 1]);
		expect(seen).toEqual(many.map((t) => t.name));
		expect(pages[0].paging.previous).toBeUndefined();
		expect(pages[1].paging.previous).toBeDefined();
		expect(pages[2].paging.next).toBeUndefined();
		expect(Object.keys(pages[0].data[0]).sort()).toEqual(['id', 'name', 'status']);

		// "before" goes back to the previous page.
		const back = bodyAs<Page>(await api(sandbox, 'GET', String(pages[1].paging.previous)));
		expect(back.data.map((t) => t.name)).toEqual(['bulk_0', 'bulk_1', 'bulk_2']);
	});

	it('filters by status and by name', async () => {
		const approved = bodyAs<Page>(
			await api(
				sandbox,
				'GET',
				`/${sandbox.config.wabaId}/message_templates?status=APPROVED&limit=100`,
			),
		);
		expect(approved.data).toHaveLength(6);
		expect(approved.paging.next).toBeUndefined();
		const named = bodyAs<Page>(
			await api(sandbox, 'GET', `/${sandbox.config.wabaId}/message_templates?name=bulk_5`),
		);
		expect(named.data.map((t) => t.name)).toEqual(['bulk_5']);
	});

	it('refuses a bad cursor and a bad limit with code 100', async () => {
		expect(
			errorOf(await api(sandbox, 'GET', `/${sandbox.config.wabaId}/message_templates?after=bm9wZQ`))
				.code,
		).toBe(100);
		expect(
			errorOf(await api(sandbox, 'GET', `/${sandbox.config.wabaId}/message_templates?limit=0`))
				.code,
		).toBe(100);
	});

	it('serves templates seeded through the control API, with any status and category', async () => {
		const added = await control(sandbox, 'POST', 'templates', {
			name: 'late_addition',
			language: 'pt_BR',
			status: 'PAUSED',
			category: 'MARKETING',
			components: [{ type: 'BODY', text: 'Oi' }],
		});
		expect(added.status).toBe(200);
		const res = bodyAs<Page>(
			await api(sandbox, 'GET', `/${sandbox.config.wabaId}/message_templates?status=PAUSED`),
		);
		expect(res.data).toEqual([
			expect.objectContaining({ name: 'late_addition', language: 'pt_BR', category: 'MARKETING' }),
		]);
	});
});

describe('sandbox Graph API: webhook overrides', () => {
	let sandbox: Sandbox;
	let receiver: CallbackReceiver;
	beforeAll(async () => {
		receiver = await new CallbackReceiver().listen();
		sandbox = await start({ templates: TEST_TEMPLATES });
	});
	afterAll(async () => {
		await sandbox.close();
		await receiver.close();
	});
	beforeEach(() => sandbox.reset());

	it('sets a WABA override only after the URL answers the GET challenge with the verify token', async () => {
		const set = await api(sandbox, 'POST', `/${sandbox.config.wabaId}/subscribed_apps`, {
			override_callback_uri: receiver.url,
			verify_token: receiver.verifyToken,
		});
		expect(set.body).toEqual({ success: true });
		const challenge = receiver.challenges.at(-1);
		expect(challenge?.get('hub.mode')).toBe('subscribe');
		expect(challenge?.get('hub.verify_token')).toBe(receiver.verifyToken);

		const listed = bodyAs<{ data: Array<{ override_callback_uri?: string }> }>(
			await api(sandbox, 'GET', `/${sandbox.config.wabaId}/subscribed_apps`),
		);
		expect(listed.data[0].override_callback_uri).toBe(receiver.url);

		const refused = await api(sandbox, 'POST', `/${sandbox.config.wabaId}/subscribed_apps`, {
			override_callback_uri: receiver.url,
			verify_token: 'wrong',
		});
		expect(refused.status).toBe(400);
		expect(errorOf(refused).code).toBe(2200);
	});

	it('sets and removes a phone number override through webhook_configuration, and reports all three layers', async () => {
		const phone = `/${sandbox.config.phoneNumberId}`;
		const set = await api(sandbox, 'POST', phone, {
			webhook_configuration: {
				override_callback_uri: receiver.url,
				verify_token: receiver.verifyToken,
			},
		});
		expect(set.body).toEqual({ success: true });
		const shown = await api(sandbox, 'GET', `${phone}?fields=webhook_configuration`);
		expect(
			bodyAs<{ webhook_configuration: Record<string, string> }>(shown).webhook_configuration,
		).toEqual({ phone_number: receiver.url });

		const removed = await api(sandbox, 'POST', phone, {
			webhook_configuration: { override_callback_uri: '' },
		});
		expect(removed.body).toEqual({ success: true });
		const after = await api(sandbox, 'GET', `${phone}?fields=webhook_configuration`);
		expect(
			bodyAs<{ webhook_configuration: Record<string, string> }>(after).webhook_configuration,
		).toEqual({});
	});

	it('refuses an override without verify_token, or longer than 200 characters', async () => {
		const phone = `/${sandbox.config.phoneNumberId}`;
		expect(
			errorOf(
				await api(sandbox, 'POST', phone, {
					webhook_configuration: { override_callback_uri: receiver.url },
				}),
			).code,
		).toBe(100);
		const long = `${receiver.url}?${'x'.repeat(200)}`;
		expect(
			errorOf(
				await api(sandbox, 'POST', phone, {
					webhook_configuration: { override_callback_uri: long, verify_token: 'v' },
				}),
			).code,
		).toBe(100);
	});

	it('unsubscribes the app with DELETE', async () => {
		expect(
			(await api(sandbox, 'DELETE', `/${sandbox.config.wabaId}/subscribed_apps`)).body,
		).toEqual({ success: true });
		expect(
			bodyAs<{ data: unknown[] }>(
				await api(sandbox, 'GET', `/${sandbox.config.wabaId}/subscribed_apps`),
			).data,
		).toEqual([]);
	});
});
