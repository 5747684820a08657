// Node-RED loads one static .html per node; editor form rows that several nodes share live once in
// node-red/partials/ and replace `<!-- include: partials/NAME.html -->` lines at build time (gulpfile.js).
const fs = require('node:fs');
const path = require('node:path');

const INCLUDE = /^([ \t]*)<!-- include: (partials\/[\w-]+\.html) -->$/gm;

/** The editor .html at `file` with its includes put in place, indented where they are included. */
function resolveHtmlIncludes(html, file) {
	return html.replace(INCLUDE, (_line, indent, partial) => {
		const text = fs.readFileSync(path.join(path.dirname(file), partial), 'utf8').replace(/\n$/, '');
		return text.startsWith(indent) ? text : text.replace(/^/gm, indent);
	});
}

module.exports = { resolveHtmlIncludes };
