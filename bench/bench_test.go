package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestAppendInputEncoding(t *testing.T) {
	msg := encodeAppendInput([][]byte{[]byte("ab"), nil, []byte("xyz")})
	var records [][]byte
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if num != 1 || typ != protowire.BytesType {
			t.Fatalf("field %d type %d", num, typ)
		}
		rec, m := protowire.ConsumeBytes(msg[n:])
		if m < 0 {
			t.Fatal("bad record")
		}
		msg = msg[n+m:]
		var body []byte
		for len(rec) > 0 {
			num, typ, n := protowire.ConsumeTag(rec)
			v, m := protowire.ConsumeBytes(rec[n:])
			if typ != protowire.BytesType || m < 0 {
				t.Fatalf("record field %d type %d", num, typ)
			}
			if num == 3 {
				body = v
			}
			rec = rec[n+m:]
		}
		records = append(records, body)
	}
	if len(records) != 3 || string(records[0]) != "ab" || len(records[1]) != 0 || string(records[2]) != "xyz" {
		t.Fatalf("records %q", records)
	}
}

func posMsg(seq, ts uint64) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, seq)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	return protowire.AppendVarint(b, ts)
}

func TestAckDecoding(t *testing.T) {
	var ack []byte
	for i, p := range [][]byte{posMsg(10, 1), posMsg(12, 2), posMsg(15, 3)} {
		ack = protowire.AppendTag(ack, protowire.Number(i+1), protowire.BytesType)
		ack = protowire.AppendBytes(ack, p)
	}
	// An unknown field is skipped.
	ack = protowire.AppendTag(ack, 9, protowire.VarintType)
	ack = protowire.AppendVarint(ack, 7)
	a, err := decodeAppendAck(ack)
	if err != nil || a.Start.SeqNum != 10 || a.End.SeqNum != 12 || a.Tail.SeqNum != 15 || a.Tail.Timestamp != 3 {
		t.Fatalf("ack %+v, %v", a, err)
	}
	if _, err := decodeAppendAck([]byte{0x0a, 0x05, 0x08}); err == nil {
		t.Fatal("truncated ack decoded")
	}
}

func TestReadBatchCounting(t *testing.T) {
	var rb []byte
	for seq := uint64(0); seq < 3; seq++ {
		var rec []byte
		if seq > 0 { // proto3 leaves zero out
			rec = protowire.AppendTag(rec, 1, protowire.VarintType)
			rec = protowire.AppendVarint(rec, seq)
		}
		rec = protowire.AppendTag(rec, 3, protowire.BytesType) // a header
		rec = protowire.AppendBytes(rec, []byte{0x0a, 0x01, 'h'})
		rec = protowire.AppendTag(rec, 4, protowire.BytesType)
		rec = protowire.AppendBytes(rec, bytes.Repeat([]byte{'x'}, int(seq)+1))
		rb = protowire.AppendTag(rb, 1, protowire.BytesType)
		rb = protowire.AppendBytes(rb, rec)
	}
	rb = protowire.AppendTag(rb, 2, protowire.BytesType)
	rb = protowire.AppendBytes(rb, posMsg(3, 9))
	records, body, err := countReadBatch(rb)
	if err != nil || records != 3 || body != 6 {
		t.Fatalf("batch: %d records, %d body bytes, %v", records, body, err)
	}
	if _, _, err := countReadBatch(rb[:len(rb)-1]); err == nil {
		t.Fatal("truncated batch counted")
	}
}

