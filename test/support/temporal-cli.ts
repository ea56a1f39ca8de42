/** The temporal CLI the tests drive, the way users do, against the test stack. */
import path from 'node:path';
import { execa } from 'execa';
import type { Config } from '../../src/config.js';
import { cacheRoot, TEMPORAL_CLI_VERSION } from '../../src/stack/toolchain.js';

/** The toolchain's temporal CLI: TEMPORAL_CLI as npm test exports it, else the pinned build in the cache. */
export const temporalCli =
  process.env.TEMPORAL_CLI || path.join(cacheRoot(), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');

/** Runs `temporal <args…>` against the server and namespace of `temporal` (a test config's connection). */
export function temporalCliOn(temporal: Config['temporal'], args: readonly string[]) {
  return execa(temporalCli, [...args, '--address', temporal.address, '--namespace', temporal.namespace]);
}
