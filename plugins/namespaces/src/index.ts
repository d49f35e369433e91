// kmx ns: namespace relations (the linuxns-rel functions on typed, disposable handles) and
// discovery through every route. The commands under src/commands are thin views of this.
export * from './lib/nsfs/index.js';
export * from './lib/discovery/index.js';
