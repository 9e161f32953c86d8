package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
	"github.com/s2lite/s2lite/server"
)

func TestBasinAndStreamCommands(t *testing.T) {
	h := newHarness(t)
	r := h.ok("", "create-basin", "my-basin", "--retention-policy", "1d", "--create-stream-on-append", "--storage-class", "standard")
	if r.stderr != "✓ Basin created\n" || r.stdout != "" {
		t.Fatalf("create-basin: %s", r)
	}
	h.ok("", "create-basin", "s2://other-basin")
	if r := h.ok("", "list-basins"); r.stdout != "my-basin\nother-basin\n" {
		t.Fatalf("list-basins: %s", r)
	}
	if r := h.ok("", "ls", "-p", "my"); r.stdout != "my-basin\n" {
		t.Fatalf("ls -p: %s", r)
	}
	if r := h.ok("", "list-basins", "-s", "my-basin"); r.stdout != "other-basin\n" {
		t.Fatalf("list-basins -s: %s", r)
	}
	if r := h.ok("", "list-basins", "-n", "1", "--no-auto-paginate"); r.stdout != "my-basin\n" {
		t.Fatalf("list-basins -n 1: %s", r)
	}

	cfg := h.ok("", "get-basin-config", "my-basin").stdout
	for _, want := range []string{"| Age |  1day  |", "| storage_class    |  standard", "| create_stream_on_append |  true"} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("get-basin-config lacks %q:\n%s", want, cfg)
		}
	}
	r = h.ok("", "reconfigure-basin", "my-basin", "--create-stream-on-append", "false", "--timestamping-mode", "arrival")
	if r.stderr != "✓ Basin reconfigured\n" || !strings.Contains(r.stdout, "| create_stream_on_append |  false") ||
		!strings.Contains(r.stdout, "timestamping_mode     |  arrival") {
		t.Fatalf("reconfigure-basin: %s", r)
	}

	// Streams: creation with flags, listing with and without times.
	h.ok("", "create-stream", "s2://my-basin/events", "--retention-policy", "infinite", "--timestamping-uncapped", "true")
	h.ok("", "create-stream", "s2://my-basin/logs/a")
	h.ok("", "create-stream", "s2://my-basin/logs/b", "--delete-on-empty-min-age", "1h")
	if r := h.ok("", "list-streams", "my-basin"); r.stdout != "s2://my-basin/events\ns2://my-basin/logs/a\ns2://my-basin/logs/b\n" {
		t.Fatalf("list-streams: %s", r)
	}
	if r := h.ok("", "list-streams", "s2://my-basin/logs/", "-s", "logs/a"); r.stdout != "s2://my-basin/logs/b\n" {
		t.Fatalf("list-streams with a prefix in the URI: %s", r)
	}
	ls := h.ok("", "ls", "s2://my-basin/logs").stdout
	if !regexp.MustCompile(`^s2://my-basin/logs/a \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\ns2://my-basin/logs/b \S+Z\n$`).MatchString(ls) {
		t.Fatalf("ls s2://basin/prefix:\n%s", ls)
	}
	sc := h.ok("", "get-stream-config", "s2://my-basin/events").stdout
	for _, want := range []string{"| retention_policy |  Infinite", "timestamping_uncapped |  true", "timestamping_mode     |  arrival", "storage_class    |  standard"} {
		if !strings.Contains(sc, want) {
			t.Fatalf("get-stream-config lacks %q:\n%s", want, sc)
		}
	}
	if sc := h.ok("", "get-stream-config", "s2://my-basin/logs/b").stdout; !strings.Contains(sc, "delete_on_empty_min_age |  1h") {
		t.Fatalf("get-stream-config delete-on-empty:\n%s", sc)
	}
	r = h.ok("", "reconfigure-stream", "s2://my-basin/events", "--storage-class", "express", "--retention-policy", "1w")
	if r.stderr != "✓ Stream reconfigured\n" || !strings.Contains(r.stdout, "| Age |  7days  |") || !strings.Contains(r.stdout, "|  express") {
		t.Fatalf("reconfigure-stream: %s", r)
	}
	if r := h.ok("", "delete-stream", "s2://my-basin/logs/a"); r.stderr != "✓ Stream deletion requested\n" {
		t.Fatalf("delete-stream: %s", r)
	}
	if r := h.ok("", "delete-basin", "other-basin"); r.stderr != "✓ Basin deletion requested\n" {
		t.Fatalf("delete-basin: %s", r)
	}
}

