// Stands in for the `debug` package inside the core bundle. ioredis only logs through it when DEBUG=ioredis:* is
// set; the real package writes to the console, which n8n's community-package scan forbids in shipped code.
function createDebug(namespace) {
	const log = () => {};
	log.namespace = namespace;
	log.enabled = false;
	log.extend = (suffix) => createDebug(`${namespace}:${suffix}`);
	return log;
}
createDebug.enable = () => {};
createDebug.disable = () => '';
createDebug.enabled = () => false;
module.exports = createDebug;
module.exports.default = createDebug;
