export * from './kept-connection.js';
