// Copies node and credential icons (SVG) and codex files next to the compiled JavaScript in dist/,
// where n8n looks for them ("file:whatsapp.svg" resolves relative to the .node.js file).
const { src, dest } = require('gulp');

function copyIcons() {
  return src(['nodes/**/*.{svg,png,json}', 'credentials/**/*.{svg,png}'], { base: '.', encoding: false }).pipe(dest('dist'));
}

exports['build:icons'] = copyIcons;
