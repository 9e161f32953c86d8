package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/storescan"
	"github.com/s2lite/s2lite/objstore"
)

// Encryption at rest (API 7.9) through the HTTP API.

var (
	encKeyA = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))
	encKeyB = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x99}, 32))
)

// encBasins creates a basin per cipher and a plain one, each with stream
// "s", and returns the basin names by cipher ("" for the plain one).
func encBasins(t testing.TB, e *env) map[string]string {
	t.Helper()
	basins := map[string]string{"aegis-256": "aegis-basin", "aes-256-gcm": "gcm-basin", "": "plain-basin"}
	for cipher, b := range basins {
		config := map[string]any{"create_stream_on_append": true, "create_stream_on_read": true}
		if cipher != "" {
			config["stream_cipher"] = cipher
		}
		e.call("POST", "/v1/basins", map[string]any{"basin": b, "config": config}).expect(t, http.StatusCreated)
		e.call("POST", "/v1/streams", map[string]any{"stream": "s"}, "s2-basin", b).expect(t, http.StatusCreated)
	}
	return basins
}

// expectMessage is expectError with the exact message.
func (r *response) expectMessage(t testing.TB, status int, code, message string) {
	t.Helper()
	r.expectError(t, status, code)
	var info errorInfo
	r.decode(t, &info)
	if info.Message != message {
		t.Fatalf("message %q, want %q", info.Message, message)
	}
}

func streamCiphers(t testing.TB, e *env, basin string) map[string]any {
	t.Helper()
	var list struct {
		Streams []map[string]any `json:"streams"`
	}
	e.call("GET", "/v1/streams", nil, "s2-basin", basin).expect(t, http.StatusOK).decode(t, &list)
	out := map[string]any{}
	for _, s := range list.Streams {
		out[s["name"].(string)] = s["cipher"]
	}
	return out
}

// TestStreamCipherHTTP: the basin's stream_cipher is accepted on create,
// ensure and reconfigure and copied into streams created afterwards
// (StreamInfo.cipher), auto-created ones included; a stream's cipher
// never changes. A stream config has no cipher field: a "cipher" key in a
// stream create, ensure or reconfigure body is ignored like any unknown
// key of a body (as in the reference), and in the s2-stream-config header
// it is refused (400 bad_header, that header's rule for unknown keys).
func TestStreamCipherHTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	hb := []string{"s2-basin", "enc-basin"}
	e.call("PUT", "/v1/basins/enc-basin", map[string]any{"config": map[string]any{"stream_cipher": "aegis-256", "create_stream_on_append": true}}).
		expect(t, http.StatusCreated)
	jsonEqual(t, e.call("GET", "/v1/basins/enc-basin", nil).expect(t, http.StatusOK).body,
		`{"default_stream_config":null,"stream_cipher":"aegis-256","create_stream_on_append":true,"create_stream_on_read":false}`)

	r := e.call("POST", "/v1/streams", map[string]any{"stream": "first"}, hb...).expect(t, http.StatusCreated)
	if info := r.object(t); info["cipher"] != "aegis-256" {
		t.Fatalf("created stream info %s", r.body)
	}
	// An auto-created stream takes the cipher too.
	e.call("POST", "/v1/streams/auto/records", map[string]any{"records": []any{map[string]any{"body": "x"}}},
		append(hb, "s2-encryption-key", encKeyA)...).expect(t, http.StatusOK)

	// The basin's cipher changes: existing streams keep theirs.
	jsonEqual(t, e.call("PATCH", "/v1/basins/enc-basin", map[string]any{"stream_cipher": "aes-256-gcm"}).expect(t, http.StatusOK).body,
		`{"default_stream_config":null,"stream_cipher":"aes-256-gcm","create_stream_on_append":true,"create_stream_on_read":false}`)
	r = e.call("PUT", "/v1/streams/second", map[string]any{}, hb...).expect(t, http.StatusCreated)
	if info := r.object(t); info["cipher"] != "aes-256-gcm" {
		t.Fatalf("ensured stream info %s", r.body)
	}
	e.call("PATCH", "/v1/basins/enc-basin", map[string]any{"stream_cipher": nil}).expect(t, http.StatusOK)
	e.call("POST", "/v1/streams", map[string]any{"stream": "third"}, hb...).expect(t, http.StatusCreated)

	// Attempts to change a stream's cipher through its config.
	e.call("PATCH", "/v1/streams/first", map[string]any{"cipher": nil, "storage_class": "standard"}, hb...).expect(t, http.StatusOK)
	e.call("PATCH", "/v1/streams/second", map[string]any{"cipher": "aegis-256"}, hb...).expect(t, http.StatusOK)
	r = e.call("PUT", "/v1/streams/first", map[string]any{"cipher": "aes-256-gcm"}, hb...).expect(t, http.StatusOK)
	if info := r.object(t); info["cipher"] != "aegis-256" || r.header.Get("s2-provision-result") != "updated" {
		t.Fatalf("ensure of an existing stream: %s %v", r.body, r.header)
	}
	e.call("POST", "/v1/streams", map[string]any{"stream": "fourth", "config": map[string]any{"cipher": "aegis-256"}}, hb...).expect(t, http.StatusCreated)
	e.call("POST", "/v1/streams/fifth/records", map[string]any{"records": []any{map[string]any{"body": "x"}}},
		append(hb, "s2-stream-config", `{"cipher":"aegis-256"}`)...).expectError(t, http.StatusBadRequest, "bad_header")

	want := map[string]any{"first": "aegis-256", "auto": "aegis-256", "second": "aes-256-gcm", "third": nil, "fourth": nil}
	got := streamCiphers(t, e, "enc-basin")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream ciphers %v, want %v", got, want)
	}
	// A cipher that is not one of the two is a body problem.
	e.call("PATCH", "/v1/basins/enc-basin", map[string]any{"stream_cipher": "aes-128-gcm"}).expectError(t, http.StatusBadRequest, "bad_json")
}

