#!/usr/bin/env node
/** Executable wrapper for git-sign-program (git's gpg.ssh.program). */
import { main } from './git-sign-program.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  () => process.exit(255),
);
