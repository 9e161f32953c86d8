package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
	"github.com/s2lite/s2lite/server"
)

func newKeyText(t *testing.T) string {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// keyedRecords reads a whole stream through the harness's client with a
// key.
func (h *harness) keyedRecords(basin, stream, keyText string) []client.SequencedRecord {
	h.t.Helper()
	key, err := client.ParseEncryptionKey(keyText)
	if err != nil {
		h.t.Fatal(err)
	}
	s := h.c.Basin(basin).Stream(stream).WithEncryptionKey(key)
	tail, err := s.CheckTail(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []client.SequencedRecord
	for next := uint64(0); next < tail.SeqNum; {
		b, err := s.Read(context.Background(), client.ReadOptions{Start: client.FromSeqNum(next)})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(b.Records) == 0 {
			break
		}
		out = append(out, b.Records...)
		next = b.Records[len(b.Records)-1].SeqNum + 1
	}
	return out
}

func sameStreams(t *testing.T, what string, got, want []client.SequencedRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.SeqNum != w.SeqNum || g.Timestamp != w.Timestamp || !bytes.Equal(g.Body, w.Body) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
			t.Fatalf("%s: record %d differs:\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

// TestEncryptionKeyCommands: the official CLI's -k/--encryption-key,
// --encryption-key-file and S2_ENCRYPTION_KEY on append, read and tail
// (and trim and fence), --stream-cipher on create-basin, and what a missing,
// wrong or malformed key gives. Access tokens are on, as by default.
func TestEncryptionKeyCommands(t *testing.T) {
	h := newHarnessWith(t, testserver.Options{RootToken: "cli-encryption-root-token"})
	key, other := newKeyText(t), newKeyText(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	h.ok("", "create-basin", "enc-basin", "--stream-cipher", "aegis-256", "--create-stream-on-append")
	if cfg := h.ok("", "get-basin-config", "enc-basin").stdout; !strings.Contains(cfg, "aegis-256") {
		t.Fatalf("get-basin-config lacks the cipher:\n%s", cfg)
	}
	h.fails(2, "possible values: aegis-256, aes-256-gcm", "create-basin", "bad-basin", "--stream-cipher", "rot13")

	// Without a key: the server's bad_header, and how to give one.
	r := h.run("zero\n", "append", "s2://enc-basin/s")
	if r.code != 1 || !strings.Contains(r.stderr, "Failed to append: bad_header: missing encryption key for stream cipher 'aegis-256'") ||
		!strings.Contains(r.stderr, "--encryption-key") || !strings.Contains(r.stderr, "S2_ENCRYPTION_KEY") {
		t.Fatalf("no hint about the key: %s", r)
	}
	// With one, given three ways; the stream is auto-created.
	h.ok("one\ntwo\n", "append", "s2://enc-basin/s", "-k", key)
	h.ok("three\n", "append", "s2://enc-basin/s", "--encryption-key-file", keyFile)
	h.env["S2_ENCRYPTION_KEY"] = key
	h.ok("four\n", "append", "s2://enc-basin/s")
	if r := h.ok("", "read", "s2://enc-basin/s", "-s", "0", "-n", "4"); r.stdout != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("read with S2_ENCRYPTION_KEY: %s", r)
	}
	// A flag wins over the variable.
	h.env["S2_ENCRYPTION_KEY"] = other
	if r := h.ok("", "read", "s2://enc-basin/s", "-s", "0", "-n", "4", "--encryption-key", key); r.stdout != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("read --encryption-key: %s", r)
	}
	if r := h.ok("", "tail", "s2://enc-basin/s", "-n", "2", "--encryption-key-file", keyFile); r.stdout != "three\nfour\n" {
		t.Fatalf("tail --encryption-key-file: %s", r)
	}
	// Another key: decryption_failed; none: bad_header.
	h.fails(1, "Failed to read: decryption_failed: record decryption failed", "read", "s2://enc-basin/s", "-s", "0", "-n", "4")
	h.fails(1, "Failed to tail: decryption_failed", "tail", "s2://enc-basin/s", "-n", "1")
	delete(h.env, "S2_ENCRYPTION_KEY")
	h.fails(1, "Failed to read: bad_header: missing encryption key", "read", "s2://enc-basin/s", "-s", "0", "-n", "4")
	if r := h.ok("", "check-tail", "s2://enc-basin/s"); !strings.HasPrefix(r.stdout, "4 @ ") {
		t.Fatalf("check-tail needs no key: %s", r)
	}

	// Command records need the key too.
	h.fails(1, "Failed to set fencing token: bad_header", "fence", "s2://enc-basin/s", "tok")
	h.ok("", "fence", "s2://enc-basin/s", "tok", "-k", key)
	h.ok("", "trim", "s2://enc-basin/s", "1", "-f", "tok", "-k", key)
	if r := h.ok("", "read", "s2://enc-basin/s", "-s", "0", "-n", "10", "-k", key); r.stdout != "two\nthree\nfour\n" || !strings.Contains(r.stderr, "trim to 1") {
		t.Fatalf("read after fence and trim: %s", r)
	}

	// Malformed keys are usage errors that do not repeat the key.
	bad := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	r = h.fails(2, "--encryption-key: invalid encryption key: 16 bytes, want 32", "read", "s2://enc-basin/s", "-k", bad)
	if strings.Contains(r.stderr, bad) {
		t.Fatalf("the error repeats the key: %s", r)
	}
	r = h.fails(2, "--encryption-key: invalid encryption key: not standard base64", "append", "s2://enc-basin/s", "-k", "not*base64*"+key[:20])
	if strings.Contains(r.stderr, key[:20]) {
		t.Fatalf("the error repeats the key: %s", r)
	}
	h.fails(2, "cannot read encryption key file", "read", "s2://enc-basin/s", "--encryption-key-file", filepath.Join(t.TempDir(), "missing"))
	h.fails(2, "if any flags in the group [encryption-key encryption-key-file] are set none of the others can be", "read", "s2://enc-basin/s", "-k", key, "--encryption-key-file", keyFile)
	h.env["S2_ENCRYPTION_KEY"] = bad
	r = h.fails(2, "S2_ENCRYPTION_KEY: invalid encryption key", "tail", "s2://enc-basin/s")
	if strings.Contains(r.stderr, bad) {
		t.Fatalf("the error repeats the key: %s", r)
	}
	// Commands that take no key ignore the variable.
	h.ok("", "ls", "enc-basin")
	delete(h.env, "S2_ENCRYPTION_KEY")
}

// TestExportImportEncrypted: export reads an encrypted stream with its
// key (the export holds the records decrypted, and the stream's cipher);
// import writes them into an encrypted stream with the new stream's key;
// a basin export carries the stream cipher, so its import encrypts too.
func TestExportImportEncrypted(t *testing.T) {
	src := newHarnessWith(t, testserver.Options{RootToken: "cli-encryption-root-token"})
	dst := newHarnessWith(t, testserver.Options{RootToken: "cli-encryption-root-token", Server: server.Options{EnableImport: true}})
	ctx := context.Background()
	key, newKey := newKeyText(t), newKeyText(t)
	k, _ := client.ParseEncryptionKey(key)

	src.ok("", "create-basin", "enc-source", "--stream-cipher", "aes-256-gcm")
	for _, name := range []string{"a", "b"} {
		src.ok("", "create-stream", "s2://enc-source/"+name)
		if _, err := src.c.Basin("enc-source").Stream(name).WithEncryptionKey(k).Append(ctx, client.AppendInput{Records: binaryRecordsForExport(40)}); err != nil {
			t.Fatal(err)
		}
	}
	src.ok("", "fence", "s2://enc-source/a", "owner", "-k", key)
	src.ok("", "trim", "s2://enc-source/a", "5", "-f", "owner", "-k", key)

	dir := t.TempDir()
	file := filepath.Join(dir, "a.export")
	src.fails(1, "Failed to export: bad_header: missing encryption key", "export", "s2://enc-source/a", "-o", file)
	r := src.ok("", "export", "s2://enc-source/a", "-o", file, "-k", key)
	if !strings.Contains(r.stderr, "✓ [EXPORTED] s2://enc-source/a: 37 records, 5..42") {
		t.Fatalf("export: %s", r)
	}
	data, _ := os.ReadFile(file)
	if first := strings.SplitN(string(data), "\n", 2)[0]; !strings.Contains(first, `"cipher":"aes-256-gcm"`) {
		t.Fatalf("the export header lacks the cipher: %s", first)
	}

	// Into an encrypted basin of another server, under another key.
	dst.ok("", "create-basin", "enc-dest", "--stream-cipher", "aegis-256")
	dst.fails(1, "Failed to import: bad_header: missing encryption key", "import", "s2://enc-dest/no-key", "-i", file)
	r = dst.ok("", "import", "s2://enc-dest/a", "-i", file, "-k", newKey)
	if !strings.Contains(r.stderr, "✓ Import of s2://enc-dest/a finished // tail: 42 @ ") || strings.Contains(r.stderr, "⚠") {
		t.Fatalf("import: %s", r)
	}
	sameStreams(t, "stream a", dst.keyedRecords("enc-dest", "a", newKey), src.keyedRecords("enc-source", "a", key))
	if r := dst.run("x\n", "append", "s2://enc-dest/a", "-f", "intruder", "-k", newKey); !strings.Contains(r.stderr, "expected: owner") {
		t.Fatalf("the fencing token did not come along: %s", r)
	}
	dst.fails(1, "decryption_failed", "read", "s2://enc-dest/a", "-s", "5", "-n", "1", "-k", key)

	// Into a basin without a cipher: imported, with a warning.
	dst.ok("", "create-basin", "plain-dest")
	r = dst.ok("", "import", "s2://plain-dest/a", "-i", file)
	if !strings.Contains(r.stderr, "⚠ s2://plain-dest/a was encrypted (aes-256-gcm) where it was exported") {
		t.Fatalf("no warning about a stream stored in clear: %s", r)
	}
	sameStreams(t, "plain copy", dst.records("plain-dest", "a"), src.keyedRecords("enc-source", "a", key))

	// A whole basin: the cipher comes with the basin's configuration.
	bfile := filepath.Join(dir, "basin.export")
	src.env["S2_ENCRYPTION_KEY"] = key
	if r := src.ok("", "export", "enc-source", "-o", bfile); !strings.Contains(r.stderr, "✓ [EXPORTED] basin enc-source: 2 streams") {
		t.Fatalf("basin export: %s", r)
	}
	dst.env["S2_ENCRYPTION_KEY"] = newKey
	dst.ok("", "import", "moved-basin", "-i", bfile)
	for _, name := range []string{"a", "b"} {
		sameStreams(t, "moved "+name, dst.keyedRecords("moved-basin", name, newKey), src.keyedRecords("enc-source", name, key))
		page, err := dst.c.Basin("moved-basin").ListStreams(ctx, client.ListOptions{Prefix: name})
		if err != nil || len(page.Streams) == 0 || page.Streams[0].Cipher == nil || *page.Streams[0].Cipher != "aes-256-gcm" {
			t.Fatalf("moved stream %s: %+v %v, want cipher aes-256-gcm", name, page, err)
		}
	}
}
