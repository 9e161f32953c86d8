package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCreateBasin(t *testing.T) {
	e := newEnv(t, envOptions{})

	r := e.call("POST", "/v1/basins", map[string]any{"basin": "my-basin-1"}, "s2-request-token", "tok-1").expect(t, http.StatusCreated)
	if got := r.header.Get("s2-provision-result"); got != "created" {
		t.Fatalf("s2-provision-result %q", got)
	}
	info := r.object(t)
	if info["name"] != "my-basin-1" || info["location"] != nil || info["deleted_at"] != nil || info["state"] != "active" {
		t.Fatalf("basin info %s", r.body)
	}
	for _, k := range []string{"location", "deleted_at"} {
		if _, ok := info[k]; !ok {
			t.Fatalf("key %s missing from %s", k, r.body)
		}
	}
	created, err := time.Parse(time.RFC3339Nano, info["created_at"].(string))
	if err != nil || time.Since(created) > time.Minute {
		t.Fatalf("created_at %v: %v", info["created_at"], err)
	}

	// Same token and config: an idempotent replay, still 201.
	r = e.call("POST", "/v1/basins", map[string]any{"basin": "my-basin-1"}, "s2-request-token", "tok-1").expect(t, http.StatusCreated)
	if got := r.header.Get("s2-provision-result"); got != "noop" || r.object(t)["created_at"] != info["created_at"] {
		t.Fatalf("replay: %q %s", got, r.body)
	}
	// Otherwise a duplicate.
	e.call("POST", "/v1/basins", map[string]any{"basin": "my-basin-1"}).expectError(t, http.StatusConflict, "resource_already_exists")
	e.call("POST", "/v1/basins", map[string]any{"basin": "my-basin-1"}, "s2-request-token", "tok-2").expectError(t, http.StatusConflict, "resource_already_exists")

	// Header problems come first (API 1.8).
	e.call("POST", "/v1/basins", "not json", "s2-request-token", strings.Repeat("x", 37)).expectError(t, http.StatusBadRequest, "bad_header")

	for _, name := range []string{"short", strings.Repeat("a", 49), "Upper-case", "under_score", "-leading", "trailing-", ""} {
		e.call("POST", "/v1/basins", map[string]any{"basin": name}).expectError(t, http.StatusBadRequest, "bad_json")
	}
	bad := []struct{ body, contentType string }{
		{`{"basin":"my-basin-2"}`, ""},
		{`{"basin":"my-basin-2"}`, "text/plain"},
		{`not json`, "application/json"},
		{`null`, "application/json"},
		{`{}`, "application/json"},
		{`{"basin":7}`, "application/json"},
		{`{"basin":"my-basin-2","config":{"create_stream_on_append":null}}`, "application/json"},
		{`{"basin":"my-basin-2","config":{"create_stream_on_append":"yes"}}`, "application/json"},
		{`{"basin":"my-basin-2","config":{"default_stream_config":{"storage_class":"gold"}}}`, "application/json"},
		{`{"basin":"my-basin-2","config":{"default_stream_config":{"retention_policy":{"age":-1}}}}`, "application/json"},
		{`{"basin":"my-basin-2","config":{"default_stream_config":{"retention_policy":{"forever":{}}}}}`, "application/json"},
		{`{"basin":"my-basin-2","config":{"stream_cipher":"rot13"}}`, "application/json"},
	}
	for _, b := range bad {
		e.call("POST", "/v1/basins", b.body, "content-type", b.contentType).expectError(t, http.StatusBadRequest, "bad_json")
	}
	// application/*+json is JSON too; unknown fields are ignored.
	e.call("POST", "/v1/basins", `{"basin":"my-basin-2","location":"x","extra":1}`, "content-type", "application/vnd.s2+json").expect(t, http.StatusCreated)

	// Semantic validation is 422.
	e.call("POST", "/v1/basins", map[string]any{"basin": "my-basin-3", "config": map[string]any{
		"default_stream_config": map[string]any{"retention_policy": map[string]any{"age": 0}},
	}}).expectError(t, http.StatusUnprocessableEntity, "invalid")
	// Both ciphers of API 7.9 are accepted (encryption_test.go).
	e.call("POST", "/v1/basins", map[string]any{"basin": "my-basin-3", "config": map[string]any{"stream_cipher": "aegis-256"}}).
		expect(t, http.StatusCreated)
}

