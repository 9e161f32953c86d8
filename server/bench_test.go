package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/stream"
)

// BenchmarkS2SReadWarm reads a 16 MiB stream of 1 KiB records from flushed
// tables through an S2S read session over h2c, with the block cache warm:
// the server's per-byte CPU cost of catch-up reads, framing and HTTP/2
// included. The client only splits frames; it does not decode them.
// benchStreamBytes is the size of the record bodies of benchStream.
const benchStreamBytes = 1024 * 1000 * 16

// benchStream is a server whose stream "s" holds 16 MiB of 1 KiB records,
// flushed to tables.
func benchStream(b *testing.B) *env { return benchStreamOn(b, objstore.NewMemory()) }

func benchStreamOn(b *testing.B, store objstore.Store) *env {
	return benchStreamCipher(b, store, "")
}

// benchStreamCipher is benchStreamOn with the stream encrypted by cipher
// ("" for none) under encKeyA.
func benchStreamCipher(b *testing.B, store objstore.Store, cipher string) *env {
	e := newEnv(b, envOptions{store: store})
	var opts []stream.OpenOption
	if cipher != "" {
		e.basinAndStream("s", map[string]any{"stream_cipher": cipher})
		opts = append(opts, stream.WithEncryptionKey(stream.ParseEncryptionKey(encKeyA)))
	} else {
		e.basinAndStream("s", nil)
	}
	ctx := context.Background()
	const recordBytes, perBatch, batches = 1024, 1000, 16
	// Distinct bodies snappy cannot shrink, like most payloads (and like
	// the server benchmark's).
	pool := make([]byte, 2<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range pool {
		pool[i] = byte(rng.Uint32())
	}
	off := 0
	for range batches {
		in := stream.AppendInput{Records: make([]stream.AppendRecord, perBatch)}
		for i := range in.Records {
			off = (off + recordBytes + 7) % (len(pool) - recordBytes)
			in.Records[i].Body = pool[off : off+recordBytes]
		}
		if _, err := e.svc.Append(ctx, testBasin, "s", in, opts...); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.db.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return e
}

// benchReadAll starts a read of the whole of benchStream's stream, with
// the given header pairs, and checks that it is accepted.
func benchReadAll(b *testing.B, e *env, client *http.Client, kv ...string) *http.Response {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, e.base+"/v1/streams/s/records?seq_num=0&wait=0", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("s2-basin", testBasin)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		b.Fatalf("status %d", resp.StatusCode)
	}
	return resp
}

func BenchmarkS2SReadWarm(b *testing.B) { benchS2SRead(b, nil) }

// BenchmarkS2SReadWarmCipher is BenchmarkS2SReadWarm on a stream without a
// cipher and with each cipher, side by side: the cost of opening every
// record of a catch-up with the session's key.
func BenchmarkS2SReadWarmCipher(b *testing.B) {
	for _, cipher := range benchCiphers {
		b.Run(cipherName(cipher), func(b *testing.B) {
			e := benchStreamCipher(b, objstore.NewMemory(), cipher)
			kv := []string{"Content-Type", "s2s/proto"}
			if cipher != "" {
				kv = append(kv, "s2-encryption-key", encKeyA)
			}
			benchS2SReadOn(b, e, nil, kv...)
		})
	}
}

// benchCiphers are the stream ciphers the encryption benchmarks compare:
// none, then each of API 7.9.
var benchCiphers = []string{"", stream.CipherAegis256, stream.CipherAES256GCM}

func cipherName(c string) string {
	if c == "" {
		return "none"
	}
	return c
}

// BenchmarkS2SReadColdS3 is BenchmarkS2SReadWarm against MinIO (when the
// harness provides one) after a restart before every read, so that every
// table is fetched: the cost of cold catch-up reads in the server.
func BenchmarkS2SReadColdS3(b *testing.B) {
	if !s3test.Enabled() {
		b.Skip("S2LITE_TEST_S3 not set")
	}
	benchS2SRead(b, objstore.NewRetrying(s3test.Store(b), objstore.RetryOptions{}))
}

// benchS2SRead reads benchStream's stream through S2S; with a store, on
// that store, restarting before every read.
func benchS2SRead(b *testing.B, store objstore.Store) {
	var e *env
	if store == nil {
		e = benchStream(b)
	} else {
		e = benchStreamOn(b, store)
	}
	benchS2SReadOn(b, e, store, "Content-Type", "s2s/proto")
}

// benchS2SReadOn is benchS2SRead on e's stream, reading with the header
// pairs kv.
func benchS2SReadOn(b *testing.B, e *env, store objstore.Store, kv ...string) {
	read := func() int64 {
		resp := benchReadAll(b, e, e.h2, kv...)
		defer resp.Body.Close()
		var n int64
		var hdr [3]byte
		buf := make([]byte, maxFrameLen)
		for {
			if _, err := io.ReadFull(resp.Body, hdr[:]); err != nil {
				if errors.Is(err, io.EOF) {
					return n
				}
				b.Fatal(err)
			}
			l := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
			if _, err := io.ReadFull(resp.Body, buf[:l]); err != nil {
				b.Fatal(err)
			}
			if buf[0]&flagTerminal != 0 {
				b.Fatalf("terminal message: %s", buf[1:l])
			}
			n += int64(l)
		}
	}
	if got := read(); got < benchStreamBytes {
		b.Fatalf("read %d bytes of frames, want at least %d", got, benchStreamBytes)
	}
	b.SetBytes(benchStreamBytes)
	b.ResetTimer()
	for b.Loop() {
		if store != nil {
			b.StopTimer()
			e.close()
			e = newEnv(b, envOptions{store: store})
			b.StartTimer()
		}
		read()
	}
}

// BenchmarkSSEReadWarm is BenchmarkS2SReadWarm for an SSE read session with
// base64 bodies over HTTP/1.1, the browser's way to read.
func BenchmarkSSEReadWarm(b *testing.B) {
	e := benchStream(b)
	read := func() int64 {
		resp := benchReadAll(b, e, e.h1, "Accept", "text/event-stream", "s2-format", "base64")
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	// base64 makes 1 KiB bodies 1368 bytes of JSON.
	if got := read(); got < benchStreamBytes*4/3 {
		b.Fatalf("read %d bytes of events, want at least %d", got, benchStreamBytes*4/3)
	}
	b.SetBytes(benchStreamBytes)
	b.ResetTimer()
	for b.Loop() {
		read()
	}
}

// benchAppendBatch is the batch the append benchmarks send: 1000 records of
// 1 KiB, printable so that it can travel as raw JSON strings.
func benchAppendBatch() [][]byte {
	recs := make([][]byte, 1000)
	for i := range recs {
		body := make([]byte, 1024)
		for j := range body {
			body[j] = 'a' + byte((i+j)%26)
		}
		recs[i] = body
	}
	return recs
}

// benchAppendUnary posts body to the append endpoint of stream "s" b.N
// times and checks each ack. It measures the server's cost of a large
// unary append: parsing, sequencing, the WAL write to a memory store and
// the ack.
func benchAppendUnary(b *testing.B, records int, body []byte, kv ...string) {
	b.SetBytes(int64(records) * 1024)
	benchAppendUnaryBytes(b, body, kv...)
}

// benchAppendUnaryBytes is benchAppendUnary for a caller that has set the
// bytes per operation.
func benchAppendUnaryBytes(b *testing.B, body []byte, kv ...string) {
	e := newEnv(b, envOptions{})
	e.basinAndStream("s", nil)
	benchAppendOn(b, e, body, kv...)
}

func benchAppendOn(b *testing.B, e *env, body []byte, kv ...string) {
	b.ResetTimer()
	for b.Loop() {
		r := e.call(http.MethodPost, "/v1/streams/s/records", body, append([]string{"s2-basin", testBasin}, kv...)...)
		if r.status != http.StatusOK {
			b.Fatalf("append: %v", r)
		}
	}
}

func BenchmarkAppendUnaryJSON(b *testing.B) {
	var in struct {
		Records []struct {
			Body string `json:"body"`
		} `json:"records"`
	}
	for _, r := range benchAppendBatch() {
		in.Records = append(in.Records, struct {
			Body string `json:"body"`
		}{string(r)})
	}
	body, err := json.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	benchAppendUnary(b, 1000, body, "Content-Type", "application/json")
}

func BenchmarkAppendUnaryProto(b *testing.B) {
	var recs []pbMessage
	for _, r := range benchAppendBatch() {
		recs = append(recs, pbRecord(b, -1, r))
	}
	benchAppendUnary(b, 1000, pbInput(b, recs...).marshal(b), "Content-Type", "application/protobuf")
}

// BenchmarkAppendUnaryProtoCipher is a unary protobuf append of 1000
// records of 1 KiB (as BenchmarkAppendUnaryProto) and of 15 records of 64
// KiB (as BenchmarkAppendUnaryProtoLarge) on a stream without a cipher and
// with each cipher, side by side: the cost of sealing every record in the
// sequencer. The bodies are random: ciphertext does not compress, and
// bodies that did would make the plain stream's tables cheaper for
// reasons that have nothing to do with encryption.
func BenchmarkAppendUnaryProtoCipher(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		return body
	}
	var small, large []pbMessage
	for range 1000 {
		small = append(small, pbRecord(b, -1, random(1024)))
	}
	for range 15 {
		large = append(large, pbRecord(b, -1, random(64<<10)))
	}
	for _, size := range []struct {
		name  string
		recs  []pbMessage
		bytes int64
	}{{"1KiB", small, 1000 << 10}, {"64KiB", large, 15 << 16}} {
		body := pbInput(b, size.recs...).marshal(b)
		for _, cipher := range benchCiphers {
			b.Run(size.name+"/"+cipherName(cipher), func(b *testing.B) {
				e := newEnv(b, envOptions{})
				kv := []string{"Content-Type", "application/protobuf"}
				if cipher != "" {
					e.basinAndStream("s", map[string]any{"stream_cipher": cipher})
					kv = append(kv, "s2-encryption-key", encKeyA)
				} else {
					e.basinAndStream("s", nil)
				}
				b.SetBytes(size.bytes)
				benchAppendOn(b, e, body, kv...)
			})
		}
	}
}

// BenchmarkAppendUnaryJSONSmall is one 1 KiB record per request: the
// server's fixed cost of a unary append.
func BenchmarkAppendUnaryJSONSmall(b *testing.B) {
	body, err := json.Marshal(map[string]any{"records": []map[string]string{{"body": string(benchAppendBatch()[0])}}})
	if err != nil {
		b.Fatal(err)
	}
	benchAppendUnary(b, 1, body, "Content-Type", "application/json")
}

// BenchmarkAppendUnaryProtoLarge is 15 records of 64 KiB per request: the
// cost per byte of an append of large records (copies, checksums).
func BenchmarkAppendUnaryProtoLarge(b *testing.B) {
	var recs []pbMessage
	for i := range 15 {
		body := make([]byte, 64<<10)
		for j := range body {
			body[j] = byte(i*7 + j*13)
		}
		recs = append(recs, pbRecord(b, -1, body))
	}
	b.SetBytes(15 << 16)
	benchAppendUnaryBytes(b, pbInput(b, recs...).marshal(b), "Content-Type", "application/protobuf")
}

// BenchmarkAppendUnaryJSONSmallAuth is BenchmarkAppendUnaryJSONSmall with
// access tokens on and a scoped (not root) token: compare the two for the
// cost of authorization on the request path.
func BenchmarkAppendUnaryJSONSmallAuth(b *testing.B) {
	body, err := json.Marshal(map[string]any{"records": []map[string]string{{"body": string(benchAppendBatch()[0])}}})
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, envOptions{auth: true})
	e.basinAndStream("s", nil)
	e.token = benchScopedToken(b, e)
	b.SetBytes(1024)
	benchAppendOn(b, e, body, "Content-Type", "application/json")
}

