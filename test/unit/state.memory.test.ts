import { createStateStore, MemoryStateStore, type JourneyStateStore } from '../../core/state';
import { stateStoreContract } from './state.contract';
import { waitLinkContract } from './state.waitLinks.contract';
import { identityContract } from './state.identity.contract';
import { outboxContract } from './state.outbox.contract';

/** Memory data lives in the object, so "another connection" is the same object (closing it twice is harmless). */
stateStoreContract('MemoryStateStore', {
	create: async () => new MemoryStateStore(),
	connect: async (store: JourneyStateStore) => store,
});

waitLinkContract('MemoryStateStore', {
	create: async () => new MemoryStateStore(),
	connect: async (store: JourneyStateStore) => store,
});

identityContract('MemoryStateStore', {
	create: async () => new MemoryStateStore(),
	connect: async (store: JourneyStateStore) => store,
});

outboxContract('MemoryStateStore', {
	create: async () => new MemoryStateStore(),
	connect: async (store: JourneyStateStore) => store,
});

describe('createStateStore', () => {
	it('builds the memory backend', () => {
		expect(createStateStore({ backend: 'memory' })).toBeInstanceOf(MemoryStateStore);
	});

	it('names the accepted backends when given another', () => {
		expect(() => createStateStore({ backend: 'postgres' } as never)).toThrow(
			/backend must be 'embedded', 'redis' or 'memory'; got "postgres"/,
		);
	});
});
