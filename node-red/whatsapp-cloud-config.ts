/**
 * Node-RED config node `whatsapp-cloud-config`: one Meta app and business phone number. Secrets live in Node-RED's
 * credentials store (password fields, never exported with the flow); the other nodes reach the Graph client, state
 * store and templates through it. Also serves the editor's template picker (an admin endpoint).
 */
import { extractTemplateVariables, templateSummary } from '../core';
import type { NodeAPI, NodeDef, NodeInstance, RequestHandler } from './types';
import {
	CLOUD_CREDENTIALS,
	CONFIG_NODE_TYPE,
	CloudConnection,
	parseCloudConfig,
} from './lib/cloud';
import { replyJson } from './lib/http';
import { asError } from './lib/node';
import type { CloudConfigNodeState } from './lib/node';

/** GET <admin root>/whatsapp-cloud/<config id>/templates[?refresh=1] → the WABA's APPROVED templates and their variables. */
const TEMPLATES_ENDPOINT = '/whatsapp-cloud/:id/templates';

function register(RED: NodeAPI): void {
	function WhatsAppCloudConfigNode(this: NodeInstance, def: NodeDef): void {
		RED.nodes.createNode(this, def);
		const state = this as NodeInstance & CloudConfigNodeState;
		try {
			const { settings, secrets } = parseCloudConfig(def, this.credentials);
			state.cloud = new CloudConnection(settings, secrets, RED.settings.userDir);
		} catch (error) {
			state.configError = asError(error).message;
			this.error(state.configError);
		}
		this.on('close', (_removed, done) => {
			const closing = state.cloud?.close() ?? Promise.resolve();
			closing.then(done, done);
		});
	}
	RED.nodes.registerType(CONFIG_NODE_TYPE, WhatsAppCloudConfigNode, {
		credentials: CLOUD_CREDENTIALS,
	});

	const listTemplates: RequestHandler = (req, res) => {
		const id = req.params?.id ?? '';
		const configNode = RED.nodes.getNode(id) as (CloudConfigNodeState & { type?: string }) | null;
		if (!configNode || configNode.type !== CONFIG_NODE_TYPE) {
			replyJson(res, 404, {
				error: 'This WhatsApp Cloud config is not deployed yet: deploy it, then load the templates',
			});
			return;
		}
		const cloud = configNode.cloud;
		if (!cloud) {
			replyJson(res, 400, {
				error: configNode.configError ?? 'The WhatsApp Cloud config is not usable',
			});
			return;
		}
		const refresh = /[?&]refresh=(1|true)\b/.test(req.url ?? '');
		cloud
			.listTemplates(cloud.client({ maxAttempts: 1 }), refresh)
			.then((templates) => {
				const approved = templates
					.filter((t) => t.status === 'APPROVED')
					.sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language))
					.map((t) => ({
						id: t.id,
						...templateSummary(t),
						variables: extractTemplateVariables(t).map((v) => ({
							key: v.key,
							displayName: v.displayName,
							description: v.description,
							kind: v.kind,
							required: v.required,
							...(v.example !== undefined ? { example: v.example } : {}),
						})),
					}));
				replyJson(res, 200, { templates: approved });
			})
			.catch((error: unknown) => {
				// Messages from core never carry the token (WhatsAppApiError redacts).
				replyJson(res, 502, { error: asError(error).message });
			});
	};
	RED.httpAdmin.get(
		TEMPLATES_ENDPOINT,
		RED.auth.needsPermission(`${CONFIG_NODE_TYPE}.read`),
		listTemplates,
	);
}

export = register;
