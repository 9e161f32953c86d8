package client_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
	"github.com/s2lite/s2lite/server"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, client.EncryptionKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKey(t *testing.T, raw []byte) client.EncryptionKey {
	t.Helper()
	k, err := client.NewEncryptionKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryptionKeyValidationAndRedaction(t *testing.T) {
	raw := randomKey(t)
	b64 := base64.StdEncoding.EncodeToString(raw)
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := client.NewEncryptionKey(make([]byte, n)); err == nil {
			t.Errorf("NewEncryptionKey of %d bytes: no error", n)
		}
		if _, err := client.New(client.Config{AccountEndpoint: "http://127.0.0.1:1", EncryptionKey: make([]byte, n)}); err == nil && n != 0 {
			t.Errorf("New with a key of %d bytes: no error", n)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(raw[:31]), base64.RawStdEncoding.EncodeToString(raw), b64 + "AAAA"} {
		_, err := client.ParseEncryptionKey(bad)
		if err == nil {
			t.Errorf("ParseEncryptionKey(%q): no error", bad)
		} else if len(bad) > 8 && strings.Contains(err.Error(), bad[:8]) {
			t.Errorf("ParseEncryptionKey error %q repeats the input", err)
		}
	}
	k, err := client.ParseEncryptionKey("  " + b64 + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if k.IsZero() || !(client.EncryptionKey{}).IsZero() {
		t.Fatal("IsZero")
	}

	// No fmt verb shows the key, alone, in a struct or inside a stream
	// handle; nor does the client's configuration once New has it.
	c, err := client.New(client.Config{AccountEndpoint: "http://127.0.0.1:1", EncryptionKey: raw})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.Basin("b").Stream("s").WithEncryptionKey(k)
	if s.EncryptionKey() != k {
		t.Fatal("WithEncryptionKey")
	}
	if ck := c.Basin("b").Stream("s").EncryptionKey(); ck.IsZero() || ck == k {
		t.Fatal("a handle of the client does not start with Config.EncryptionKey")
	}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		fmt.Fprintf(&out, verb+"\n", k)
		fmt.Fprintf(&out, verb+"\n", struct{ K client.EncryptionKey }{k})
		fmt.Fprintf(&out, verb+"\n", s)
		fmt.Fprintf(&out, verb+"\n", *s)
		fmt.Fprintf(&out, verb+"\n", c)
		fmt.Fprintf(&out, verb+"\n", *c)
	}
	hexKey := fmt.Sprintf("%x", raw)
	for _, secret := range []string{b64, b64[:20], hexKey[:20], strings.ToUpper(hexKey[:20]), string(raw)} {
		if strings.Contains(out.String(), secret) {
			t.Fatalf("formatted output contains the key (%q)", secret[:4])
		}
	}
	if !strings.Contains(out.String(), "EncryptionKey(<redacted>)") {
		t.Fatalf("no redacted key in %q", out.String()[:200])
	}
}

// encServer starts a server with imports on and a basin whose streams get
// cipher.
func encServer(t *testing.T, cfg client.Config, basin, cipher string) *client.Client {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{RootToken: "encryption-test-root-token", Server: server.Options{EnableImport: true}})
	cfg.AccountEndpoint, cfg.AccessToken = srv.URL, "encryption-test-root-token"
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.CreateBasin(ctxT(t), basin, client.CreateBasinOptions{Config: &client.BasinConfig{StreamCipher: &cipher}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// readN reads n records with a session.
func readN(t *testing.T, rs *client.ReadSession, n int) []client.SequencedRecord {
	t.Helper()
	defer rs.Close()
	var got []client.SequencedRecord
	for len(got) < n {
		b, err := rs.Next()
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(got), err)
		}
		got = append(got, b.Records...)
	}
	return got
}

// TestEncryptedStream appends to and reads an encrypted stream in every
// way the client has, with the right key, a wrong one and none.
func TestEncryptedStream(t *testing.T) {
	for _, cipher := range []string{client.CipherAegis256, client.CipherAes256Gcm} {
		for _, format := range []client.Format{client.FormatProtobuf, client.FormatJSON} {
			t.Run(fmt.Sprintf("%s/format=%d", cipher, format), func(t *testing.T) {
				ctx := ctxT(t)
				c := encServer(t, client.Config{Format: format, Compression: client.CompressionZstd}, "enc-basin", cipher)
				b := c.Basin("enc-basin")
				info, err := b.CreateStream(ctx, "s", client.CreateStreamOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if info.Cipher == nil || *info.Cipher != cipher {
					t.Fatalf("StreamInfo.Cipher %v, want %s", info.Cipher, cipher)
				}
				key := mustKey(t, randomKey(t))
				plain := b.Stream("s")
				s := plain.WithEncryptionKey(key)
				if !plain.EncryptionKey().IsZero() {
					t.Fatal("WithEncryptionKey changed the original handle")
				}

				// Unary append and read.
				want := binaryRecords(20)
				if _, err := s.Append(ctx, client.AppendInput{Records: want}); err != nil {
					t.Fatal(err)
				}
				rb, err := s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
				if err != nil {
					t.Fatal(err)
				}
				sameRecords(t, rb.Records, want, 0)

				// Append session: pipelined batches, compressed frames.
				as, err := s.AppendSession(ctx, client.AppendSessionOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var pend []*client.PendingAck
				for i := range 10 {
					recs := binaryRecords(1 + i%3)
					want = append(want, recs...)
					p, err := as.Submit(ctx, client.AppendInput{Records: recs})
					if err != nil {
						t.Fatal(err)
					}
					pend = append(pend, p)
				}
				for _, p := range pend {
					if _, err := p.Wait(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if err := as.Close(); err != nil {
					t.Fatal(err)
				}

				// Read sessions, S2S and SSE.
				for _, open := range []func(client.ReadOptions) (*client.ReadSession, error){
					func(o client.ReadOptions) (*client.ReadSession, error) { return s.ReadSession(ctx, o) },
					func(o client.ReadOptions) (*client.ReadSession, error) { return s.ReadSessionSSE(ctx, o) },
				} {
					rs, err := open(client.ReadOptions{Start: client.FromSeqNum(0), Count: ptr(uint64(len(want)))})
					if err != nil {
						t.Fatal(err)
					}
					sameRecords(t, readN(t, rs, len(want)), want, 0)
				}

				// Check-tail needs no key.
				if tail, err := plain.CheckTail(ctx); err != nil || tail.SeqNum != uint64(len(want)) {
					t.Fatalf("CheckTail without a key: %v %v", tail, err)
				}

				// Another key: 400 decryption_failed on every read; an
				// append with it succeeds (the service cannot tell).
				wrong := plain.WithEncryptionKey(mustKey(t, randomKey(t)))
				_, err = wrong.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
				wantCode(t, err, 400, "decryption_failed")
				for _, open := range []func(client.ReadOptions) (*client.ReadSession, error){
					func(o client.ReadOptions) (*client.ReadSession, error) { return wrong.ReadSession(ctx, o) },
					func(o client.ReadOptions) (*client.ReadSession, error) { return wrong.ReadSessionSSE(ctx, o) },
				} {
					rs, err := open(client.ReadOptions{Start: client.FromSeqNum(0), Count: ptr(uint64(1))})
					if err == nil {
						_, err = rs.Next()
						rs.Close()
					}
					wantCode(t, err, 400, "decryption_failed")
				}

				// No key: 400 bad_header on appends and reads of every kind.
				_, err = plain.Append(ctx, client.AppendInput{Records: binaryRecords(1)})
				wantCode(t, err, 400, "bad_header")
				_, err = plain.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
				wantCode(t, err, 400, "bad_header")
				_, err = plain.ReadSession(ctx, client.ReadOptions{Start: client.FromSeqNum(0), Count: ptr(uint64(1))})
				wantCode(t, err, 400, "bad_header")
				_, err = plain.ReadSessionSSE(ctx, client.ReadOptions{Start: client.FromSeqNum(0), Count: ptr(uint64(1))})
				wantCode(t, err, 400, "bad_header")
				if as, err := plain.AppendSession(ctx, client.AppendSessionOptions{}); err == nil {
					// A server may refuse the session only with its first
					// batch.
					p, serr := as.Submit(ctx, client.AppendInput{Records: binaryRecords(1)})
					if serr == nil {
						_, err = p.Wait(ctx)
					} else {
						err = serr
					}
					as.Abort()
				}
				wantCode(t, err, 400, "bad_header")

				// Nothing written without the key or by the failed reads.
				if tail, err := plain.CheckTail(ctx); err != nil || tail.SeqNum != uint64(len(want)) {
					t.Fatalf("tail %v %v, want %d", tail, err, len(want))
				}
			})
		}
	}
}

// TestEncryptedStreamClientKeyAndImport: Config.EncryptionKey is every
// handle's key, and an import into an encrypted stream carries it.
func TestEncryptedStreamClientKeyAndImport(t *testing.T) {
	ctx := ctxT(t)
	raw := randomKey(t)
	c := encServer(t, client.Config{EncryptionKey: raw}, "enc-import", client.CipherAegis256)
	clear(raw) // New copied it
	b := c.Basin("enc-import")
	if _, err := b.CreateStream(ctx, "src", client.CreateStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateStream(ctx, "dst", client.CreateStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	src := b.Stream("src")
	want := binaryRecords(5)
	if _, err := src.Append(ctx, client.AppendInput{Records: want}); err != nil {
		t.Fatal(err)
	}
	rb, err := src.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, rb.Records, want, 0)

	// The import keeps positions and timestamps; the imported records are
	// sealed with the key and read back with it, not without.
	dst := b.Stream("dst")
	last := rb.Records[len(rb.Records)-1]
	tail, err := dst.Import(ctx, rb.Records, &client.ImportFinish{Tail: client.Position{SeqNum: last.SeqNum + 1, Timestamp: last.Timestamp}})
	if err != nil {
		t.Fatal(err)
	}
	if tail.SeqNum != 5 {
		t.Fatalf("import tail %v", tail)
	}
	got, err := dst.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got.Records, want, 0)
	for i := range got.Records {
		if got.Records[i].Timestamp != rb.Records[i].Timestamp {
			t.Fatalf("record %d timestamp %d, want %d", i, got.Records[i].Timestamp, rb.Records[i].Timestamp)
		}
	}
	_, err = dst.WithEncryptionKey(client.EncryptionKey{}).Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
	wantCode(t, err, 400, "bad_header")
	_, err = dst.WithEncryptionKey(mustKey(t, randomKey(t))).Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
	wantCode(t, err, 400, "decryption_failed")
	_, err = b.Stream("src").WithEncryptionKey(client.EncryptionKey{}).Import(ctx, rb.Records[:1], nil)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("import without a key: %v", err)
	}

	// A plain stream ignores the key.
	if _, err := c.CreateBasin(ctx, "plain-basin", client.CreateBasinOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Basin("plain-basin").CreateStream(ctx, "p", client.CreateStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	p := c.Basin("plain-basin").Stream("p")
	if _, err := p.Append(ctx, client.AppendInput{Records: want}); err != nil {
		t.Fatal(err)
	}
	got, err = p.WithEncryptionKey(client.EncryptionKey{}).Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Records[0].Body, want[0].Body) {
		t.Fatal("plain stream body")
	}
}