// TestEncryptionKeyErrors: every key problem on appends and reads of every
// kind (unary JSON and protobuf, SSE, S2S), with the reference's messages;
// plain streams ignore the header; check-tail needs no key.
func TestEncryptionKeyErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	basins := encBasins(t, e)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
		hb := []string{"s2-basin", basins[cipher]}
		cases := []struct {
			key     []string // header pair, or none
			message string
		}{
			{nil, "missing encryption key for stream cipher '" + cipher + "'"},
			{[]string{"s2-encryption-key", "!!!!"}, "invalid encryption key for stream cipher '" + cipher + "': invalid base64"},
			{[]string{"s2-encryption-key", short}, "invalid encryption key length for stream cipher '" + cipher + "': 16"},
			{[]string{"s2-encryption-key", " " + short + "  "}, "invalid encryption key length for stream cipher '" + cipher + "': 16"},
			{[]string{"s2-encryption-key", "  "}, "Invalid header `s2-encryption-key`: invalid encryption key: key material length 0 is out of range"},
			{[]string{"s2-encryption-key", strings.Repeat("A", 45)}, "Invalid header `s2-encryption-key`: invalid encryption key: key material length 45 is out of range"},
		}
		for _, tc := range cases {
			h := append(append([]string{}, hb...), tc.key...)
			// Unary appends, JSON and protobuf.
			e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "x"}}}, h...).
				expectMessage(t, http.StatusBadRequest, "bad_header", tc.message)
			e.call("POST", "/v1/streams/s/records", pbInput(t, pbRecord(t, -1, []byte("x"))).marshal(t), append(h, "content-type", "application/protobuf")...).
				expectMessage(t, http.StatusBadRequest, "bad_header", tc.message)
			// Unary reads, JSON, protobuf and a long poll.
			e.call("GET", "/v1/streams/s/records?seq_num=0", nil, h...).expectMessage(t, http.StatusBadRequest, "bad_header", tc.message)
			e.call("GET", "/v1/streams/s/records?seq_num=0", nil, append(h, "accept", "application/protobuf")...).
				expectMessage(t, http.StatusBadRequest, "bad_header", tc.message)
			e.call("GET", "/v1/streams/s/records?wait=5", nil, h...).expectMessage(t, http.StatusBadRequest, "bad_header", tc.message)
			// Sessions: refused at open.
			if c, r := e.openSSE("/v1/streams/s/records?seq_num=0", h...); c != nil {
				t.Fatal("SSE session opened")
			} else {
				r.expectMessage(t, http.StatusBadRequest, "bad_header", tc.message)
			}
			for _, m := range []string{"GET", "POST"} {
				if c, r := e.openS2S(m, "/v1/streams/s/records", h...); c != nil {
					t.Fatalf("S2S %s session opened", m)
				} else {
					r.expectMessage(t, http.StatusBadRequest, "bad_header", tc.message)
				}
			}
		}
		// Check-tail needs no key; the records are not there.
		jsonEqual(t, e.call("GET", "/v1/streams/s/records/tail", nil, hb...).expect(t, http.StatusOK).body, `{"tail":{"seq_num":0,"timestamp":0}}`)
		// Auto-created on read: the stream is created, then the key is
		// required (the reference's order).
		e.call("GET", "/v1/streams/auto-read/records?seq_num=0", nil, hb...).
			expectMessage(t, http.StatusBadRequest, "bad_header", "missing encryption key for stream cipher '"+cipher+"'")
		if streamCiphers(t, e, basins[cipher])["auto-read"] != cipher {
			t.Fatal("auto-created stream without its cipher")
		}
	}
	// A plain stream ignores the header, even a value that is not base64;
	// its length is checked on every stream (it is parsed before the
	// stream is known).
	hb := []string{"s2-basin", basins[""]}
	for _, k := range []string{"!!!!", short, encKeyA} {
		e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "p"}}}, append(hb, "s2-encryption-key", k)...).
			expect(t, http.StatusOK)
		e.call("GET", "/v1/streams/s/records?seq_num=0", nil, append(hb, "s2-encryption-key", k)...).expect(t, http.StatusOK)
	}
	e.call("GET", "/v1/streams/s/records?seq_num=0", nil, append(hb, "s2-encryption-key", strings.Repeat("A", 45))...).
		expectError(t, http.StatusBadRequest, "bad_header")
}