func TestRecordCommands(t *testing.T) {
	h := newHarness(t)
	h.ok("", "create-basin", "rec-basin")
	h.ok("", "create-stream", "s2://rec-basin/s")
	if r := h.ok("", "check-tail", "s2://rec-basin/s"); r.stdout != "0 @ 0\n" {
		t.Fatalf("check-tail of a new stream: %s", r)
	}
	r := h.ok("hello\nwörld\r\n\nlast", "append", "s2://rec-basin/s")
	if !regexp.MustCompile(`^✓ \[APPENDED\] 0\.\.4 // tail: 4 @ \d+\n$`).MatchString(r.stderr) {
		t.Fatalf("append: %s", r)
	}
	if r := h.ok("", "read", "s2://rec-basin/s", "-s", "0", "-n", "10"); r.stdout != "hello\nwörld\n\nlast\n" || r.stderr != "" {
		t.Fatalf("read text: %s", r)
	}
	js := h.ok("", "read", "s2://rec-basin/s", "-s", "1", "--count", "2", "--format", "json").stdout
	if !regexp.MustCompile(`^\{"seq_num":1,"timestamp":\d+,"body":"wörld"\}\n\{"seq_num":2,"timestamp":\d+\}\n$`).MatchString(js) {
		t.Fatalf("read json:\n%s", js)
	}
	// --limit and jsonl are the spellings backup guides use.
	if js2 := h.ok("", "read", "s2://rec-basin/s", "-s", "1", "--limit", "2", "--format", "jsonl").stdout; js2 != js {
		t.Fatalf("read --limit --format jsonl:\n%s\nwant\n%s", js2, js)
	}
	if r := h.ok("", "check-tail", "s2://rec-basin/s"); !strings.HasPrefix(r.stdout, "4 @ ") {
		t.Fatalf("check-tail: %s", r)
	}

	// Commands: fence and trim, and how text output shows them.
	r = h.ok("", "fence", "s2://rec-basin/s", "tok-1")
	if !regexp.MustCompile(`^✓ \[APPENDED\] new fencing token "tok-1" // tail: 4 @ \d+\n$`).MatchString(r.stderr) {
		t.Fatalf("fence: %s", r)
	}
	r = h.run("x\n", "append", "s2://rec-basin/s", "-f", "wrong")
	if r.code != 1 || !strings.Contains(r.stderr, "Error: Failed to append: fencing token mismatch, expected: tok-1") {
		t.Fatalf("append with a wrong fencing token: %s", r)
	}
	r = h.run("x\n", "append", "s2://rec-basin/s", "-f", "tok-1", "-m", "5")
	if r.code != 0 || !strings.Contains(r.stderr, "✓ [APPENDED] 5..6 // tail: 6 @ ") {
		t.Fatalf("append with fencing token and match: %s", r)
	}
	r = h.run("y\n", "append", "s2://rec-basin/s", "-m", "2")
	if r.code != 1 || !strings.Contains(r.stderr, "Error: Failed to append: sequence number mismatch, expected: 6") {
		t.Fatalf("append with a wrong match_seq_num: %s", r)
	}
	r = h.ok("", "trim", "s2://rec-basin/s", "2", "-f", "tok-1")
	if !regexp.MustCompile(`^✓ \[APPENDED\] trim to 2 // tail: 6 @ \d+\n$`).MatchString(r.stderr) {
		t.Fatalf("trim: %s", r)
	}
	r = h.ok("", "read", "s2://rec-basin/s", "-s", "0", "-n", "100")
	if r.stdout != "\nlast\nx\n" || !regexp.MustCompile(`^new fencing token "tok-1" // 4 @ \d+\ntrim to 2 // 6 @ \d+\n$`).MatchString(r.stderr) {
		t.Fatalf("read after trim: %s", r)
	}
	js = h.ok("", "read", "s2://rec-basin/s", "-s", "4", "-n", "1", "--format", "json").stdout
	if !regexp.MustCompile(`^\{"seq_num":4,"timestamp":\d+,"headers":\[\["","fence"\]\],"body":"tok-1"\}\n$`).MatchString(js) {
		t.Fatalf("fence record in json: %s", js)
	}

	// tail: the last records, a stream with none, and -o.
	if r := h.ok("", "tail", "s2://rec-basin/s", "-n", "2"); r.stdout != "x\n" || !strings.Contains(r.stderr, "trim to 2") {
		t.Fatalf("tail -n 2: %s", r)
	}
	h.ok("", "create-stream", "s2://rec-basin/empty")
	if r := h.ok("", "tail", "s2://rec-basin/empty"); r.stdout != "" {
		t.Fatalf("tail of an empty stream: %s", r)
	}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	h.ok("", "read", "s2://rec-basin/s", "-s", "0", "-n", "2", "--format", "json", "-o", out)
	if data, err := os.ReadFile(out); err != nil || strings.Count(string(data), "\n") != 2 {
		t.Fatalf("read -o: %q %v", data, err)
	}
	// --until and --timestamp start are passed through.
	if r := h.ok("", "read", "s2://rec-basin/s", "--timestamp", "0", "--until", "1"); r.stdout != "" {
		t.Fatalf("read --until 1: %s", r)
	}
	if r := h.ok("", "read", "s2://rec-basin/s", "--ago", "1h", "-n", "1"); r.stdout != "\n" {
		t.Fatalf("read --ago 1h -n 1 (first surviving record, empty body): %s", r)
	}
}

