import type { Config } from '../configfile/index.js';
import { unlockConfig } from '../configfile/index.js';
import { readPassword, type PasswordSource } from '../readpassword/index.js';

/** Asks for the password (flags, terminal or stdin) and unlocks the master key of `config`. */
export async function unlockWithPassword(config: Config, source: PasswordSource): Promise<Buffer> {
  const password = await readPassword(source);
  try {
    return await unlockConfig(config, password);
  } finally {
    password.fill(0);
  }
}