// benchScopedToken issues a token that may append to and read the
// benchmark's stream.
func benchScopedToken(b *testing.B, e *env) string {
	r := e.call("POST", "/v1/access-tokens", `{"id":"bench","scope":{"basins":{"prefix":"`+testBasin[:4]+`"},"streams":{"exact":"s"},"op_groups":{"stream":{"read":true,"write":true}}}}`,
		"content-type", "application/json")
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.AccessToken == "" {
		b.Fatalf("issue: %v", r)
	}
	return out.AccessToken
}

// BenchmarkAuthorize is the authorization of one request alone: hashing
// the secret, the token lookup, the operation and resource checks.
func BenchmarkAuthorize(b *testing.B) {
	e := newEnv(b, envOptions{auth: true})
	e.basinAndStream("s", nil)
	secret := benchScopedToken(b, e)
	req, _ := http.NewRequest(http.MethodPost, "/v1/streams/s/records", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("s2-basin", testBasin)
	rt, _, params := e.srv.router.lookup(req)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.srv.authorize(req, rt, []string{params[0]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendUnaryJSONSmallUsage is BenchmarkAppendUnaryJSONSmall with
// usage metrics on: compare the two for the cost of counting on the
// append path.
func BenchmarkAppendUnaryJSONSmallUsage(b *testing.B) {
	body, err := json.Marshal(map[string]any{"records": []map[string]string{{"body": string(benchAppendBatch()[0])}}})
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, envOptions{usage: true})
	e.basinAndStream("s", nil)
	b.SetBytes(1024)
	benchAppendOn(b, e, body, "Content-Type", "application/json")
}
