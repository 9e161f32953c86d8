package stream

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/storescan"
	"github.com/s2lite/s2lite/objstore"
)

var (
	testKeyA = bytes.Repeat([]byte{0x42}, 32)
	testKeyB = bytes.Repeat([]byte{0x99}, 32)
)

func keyOf(raw []byte) *EncryptionKey {
	return ParseEncryptionKey(base64.StdEncoding.EncodeToString(raw))
}

func withKey(raw []byte) OpenOption { return WithEncryptionKey(keyOf(raw)) }

func testCipher(t testing.TB, name string, raw []byte) *recordCipher {
	t.Helper()
	c, err := resolveCipher(name, keyOf(raw))
	if err != nil || c == nil {
		t.Fatalf("resolveCipher(%s): %v", name, err)
	}
	return c
}

func sealForTest(t testing.TB, c *recordCipher, id, seq, ts uint64, headers []Header, body []byte) []byte {
	t.Helper()
	nonce, err := c.newNonces(1)
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, c.sealedRecordLen(headers, body))
	c.sealRecord(val, nonce, id, seq, ts, headers, body)
	return val
}

// TestSealedRecordCodec: a sealed record opens with its key where it was
// sealed, and nowhere else: another stream id, position, timestamp or key
// fails authentication; malformed values are corrupt, not a wrong key.
func TestSealedRecordCodec(t *testing.T) {
	for _, name := range []string{CipherAegis256, CipherAES256GCM} {
		t.Run(name, func(t *testing.T) {
			c := testCipher(t, name, testKeyA)
			headers := []Header{{Name: []byte("h-name"), Value: []byte("h-value-secret")}, {Name: []byte("x"), Value: nil}}
			body := []byte("the body is a secret")
			const id, seq, ts = 7, 1234, 99
			val := sealForTest(t, c, id, seq, ts, headers, body)

			if !isSealed(val) || val[10] != c.suite {
				t.Fatalf("stored form %x", val[:12])
			}
			for _, secret := range []string{"h-name", "h-value-secret", "the body is a secret", "secret"} {
				if bytes.Contains(val, []byte(secret)) {
					t.Fatalf("sealed record holds %q in clear", secret)
				}
			}
			wantLen := sealedPrefixLen + c.nonceLen() + recordValueLen(headers, body) - 8 + sealTagLen
			if len(val) != wantLen {
				t.Fatalf("sealed length %d, want %d", len(val), wantLen)
			}

			var arena recordArena
			rec, err := decodeStored(c, &arena, id, seq, val)
			if err != nil {
				t.Fatal(err)
			}
			if rec.SeqNum != seq || rec.Timestamp != ts || string(rec.Body) != string(body) || len(rec.Headers) != 2 ||
				string(rec.Headers[0].Name) != "h-name" || string(rec.Headers[0].Value) != "h-value-secret" || string(rec.Headers[1].Name) != "x" {
				t.Fatalf("opened %+v", rec)
			}
			if rec.MeteredBytes() != MeteredSize(headers, body) {
				t.Fatalf("metered %d, want the plaintext's %d", rec.MeteredBytes(), MeteredSize(headers, body))
			}
			// Opening another record into the same arena leaves the first
			// intact (bytes handed out are never written again).
			val2 := sealForTest(t, c, id, seq+1, ts, nil, []byte("second"))
			rec2, err := decodeStored(c, &arena, id, seq+1, val2)
			if err != nil || string(rec2.Body) != "second" || string(rec.Body) != string(body) {
				t.Fatalf("second record %q (%v); first now %q", rec2.Body, err, rec.Body)
			}

			// Moved: another stream, another position, another timestamp.
			for _, tc := range []struct {
				what    string
				id, seq uint64
				val     []byte
			}{
				{"another stream", id + 1, seq, val},
				{"another position", id, seq + 1, val},
				{"another timestamp", id, seq, withTimestamp(val, ts+1)},
			} {
				_, err := decodeStored(c, &arena, tc.id, tc.seq, tc.val)
				if !errors.Is(err, errDecryption) {
					t.Fatalf("%s: err = %v, want a decryption failure", tc.what, err)
				}
				wantCode(t, decryptError("read", err), CodeDecryptionFailed)
			}
			// Another key.
			other := testCipher(t, name, testKeyB)
			if _, err := decodeStored(other, &arena, id, seq, val); !errors.Is(err, errDecryption) {
				t.Fatalf("another key: %v", err)
			}
			// Tampered ciphertext.
			bad := bytes.Clone(val)
			bad[len(bad)-20] ^= 1
			if _, err := decodeStored(c, &arena, id, seq, bad); !errors.Is(err, errDecryption) {
				t.Fatalf("tampered: %v", err)
			}

			// Inconsistencies are corrupt values (500 storage).
			otherSuite := CipherAES256GCM
			if name == CipherAES256GCM {
				otherSuite = CipherAegis256
			}
			for _, tc := range []struct {
				what string
				c    *recordCipher
				val  []byte
			}{
				{"no cipher on the stream", nil, val},
				{"another cipher on the stream", testCipher(t, otherSuite, testKeyA), val},
				{"unknown suite", c, withByte(val, 10, 9)},
				{"truncated", c, val[:sealedPrefixLen+c.nonceLen()+sealTagLen-1]},
				{"marker only", c, val[:10]},
				{"plain envelope on an encrypted stream", c, encodeRecord(ts, nil, []byte("clear"))},
			} {
				_, err := decodeStored(tc.c, &arena, id, seq, tc.val)
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("%s: err = %v, want corrupt", tc.what, err)
				}
				wantCode(t, decryptError("read", err), CodeStorage)
			}
			// The plain decoder never takes a sealed value for a plain one.
			if _, err := decodeRecord(seq, val); !errors.Is(err, errCorrupt) {
				t.Fatalf("decodeRecord of a sealed value: %v", err)
			}
			// Command records are stored in clear on an encrypted stream.
			cmd := encodeRecord(ts, []Header{{Value: []byte("fence")}}, []byte("tok"))
			if rec, err := decodeStored(c, &arena, id, seq, cmd); err != nil || string(rec.Body) != "tok" {
				t.Fatalf("command record: %+v %v", rec, err)
			}
		})
	}
}

