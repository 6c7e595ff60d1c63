/** The `latch` entry point of this installation (dist/src/cli/main.js), which the host script runs. */
import { fileURLToPath } from 'node:url';

export const LATCH_CLI_PATH = fileURLToPath(new URL('../main.js', import.meta.url));
