import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

/**
 * Meta WhatsApp Cloud API credential. The access token travels only in the Authorization header (`authenticate` for
 * the credential test and n8n's HTTP Request node; the same header set once per execution by our nodes' transport);
 * nodes never read it into items. Base URL and Graph version are settings so the same credential
 * shape works against graph.facebook.com and against the local sandbox.
 */
export class MetaWhatsAppCloudApi implements ICredentialType {
	name = 'metaWhatsAppCloudApi';

	displayName = 'Meta WhatsApp Cloud API';

	icon: Icon = { light: 'file:whatsapp.svg', dark: 'file:whatsapp.dark.svg' };

	documentationUrl = 'https://developers.facebook.com/docs/whatsapp/cloud-api/get-started';

	properties: INodeProperties[] = [
		{
			displayName: 'Access Token',
			name: 'accessToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description:
				'A System User access token with the whatsapp_business_messaging and whatsapp_business_management permissions (Business Settings → System users → Generate token)',
		},
		{
			displayName: 'Phone Number ID',
			name: 'phoneNumberId',
			type: 'string',
			default: '',
			required: true,
			description:
				'The ID of the business phone number that sends (WhatsApp Manager → API Setup), not the phone number itself',
		},
		{
			displayName: 'WhatsApp Business Account ID',
			name: 'wabaId',
			type: 'string',
			default: '',
			required: true,
			description: 'The WABA that owns the message templates and the phone number',
		},
		{
			displayName: 'App Secret',
			name: 'appSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'The Meta app secret (App settings → Basic). Used to verify webhook signatures (X-Hub-Signature-256) and, when the app requires it, to sign API calls with appsecret_proof.',
		},
		{
			displayName: 'Sign Requests With appsecret_proof',
			name: 'signRequests',
			type: 'boolean',
			default: false,
			description:
				'Whether to add appsecret_proof to every Graph API call (needed when the app has "Require App Secret" on)',
		},
		{
			displayName: 'Webhook Verify Token',
			name: 'verifyToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'A random string you also enter in the Meta app when subscribing the webhook; the trigger answers the verification challenge only when it matches',
		},
		{
			displayName: 'Graph API Version',
			name: 'apiVersion',
			type: 'string',
			default: 'v26.0',
			placeholder: 'v26.0',
			description: 'Graph API version used for every call, e.g. v26.0',
		},
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'https://graph.facebook.com',
			description:
				'Keep the default for Meta. Point it at the local sandbox (npm run sandbox) to rehearse journeys without a Meta account.',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				Authorization: '=Bearer {{$credentials.accessToken}}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}/{{$credentials.apiVersion}}',
			url: '=/{{$credentials.phoneNumberId}}',
			qs: { fields: 'id,display_phone_number,verified_name,quality_rating,throughput' },
		},
		// n8n shows only the HTTP status text of a failed test ("Unauthorized"); these say what Meta meant and what to do.
		rules: [
			{
				type: 'responseCode',
				properties: {
					value: 401,
					message:
						'Meta refused the Access Token (error 190): it expired, was revoked or was copied incompletely. Use a System User token (Business Settings → System Users) with whatsapp_business_messaging and whatsapp_business_management.',
				},
			},
			{
				type: 'responseCode',
				properties: {
					value: 400,
					message:
						"Meta found no phone number with this Phone Number ID for this token (error 100): copy the ID from WhatsApp Manager → API Setup (not the phone number itself), and assign the WhatsApp account to the token's system user.",
				},
			},
			{
				type: 'responseCode',
				properties: {
					value: 403,
					message:
						'Meta refused the permission (error 10 or 200): the token needs whatsapp_business_management and whatsapp_business_messaging, and the app must be allowed on this WhatsApp Business Account.',
				},
			},
			{
				type: 'responseCode',
				properties: {
					value: 404,
					message:
						'Nothing answered at this Base URL and Graph API Version: keep https://graph.facebook.com and a current version such as v26.0.',
				},
			},
		],
	};
}