func TestS2SFraming(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(s2sFrame([]byte("hello")))
	stream.Write([]byte{0, 0, 5, s2sFlagTerminal, 0x01, 0x9c, '{', '}'})
	fr := &frameReader{br: bufio.NewReader(&stream)}
	msg, err := fr.next()
	if err != nil || string(msg) != "hello" {
		t.Fatalf("first message %q, %v", msg, err)
	}
	_, err = fr.next()
	te, ok := err.(*terminalError)
	if !ok || te.Status != 412 || te.Body != "{}" {
		t.Fatalf("terminal: %v", err)
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// TestAgainstServer runs every path the benchmark uses, raw and through the
// client package, against a whole server in the test's process, and reads
// back what the raw paths appended: prebuilt JSON, protobuf and S2S bodies
// must arrive as the records the client package would have sent.
func TestAgainstServer(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := health(ctx, srv.URL); err != nil {
		t.Fatalf("health: %v", err)
	}
	c, err := newBenchClient(srv.URL, "bench-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close) // before the server's Close, which waits for idle connections
	if err := c.createBasin(ctx); err != nil {
		t.Fatal(err)
	}
	if err := createStreams(ctx, c, []string{"s", "other"}); err != nil {
		t.Fatal(err)
	}
	bs := makeBatches(100, 3, 2, 1)
	var want [][]byte // record bodies, in stream order
	add := func(k int) {
		for _, r := range bs.inputs[k].Records {
			want = append(want, r.Body)
		}
	}
	checkStart := func(what string, ack client.AppendAck, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ack.Start.SeqNum != uint64(len(want)) || ack.End.SeqNum != uint64(len(want)+bs.Records) {
			t.Fatalf("%s: ack %+v, want start %d", what, ack, len(want))
		}
	}
	ack, err := c.appendJSON(ctx, "s", bs.json[0])
	checkStart("unary JSON", ack, err)
	add(0)
	ack, err = c.appendProto(ctx, c.h1, "s", bs.proto[1])
	checkStart("unary protobuf over HTTP/1.1", ack, err)
	add(1)
	ack, err = c.appendProto(ctx, c.h2, "s", bs.proto[0])
	checkStart("unary protobuf over h2c", ack, err)
	add(0)

	sess, err := c.openRawAppendSession(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	for k := range bs.frames {
		if err := sess.send(bs.frames[k]); err != nil {
			t.Fatal(err)
		}
	}
	sess.closeSend()
	for k := range bs.frames {
		ack, err := sess.recvAck()
		checkStart("raw session", ack, err)
		add(k)
	}
	if _, err := sess.recvAck(); err != io.EOF {
		t.Fatalf("raw session end: %v", err)
	}
	sess.close()

	if err := appendN(ctx, c, "s", bs, 3, 2); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 3; k++ {
		add(k % len(bs.inputs))
	}

	batch, err := c.stream("s").Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Records) != len(want) {
		t.Fatalf("read %d records, want %d", len(batch.Records), len(want))
	}
	for i, r := range batch.Records {
		if r.SeqNum != uint64(i) || !bytes.Equal(r.Body, want[i]) {
			t.Fatalf("record %d: seq %d body %q, want %q", i, r.SeqNum, r.Body, want[i])
		}
	}
	for _, kind := range []string{"s2s", "sse"} {
		rr, err := readAllOnce(ctx, c, "s", kind, int64(len(want)))
		if err != nil || rr.Records != int64(len(want)) || rr.MiBPerSec <= 0 {
			t.Fatalf("%s read: %+v, %v", kind, rr, err)
		}
	}

	m, err := c.metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["s2lite_engine_immutable_memtables"]; !ok {
		t.Fatalf("metrics without s2lite_engine_immutable_memtables: %d series", len(m))
	}
}

// TestAgainstServerEncrypted: the raw paths send the key on streams of a
// basin with a stream_cipher (unary JSON and protobuf, S2S append
// sessions, S2S and SSE reads); without it they are refused.
func TestAgainstServerEncrypted(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, cipher := range []string{"aegis-256", "aes-256-gcm"} {
		c, err := newBenchClient(srv.URL, "bench-enc-"+cipher)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		c.encKey = newKeyB64()
		if err := c.createCipherBasin(ctx, cipher); err != nil {
			t.Fatal(err)
		}
		if err := c.createStream(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		if err := c.checkCipher(ctx, "s", cipher); err != nil {
			t.Fatal(err)
		}
		bs := makeBatches(100, 3, 2, 1)
		if _, err := c.appendJSON(ctx, "s", bs.json[0]); err != nil {
			t.Fatalf("%s unary JSON: %v", cipher, err)
		}
		if _, err := c.appendProto(ctx, c.h2, "s", bs.proto[1]); err != nil {
			t.Fatalf("%s unary protobuf: %v", cipher, err)
		}
		if err := appendRawN(ctx, c, "s", bs, 5, 2); err != nil {
			t.Fatalf("%s raw session: %v", cipher, err)
		}
		const n = 7 * 3
		for _, kind := range []string{"s2s", "sse"} {
			rr, err := readAllOnce(ctx, c, "s", kind, n)
			if err != nil || rr.Records != n {
				t.Fatalf("%s %s read: %+v, %v", cipher, kind, rr, err)
			}
		}
		// Another key does not open the records.
		key := c.encKey
		c.encKey = newKeyB64()
		if _, err := readAllOnce(ctx, c, "s", "s2s", n); err == nil || !strings.Contains(err.Error(), "decryption") {
			t.Fatalf("%s read with another key: %v", cipher, err)
		}
		c.encKey = ""
		if _, err := c.appendJSON(ctx, "s", bs.json[0]); err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("%s append without a key: %v", cipher, err)
		}
		c.encKey = key
	}
}

func TestBatchesRespectLimits(t *testing.T) {
	if n := maxBatchRecords(65536, 1000); n != 15 {
		t.Fatalf("64 KiB records: %d per batch", n)
	}
	if n := maxBatchRecords(1024, 1000); n != 1000 {
		t.Fatalf("1 KiB records: %d per batch", n)
	}
	bs := makeBatches(100, 3, 2, 1)
	var in struct {
		Records []struct {
			Body string `json:"body"`
		} `json:"records"`
	}
	if err := json.Unmarshal(bs.json[0], &in); err != nil || len(in.Records) != 3 || len(in.Records[0].Body) != 100 {
		t.Fatalf("JSON batch: %v, %+v", err, in)
	}
	if bs.meteredBytes() != 3*108 {
		t.Fatalf("metered %d", bs.meteredBytes())
	}
}

func TestProxyClassify(t *testing.T) {
	for _, c := range []struct{ method, target, op, class string }{
		{"PUT", "/b/run/latency/wal/00000000000000000007", "PUT", "wal"},
		{"GET", "/b/run/latency/sst/0001-0002.sst", "GET", "sst"},
		{"GET", "/b/?list-type=2&prefix=run%2Fmanifest%2F", "LIST", "list"},
		{"GET", "/b/run/manifest/LATEST", "GET", "manifest"},
		{"POST", "/b/?delete", "DELETE", "other"},
		{"PUT", "/b/" + baselinePrefix + "/x/put/000000001", "PUT", "baseline"},
	} {
		op, class := classify(httptest.NewRequest(c.method, c.target, nil))
		if op != c.op || class != c.class {
			t.Errorf("%s %s: %s %s, want %s %s", c.method, c.target, op, class, c.op, c.class)
		}
	}
}

func TestSleepUntilIsPrecise(t *testing.T) {
	var worst time.Duration
	for i := 0; i < 20; i++ {
		at := time.Now().Add(2 * time.Millisecond)
		sleepUntil(at)
		worst = max(worst, time.Since(at))
	}
	// Generous: the point is that it is not Go's ~1 ms timer slack on
	// every call, while a loaded machine may delay a few wake-ups.
	if worst > 50*time.Millisecond {
		t.Fatalf("woke up %v late", worst)
	}
}

func TestReportRendering(t *testing.T) {
	rep := &ServerReport{
		runInfo: runInfo{When: "now", Machine: "test"},
		Latency: []LatencyPoint{
			{Path: "session", RecordBytes: 1024, BatchRecords: 1, Rate: 50, Ack: Latency{N: 10, P50: 3, P99: 5}, RawPut: Latency{N: 10, P50: 2.5, P99: 4}, P50Ratio: 1.2, P99Ratio: 1.25, WALObjectsPerBatch: 1, AvgWALObjectBytes: 1157},
			{Path: "session", RecordBytes: 1024, BatchRecords: 1, Rate: 1000, Ack: Latency{N: 10, P50: 8, P99: 20}, RawPut: Latency{N: 10, P50: 2.5, P99: 4}, P50Ratio: 3.2, P99Ratio: 5, WALObjectsPerBatch: 0.4, AvgWALObjectBytes: 3000},
		},
		Throughput: []TputPoint{{Name: "1 stream", Path: "session", Streams: 1, RecordBytes: 1024, BatchRecords: 1000, MiBPerSec: 40, RawPut1MiBSec: 50, RatioTo1: 0.8, RequestsPerMiB: map[string]float64{"PUT": 1}}},
		Cipher: &CipherResult{RecordBytes: 1024, BatchRecords: 1, Rate: 200, StreamMiB: 32, FillerMiB: 40, ReadsPerSample: 2, BlockCache: "256MiB",
			Latency: []CipherLatency{{Cipher: "none", Path: "session", Ack: Latency{N: 10, P50: 2}, P50Ratio: 1, P99Ratio: 1}, {Cipher: "aegis-256", Path: "session", Ack: Latency{N: 10, P50: 2.2}, P50Ratio: 1.1, P99Ratio: 1}},
			CatchUp: []CipherCatchUp{{Cipher: "none", MiBPerSec: 400, Ratio: 1, Reads: []ReadRun{{MiBPerSec: 400}}}, {Cipher: "aes-256-gcm", MiBPerSec: 300, Ratio: 0.75}},
		},
	}
	rep.Targets = judge(rep)
	if len(rep.Targets) == 0 {
		t.Fatal("no verdicts")
	}
	dir := t.TempDir()
	if err := writeServerMarkdown(filepath.Join(dir, "server.md"), rep); err != nil {
		t.Fatal(err)
	}
	if err := writeServerPlots(dir, rep); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "server.md"))
	if !strings.Contains(string(md), "## Targets") || !strings.Contains(string(md), "| aes-256-gcm | 300.0 | 0.75 |") {
		t.Fatalf("report:\n%s", md)
	}
	for _, f := range []string{"latency-by-rate.svg", "throughput-by-record-size.svg", "request-cost.svg"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.HasPrefix(data, []byte("<svg")) || !bytes.HasSuffix(data, []byte("</svg>\n")) {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

func TestClusterReport(t *testing.T) {
	dir := t.TempDir()
	pt := func(path string, rate, p50, ratio float64) LatencyPoint {
		return LatencyPoint{Path: path, RecordBytes: 1024, BatchRecords: 1, Rate: rate,
			Ack: Latency{N: 100, P50: p50, P99: 2 * p50}, P50Ratio: ratio, P99Ratio: ratio}
	}
	base := &ServerReport{runInfo: runInfo{When: "then"}, Latency: []LatencyPoint{pt("unary", 50, 2, 1.2), pt("session", 50, 2, 1.1)}}
	run := &ServerReport{runInfo: runInfo{When: "now"}, Latency: []LatencyPoint{pt("unary", 50, 3, 1.26), pt("session", 50, 9, 4)}}
	run.Latency[0].CPU = map[string]float64{"others": 0.1}
	run.Latency[1].CPU = map[string]float64{"others": 1.2}
	for name, r := range map[string]*ServerReport{"base.json": base, "run.json": run} {
		if err := writeJSON(dir, name, r); err != nil {
			t.Fatal(err)
		}
	}
	chk, err := compareSingleNode(filepath.Join(dir, "base.json"), []string{filepath.Join(dir, "run.json")})
	if err != nil {
		t.Fatal(err)
	}
	if r := chk.Runs[0]; len(chk.Points) != 2 || r.Points != 2 || r.Within != 1 || r.Quiet == nil ||
		r.Quiet.Points != 1 || r.Quiet.AckP50 != 1.5 || r.Quiet.RatioP50 != 1.05 || r.Quiet.Within != 1 {
		t.Fatalf("comparison: %+v", chk)
	}
	side := func(node string, p50 float64, mibs ...float64) HopSide {
		return HopSide{Node: node, Ack: Latency{N: 10, P50: p50, P99: 3 * p50}, MiBPerSec: mibs, MedianMiBPerSec: median(mibs),
			CPU: map[string]float64{"owner": 0.5, "others": 0.1}, CPUPerMiB: map[string]float64{"non-owner": 3}}
	}
	rep := &ClusterReport{runInfo: runInfo{When: "now", Durations: map[string]string{"rounds": "2"}}, Rounds: 2, SingleNode: chk,
		Setup: ClusterSetup{Nodes: []string{"n1", "n2"}, Owner: "n2", NonOwner: "n1", Partitions: 4},
		Latency: []HopLatency{{Path: "unary", RecordBytes: 1024, BatchRecords: 1, Rate: 100,
			Owner: side("n2", 2), NonOwner: side("n1", 2.5), P50Ratio: 1.25, ExtraP50MS: 0.5}},
		Reads: []HopThroughput{{Name: "catch-up", Owner: side("n2", 0, 300, 320), NonOwner: side("n1", 0, 200, 210), Ratio: 0.66}},
	}
	rep.Repeats = []ClusterRunSummary{rep.summary()}
	if err := writeClusterReport(dir, rep); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "cluster.md"))
	if n := strings.Count(string(md), "# s2lite cluster benchmark"); n != 1 {
		t.Fatalf("%d titles in the report:\n%s", n, md)
	}
	for _, want := range []string{"| unary 1 KiB x 1 @ 100/s each, ack p50 | 2.00 ms | 2.50 ms | 1.25 | +0.50 ms", "| catch-up | 320.0 MiB/s", "## Single-node mode unchanged", "| 1 of 2 |", "| 1 of 1 |", "others 1.2", "- rounds: 2", "| p50 +0.50 ms (×1.25), p99 ×0.00 | p50 +0.50 ms (×1.25), p99 ×0.00 |"} {
		if !strings.Contains(string(md), want) {
			t.Fatalf("no %q in the report:\n%s", want, md)
		}
	}
}

func TestMountOf(t *testing.T) {
	const mounts = `/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
proc /proc proc rw 0 0
tmpfs /dev/shmem tmpfs rw 0 0
`
	for _, c := range []struct{ dir, mp, fs string }{
		{"/dev/shm/s2lite-minio-1", "/dev/shm", "tmpfs"},
		{"/dev/shm", "/dev/shm", "tmpfs"},
		{"/tmp/s2lite-minio-1", "/", "ext4"},
		{"/dev/shmx/a", "/", "ext4"}, // a prefix of the name is not a parent
		{"/", "/", "ext4"},
	} {
		if mp, fs := mountOf(mounts, c.dir); mp != c.mp || fs != c.fs {
			t.Errorf("mountOf(%q) = %q, %q; want %q, %q", c.dir, mp, fs, c.mp, c.fs)
		}
	}
	if mp, fs := mountOf("", "/x"); mp != "" || fs != "" {
		t.Errorf("mountOf of no mounts = %q, %q", mp, fs)
	}
}
