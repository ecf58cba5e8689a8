// Over HTTPS without the office CA trusted: a clear error at once, not retried.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APIConnectionError, ModelProxyClient } from 'modelproxy-client';

test('an untrusted certificate is an APIConnectionError saying what to trust', async () => {
  const client = new ModelProxyClient(process.env.MODELPROXY_TEST_URL, process.env.MODELPROXY_TEST_TOKEN,
    { maxRetries: 3, retryBackoff: 10 });
  const error = await client.chatCompletion({ messages: [{ role: 'user', content: 'hi' }] }).then(
    () => assert.fail('the call succeeded'), (e) => e);
  assert.ok(error instanceof APIConnectionError, String(error));
  assert.match(error.message, /TLS certificate is not trusted \(.*UNABLE_TO_VERIFY_LEAF_SIGNATURE.*NODE_EXTRA_CA_CERTS/);
});