func withTimestamp(val []byte, ts uint64) []byte {
	out := bytes.Clone(val)
	for i := range 8 {
		out[7-i] = byte(ts >> (8 * i))
	}
	return out
}

func withByte(val []byte, i int, b byte) []byte {
	out := bytes.Clone(val)
	out[i] = b
	return out
}

// TestResolveCipher: the key problems of API 7.9 with the reference's
// messages, and a stream without a cipher ignores whatever key is given.
func TestResolveCipher(t *testing.T) {
	for _, tc := range []struct {
		cipher string
		key    *EncryptionKey
		want   string
	}{
		{CipherAegis256, nil, "missing encryption key for stream cipher 'aegis-256'"},
		{CipherAES256GCM, nil, "missing encryption key for stream cipher 'aes-256-gcm'"},
		{CipherAegis256, ParseEncryptionKey("!!!!"), "invalid encryption key for stream cipher 'aegis-256': invalid base64"},
		{CipherAES256GCM, ParseEncryptionKey("AAAA"), "invalid encryption key length for stream cipher 'aes-256-gcm': 3"},
		{CipherAegis256, keyOf(make([]byte, 16)), "invalid encryption key length for stream cipher 'aegis-256': 16"},
		{CipherAegis256, keyOf(make([]byte, 33)), "invalid encryption key length for stream cipher 'aegis-256': 33"},
		{CipherAegis256, ParseEncryptionKey(base64.RawStdEncoding.EncodeToString(testKeyA)), "invalid encryption key for stream cipher 'aegis-256': invalid base64"},
	} {
		_, err := resolveCipher(tc.cipher, tc.key)
		var ke *EncryptionKeyError
		if !errors.As(err, &ke) || ke.Message != tc.want {
			t.Fatalf("%s with %+v: %v, want %q", tc.cipher, tc.key, err, tc.want)
		}
	}
	for _, k := range []*EncryptionKey{nil, ParseEncryptionKey("!!!!"), keyOf(testKeyA)} {
		if c, err := resolveCipher("", k); c != nil || err != nil {
			t.Fatalf("a stream without a cipher: %v %v", c, err)
		}
	}
	k := keyOf(testKeyA)
	c := testCipher(t, CipherAegis256, testKeyA)
	k.Zero()
	if !bytes.Equal(k.key, make([]byte, 32)) {
		t.Fatalf("Zero left %x", k.key)
	}
	// The cipher keeps working after the request's copy is zeroed.
	val := sealForTest(t, c, 1, 2, 3, nil, []byte("after zero"))
	var arena recordArena
	if rec, err := decodeStored(c, &arena, 1, 2, val); err != nil || string(rec.Body) != "after zero" {
		t.Fatalf("%+v %v", rec, err)
	}
}

