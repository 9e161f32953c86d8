package cli

import (
	"testing"

	"github.com/s2lite/s2lite/client"
)

func ptr[T any](v T) *T { return &v }

// The drawings below are the official CLI's output for the same configs.
func TestConfigTables(t *testing.T) {
	stream := client.StreamConfig{
		StorageClass:    ptr("express"),
		RetentionPolicy: &client.RetentionPolicy{AgeSecs: 604800},
		Timestamping:    &client.Timestamping{Mode: ptr("client-prefer"), Uncapped: ptr(false)},
		DeleteOnEmpty:   &client.DeleteOnEmpty{},
	}
	want := `+------------------+---------------------------------------------+
| storage_class    |  express                                    |
+------------------+---------------------------------------------+
| retention_policy | +-----+---------+                           |
|                  | | Age |  7days  |                           |
|                  | +-----+---------+                           |
+------------------+---------------------------------------------+
| timestamping     | +-----------------------+-----------------+ |
|                  | | timestamping_mode     |  client-prefer  | |
|                  | +-----------------------+-----------------+ |
|                  | | timestamping_uncapped |  false          | |
|                  | +-----------------------+-----------------+ |
+------------------+---------------------------------------------+
| delete_on_empty  | +-------------------------+------+          |
|                  | | delete_on_empty_min_age |  0s  |          |
|                  | +-------------------------+------+          |
+------------------+---------------------------------------------+`
	if got := renderTable(streamConfigValue(&stream)); got != want {
		t.Fatalf("stream config table:\n%s\nwant:\n%s", got, want)
	}

	basin := client.BasinConfig{}
	want = `+-------------------------+-------------------------+
| default_stream_config   | +------------------+--+ |
|                         | | storage_class    |  | |
|                         | +------------------+--+ |
|                         | | retention_policy |  | |
|                         | +------------------+--+ |
|                         | | timestamping     |  | |
|                         | +------------------+--+ |
|                         | | delete_on_empty  |  | |
|                         | +------------------+--+ |
+-------------------------+-------------------------+
| stream_cipher           |                         |
+-------------------------+-------------------------+
| create_stream_on_append |  false                  |
+-------------------------+-------------------------+
| create_stream_on_read   |  false                  |
+-------------------------+-------------------------+`
	if got := renderTable(basinConfigValue(&basin)); got != want {
		t.Fatalf("basin config table:\n%s\nwant:\n%s", got, want)
	}

	basin = client.BasinConfig{DefaultStreamConfig: &client.StreamConfig{RetentionPolicy: &client.RetentionPolicy{AgeSecs: 86400}}, CreateStreamOnAppend: true}
	want = `+-------------------------+-----------------------------------------+
| default_stream_config   | +------------------+------------------+ |
|                         | | storage_class    |                  | |
|                         | +------------------+------------------+ |
|                         | | retention_policy | +-----+--------+ | |
|                         | |                  | | Age |  1day  | | |
|                         | |                  | +-----+--------+ | |
|                         | +------------------+------------------+ |
|                         | | timestamping     |                  | |
|                         | +------------------+------------------+ |
|                         | | delete_on_empty  |                  | |
|                         | +------------------+------------------+ |
+-------------------------+-----------------------------------------+
| stream_cipher           |                                         |
+-------------------------+-----------------------------------------+
| create_stream_on_append |  true                                   |
+-------------------------+-----------------------------------------+
| create_stream_on_read   |  false                                  |
+-------------------------+-----------------------------------------+`
	if got := renderTable(basinConfigValue(&basin)); got != want {
		t.Fatalf("basin config table:\n%s\nwant:\n%s", got, want)
	}
}