// TestBinarySafeRoundTrip: read --format json-base64 of records with
// binary bodies and headers, appended back into a new stream, gives
// identical records, timestamps included. json (lossy by nature) round-trips
// UTF-8 records the same way.
func TestBinarySafeRoundTrip(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.ok("", "create-basin", "rt-basin")
	h.ok("", "create-stream", "s2://rt-basin/src")
	src := h.c.Basin("rt-basin").Stream("src")
	var recs []client.AppendRecord
	for i := range 300 {
		body := make([]byte, i*7)
		for j := range body {
			body[j] = byte(i + j*13)
		}
		recs = append(recs, client.AppendRecord{
			Headers: []client.Header{{Name: []byte{0, 0xff, '\n'}, Value: []byte{byte(i), '"', '\\'}}, {Name: []byte("k"), Value: nil}},
			Body:    body,
		})
	}
	for i := 0; i < len(recs); i += 100 {
		if _, err := src.Append(ctx, client.AppendInput{Records: recs[i : i+100]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Fence(ctx, "fence-tok", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"json-base64", "base64", "json-binsafe"} {
		t.Run(format, func(t *testing.T) {
			export := h.ok("", "read", "s2://rt-basin/src", "-s", "0", "-n", "301", "--format", format).stdout
			if n := strings.Count(export, "\n"); n != 301 {
				t.Fatalf("exported %d lines, want 301", n)
			}
			dst := "dst-" + format
			h.ok("", "create-stream", "s2://rt-basin/"+dst)
			r := h.ok(export, "append", "s2://rt-basin/"+dst, "--format", format)
			if !strings.Contains(r.stderr, "// tail: 301 @ ") {
				t.Fatalf("import: %s", r)
			}
			want, got := h.records("rt-basin", "src"), h.records("rt-basin", dst)
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range want {
				w, g := want[i], got[i]
				if g.SeqNum != w.SeqNum || g.Timestamp != w.Timestamp || !bytes.Equal(g.Body, w.Body) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
					t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
	// The json format carries UTF-8 as text.
	h.ok("", "create-stream", "s2://rt-basin/text")
	in := `{"headers":[["h","v ü"]],"body":"line \"one\"\n"}` + "\n" + `{"timestamp":5,"body":"two"}` + "\n"
	h.ok(in, "append", "s2://rt-basin/text", "--format", "json")
	js := h.ok("", "read", "s2://rt-basin/text", "-s", "0", "-n", "2", "--format", "json").stdout
	if !regexp.MustCompile(`^\{"seq_num":0,"timestamp":\d+,"headers":\[\["h","v ü"\]\],"body":"line \\"one\\"\\n"\}\n\{"seq_num":1,"timestamp":\d+,"body":"two"\}\n$`).MatchString(js) {
		t.Fatalf("json read of json input:\n%s", js)
	}
}

// TestReadFollows: without a limit, read follows the stream and shows
// records appended later, until interrupted (exit 0, "■ [ABORTED]").
func TestReadFollows(t *testing.T) {
	h := newHarness(t)
	h.ok("", "create-basin", "follow-basin")
	h.ok("", "create-stream", "s2://follow-basin/s")
	h.ok("", "create-stream", "s2://follow-basin/t")
	h.ok("before\n", "append", "s2://follow-basin/s")
	h.ok("older\nbefore\n", "append", "s2://follow-basin/t")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, args := range [][]string{
		{"read", "s2://follow-basin/s", "-s", "0"},
		{"tail", "s2://follow-basin/t", "-f", "-n", "1"},
	} {
		cctx, ccancel := context.WithCancel(ctx)
		wait, stdout, _ := h.start(cctx, "", args...)
		waitFor(t, func() bool { return stdout.String() == "before\n" }, "%q shows the record before it", args)
		h.ok("after\n", "append", args[1])
		waitFor(t, func() bool { return strings.HasSuffix(stdout.String(), "after\n") }, "%q shows a live append", args)
		ccancel()
		r := wait()
		if r.code != 0 || !strings.Contains(r.stderr, "■ [ABORTED]") {
			t.Fatalf("%q interrupted: %s", args, r)
		}
	}
	// A read with a limit ends at the tail by itself.
	if r := h.ok("", "read", "s2://follow-basin/s", "-s", "0", "-n", "100"); strings.Count(r.stdout, "\n") < 2 {
		t.Fatalf("bounded read: %s", r)
	}
}

func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestErrorsAndExitCodes: every class of failure exits non-zero with the
// server's code and message, or a usage error with 2.
func TestErrorsAndExitCodes(t *testing.T) {
	h := newHarness(t)
	h.ok("", "create-basin", "err-basin")
	h.ok("", "create-stream", "s2://err-basin/s")
	h.fails(1, "Error: Failed to create basin: resource_already_exists: basin `err-basin` already exists", "create-basin", "err-basin")
	h.fails(1, "Error: Failed to get basin config: basin_not_found: basin `nope-basin` not found", "get-basin-config", "nope-basin")
	h.fails(1, "Error: Failed to delete stream: stream_not_found:", "delete-stream", "s2://err-basin/nope")
	h.fails(1, "Error: Failed to create basin: bad_json:", "create-basin", "Bad_Name")
	h.fails(1, "Error: Failed to read: read from an unwritten position. current tail: seq_num=0, timestamp=0", "read", "s2://err-basin/s", "-s", "5", "-n", "1")
	h.fails(1, "Error: Failed to read: invalid:", "read", "s2://err-basin/s", "--timestamp", "10", "--until", "5")
	h.fails(1, "Error: Failed to check tail: basin_not_found:", "check-tail", "s2://nope-basin/s")
	h.fails(1, "Error: Failed to check tail: stream_not_found:", "check-tail", "s2://err-basin/nope")
	h.fails(1, "Error: Failed to set fencing token: stream_not_found:", "fence", "s2://err-basin/nope", "t")
	if r := h.run("x\n", "append", "s2://err-basin/nope"); r.code != 1 || !strings.Contains(r.stderr, "Error: Failed to append: stream_not_found:") {
		t.Fatalf("append to a missing stream: %s", r)
	}
	// Empty input appends nothing and succeeds, as the official CLI does.
	if r := h.run("", "append", "s2://err-basin/nope"); r.code != 0 || r.stderr != "" {
		t.Fatalf("empty input: %s", r)
	}
	// A bad input line fails after the lines before it were appended.
	r := h.run("good\n{bad\n", "append", "s2://err-basin/s", "--format", "json")
	if r.code != 1 || !strings.Contains(r.stderr, "failed to parse input line 1") {
		t.Fatalf("bad json input: %s", r)
	}
	r = h.run("{\"body\":\"a\"}\n{\"body\":\"!!\"}\n", "append", "s2://err-basin/s", "--format", "json-base64")
	if r.code != 1 || !strings.Contains(r.stderr, "failed to parse input line 1: invalid base64") {
		t.Fatalf("bad base64 input: %s", r)
	}

	// Usage errors: exit 2.
	h.fails(2, "unknown flag: --bogus", "read", "s2://err-basin/s", "--bogus")
	h.fails(2, "missing stream name", "read", "s2://err-basin")
	h.fails(2, "invalid S2 URI scheme", "read", "s3://err-basin/s")
	h.fails(2, "invalid value \"xml\" for --format", "read", "s2://err-basin/s", "--format", "xml")
	h.fails(2, "retention", "create-stream", "s2://err-basin/x", "--retention-policy", "0s")
	h.fails(2, "possible values: standard, express", "create-stream", "s2://err-basin/x", "--storage-class", "cold")
	h.fails(2, "were all set", "read", "s2://err-basin/s", "-s", "0", "--tail-offset", "1")
	h.fails(2, "unknown command", "frobnicate")
	h.fails(2, "accepts 1 arg", "check-tail")
	delete(h.env, "S2_ACCOUNT_ENDPOINT")
	delete(h.env, "S2_BASIN_ENDPOINT")
	h.fails(2, "no endpoint", "list-basins")
	h.env["S2_ACCOUNT_ENDPOINT"] = "http://127.0.0.1:1"
	h.fails(1, "Failed to list basins", "list-basins")
}

func TestApply(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	write := func(s string) {
		if err := os.WriteFile(spec, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"$schema":"./schema.json","basins":[{"name":"app-basin","config":{"default_stream_config":{"retention_policy":"7d"},"create_stream_on_append":true},
	  "streams":[{"name":"events","config":{"retention_policy":"infinite"}},{"name":"plain"}]}]}`)
	r := h.ok("", "apply", "-f", spec, "--dry-run")
	want := "+ basin app-basin\n    stream_cipher: none\n    create_stream_on_append: true\n    create_stream_on_read: false\n" +
		"    default_stream_config.storage_class: express\n    default_stream_config.retention_policy: 7days\n" +
		"    default_stream_config.timestamping.mode: client-prefer\n    default_stream_config.timestamping.uncapped: false\n" +
		"    default_stream_config.delete_on_empty.min_age: 0s\n" +
		"  + stream app-basin/events\n      storage_class: express\n      retention_policy: infinite\n" +
		"      timestamping.mode: client-prefer\n      timestamping.uncapped: false\n      delete_on_empty.min_age: 0s\n" +
		"  + stream app-basin/plain\n      storage_class: express\n      retention_policy: 7days\n" +
		"      timestamping.mode: client-prefer\n      timestamping.uncapped: false\n      delete_on_empty.min_age: 0s\n"
	if r.stdout != want {
		t.Fatalf("dry run of a new spec:\n%s\nwant:\n%s", r.stdout, want)
	}
	if _, err := h.c.GetBasinConfig(context.Background(), "app-basin"); err == nil {
		t.Fatal("the dry run created the basin")
	}
	r = h.ok("", "apply", "-f", spec)
	if r.stderr != "  basin app-basin (created)\n  stream app-basin/events (created)\n  stream app-basin/plain (created)\n✓ Done\n" {
		t.Fatalf("apply: %s", r)
	}
	r = h.ok("", "apply", "-f", spec)
	if r.stderr != "  basin app-basin (config unchanged)\n  stream app-basin/events (config unchanged)\n  stream app-basin/plain (config unchanged)\n✓ Done\n" {
		t.Fatalf("second apply: %s", r)
	}
	if r := h.ok("", "apply", "-f", spec, "--dry-run"); r.stdout != "= basin app-basin\n  = stream app-basin/events\n  = stream app-basin/plain\n" {
		t.Fatalf("dry run of an applied spec: %s", r)
	}
	write(`{"basins":[{"name":"app-basin","config":{"default_stream_config":{"retention_policy":"7d"},"create_stream_on_append":true},
	  "streams":[{"name":"events","config":{"retention_policy":"1d","timestamping":{"mode":"arrival"}}}]}]}`)
	r = h.ok("", "apply", "-f", spec, "--dry-run")
	if r.stdout != "= basin app-basin\n  ~ stream app-basin/events\n      retention_policy: infinite → 1day\n      timestamping.mode: client-prefer → arrival\n" {
		t.Fatalf("dry run of a change: %s", r)
	}
	if r := h.ok("", "apply", "-f", spec); !strings.Contains(r.stderr, "stream app-basin/events (config updated)") {
		t.Fatalf("apply of a change: %s", r)
	}
	write(`{"basins":[{"name":"app-basin","streams":[{"name":"s","config":{"colour":"red"}}]}]}`)
	h.fails(2, "failed to parse spec file", "apply", "-f", spec)
	h.fails(2, `required flag(s) "file" not set`, "apply")
}

// TestExportImportKeepPositions: a stream with a trim point, a fencing
// token, commands and binary records is exported and imported into another
// server's new stream: identical records at identical positions, the same
// tail, trim point and token.
func TestExportImportKeepPositions(t *testing.T) {
	src := newHarness(t)
	dst := newHarnessWith(t, testserver.Options{Server: server.Options{EnableImport: true}})
	ctx := context.Background()
	src.ok("", "create-basin", "exp-basin")
	src.ok("", "create-stream", "s2://exp-basin/s", "--retention-policy", "infinite", "--storage-class", "standard")
	s := src.c.Basin("exp-basin").Stream("s")
	recs := binaryRecordsForExport(50)
	if _, err := s.Append(ctx, client.AppendInput{Records: recs}); err != nil {
		t.Fatal(err)
	}
	src.ok("", "trim", "s2://exp-basin/s", "20")
	src.ok("", "fence", "s2://exp-basin/s", "owner-1")
	src.ok("more\n", "append", "s2://exp-basin/s", "-f", "owner-1")
	file := filepath.Join(t.TempDir(), "s.export")
	r := src.ok("", "export", "s2://exp-basin/s", "-o", file)
	if !strings.Contains(r.stderr, "✓ [EXPORTED] s2://exp-basin/s: 33 records, 20..53") {
		t.Fatalf("export: %s", r)
	}

	// Without --enable-import the server refuses.
	src.ok("", "create-basin", "exp-basin-2")
	if r := src.run("", "import", "s2://exp-basin-2/s", "-i", file); r.code != 1 || !strings.Contains(r.stderr, "permission_denied") {
		t.Fatalf("import into a server without --enable-import: %s", r)
	}

	dst.ok("", "create-basin", "exp-basin")
	r = dst.ok("", "import", "s2://exp-basin/copy", "-i", file)
	if !strings.Contains(r.stderr, "✓ Import of s2://exp-basin/copy finished // tail: 53 @ ") {
		t.Fatalf("import: %s", r)
	}
	want, got := src.records("exp-basin", "s"), dst.records("exp-basin", "copy")
	if len(got) != len(want) || len(want) != 33 {
		t.Fatalf("%d records imported, %d exported", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.SeqNum != w.SeqNum || g.Timestamp != w.Timestamp || !bytes.Equal(g.Body, w.Body) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
			t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, g, w)
		}
	}
	st, _ := src.c.Basin("exp-basin").Stream("s").CheckTail(ctx)
	dt, _ := dst.c.Basin("exp-basin").Stream("copy").CheckTail(ctx)
	if st != dt {
		t.Fatalf("tails differ: %+v and %+v", st, dt)
	}
	if cfg := dst.ok("", "get-stream-config", "s2://exp-basin/copy").stdout; !strings.Contains(cfg, "Infinite") || !strings.Contains(cfg, "standard") {
		t.Fatalf("config not carried over:\n%s", cfg)
	}
	// The token came along: a wrong one is refused, the right one works.
	if r := dst.run("x\n", "append", "s2://exp-basin/copy", "-f", "intruder"); !strings.Contains(r.stderr, "expected: owner-1") {
		t.Fatalf("append with a wrong token after import: %s", r)
	}
	dst.ok("x\n", "append", "s2://exp-basin/copy", "-f", "owner-1", "-m", "53")

	// Importing into an existing stream is refused; a truncated export
	// says so.
	if r := dst.run("", "import", "s2://exp-basin/copy", "-i", file); r.code != 1 || !strings.Contains(r.stderr, "resource_already_exists") {
		t.Fatalf("import into an existing stream: %s", r)
	}
	data, _ := os.ReadFile(file)
	lines := strings.SplitAfter(string(data), "\n")
	truncated := strings.Join(lines[:len(lines)-2], "")
	if r := dst.run(truncated, "import", "s2://exp-basin/truncated"); r.code != 1 || !strings.Contains(r.stderr, "without its trailer") {
		t.Fatalf("import of a truncated export: %s", r)
	}
}

// TestExportImportBasin moves a whole basin: its configuration and every
// stream, each at its own positions.
func TestExportImportBasin(t *testing.T) {
	src := newHarness(t)
	dst := newHarnessWith(t, testserver.Options{Server: server.Options{EnableImport: true}})
	src.ok("", "create-basin", "whole-basin", "--create-stream-on-append", "--retention-policy", "1w")
	for i, name := range []string{"a", "b/c", "empty"} {
		src.ok("", "create-stream", "s2://whole-basin/"+name)
		if name != "empty" {
			src.ok(strings.Repeat(fmt.Sprintf("line %d\n", i), 5+i), "append", "s2://whole-basin/"+name)
		}
	}
	src.ok("", "trim", "s2://whole-basin/a", "3")
	file := filepath.Join(t.TempDir(), "basin.export")
	if r := src.ok("", "export", "whole-basin", "-o", file); !strings.Contains(r.stderr, "✓ [EXPORTED] basin whole-basin: 3 streams") {
		t.Fatalf("basin export: %s", r)
	}
	if r := dst.run("", "import", "s2://moved-basin/x", "-i", file); r.code != 2 || !strings.Contains(r.stderr, "export of a basin") {
		t.Fatalf("a basin export into a stream: %s", r)
	}
	r := dst.ok("", "import", "moved-basin", "-i", file)
	if !strings.Contains(r.stderr, "✓ Import of basin moved-basin finished: 3 streams") {
		t.Fatalf("basin import: %s", r)
	}
	if cfg := dst.ok("", "get-basin-config", "moved-basin").stdout; !strings.Contains(cfg, "create_stream_on_append |  true") || !strings.Contains(cfg, "7days") {
		t.Fatalf("basin config not carried over:\n%s", cfg)
	}
	for _, name := range []string{"a", "b/c", "empty"} {
		want, got := src.records("whole-basin", name), dst.records("moved-basin", name)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("stream %s: %d records, want %d", name, len(got), len(want))
		}
		st, _ := src.c.Basin("whole-basin").Stream(name).CheckTail(context.Background())
		dt, _ := dst.c.Basin("moved-basin").Stream(name).CheckTail(context.Background())
		if st != dt {
			t.Fatalf("stream %s: tails %+v and %+v", name, st, dt)
		}
	}
}

func binaryRecordsForExport(n int) []client.AppendRecord {
	out := make([]client.AppendRecord, n)
	for i := range out {
		out[i] = client.AppendRecord{Headers: []client.Header{{Name: []byte{'h', byte(i)}, Value: []byte{0xff, 0}}}, Body: []byte{byte(i), 0, 0xfe}}
	}
	return out
}

// TestTLSAndCompressionSettings: S2_SSL_NO_VERIFY reaches a server with a
// self-signed certificate; S2_COMPRESSION compresses; bad values are usage
// errors.
func TestTLSAndCompressionSettings(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	tlsSrv := httptest.NewUnstartedServer(srv.Srv.Handler())
	tlsSrv.EnableHTTP2 = true
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	h := &harness{t: t, srv: srv, env: map[string]string{"S2_ACCOUNT_ENDPOINT": tlsSrv.URL, "S2_BASIN_ENDPOINT": tlsSrv.URL}}
	if r := h.run("", "list-basins"); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("a self-signed server without S2_SSL_NO_VERIFY: %s", r)
	}
	h.env["S2_SSL_NO_VERIFY"] = "true"
	h.env["S2_COMPRESSION"] = "zstd"
	h.ok("", "create-basin", "tls-basin")
	h.ok("", "create-stream", "s2://tls-basin/s")
	h.ok(strings.Repeat("a long line that compresses well\n", 200), "append", "s2://tls-basin/s")
	if r := h.ok("", "read", "s2://tls-basin/s", "-s", "0", "-n", "200"); strings.Count(r.stdout, "\n") != 200 {
		t.Fatalf("read over TLS: %d lines", strings.Count(r.stdout, "\n"))
	}
	h.env["S2_COMPRESSION"] = "brotli"
	h.fails(2, "S2_COMPRESSION", "list-basins")
	h.env["S2_COMPRESSION"], h.env["S2_SSL_NO_VERIFY"] = "", "maybe"
	h.fails(2, "S2_SSL_NO_VERIFY", "list-basins")
}

// TestImportResume: an import cut short (here: the export truncated after
// some records) continues with --resume from the stream's tail, and ends
// identical to the source.
func TestImportResume(t *testing.T) {
	src := newHarness(t)
	dst := newHarnessWith(t, testserver.Options{Server: server.Options{EnableImport: true}})
	src.ok("", "create-basin", "res-basin")
	src.ok("", "create-stream", "s2://res-basin/s")
	src.ok(strings.Repeat("record\n", 2500), "append", "s2://res-basin/s")
	src.ok("", "fence", "s2://res-basin/s", "tok")
	file := filepath.Join(t.TempDir(), "s.export")
	src.ok("", "export", "s2://res-basin/s", "-o", file)
	data, _ := os.ReadFile(file)
	lines := strings.SplitAfter(string(data), "\n")

	dst.ok("", "create-basin", "res-basin")
	// 1500 of the 2501 records: one batch of 1000 and one of 500.
	if r := dst.run(strings.Join(lines[:1501], ""), "import", "s2://res-basin/s"); r.code != 1 {
		t.Fatalf("truncated import: %s", r)
	}
	if r := dst.run(string(data), "import", "s2://res-basin/s"); !strings.Contains(r.stderr, "--resume") {
		t.Fatalf("import into the existing stream without --resume: %s", r)
	}
	r := dst.ok(string(data), "import", "s2://res-basin/s", "--resume")
	if !strings.Contains(r.stderr, "✓ [IMPORTED] s2://res-basin/s 1500..2500") {
		t.Fatalf("resumed import: %s", r)
	}
	want, got := src.records("res-basin", "s"), dst.records("res-basin", "s")
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("%d records after the resumed import, want %d identical", len(got), len(want))
	}
	if r := dst.run("x\n", "append", "s2://res-basin/s", "-f", "other"); !strings.Contains(r.stderr, "expected: tok") {
		t.Fatalf("token after the resumed import: %s", r)
	}
}