func TestBasinConfigRoundTrip(t *testing.T) {
	e := newEnv(t, envOptions{})
	config := `{"default_stream_config":{"storage_class":"standard","retention_policy":{"age":3600},
		"timestamping":{"mode":"arrival","uncapped":null},"delete_on_empty":null},
		"stream_cipher":null,"create_stream_on_append":true,"create_stream_on_read":false}`
	e.call("POST", "/v1/basins", `{"basin":"cfg-basin","config":`+config+`}`, "content-type", "application/json").expect(t, http.StatusCreated)
	jsonEqual(t, e.call("GET", "/v1/basins/cfg-basin", nil).expect(t, http.StatusOK).body, config)

	// Defaults: every key present, default_stream_config null.
	e.call("POST", "/v1/basins", map[string]any{"basin": "plain-basin"}).expect(t, http.StatusCreated)
	jsonEqual(t, e.call("GET", "/v1/basins/plain-basin", nil).expect(t, http.StatusOK).body,
		`{"default_stream_config":null,"stream_cipher":null,"create_stream_on_append":false,"create_stream_on_read":false}`)

	// Infinite retention, delete_on_empty with the key missing inside.
	e.call("POST", "/v1/basins", `{"basin":"inf-basin","config":{"default_stream_config":{"retention_policy":{"infinite":{}},"delete_on_empty":{}}}}`,
		"content-type", "application/json").expect(t, http.StatusCreated)
	jsonEqual(t, e.call("GET", "/v1/basins/inf-basin", nil).body,
		`{"default_stream_config":{"storage_class":null,"retention_policy":{"infinite":{}},"timestamping":null,"delete_on_empty":{"min_age_secs":0}},
		"stream_cipher":null,"create_stream_on_append":false,"create_stream_on_read":false}`)

	e.call("GET", "/v1/basins/no-such-basin", nil).expectError(t, http.StatusNotFound, "basin_not_found")
	e.call("GET", "/v1/basins/short", nil).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("GET", "/v1/basins/Bad_Name1", nil).expectError(t, http.StatusBadRequest, "bad_path")
}

func TestEnsureBasin(t *testing.T) {
	e := newEnv(t, envOptions{})
	// No body, no content type: create with defaults.
	r := e.call("PUT", "/v1/basins/ensure-basin", nil).expect(t, http.StatusCreated)
	if r.header.Get("s2-provision-result") != "created" || r.object(t)["name"] != "ensure-basin" {
		t.Fatalf("ensure create: %v %s", r.header, r.body)
	}
	r = e.call("PUT", "/v1/basins/ensure-basin", nil).expect(t, http.StatusOK)
	if r.header.Get("s2-provision-result") != "noop" {
		t.Fatalf("ensure again: %v", r.header)
	}
	r = e.call("PUT", "/v1/basins/ensure-basin", map[string]any{"config": map[string]any{"create_stream_on_read": true}}).expect(t, http.StatusOK)
	if r.header.Get("s2-provision-result") != "updated" || r.object(t)["deleted_at"] != nil {
		t.Fatalf("ensure update: %v %s", r.header, r.body)
	}
	if e.call("GET", "/v1/basins/ensure-basin", nil).object(t)["create_stream_on_read"] != true {
		t.Fatal("ensure did not apply the config")
	}
	// Replacement semantics: an empty body resets to defaults.
	e.call("PUT", "/v1/basins/ensure-basin", `{}`, "content-type", "application/json").expect(t, http.StatusOK)
	if e.call("GET", "/v1/basins/ensure-basin", nil).object(t)["create_stream_on_read"] != false {
		t.Fatal("ensure did not replace the config")
	}

	e.call("PUT", "/v1/basins/ensure-basin", `null`, "content-type", "application/json").expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PUT", "/v1/basins/ensure-basin", `{"config":{}}`, "content-type", "text/plain").expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PUT", "/v1/basins/x", nil).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("PUT", "/v1/basins/ensure-basin", map[string]any{"config": map[string]any{
		"default_stream_config": map[string]any{"retention_policy": map[string]any{"age": 0}},
	}}).expectError(t, http.StatusUnprocessableEntity, "invalid")
}

