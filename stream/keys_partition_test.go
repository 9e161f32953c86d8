package stream

import (
	"bytes"
	"testing"
)

func TestCompactionPartition(t *testing.T) {
	same := func(a, b []byte) bool { return bytes.Equal(CompactionPartition(a), CompactionPartition(b)) }
	if !same(recordKey(7, 1), recordKey(7, 1000)) || !same(indexKey(7, 5, 1), indexKey(7, 9, 2)) {
		t.Fatal("one stream's records (or index entries) must share a partition")
	}
	if same(recordKey(7, 1), recordKey(8, 1)) || same(recordKey(7, 1), indexKey(7, 1, 1)) {
		t.Fatal("different streams, or records and index, must not share a partition")
	}
	if !same(stateKey(7), stateKey(8)) {
		t.Fatal("stream states must share one partition, not one table each")
	}
	if got := CompactionPartition([]byte("r")); string(got) != "r" {
		t.Fatalf("short key: %q", got)
	}
}
