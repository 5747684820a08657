/**
 * The validator (and so the sandbox) refuses invalid sends with Meta's live codes and wording: each case
 * in test/fixtures/metaTemplateErrors.ts is an answer Meta gave, with the URL of the thread quoting it.
 */
import { describeMetaError } from '../../core/errors';
import { validateTemplateMessage } from '../../core/templates';
import { META_TEMPLATE_CASES } from '../fixtures/metaTemplateErrors';

describe('template validation answers with Meta live codes and wording', () => {
	it.each(META_TEMPLATE_CASES.map((c) => [c.what, c] as const))(
		'refuses %s like Meta',
		(_what, c) => {
			const issue = validateTemplateMessage(c.template, {
				name: c.name,
				language: { code: c.language },
				components: c.components,
			});
			expect(issue?.code).toBe(c.code);
			// What Graph's error.message says: Meta's own message, or the catalogue title for the code.
			expect(`(#${c.code}) ${issue?.metaMessage ?? describeMetaError(c.code).title}`).toBe(
				c.metaMessage,
			);
			if (c.details !== undefined) expect(issue?.details).toBe(c.details);
			expect(issue?.message).toMatch(c.ours);
		},
	);
});
