import { parseTemplateName, processTemplateCache } from '../../core';
import type { CloudApiClient, TemplateDefinition } from '../../core';
import type { MetaCredential } from './credentials';

function cacheKey(credential: MetaCredential): string {
  return `${credential.baseUrl}|${credential.apiVersion}|${credential.wabaId ?? ''}`;
}

function requireWaba(credential: MetaCredential): void {
  if (!credential.wabaId) {
    throw new Error('Templates live in a WhatsApp Business Account: set "WhatsApp Business Account ID" in the credential');
  }
}

/** All templates of the credential's WABA, from the process-wide cache (one Graph call per WABA per TTL). */
export async function listTemplates(client: CloudApiClient, credential: MetaCredential, refresh = false): Promise<TemplateDefinition[]> {
  requireWaba(credential);
  return processTemplateCache().list(cacheKey(credential), client, refresh);
}

export async function findTemplate(
  client: CloudApiClient,
  credential: MetaCredential,
  ref: { id?: string; name?: string; language?: string },
): Promise<TemplateDefinition> {
  requireWaba(credential);
  return processTemplateCache().find(cacheKey(credential), client, ref);
}

/** The resource locator's value: "<id>" from the list, a name in "By Name" mode, or an ID. */
export interface TemplateLocator {
  __rl?: true;
  mode: 'list' | 'name' | 'id' | string;
  value: string;
}

export function templateRefFromLocator(locator: TemplateLocator | string, language?: string): { id?: string; name?: string; language?: string } {
  const value = (typeof locator === 'string' ? locator : String(locator.value ?? '')).trim();
  const mode = typeof locator === 'string' ? 'name' : locator.mode;
  if (!value) throw new Error('Template is empty: pick one from the list, or enter its name or ID');
  if (mode === 'list' || mode === 'id') return { id: value };
  const ref = parseTemplateName(value);
  return { name: ref.name, language: language || ref.language };
}
