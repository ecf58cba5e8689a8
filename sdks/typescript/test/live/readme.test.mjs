// The README's examples, as written: every ```ts block, in order, as one module,
// type-checked by tsc (strict, as the package is built) and then run against the real
// server. Only the placeholder address and token are replaced, and each must be there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tokens, url } from './helpers.mjs';

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the README examples type-check and run as written', () => {
  const readme = readFileSync(join(PACKAGE, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  assert.ok(blocks.length >= 6, `${blocks.length} ts blocks`);
  let source = blocks.join('\n');
  assert.ok(source.includes("await client.chatCompletion({ endpoint: '/api/chat', messages: [{ role: 'user', content: 'Hello' }] })"),
    "the seed's example, exactly as written");
  for (const placeholder of ["'http://127.0.0.1:8787'", "'mpx_...'"]) {
    assert.ok(source.split(placeholder).length - 1 >= 2, placeholder);
  }
  source = source.replaceAll("'http://127.0.0.1:8787'", JSON.stringify(url)).replaceAll("'mpx_...'", JSON.stringify(tokens.readme));

  // Inside the package, so that `import ... from 'modelproxy-client'` resolves to this
  // package itself (its name and exports), for tsc and for node alike.
  const dir = mkdtempSync(join(PACKAGE, '.readme-check-'));
  try {
    writeFileSync(join(dir, 'readme.ts'), source);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      extends: '../tsconfig.json',
      compilerOptions: { rootDir: '.', outDir: 'out', declaration: false },
      include: ['readme.ts'],
    }));
    const tsc = join(PACKAGE, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    } catch (error) {
      assert.fail(`the README examples do not type-check:\n${error.stdout}${error.stderr}`);
    }
    const printed = execFileSync(process.execPath, [join(dir, 'out', 'readme.js')], { encoding: 'utf8', timeout: 30_000 });
    const expected = ['echo: Hello\n', 'echo: Tell me a story\n', '2 vectors of 8\n', 'chat /api/chat chat fake\n',
      '0 from openai\n', "status: 'ok'", '404 endpoint_not_found', 'stopped\n'];
    for (const line of expected) assert.ok(printed.includes(line), `${JSON.stringify(line)} not in:\n${printed}`);
    assert.ok(printed.trimEnd().endsWith('ok'), printed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