// TestStreamCipherInheritance: streams take the basin's cipher when they
// are created (explicitly, by ensure, auto-created on append or read), keep
// it whatever the basin or their own config does later, and report it.
func TestStreamCipherInheritance(t *testing.T) {
	e := newEnv(t)
	ctx, svc := e.ctx, e.svc
	e.basin("enc-basin", BasinConfig{StreamCipher: str(CipherAegis256), CreateStreamOnAppend: true, CreateStreamOnRead: true})
	cipherOf := func(info StreamInfo) string {
		if info.Cipher == nil {
			return ""
		}
		return *info.Cipher
	}
	info, _, err := svc.CreateStream(ctx, "enc-basin", "created", StreamConfig{}, "")
	if err != nil || cipherOf(info) != CipherAegis256 {
		t.Fatalf("create: %+v %v", info, err)
	}
	info, res, err := svc.EnsureStream(ctx, "enc-basin", "ensured", StreamConfig{})
	if err != nil || res != Created || cipherOf(info) != CipherAegis256 {
		t.Fatalf("ensure: %+v %v %v", info, res, err)
	}
	if _, err := svc.Append(ctx, "enc-basin", "auto-append", AppendInput{Records: records("a")}, withKey(testKeyA)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CheckTail(ctx, "enc-basin", "auto-tail"); err != nil {
		t.Fatal(err)
	}

	// The basin switches cipher, then drops it: existing streams keep
	// theirs, new ones take the basin's at their creation.
	if _, err := svc.ReconfigureBasin(ctx, "enc-basin", BasinReconfiguration{StreamCipher: Some(CipherAES256GCM)}); err != nil {
		t.Fatal(err)
	}
	e.stream("enc-basin", "gcm", StreamConfig{})
	if _, err := svc.ReconfigureBasin(ctx, "enc-basin", BasinReconfiguration{StreamCipher: Null[string]()}); err != nil {
		t.Fatal(err)
	}
	e.stream("enc-basin", "plain", StreamConfig{})
	// Ensure and reconfigure of an existing stream cannot touch its cipher
	// (a stream config has no cipher field).
	if info, res, err := svc.EnsureStream(ctx, "enc-basin", "ensured", StreamConfig{StorageClass: ptr(StorageClassStandard)}); err != nil || res != Updated || cipherOf(info) != CipherAegis256 {
		t.Fatalf("ensure existing: %+v %v %v", info, res, err)
	}
	if _, err := svc.ReconfigureStream(ctx, "enc-basin", "created", StreamReconfiguration{StorageClass: Some(StorageClassStandard)}); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"auto-append": CipherAegis256, "auto-tail": CipherAegis256, "created": CipherAegis256,
		"ensured": CipherAegis256, "gcm": CipherAES256GCM, "plain": "",
	}
	check := func() {
		t.Helper()
		list, err := e.svc.ListStreams(ctx, "enc-basin", ListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Streams) != len(want) {
			t.Fatalf("%d streams", len(list.Streams))
		}
		for _, s := range list.Streams {
			if cipherOf(s) != want[s.Name] {
				t.Fatalf("stream %s has cipher %q, want %q", s.Name, cipherOf(s), want[s.Name])
			}
		}
	}
	check()
	// The cipher is durable metadata.
	e.reopen()
	check()
	// Appends follow the stream's cipher, not the basin's (now none).
	_, err = e.svc.Append(ctx, "enc-basin", "created", AppendInput{Records: records("x")})
	var ke *EncryptionKeyError
	if !errors.As(err, &ke) || ke.Message != "missing encryption key for stream cipher 'aegis-256'" {
		t.Fatalf("append without key after reopen: %v", err)
	}
}

