// Builds dist/ whenever npm prepares this package: `npm ci` here, and `npm install
// ./sdks/typescript` from a fresh clone, which links this folder without installing its
// dev dependencies (so tsc may be missing: it is installed here first, from the lock file).
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (command) => execSync(command, { cwd: here, stdio: 'inherit' });

if (!existsSync(join(here, 'node_modules', 'typescript', 'bin', 'tsc'))) {
  run('npm ci --no-audit --no-fund --ignore-scripts --loglevel=error');
}
run('npm run --silent build');
