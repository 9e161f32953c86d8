package initspec

import "testing"

func TestParse(t *testing.T) {
	good := `{"$schema":"./schema.json","basins":[{"name":"my-basin",
	  "config":{"default_stream_config":{"storage_class":"express","retention_policy":"7d",
	            "timestamping":{"mode":"client-prefer","uncapped":false},
	            "delete_on_empty":{"min_age":"1h"}},
	            "stream_cipher":null,"create_stream_on_append":true,"create_stream_on_read":false},
	  "streams":[{"name":"events","config":{"retention_policy":"infinite"}},{"name":"plain"}]}]}`
	f, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	bc := f.Basins[0].Config
	d := bc.DefaultStreamConfig
	if !bc.CreateStreamOnAppend || d == nil || d.RetentionPolicy.AgeSecs != 604800 || d.DeleteOnEmpty.MinAgeSecs != 3600 ||
		*d.Timestamping.Mode != "client-prefer" || *d.StorageClass != "express" {
		t.Fatalf("basin config %+v", bc)
	}
	if sc := f.Basins[0].Streams[0].Config; sc == nil || !sc.RetentionPolicy.Infinite {
		t.Fatalf("stream config %+v", sc)
	}
	if f.Basins[0].Streams[1].Config != nil {
		t.Fatal("a stream without config got one")
	}

	for name, bad := range map[string]string{
		"unknown key":       `{"basins":[{"name":"my-basin","colour":"red"}]}`,
		"unknown top key":   `{"basin":[]}`,
		"duplicate basin":   `{"basins":[{"name":"my-basin"},{"name":"my-basin"}]}`,
		"duplicate stream":  `{"basins":[{"name":"my-basin","streams":[{"name":"s"},{"name":"s"}]}]}`,
		"zero retention":    `{"basins":[{"name":"my-basin","streams":[{"name":"s","config":{"retention_policy":"0s"}}]}]}`,
		"bad duration":      `{"basins":[{"name":"my-basin","config":{"default_stream_config":{"retention_policy":"soon"}}}]}`,
		"bad basin name":    `{"basins":[{"name":"B"}]}`,
		"bad stream name":   `{"basins":[{"name":"my-basin","streams":[{"name":".."}]}]}`,
		"bad storage class": `{"basins":[{"name":"my-basin","streams":[{"name":"s","config":{"storage_class":"cold"}}]}]}`,
		"bad mode":          `{"basins":[{"name":"my-basin","streams":[{"name":"s","config":{"timestamping":{"mode":"x"}}}]}]}`,
		"trailing data":     `{"basins":[]} {}`,
		"not json":          `basins:`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