// TestEncryptedRecordsHTTP: appends and reads with the key round trip in
// JSON and protobuf; a wrong key on read is 400 decryption_failed;
// records read back after a restart on the same store.
func TestEncryptedRecordsHTTP(t *testing.T) {
	store := objstore.NewMemory()
	e := newEnv(t, envOptions{store: store})
	basins := encBasins(t, e)
	for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
		hb := []string{"s2-basin", basins[cipher]}
		withA := append(append([]string{}, hb...), "s2-encryption-key", encKeyA)
		withB := append(append([]string{}, hb...), "s2-encryption-key", encKeyB)
		e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{
			map[string]any{"headers": [][2]string{{"h", "json-header"}}, "body": "json-body"},
		}}, withA...).expect(t, http.StatusOK)
		e.call("POST", "/v1/streams/s/records", pbInput(t, pbRecord(t, -1, []byte("proto-body"), [2][]byte{[]byte("p"), []byte("proto-header")})).marshal(t),
			append(withA, "content-type", "application/protobuf")...).expect(t, http.StatusOK)
		// A wrong key: JSON and protobuf reads.
		e.call("GET", "/v1/streams/s/records?seq_num=0", nil, withB...).expectMessage(t, http.StatusBadRequest, "decryption_failed", "record decryption failed")
		r := e.call("GET", "/v1/streams/s/records?seq_num=0", nil, append(withB, "accept", "application/protobuf")...)
		r.expectMessage(t, http.StatusBadRequest, "decryption_failed", "record decryption failed")
		if bytes.Contains(r.body, []byte("body")) {
			t.Fatalf("wrong-key answer %s", r.body)
		}
	}
	check := func(e *env) {
		t.Helper()
		for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
			withA := []string{"s2-basin", basins[cipher], "s2-encryption-key", encKeyA}
			var batch jsonReadBatch
			e.call("GET", "/v1/streams/s/records?seq_num=0", nil, withA...).expect(t, http.StatusOK).decode(t, &batch)
			if len(batch.Records) != 2 || batch.Records[0].Body != "json-body" || batch.Records[0].Headers[0] != [2]string{"h", "json-header"} ||
				batch.Records[1].Body != "proto-body" || batch.Records[1].Headers[0] != [2]string{"p", "proto-header"} {
				t.Fatalf("%s read: %+v", cipher, batch)
			}
			pb := unmarshalPB(t, "ReadBatch", e.call("GET", "/v1/streams/s/records?seq_num=1", nil, append(withA, "accept", "application/protobuf")...).
				expect(t, http.StatusOK).body)
			if got := pbBodies(pb); len(got) != 1 || got[0] != "proto-body" {
				t.Fatalf("%s protobuf read: %v", cipher, got)
			}
		}
	}
	check(e)
	e.close()
	check(newEnv(t, envOptions{store: store}))
}

