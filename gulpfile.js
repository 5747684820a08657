// Copies node and credential icons (SVG) and codex files next to the compiled JavaScript in dist/,
// where n8n looks for them ("file:whatsapp.svg" resolves relative to the .node.js file).
// Node-RED's editor definitions (.html) and palette icons (icons/) go next to dist/node-red/*.js, where Node-RED
// looks for them. Editor form rows that several Node-RED nodes share live once in node-red/partials/ and are put in
// place of `<!-- include: partials/NAME.html -->` lines on the way (Node-RED loads one static .html per node).
const { Transform } = require('node:stream');
const { src, dest } = require('gulp');
const { resolveHtmlIncludes } = require('./scripts/html-includes');

function resolveIncludes() {
	return new Transform({
		objectMode: true,
		transform(file, _encoding, done) {
			if (file.isBuffer() && file.extname === '.html')
				file.contents = Buffer.from(
					resolveHtmlIncludes(file.contents.toString('utf8'), file.path),
					'utf8',
				);
			done(null, file);
		},
	});
}

function copyIcons() {
	return src(
		[
			'nodes/**/*.{svg,png,json}',
			'credentials/**/*.{svg,png}',
			'node-red/**/*.{html,svg,png}',
			'!node-red/partials/**',
		],
		{
			base: '.',
			encoding: false,
		},
	)
		.pipe(resolveIncludes())
		.pipe(dest('dist'));
}

exports['build:icons'] = copyIcons;
