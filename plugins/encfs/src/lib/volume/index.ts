export { Volume } from './volume.js';