// TestEncryptedStorageHTTP: nothing of an encrypted record's body or
// headers reaches any object the store holds (WAL objects, tables, read
// both as stored and decoded), whichever way it was appended; the same
// scan finds a plain stream's.
func TestEncryptedStorageHTTP(t *testing.T) {
	store := objstore.NewMemory()
	e := newEnv(t, envOptions{store: store})
	basins := encBasins(t, e)
	// Distinct strings per way of appending, so that a hit says which.
	secrets := func(tag string) []string {
		return []string{"zq-" + tag + "-body-5d1c7e", "zq-" + tag + "-hname-a83f", "zq-" + tag + "-hvalue-60b2"}
	}
	appendAll := func(hb []string, tag string) {
		t.Helper()
		for _, way := range []string{"json", "proto", "s2s"} {
			s := secrets(tag + "-" + way)
			switch way {
			case "json":
				e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{
					map[string]any{"headers": [][2]string{{s[1], s[2]}}, "body": s[0]},
				}}, hb...).expect(t, http.StatusOK)
			case "proto":
				e.call("POST", "/v1/streams/s/records", pbInput(t, pbRecord(t, -1, []byte(s[0]), [2][]byte{[]byte(s[1]), []byte(s[2])})).marshal(t),
					append(hb, "content-type", "application/protobuf")...).expect(t, http.StatusOK)
			case "s2s":
				c, r := e.openS2S("POST", "/v1/streams/s/records", hb...)
				if c == nil {
					t.Fatalf("S2S append: %v", r)
				}
				c.send(pbInput(t, pbRecord(t, -1, []byte(s[0]), [2][]byte{[]byte(s[1]), []byte(s[2])})).marshal(t), 0)
				c.expectMessage("AppendAck")
				c.closeInput()
				c.expectEnd()
			}
		}
	}
	var all [][]byte
	for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
		appendAll([]string{"s2-basin", basins[cipher], "s2-encryption-key", encKeyA}, cipher)
		for _, way := range []string{"json", "proto", "s2s"} {
			for _, s := range secrets(cipher + "-" + way) {
				all = append(all, []byte(s))
			}
		}
	}
	ctx := context.Background()
	if err := e.db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	found, err := storescan.Find(ctx, store, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Fatalf("plaintext in storage: %v", found)
	}
	// The records are there and open with the key.
	for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
		var batch jsonReadBatch
		e.call("GET", "/v1/streams/s/records?seq_num=0", nil, "s2-basin", basins[cipher], "s2-encryption-key", encKeyA).
			expect(t, http.StatusOK).decode(t, &batch)
		if len(batch.Records) != 3 || batch.Records[2].Body != secrets(cipher + "-s2s")[0] {
			t.Fatalf("%s: %+v", cipher, batch)
		}
	}

	// Positive control: the same scan finds a plain stream's records.
	appendAll([]string{"s2-basin", basins[""]}, "plain")
	if err := e.db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var plain [][]byte
	for _, way := range []string{"json", "proto", "s2s"} {
		for _, s := range secrets("plain-" + way) {
			plain = append(plain, []byte(s))
		}
	}
	found, err = storescan.Find(ctx, store, plain)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(found, "\n")
	for _, s := range plain {
		if !strings.Contains(joined, string(s)+" in wal/") || !strings.Contains(joined, string(s)+" in sst/") {
			t.Fatalf("the scan did not find %s in both the WAL and a table: %v", s, found)
		}
	}
}

