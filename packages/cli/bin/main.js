// The part of kmx that runs oclif, bundled with every command by scripts/bundle.mjs (bin/run.js
// loads the bundle, or this file itself where the bundle has not been built).
import { execute } from '@oclif/core';

export async function main(dir) {
  await execute({ dir });
}
