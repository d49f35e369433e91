// Passwords: --passfile, --extpass, a hidden terminal prompt, or a line of piped stdin.
export { readPassword, type PasswordSource } from './password.js';