// TestEncryptedSessions: SSE and S2S read sessions with the key catch up
// and follow live appends (an S2S append session sends the key once, at
// open); a session with a wrong key ends with decryption_failed and never
// carries the plaintext, whether it fails catching up or following.
func TestEncryptedSessions(t *testing.T) {
	e := newEnv(t, envOptions{})
	basins := encBasins(t, e)
	for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
		t.Run(cipher, func(t *testing.T) {
			hb := []string{"s2-basin", basins[cipher]}
			withA := append(append([]string{}, hb...), "s2-encryption-key", encKeyA)
			withB := append(append([]string{}, hb...), "s2-encryption-key", encKeyB)
			e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "caught-up"}}}, withA...).expect(t, http.StatusOK)

			sse, _ := e.openSSE("/v1/streams/s/records?seq_num=0", withA...)
			if b := batchOf(t, sse.expect("batch")); len(b.Records) != 1 || b.Records[0].Body != "caught-up" {
				t.Fatalf("SSE catch-up %+v", b)
			}
			s2s, _ := e.openS2S("GET", "/v1/streams/s/records?seq_num=0", withA...)
			if got := pbBodies(s2s.expectMessage("ReadBatch")); len(got) != 1 || got[0] != "caught-up" {
				t.Fatalf("S2S catch-up %v", got)
			}
			// Followers with a wrong key, at the tail (they have seen
			// nothing to decrypt yet).
			badSSE, _ := e.openSSE("/v1/streams/s/records?seq_num=1", withB...)
			badS2S, _ := e.openS2S("GET", "/v1/streams/s/records?seq_num=1", withB...)
			// Catching up with a wrong key.
			e.call("GET", "/v1/streams/s/records?seq_num=0", nil, withB...).expectError(t, http.StatusBadRequest, "decryption_failed")
			catchSSE, _ := e.openSSE("/v1/streams/s/records?seq_num=0", withB...)
			ev := catchSSE.expect("error")
			jsonEqual(t, []byte(ev.data), `{"code":"decryption_failed","message":"record decryption failed"}`)
			catchS2S, _ := e.openS2S("GET", "/v1/streams/s/records?seq_num=0", withB...)
			if body := catchS2S.expectTerminal(http.StatusBadRequest); body["code"] != "decryption_failed" {
				t.Fatalf("S2S catch-up with a wrong key: %v", body)
			}
			// Every follower is at the tail (each has had its heartbeat).
			for _, c := range []*sseConn{sse, badSSE} {
				c.expect("ping")
			}
			for _, c := range []*s2sConn{s2s, badS2S} {
				if b := c.expectMessage("ReadBatch"); len(b.list("records")) != 0 || !b.has("tail") {
					t.Fatalf("heartbeat %v", b)
				}
			}

			// Live appends through an S2S append session keyed at open.
			app, _ := e.openS2S("POST", "/v1/streams/s/records", withA...)
			app.send(pbInput(t, pbRecord(t, -1, []byte("live-1")), pbRecord(t, -1, []byte("live-2"))).marshal(t), 0)
			app.expectMessage("AppendAck")
			app.send(pbInput(t, pbRecord(t, -1, []byte("live-3"))).marshal(t), 0)
			app.expectMessage("AppendAck")
			app.closeInput()
			app.expectEnd()

			var sseGot []string
			for len(sseGot) < 3 {
				ev := sse.expect("batch")
				if !strings.Contains(ev.data, `"tail"`) {
					t.Fatalf("live SSE batch without tail: %s", ev.data)
				}
				for _, r := range batchOf(t, ev).Records {
					sseGot = append(sseGot, r.Body)
				}
			}
			var s2sGot []string
			for len(s2sGot) < 3 {
				b := s2s.expectMessage("ReadBatch")
				s2sGot = append(s2sGot, pbBodies(b)...)
			}
			if fmt.Sprint(sseGot) != "[live-1 live-2 live-3]" || fmt.Sprint(s2sGot) != "[live-1 live-2 live-3]" {
				t.Fatalf("live: SSE %v, S2S %v", sseGot, s2sGot)
			}
			// The wrong-key followers end with decryption_failed and
			// nothing else.
			for {
				ev, err := badSSE.next(10 * time.Second)
				if err != nil {
					t.Fatalf("wrong-key SSE follower: %v", err)
				}
				if ev.event == "ping" {
					continue
				}
				if ev.event != "error" || strings.Contains(ev.data, "live-") {
					t.Fatalf("wrong-key SSE follower got %+v", ev)
				}
				jsonEqual(t, []byte(ev.data), `{"code":"decryption_failed","message":"record decryption failed"}`)
				break
			}
			for {
				f, err := badS2S.next(10 * time.Second)
				if err != nil {
					t.Fatalf("wrong-key S2S follower: %v", err)
				}
				if bytes.Contains(f.body, []byte("live-")) {
					t.Fatalf("wrong-key S2S follower got the plaintext: %q", f.body)
				}
				if !f.terminal() {
					if b := unmarshalPB(t, "ReadBatch", f.body); len(b.list("records")) != 0 {
						t.Fatalf("wrong-key S2S follower got records: %v", b)
					}
					continue
				}
				var body map[string]any
				if err := json.Unmarshal(f.body, &body); err != nil || f.status != http.StatusBadRequest || body["code"] != "decryption_failed" {
					t.Fatalf("wrong-key S2S terminal %d %s", f.status, f.body)
				}
				break
			}
			badS2S.expectEnd()
		})
	}
}