// encEnv is a service with a basin of each cipher and a plain one, a
// stream "s" in each.
func encEnv(t testing.TB, configure ...func(*Options)) *env {
	e := newEnv(t, configure...)
	e.basin("aegis-basin", BasinConfig{StreamCipher: str(CipherAegis256)})
	e.basin("gcm-basin", BasinConfig{StreamCipher: str(CipherAES256GCM)})
	e.basin("plain-basin", BasinConfig{})
	for _, b := range []string{"aegis-basin", "gcm-basin", "plain-basin"} {
		e.stream(b, "s", StreamConfig{})
	}
	return e
}

// TestEncryptedAppendRead: appends and reads with the key round trip
// (headers, bodies, commands in clear), the key is required on appends
// and reads but not for the tail, a wrong key fails reads with
// decryption_failed, metering is on plaintext, and everything reads back
// after a restart.
func TestEncryptedAppendRead(t *testing.T) {
	e := encEnv(t)
	ctx := e.ctx
	for _, basin := range []string{"aegis-basin", "gcm-basin"} {
		t.Run(basin, func(t *testing.T) {
			svc := e.svc
			in := AppendInput{Records: []AppendRecord{
				{Headers: []Header{{Name: []byte("k"), Value: []byte("v")}}, Body: []byte("one")},
				{Body: []byte("two")},
			}}
			_, err := svc.Append(ctx, basin, "s", in)
			var ke *EncryptionKeyError
			if !errors.As(err, &ke) || !strings.HasPrefix(ke.Message, "missing encryption key for stream cipher '") {
				t.Fatalf("append without key: %v", err)
			}
			_, err = svc.Append(ctx, basin, "s", in, WithEncryptionKey(ParseEncryptionKey("!!!!")))
			if !errors.As(err, &ke) || !strings.HasSuffix(ke.Message, ": invalid base64") {
				t.Fatalf("append with a bad key: %v", err)
			}
			ack, err := svc.Append(ctx, basin, "s", in, withKey(testKeyA))
			if err != nil || ack.End.SeqNum != 2 {
				t.Fatalf("append: %+v %v", ack, err)
			}
			if _, err := svc.Append(ctx, basin, "s", AppendInput{Records: []AppendRecord{fenceRecord("tok"), {Body: []byte("three")}}}, withKey(testKeyA)); err != nil {
				t.Fatal(err)
			}
			// The tail needs no key.
			if tail := e.tail(basin, "s"); tail.SeqNum != 4 {
				t.Fatalf("tail %+v", tail)
			}
			_, err = svc.Read(ctx, basin, "s", ReadRequest{SeqNum: u64(0)})
			if !errors.As(err, &ke) {
				t.Fatalf("read without key: %v", err)
			}
			b, err := svc.Read(ctx, basin, "s", ReadRequest{SeqNum: u64(0)}, withKey(testKeyB))
			wantCode(t, err, CodeDecryptionFailed)
			if len(b.Records) != 0 || err.(*Error).Message != "record decryption failed" || err.(*Error).Status != 400 {
				t.Fatalf("wrong key: %+v %v", b, err)
			}
			// A read of the command record alone needs no decryption.
			if b, err := svc.Read(ctx, basin, "s", ReadRequest{SeqNum: u64(2), Count: u64(1)}, withKey(testKeyB)); err != nil || string(b.Records[0].Body) != "tok" {
				t.Fatalf("command record with another key: %+v %v", b, err)
			}
			check := func(svc *Service) {
				t.Helper()
				b, err := svc.Read(ctx, basin, "s", ReadRequest{SeqNum: u64(0)}, withKey(testKeyA))
				if err != nil || bodies(b.Records) != "one,two,tok,three" || string(b.Records[0].Headers[0].Value) != "v" ||
					string(b.Records[2].Headers[0].Value) != "fence" {
					t.Fatalf("read: %+v %v", b, err)
				}
				// Limits meter the plaintext: "one" with header k:v is
				// 8+2+1+1+3 = 15 bytes.
				b, err = svc.Read(ctx, basin, "s", ReadRequest{SeqNum: u64(0), Bytes: u64(15)}, withKey(testKeyA))
				if err != nil || bodies(b.Records) != "one" {
					t.Fatalf("bytes-limited read: %+v %v", b, err)
				}
			}
			check(svc)
			e.reopen()
			check(e.svc)
		})
	}
	// A plain stream ignores the key, even one that is not base64.
	for _, opt := range []OpenOption{WithEncryptionKey(ParseEncryptionKey("!!!!")), withKey(testKeyA)} {
		if _, err := e.svc.Append(ctx, "plain-basin", "s", AppendInput{Records: records("p")}, opt); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := e.svc.Read(ctx, "plain-basin", "s", ReadRequest{SeqNum: u64(0)}, withKey(testKeyB)); err != nil || bodies(b.Records) != "p,p" {
		t.Fatalf("plain read: %+v %v", b, err)
	}
}

// TestEncryptedStorageHoldsNoPlaintext: no engine value of an encrypted
// stream holds a plaintext body or header, in the memtable or after a
// flush; the same scan finds the plaintext of a plain stream.
func TestEncryptedStorageHoldsNoPlaintext(t *testing.T) {
	e := encEnv(t)
	secrets := []string{"SECRET-BODY-7f3a9c", "SECRET-HEADER-NAME-2b8d", "SECRET-HEADER-VALUE-91e4"}
	in := AppendInput{Records: []AppendRecord{{
		Headers: []Header{{Name: []byte(secrets[1]), Value: []byte(secrets[2])}},
		Body:    []byte(secrets[0]),
	}}}
	for _, b := range []string{"aegis-basin", "gcm-basin"} {
		if _, err := e.svc.Append(e.ctx, b, "s", in, withKey(testKeyA)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	if found := scanStore(t, e, secrets); len(found) > 0 {
		t.Fatalf("plaintext in storage: %v", found)
	}
	// Positive control.
	if _, err := e.svc.Append(e.ctx, "plain-basin", "s", in); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	found := strings.Join(scanStore(t, e, secrets), "; ")
	for _, s := range secrets {
		if !strings.Contains(found, s+" in wal/") || !strings.Contains(found, s+" in sst/") {
			t.Fatalf("the scan found only %q of the plain stream's %s", found, s)
		}
	}
}

// scanStore returns where the secrets are found in e's store: in any
// object as stored, or in a table's decoded entries.
func scanStore(t testing.TB, e *env, secrets []string) []string {
	t.Helper()
	var needles [][]byte
	for _, s := range secrets {
		needles = append(needles, []byte(s))
	}
	found, err := storescan.Find(e.ctx, e.store, needles)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestAESGCMSeqNumLimit: an AES-256-GCM stream refuses envelope records at
// sequence numbers from 2^32 (the reference's message), command records
// pass; AEGIS-256 has no such limit.
func TestAESGCMSeqNumLimit(t *testing.T) {
	e := encEnv(t)
	ctx := e.ctx
	for _, basin := range []string{"aegis-basin", "gcm-basin"} {
		// Import places the stream next to the limit.
		if _, err := e.svc.Import(ctx, basin, "s", []ImportRecord{{SeqNum: 1<<32 - 2, Timestamp: 1, Body: []byte("a")}}, withKey(testKeyA)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Append(ctx, basin, "s", AppendInput{Records: records("last")}, withKey(testKeyA)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.Append(ctx, "gcm-basin", "s", AppendInput{Records: records("over")}, withKey(testKeyA))
	wantCode(t, err, CodeInvalid)
	if msg := err.(*Error).Message; msg != "max assignable sequence number is 4294967295; attempted 4294967296" {
		t.Fatalf("message %q", msg)
	}
	// A command record past the limit is not sealed, so it is allowed; the
	// batch with an envelope after it is not.
	_, err = e.svc.Append(ctx, "gcm-basin", "s", AppendInput{Records: []AppendRecord{fenceRecord("f"), {Body: []byte("x")}}}, withKey(testKeyA))
	if code(err) != CodeInvalid || !strings.Contains(err.Error(), "attempted 4294967297") {
		t.Fatalf("mixed batch: %v", err)
	}
	if _, err := e.svc.Append(ctx, "gcm-basin", "s", AppendInput{Records: []AppendRecord{fenceRecord("f")}}, withKey(testKeyA)); err != nil {
		t.Fatalf("command record past the limit: %v", err)
	}
	if _, err := e.svc.Append(ctx, "aegis-basin", "s", AppendInput{Records: records("beyond")}, withKey(testKeyA)); err != nil {
		t.Fatalf("AEGIS-256 past 2^32: %v", err)
	}
	b, err := e.svc.Read(ctx, "aegis-basin", "s", ReadRequest{SeqNum: u64(1<<32 - 2)}, withKey(testKeyA))
	if err != nil || bodies(b.Records) != "a,last,beyond" {
		t.Fatalf("%+v %v", b, err)
	}
}

// TestEncryptedFollowers: followers at the tail receive live batches in
// sealed form and open them with their own keys: the right key gets the
// records, a wrong key ends with decryption_failed having seen nothing,
// and what the stream shares between followers holds no plaintext.
func TestEncryptedFollowers(t *testing.T) {
	e := encEnv(t, func(o *Options) { o.HeartbeatMin, o.HeartbeatMax = 20*time.Millisecond, 30*time.Millisecond })
	ctx := e.ctx
	for _, basin := range []string{"aegis-basin", "gcm-basin"} {
		t.Run(basin, func(t *testing.T) {
			e.appendKey(basin, "s", testKeyA, "old")
			open := func(start uint64, key []byte) *ReadSession {
				t.Helper()
				sess, err := e.svc.OpenReadSession(ctx, basin, "s", ReadRequest{SeqNum: u64(start)}, withKey(key))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(sess.Close)
				return sess
			}
			good, bad := open(0, testKeyA), open(1, testKeyB)
			if b, err := good.Next(ctx); err != nil || bodies(b.Records) != "old" {
				t.Fatalf("catch-up: %+v %v", b, err)
			}
			for _, s := range []*ReadSession{good, bad} {
				if b, err := s.Next(ctx); err != nil || !b.IsHeartbeat() {
					t.Fatalf("at the tail: %+v %v", b, err)
				}
			}
			// A raw follower sees what every session shares.
			h := e.svc.lookupStream(streamMapKey(basin, "s"))
			f, _, ok, err := h.subscribe(1)
			if err != nil || !ok {
				t.Fatalf("subscribe: %v %v", ok, err)
			}
			e.appendKey(basin, "s", testKeyA, "live-secret-1", "live-secret-2")
			lb := <-f.ch
			h.unsubscribe(f)
			h.release()
			if len(lb.values) != 2 || len(lb.records) != 2 {
				t.Fatalf("live batch %+v", lb)
			}
			for i, r := range lb.records {
				if r.Body != nil || r.Headers != nil || !isSealed(lb.values[i]) || bytes.Contains(lb.values[i], []byte("live-secret")) {
					t.Fatalf("shared live record %d: %+v %x", i, r, lb.values[i])
				}
			}

			b, err := good.Next(ctx)
			if err != nil || bodies(b.Records) != "live-secret-1,live-secret-2" || b.Tail == nil || b.Tail.SeqNum != 3 {
				t.Fatalf("live batch with the key: %+v %v", b, err)
			}
			b, err = bad.Next(ctx)
			wantCode(t, err, CodeDecryptionFailed)
			if len(b.Records) != 0 {
				t.Fatalf("wrong key got %+v", b)
			}
			// Catching up with a wrong key fails the same way.
			_, err = open(0, testKeyB).Next(ctx)
			wantCode(t, err, CodeDecryptionFailed)
			// A long poll with the key gets the next live batch.
			followers := func() int {
				h := e.svc.lookupStream(streamMapKey(basin, "s"))
				defer h.release()
				h.mu.Lock()
				defer h.mu.Unlock()
				return len(h.followers)
			}
			before := followers()
			done := make(chan ReadBatch, 1)
			go func() {
				b, err := e.svc.Read(ctx, basin, "s", ReadRequest{Wait: dur(10 * time.Second)}, withKey(testKeyA))
				if err != nil {
					t.Error(err)
				}
				done <- b
			}()
			eventually(t, "the long poll to follow", func() bool { return followers() > before })
			e.appendKey(basin, "s", testKeyA, "polled")
			if b := <-done; bodies(b.Records) != "polled" {
				t.Fatalf("long poll: %+v", b)
			}
		})
	}
}

func (e *env) appendKey(basin, name string, key []byte, bodies ...string) AppendAck {
	e.t.Helper()
	ack, err := e.svc.Append(e.ctx, basin, name, AppendInput{Records: records(bodies...)}, withKey(key))
	if err != nil {
		e.t.Fatalf("append: %v", err)
	}
	return ack
}

// TestEncryptedRepairAndRecovery: a sealed batch whose WAL write landed
// but reported failure is erased by the repair, its position is sealed
// again (with a fresh nonce) by the next append, and after a restart the
// log replays into records that open with the key.
func TestEncryptedRepairAndRecovery(t *testing.T) {
	gs := &gateStore{Store: objstore.NewMemory(), failAfter: true}
	e := newEnvOn(t, gs)
	e.basin("enc-basin", BasinConfig{StreamCipher: str(CipherAES256GCM)})
	e.stream("enc-basin", "s", StreamConfig{})
	e.appendKey("enc-basin", "s", testKeyA, "a")
	gs.setFail(true)
	_, err := e.svc.Append(e.ctx, "enc-basin", "s", AppendInput{Records: records("lost")}, withKey(testKeyA))
	wantCode(t, err, CodeStorage)
	gs.setFail(false)
	h := e.svc.lookupStream(streamMapKey("enc-basin", "s"))
	eventually(t, "repair", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.needRepair
	})
	h.release()
	if ack := e.appendKey("enc-basin", "s", testKeyA, "b"); ack.Start.SeqNum != 1 {
		t.Fatalf("append after the repair: %+v", ack)
	}
	read := func() string {
		t.Helper()
		b, err := e.svc.Read(e.ctx, "enc-basin", "s", ReadRequest{SeqNum: u64(0)}, withKey(testKeyA))
		if err != nil {
			t.Fatal(err)
		}
		return bodies(b.Records)
	}
	if got := read(); got != "a,b" {
		t.Fatalf("stream holds %q", got)
	}
	e.reopen() // nothing flushed: the records come back from the WAL
	if got := read(); got != "a,b" {
		t.Fatalf("after restart the stream holds %q", got)
	}
	if err := e.db.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if got := read(); got != "a,b" {
		t.Fatalf("after a flush and a restart the stream holds %q", got)
	}
}

// TestStoredInconsistenciesAreStorageErrors: a stored record that cannot be
// what the stream's cipher says (sealed on a plain stream, sealed with an
// unknown suite, truncated, in clear on an encrypted stream) fails a read
// with 500 storage, not decryption_failed, whatever the key.
func TestStoredInconsistenciesAreStorageErrors(t *testing.T) {
	e := encEnv(t)
	e.appendBodies("plain-basin", "s", "p")
	e.appendKey("aegis-basin", "s", testKeyA, "a")
	idOf := func(basin string) uint64 {
		h := e.svc.lookupStream(streamMapKey(basin, "s"))
		defer h.release()
		return h.id
	}
	overwrite := func(basin string, val []byte) {
		t.Helper()
		b := engine.NewBatch()
		b.Set(recordKey(idOf(basin), 0), val)
		if err := e.db.Write(e.ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	read := func(basin string) error {
		_, err := e.svc.Read(e.ctx, basin, "s", ReadRequest{SeqNum: u64(0)}, withKey(testKeyA))
		return err
	}
	c := testCipher(t, CipherAegis256, testKeyA)
	sealed := sealForTest(t, c, idOf("plain-basin"), 0, 1, nil, []byte("x"))
	overwrite("plain-basin", sealed)
	wantCode(t, read("plain-basin"), CodeStorage)

	for _, val := range [][]byte{
		withByte(sealForTest(t, c, idOf("aegis-basin"), 0, 1, nil, []byte("x")), 10, 7),
		sealForTest(t, c, idOf("aegis-basin"), 0, 1, nil, []byte("x"))[:20],
		encodeRecord(1, nil, []byte("in clear")),
	} {
		overwrite("aegis-basin", val)
		wantCode(t, read("aegis-basin"), CodeStorage)
	}
	// The right form again reads fine.
	overwrite("aegis-basin", sealForTest(t, c, idOf("aegis-basin"), 0, 1, nil, []byte("fixed")))
	if b, err := e.svc.Read(e.ctx, "aegis-basin", "s", ReadRequest{SeqNum: u64(0)}, withKey(testKeyA)); err != nil || bodies(b.Records) != "fixed" {
		t.Fatalf("%+v %v", b, err)
	}
}
