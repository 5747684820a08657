// n8n's community-node rules on nodes/ and credentials/, TypeScript-aware rules everywhere we ship code.
import tseslint from 'typescript-eslint';
import { n8nCommunityNodesPlugin } from '@n8n/eslint-plugin-community-nodes';

export default tseslint.config(
	{ ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
	{
		files: ['**/*.ts'],
		extends: [tseslint.configs.recommended],
		rules: {
			'@typescript-eslint/no-explicit-any': 'error',
			// `_name` marks a deliberately unused binding (an omitted field in a destructuring, a required parameter).
			'@typescript-eslint/no-unused-vars': [
				'error',
				{ argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
			],
		},
	},
	{
		// Tests and benchmarks load built artifacts (dist/, Node-RED's runtime) and scenarios lazily with require().
		files: ['test/**/*.ts', 'bench/**/*.ts'],
		rules: { '@typescript-eslint/no-require-imports': 'off' },
	},
	{
		// Node-RED's constructor functions capture the node as `const node = this` for its callbacks, by convention.
		files: ['node-red/**/*.ts'],
		rules: { '@typescript-eslint/no-this-alias': 'off' },
	},
	{
		// typescript-estree parses .json as one object expression, which the package.json rules walk.
		files: ['package.json'],
		languageOptions: { parser: tseslint.parser, parserOptions: { extraFileExtensions: ['.json'] } },
	},
	{
		files: ['nodes/**/*.ts', 'credentials/**/*.ts', 'package.json'],
		...n8nCommunityNodesPlugin.configs.recommendedWithoutN8nCloudSupport,
		rules: {
			...n8nCommunityNodesPlugin.configs.recommendedWithoutN8nCloudSupport.rules,
			// This package targets self-hosted n8n: its journey state store needs node:sqlite / Redis and it uses
			// a phone-number library and zod at runtime. Each dependency is justified in README ("Runtime dependencies").
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
		},
	},
);