func TestReconfigureBasin(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.call("POST", "/v1/basins", `{"basin":"reconf-basin","config":{"default_stream_config":{"storage_class":"standard",
		"timestamping":{"mode":"arrival","uncapped":true}}}}`, "content-type", "application/json").expect(t, http.StatusCreated)

	// Empty patch: a no-op returning the config.
	before := e.call("GET", "/v1/basins/reconf-basin", nil).body
	jsonEqual(t, e.call("PATCH", "/v1/basins/reconf-basin", map[string]any{}).expect(t, http.StatusOK).body, string(before))

	// Partial nested patch: only the mentioned nested field changes; null
	// clears a field.
	r := e.call("PATCH", "/v1/basins/reconf-basin", `{"default_stream_config":{"timestamping":{"uncapped":null},
		"retention_policy":{"age":60}},"create_stream_on_append":true}`, "content-type", "application/json").expect(t, http.StatusOK)
	jsonEqual(t, r.body, `{"default_stream_config":{"storage_class":"standard","retention_policy":{"age":60},
		"timestamping":{"mode":"arrival","uncapped":null},"delete_on_empty":null},
		"stream_cipher":null,"create_stream_on_append":true,"create_stream_on_read":false}`)
	jsonEqual(t, e.call("GET", "/v1/basins/reconf-basin", nil).body, string(r.body))

	// A nested null clears the whole defaults object.
	r = e.call("PATCH", "/v1/basins/reconf-basin", `{"default_stream_config":null}`, "content-type", "application/json").expect(t, http.StatusOK)
	if r.object(t)["default_stream_config"] != nil {
		t.Fatalf("defaults not cleared: %s", r.body)
	}

	e.call("PATCH", "/v1/basins/reconf-basin", `{"create_stream_on_read":null}`, "content-type", "application/json").expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PATCH", "/v1/basins/reconf-basin", `{}`).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PATCH", "/v1/basins/reconf-basin", `{"default_stream_config":{"retention_policy":{"age":0}}}`, "content-type", "application/json").
		expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("PATCH", "/v1/basins/none-such-basin", map[string]any{}).expectError(t, http.StatusNotFound, "basin_not_found")
	e.call("PATCH", "/v1/basins/-bad-", map[string]any{}).expectError(t, http.StatusBadRequest, "bad_path")
}

func TestDeleteAndListBasins(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 5 {
		e.call("POST", "/v1/basins", map[string]any{"basin": fmt.Sprintf("list-basin-%d", i)}).expect(t, http.StatusCreated)
	}
	e.call("POST", "/v1/basins", map[string]any{"basin": "other-basin"}).expect(t, http.StatusCreated)

	var page jsonListBasins
	e.call("GET", "/v1/basins?prefix=list-&limit=2", nil).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Basins) != 2 || !page.HasMore || page.Basins[0].Name != "list-basin-0" || page.Basins[1].Name != "list-basin-1" {
		t.Fatalf("first page %+v", page)
	}
	e.call("GET", "/v1/basins?prefix=list-&start_after=list-basin-1&limit=0", nil).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Basins) != 3 || page.HasMore || page.Basins[0].Name != "list-basin-2" {
		t.Fatalf("second page %+v", page)
	}
	e.call("GET", "/v1/basins?limit=1500", nil).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Basins) != 6 {
		t.Fatalf("limit 1500: %+v", page)
	}
	r := e.call("GET", "/v1/basins?prefix=zzz", nil).expect(t, http.StatusOK)
	jsonEqual(t, r.body, `{"basins":[],"has_more":false}`)

	for _, q := range []string{"limit=-1", "limit=abc", "prefix=Upper", "start_after=-x", "limit=1&limit=2", "prefix=%zz"} {
		e.call("GET", "/v1/basins?"+q, nil).expectError(t, http.StatusBadRequest, "bad_query")
	}

	r = e.call("DELETE", "/v1/basins/list-basin-0", nil).expect(t, http.StatusAccepted)
	if len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Fatalf("delete response: %v %q", r.header, r.body)
	}
	// Deleting again succeeds while pending, or is 404 once it is gone.
	if r := e.call("DELETE", "/v1/basins/list-basin-0", nil); r.status != http.StatusAccepted {
		r.expectError(t, http.StatusNotFound, "basin_not_found")
	}
	e.call("DELETE", "/v1/basins/never-existed", nil).expectError(t, http.StatusNotFound, "basin_not_found")
	e.call("DELETE", "/v1/basins/a", nil).expectError(t, http.StatusBadRequest, "bad_path")

	// While deletion is pending, the basin is listed as deleting and a
	// create is refused; once it is done the name is free again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.call("GET", "/v1/basins?prefix=list-basin-0", nil).expect(t, http.StatusOK).decode(t, &page)
		if len(page.Basins) == 0 {
			break
		}
		b := page.Basins[0]
		if b.DeletedAt == nil || b.State != "deleting" {
			t.Fatalf("deleted basin listed as %+v", b)
		}
		if r := e.call("POST", "/v1/basins", map[string]any{"basin": "list-basin-0"}); r.status != http.StatusCreated {
			r.expectError(t, http.StatusConflict, "basin_deletion_pending")
		} else {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("basin deletion did not complete")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
