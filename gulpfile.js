// Copies node and credential icons (SVG) and codex files next to the compiled JavaScript in dist/,
// where n8n looks for them ("file:whatsapp.svg" resolves relative to the .node.js file).
// Node-RED's editor definitions (.html) and palette icons (icons/) go next to dist/node-red/*.js, where Node-RED
// looks for them.
const { src, dest } = require('gulp');

function copyIcons() {
  return src(['nodes/**/*.{svg,png,json}', 'credentials/**/*.{svg,png}', 'node-red/**/*.{html,svg,png}'], { base: '.', encoding: false }).pipe(
    dest('dist'),
  );
}

exports['build:icons'] = copyIcons;
