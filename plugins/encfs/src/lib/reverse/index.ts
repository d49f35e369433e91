// Reverse mode (gocryptfs's fusefrontend_reverse): read-only encrypted views of plain directories.
export { openReverse } from './open-reverse.js';
export { PlainTree, VIRTUAL_ROOT, type PlainDir } from './plain-tree.js';
export { ReverseResolver, CONFIG_NAME, childCPath, type ReverseNode } from './resolver.js';
export { ReverseContent } from './reverse-content.js';
export { ReverseFileSystem } from './reverse-fs.js';
export { InoMap, InoKind } from './ino-map.js';
export { checkLabels, labelProblem, parseSourceSpec, resolveSources } from './sources.js';
