package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestAppendInputEncoding(t *testing.T) {
	msg := encodeAppendInput([][]byte{[]byte("ab"), nil, []byte("xyz")})
	var records [][]byte
	if err := walk(msg, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			t.Fatalf("field %d type %d", num, typ)
		}
		var body []byte
		walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if num == 3 {
				body = v
			}
			return nil
		})
		records = append(records, body)
		return nil
	}); err != nil {
		t.Fatal(err)
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

func TestAckAndReadBatchDecoding(t *testing.T) {
	var ack []byte
	for i, p := range [][]byte{posMsg(10, 1), posMsg(12, 2), posMsg(15, 3)} {
		ack = protowire.AppendTag(ack, protowire.Number(i+1), protowire.BytesType)
		ack = protowire.AppendBytes(ack, p)
	}
	a, err := decodeAppendAck(ack)
	if err != nil || a.Start.SeqNum != 10 || a.End.SeqNum != 12 || a.Tail.SeqNum != 15 || a.Tail.Timestamp != 3 {
		t.Fatalf("ack %+v, %v", a, err)
	}
	var rb []byte
	for seq := uint64(0); seq < 3; seq++ {
		var rec []byte
		if seq > 0 { // proto3 leaves zero out
			rec = protowire.AppendTag(rec, 1, protowire.VarintType)
			rec = protowire.AppendVarint(rec, seq)
		}
		rec = protowire.AppendTag(rec, 4, protowire.BytesType)
		rec = protowire.AppendBytes(rec, bytes.Repeat([]byte{'x'}, int(seq)+1))
		rb = protowire.AppendTag(rb, 1, protowire.BytesType)
		rb = protowire.AppendBytes(rb, rec)
	}
	rb = protowire.AppendTag(rb, 2, protowire.BytesType)
	rb = protowire.AppendBytes(rb, posMsg(3, 9))
	var info readBatchInfo
	if err := decodeReadBatch(rb, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Seqs) != 3 || info.Seqs[2] != 2 || info.BodyBytes != 6 || !info.HasTail || info.Tail.SeqNum != 3 {
		t.Fatalf("batch %+v", info)
	}
}

func TestS2SFraming(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(s2sFrame([]byte("hello")))
	stream.Write([]byte{0, 0, 5, s2sFlagTerminal, 0x01, 0x9c, '{', '}'})
	s := &s2sSession{br: bufio.NewReader(&stream)}
	msg, err := s.recv()
	if err != nil || string(msg) != "hello" {
		t.Fatalf("first message %q, %v", msg, err)
	}
	_, err = s.recv()
	te, ok := err.(*terminalError)
	if !ok || te.Status != 412 || te.Body != "{}" {
		t.Fatalf("terminal: %v", err)
	}
	if _, err := s.recv(); err != io.EOF {
		t.Fatalf("end: %v", err)
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
		When: "now", Machine: "test",
		Latency: []LatencyPoint{
			{Path: "session", RecordBytes: 1024, BatchRecords: 1, Rate: 50, Ack: Latency{N: 10, P50: 3, P99: 5}, RawPut: Latency{N: 10, P50: 2.5, P99: 4}, P50Ratio: 1.2, P99Ratio: 1.25, WALObjectsPerBatch: 1, AvgWALObjectBytes: 1157},
			{Path: "session", RecordBytes: 1024, BatchRecords: 1, Rate: 1000, Ack: Latency{N: 10, P50: 8, P99: 20}, RawPut: Latency{N: 10, P50: 2.5, P99: 4}, P50Ratio: 3.2, P99Ratio: 5, WALObjectsPerBatch: 0.4, AvgWALObjectBytes: 3000},
		},
		Throughput: []TputPoint{{Name: "1 stream", Path: "session", Streams: 1, RecordBytes: 1024, BatchRecords: 1000, MiBPerSec: 40, RawPut1MiBSec: 50, RatioTo1: 0.8, RequestsPerMiB: map[string]float64{"PUT": 1}}},
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
	if !strings.Contains(string(md), "## Targets") {
		t.Fatalf("report:\n%s", md)
	}
	for _, f := range []string{"latency-by-rate.svg", "throughput-by-record-size.svg", "request-cost.svg"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.HasPrefix(data, []byte("<svg")) || !bytes.HasSuffix(data, []byte("</svg>\n")) {
			t.Fatalf("%s: %v", f, err)
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
