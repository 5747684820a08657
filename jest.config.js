/** Unit tests of core/, sandbox tests and node integration tests. The real-n8n suite has its own config. */
module.exports = {
	testEnvironment: 'node',
	roots: ['<rootDir>/test'],
	testMatch: ['**/*.test.ts'],
	testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/'],
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { isolatedModules: true } }] },
	testTimeout: 30000,
	setupFiles: ['<rootDir>/test/jest.setup.ts'],
};
