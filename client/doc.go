// Package client is a Go client of the S2 durable-streams API, version 1:
// the REST API (JSON and protobuf bodies), read sessions over Server-Sent
// Events and S2S (framed protobuf over HTTP/2), and pipelined S2S append
// sessions. It speaks to s2lite and to any other S2 v1 server, and it
// depends on nothing else of s2lite: it is written from the API contract.
//
// A client is configured from the same environment the official S2 SDKs and
// CLI read:
//
//	S2_ACCOUNT_ENDPOINT   where account operations go (basins, tokens), e.g. http://localhost:8080
//	S2_BASIN_ENDPOINT     where stream and record operations go; the basin is
//	                      named in the s2-basin header
//	S2_ACCESS_TOKEN       sent as "Authorization: Bearer <token>"
//
//	c, err := client.New(client.ConfigFromEnv())
//	if err != nil { ... }
//	defer c.Close()
//	_, err = c.CreateBasin(ctx, "my-basin", client.CreateBasinOptions{})
//	s := c.Basin("my-basin").Stream("events")
//	ack, err := s.Append(ctx, client.AppendInput{Records: []client.AppendRecord{{Body: []byte("hello")}}})
//	batch, err := s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
//
// Access tokens (API 13) are issued, listed and revoked on the account
// endpoint; a scope names operations or operation groups and the basins,
// streams and tokens they apply to:
//
//	secret, err := c.IssueAccessToken(ctx, client.AccessTokenInfo{
//		ID: "reader",
//		Scope: client.AccessTokenScope{
//			Basins:   client.MatchExact("my-basin"),
//			Streams:  client.MatchPrefix("events/"),
//			OpGroups: &client.PermittedOperationGroups{Stream: &client.ReadWritePermissions{Read: true}},
//		},
//	})
//
// Encrypted streams (API 7.9): a basin created with a StreamCipher
// (CipherAegis256 or CipherAes256Gcm) gives it to every stream created in it
// afterwards, and appends and reads of those streams must carry the stream's
// 32-byte key, which the server uses for the request and never stores. As
// in the official SDKs the key belongs to a stream handle; Config.EncryptionKey
// is the key every handle of a client starts with:
//
//	key, err := client.ParseEncryptionKey(os.Getenv("S2_ENCRYPTION_KEY")) // or NewEncryptionKey(raw)
//	s := c.Basin("secret-basin").Stream("events").WithEncryptionKey(key)
//	_, err = s.Append(ctx, client.AppendInput{Records: []client.AppendRecord{{Body: []byte("top secret")}}})
//
// Without the key such a stream answers 400 bad_header, with another key
// reads fail with 400 decryption_failed (appends succeed: the server cannot
// tell). Check-tail needs no key. An EncryptionKey never prints its value.
//
// Requests that failed with an error the API marks retryable (section 12.2:
// unavailable, storage, transaction_conflict, rate_limited, ...) or that
// never reached the server are retried with exponential backoff and jitter.
// Appends are retried only when the failure guarantees the append took no
// effect, unless Config.AppendRetry is AppendRetryAll: an append whose
// outcome is unknown (a timeout, a 500 "other") could otherwise be
// written twice. An access-token issue is retried only when it provably
// took no effect, whatever AppendRetry says: a retry of one that took
// effect would fail (the id is taken) and lose the secret. Read sessions
// resume after a retryable failure from the record after the last one
// delivered, with their limits reduced by what was already delivered, so
// a caller sees each record once.
//
// Errors from the server are *Error values (status, code, message);
// a failed append condition is an *AppendConditionError and a read start
// beyond the tail a *RangeNotSatisfiableError, so callers can use
// errors.As. A request that got no answer fails with a *TransportError,
// which wraps the cause: a refused or reset connection, or the context's
// error when a deadline or cancellation cut the request short (then the
// outcome of an append is unknown).
package client
