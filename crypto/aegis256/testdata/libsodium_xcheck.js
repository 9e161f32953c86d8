'use strict';
// Cross-check helper for libsodium_test.go.
//
// Usage: node libsodium_xcheck.js <directory of the libsodium-wrappers package>
//
// Reads {"cases": [{key, nonce, ad, msg, sealed, flip}]} from standard input,
// byte strings in base64, where sealed is the Go package's AEGIS-256 output
// (32-byte tag) for msg. For each case it opens sealed with libsodium, seals
// msg with libsodium, and checks that libsodium rejects sealed with bit 0 of
// byte flip inverted. Writes {"version", "results": [{opened, sealed,
// tamperedRejected}]} to standard output; opened is null when libsodium
// rejected the Go ciphertext.
const sodium = require(process.argv[2]);

const fromB64 = (s) => new Uint8Array(Buffer.from(s || '', 'base64'));
const toB64 = (u) => Buffer.from(u).toString('base64');

function tryDecrypt(sealed, ad, nonce, key) {
  try {
    return sodium.crypto_aead_aegis256_decrypt(null, sealed, ad, nonce, key);
  } catch (err) {
    return null;
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  await sodium.ready;
  const results = input.cases.map((c) => {
    const key = fromB64(c.key);
    const nonce = fromB64(c.nonce);
    const ad = fromB64(c.ad);
    const msg = fromB64(c.msg);
    const sealed = fromB64(c.sealed);
    const opened = tryDecrypt(sealed, ad, nonce, key);
    const ours = sodium.crypto_aead_aegis256_encrypt(msg, ad, null, nonce, key);
    const bad = Uint8Array.from(sealed);
    bad[c.flip] ^= 1;
    return {
      opened: opened === null ? null : toB64(opened),
      sealed: toB64(ours),
      tamperedRejected: tryDecrypt(bad, ad, nonce, key) === null,
    };
  });
  process.stdout.write(JSON.stringify({
    version: sodium.SODIUM_VERSION_STRING || sodium.sodium_version_string(),
    abytes: sodium.crypto_aead_aegis256_ABYTES,
    results,
  }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