// TestAESGCMSeqNumLimitHTTP: an AES-256-GCM stream refuses an envelope
// record at sequence number 2^32 with 422 invalid; import (which keeps
// positions) places the stream next to the limit.
func TestAESGCMSeqNumLimitHTTP(t *testing.T) {
	e := newEnv(t, envOptions{server: Options{EnableImport: true}})
	basins := encBasins(t, e)
	for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
		withA := []string{"s2-basin", basins[cipher], "s2-encryption-key", encKeyA}
		// Import needs the key like an append.
		e.call("POST", "/v1/streams/s/import", `{"records":[{"seq_num":4294967294,"timestamp":1,"body":"YQ=="}]}`,
			"s2-basin", basins[cipher], "content-type", "application/json").
			expectMessage(t, http.StatusBadRequest, "bad_header", "missing encryption key for stream cipher '"+cipher+"'")
		e.call("POST", "/v1/streams/s/import", `{"records":[{"seq_num":4294967294,"timestamp":1,"body":"YQ=="}]}`,
			append(withA, "content-type", "application/json")...).expect(t, http.StatusOK)
		e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "last"}}}, withA...).expect(t, http.StatusOK)
	}
	gcm := []string{"s2-basin", basins["aes-256-gcm"], "s2-encryption-key", encKeyA}
	e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "over"}}}, gcm...).
		expectMessage(t, http.StatusUnprocessableEntity, "invalid", "max assignable sequence number is 4294967295; attempted 4294967296")
	// In an S2S session the failure is the session's terminal message.
	c, _ := e.openS2S("POST", "/v1/streams/s/records", gcm...)
	c.send(pbInput(t, pbRecord(t, -1, []byte("over"))).marshal(t), 0)
	if body := c.expectTerminal(http.StatusUnprocessableEntity); body["message"] != "max assignable sequence number is 4294967295; attempted 4294967296" {
		t.Fatalf("terminal %v", body)
	}
	e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "beyond"}}},
		"s2-basin", basins["aegis-256"], "s2-encryption-key", encKeyA).expect(t, http.StatusOK)
	var batch jsonReadBatch
	e.call("GET", "/v1/streams/s/records?seq_num=4294967294", nil, "s2-basin", basins["aegis-256"], "s2-encryption-key", encKeyA).
		expect(t, http.StatusOK).decode(t, &batch)
	if len(batch.Records) != 3 || batch.Records[2].SeqNum != 1<<32 || batch.Records[2].Body != "beyond" {
		t.Fatalf("%+v", batch)
	}
}
