#!/usr/bin/env node
import { userInfo } from 'node:os';
import { execute } from '@oclif/core';

// oclif reads the login shell from the passwd entry when $SHELL is unset, and that
// throws for a uid without one (setpriv, containers); the shell only matters to autocomplete.
if (process.env.SHELL === undefined) {
  try { process.env.SHELL = userInfo().shell ?? '/bin/sh'; } catch { process.env.SHELL = '/bin/sh'; }
}

await execute({ dir: import.meta.url });
