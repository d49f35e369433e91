// Discovery of every namespace through every route (proc, task, fd, bind mount, hierarchy, ownership).
export * from './model.js';
export { NamespaceDiscovery } from './discover.js';
