// Package auth is the pure logic of S2 access tokens: scopes, the operation
// groups, authorization checks, validation of issue requests, secrets and
// their hashes, and the stored form of a token. It knows nothing of the
// server, the engine or storage.
//
// # Sources
//
// The cloud service's authorization code is not public. What it does was
// taken from:
//
//   - s2-streamstore/s2: api/src/v1/access.rs (wire types, serde rules),
//     common/src/access.rs (ResourceSet::None default, id rules),
//     sdk/tests/account_ops.rs (exact cloud error codes and messages),
//     sdk/src/types.rs ("Defaults to no basins"), cli/src/cli.rs;
//   - s2-streamstore/s2-sdk-go: s2/access_token_integration_test.go,
//     s2/stream_integration_test.go (TestClient_InvalidToken),
//     docs/test_access_tokens_api.md (the SDK test matrix);
//   - s2-streamstore/s2-sdk-typescript:
//     packages/streamstore/src/tests/accessTokens.spec.e2e.test.ts and
//     client.spec.e2e.test.ts ("rejects invalid token");
//   - s2-streamstore/s2-sdk-python: tests/test_account_ops.py;
//   - the s2.dev access control docs (concepts/access-tokens).
//
// # Scopes
//
// A scope has three resource sets (basins, streams, access_tokens), the
// operation groups and an ops list. A resource set is {"exact": s} or
// {"prefix": s}; absent or null means no resources at all (the cloud's
// ResourceSet::None; the Rust SDK documents "Defaults to no basins"), as
// does {"exact": ""}; {"prefix": ""} means all. The cloud lists a token
// with every scope field present: null for an empty set (so {"exact": ""}
// lists as null), all three groups with both booleans, ops as an array.
// The effective operations are the union of ops and the groups.
//
// The op-group mapping ([GroupOps]) follows the PermittedOperationGroups
// section of s2-sdk-go docs/test_access_tokens_api.md: a group's read half
// reads that level's resources, its write half creates, deletes and
// reconfigures the level below:
//
//	account read:  list-basins, list-access-tokens, account-metrics
//	account write: create-basin, delete-basin, reconfigure-basin,
//	               issue-access-token, revoke-access-token
//	basin read:    get-basin-config, list-streams, basin-metrics
//	basin write:   create-stream, delete-stream, reconfigure-stream
//	stream read:   get-stream-config, check-tail, read, stream-metrics
//	stream write:  append, trim, fence
//
// The same file's closing "Configuration Matrix" instead puts
// get-basin-config under account write and get-stream-config under basin
// write; no SDK test tells the two apart (the tests use only account read
// and stream read/write, which agree). The location operations of the
// cloud's enum (not in this repository's openapi) are account read
// (list-locations, get-default-location) and account write
// (set-default-location), by analogy.
//
// [Scope.Allows] checks the operation, then the resource sets only where
// the operation concerns them: none for account-level operations
// (list-basins, list-access-tokens, account-metrics; their results are
// filtered with [Scope.BasinVisible] and [Scope.TokenVisible]), basins for
// basin operations, basins and streams for stream operations, and
// access_tokens against the token id for issue/revoke-access-token.
//
// # Issuing
//
// [Validate] checks an issue request against the issuing token. Expiry
// defaults to the issuer's and may not be later (the docs: "Expiry time of
// the requestor's access token will be the default and maximum possible
// expiry time"). auto_prefix_streams requires a streams prefix set
// (possibly ""). The new token may not be broader than its issuer in any
// operation or resource set. The answers:
//
//	400 bad_json           bad id (empty, ".", "..", > 96 bytes) or bad name in a set
//	403 permission_denied  issuer lacks issue-access-token on the new id;
//	                       broader ops, sets or expiry than the issuer
//	422 invalid            "Access token permissions cannot be empty";
//	                       "Auto prefixing is only allowed for streams with
//	                       prefix matching"; expires_at not in the future
//
// The two 422 messages are the cloud's, verbatim. Bad ids are 400 bad_json
// because the cloud validates them while decoding the body; the SDK test
// matrix says 422 but no test checks the status (the Go SDK refuses such
// ids itself). Expiry later than the issuer's is undocumented; it is
// treated as escalation (403).
//
// The server adds: a duplicate id is 409 resource_already_exists
// ([ErrTokenExists]); revoking an unknown or already revoked id is 404
// access_token_not_found ([ErrTokenNotFound]), after the revoke permission
// check so that existence is not revealed; a bad id in the revoke path is
// 400 bad_path; a missing, unknown, revoked or expired bearer token is 401
// authn ([ErrAuthn]; the TS client test "rejects invalid token" requires
// 401, the Go one 401 or 403); anything outside the scope is 403
// permission_denied ([Scope.Check]). A token may revoke itself if its scope
// allows revoke-access-token on its own id. Listing shows a token's id,
// expires_at, auto_prefix_streams and scope, never its secret.
//
// # Auto-prefixing
//
// With auto_prefix_streams a token's stream names live under its streams
// prefix: [TokenInfo.StreamNameIn] prepends it to every stream name in a
// request (paths, bodies, the list prefix and start_after) and
// [TokenInfo.StreamNameOut] strips it from every name in a response,
// hiding names outside it. Checks run on the stored (prefixed) names. A
// token issued by an auto-prefixing token names its streams inside the
// issuer's namespace, so Validate moves its stream set under the issuer's
// prefix.
//
// # Secrets
//
// A secret ([NewSecret]) is 32 bytes from crypto/rand in unpadded base64url
// (43 characters; the cloud's format is not documented, only that the
// response carries an opaque string). Only [Hasher.Hash], an HMAC-SHA256
// under a per-deployment 32-byte key, is stored. A slow password hash
// (bcrypt, argon2) buys nothing for a 256-bit random secret, which cannot
// be guessed however fast the hash, and would cost every request a
// deliberate delay or force a cache; a fast hash also lets the hash itself
// be the lookup key. The key means a leaked copy of the metadata alone
// does not even allow offline checking of candidate secrets.
//
// The same fast hash gives no protection to a guessable secret, so the
// operator-supplied root token must be long and random:
// [ValidateRootToken] requires at least 16 bytes of printable ASCII.
//
// # Stored form
//
// [EncodeRecord] writes a token as versioned JSON: {"v":1, "info":
// AccessTokenInfo, "hash": base64, "key_id", "created_at", "issued_by",
// "revoked_at"}. [DecodeRecord] rejects unknown versions.
package auth
