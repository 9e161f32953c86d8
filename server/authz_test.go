package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// issue issues a token as the root and returns its secret.
func (e *env) issue(t *testing.T, body string) string {
	t.Helper()
	r := e.call("POST", "/v1/access-tokens", body, "content-type", "application/json").expect(t, http.StatusCreated)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.AccessToken == "" {
		t.Fatalf("issue: %s", r)
	}
	return out.AccessToken
}

func bearer(secret string) []string { return []string{"authorization", "Bearer " + secret} }

// TestAuthRequired: every /v1 request needs a valid token; probes and
// Prometheus metrics do not.
func TestAuthRequired(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	for _, h := range [][]string{nil, bearer("bogus"), {"authorization", "Basic " + rootToken}} {
		r := e.call("GET", "/v1/basins", nil, append([]string{"authorization", ""}, h...)...)
		r.expectError(t, http.StatusUnauthorized, "authn")
	}
	e.call("GET", "/v1/basins", nil).expect(t, http.StatusOK)
	for _, path := range []string{"/health", "/ready", "/metrics"} {
		e.call("GET", path, nil, "authorization", "").expect(t, http.StatusOK)
	}
	// A deletion with a bogus token deletes nothing.
	e.basinAndStream("", nil)
	e.call("DELETE", "/v1/basins/"+testBasin, nil, bearer("bogus")...).expectError(t, http.StatusUnauthorized, "authn")
	e.call("GET", "/v1/basins/"+testBasin, nil).expect(t, http.StatusOK)
}

// TestAccessTokenAPI: issue, duplicate, list with pagination and prefix,
// revoke (effective at once), revoke again.
func TestAccessTokenAPI(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	e.basinAndStream("s", nil)
	scope := `"scope":{"basins":{"prefix":""},"streams":{"prefix":""},"op_groups":{"stream":{"read":true}}}`
	var secrets []string
	for _, id := range []string{"reader-b", "reader-a", "other"} {
		secrets = append(secrets, e.issue(t, `{"id":"`+id+`",`+scope+`}`))
	}
	e.call("POST", "/v1/access-tokens", `{"id":"reader-a",`+scope+`}`, "content-type", "application/json").
		expectError(t, http.StatusConflict, "resource_already_exists")
	e.call("POST", "/v1/access-tokens", `{"id":"x","auto_prefix_streams":true,"scope":{"streams":{"exact":"s"},"ops":["read"]}}`, "content-type", "application/json").
		expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("POST", "/v1/access-tokens", `{"id":"","scope":{}}`, "content-type", "application/json").expect(t, http.StatusBadRequest)

	list := func(q string) (ids []string, more bool) {
		r := e.call("GET", "/v1/access-tokens"+q, nil).expect(t, http.StatusOK)
		var out struct {
			AccessTokens []struct {
				ID string `json:"id"`
			} `json:"access_tokens"`
			HasMore bool `json:"has_more"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		for _, a := range out.AccessTokens {
			ids = append(ids, a.ID)
		}
		return ids, out.HasMore
	}
	if ids, more := list("?limit=2"); strings.Join(ids, ",") != "other,reader-a" || !more {
		t.Fatalf("page 1: %v %v", ids, more)
	}
	if ids, more := list("?start_after=reader-a"); strings.Join(ids, ",") != "reader-b" || more {
		t.Fatalf("page 2: %v %v", ids, more)
	}
	if ids, _ := list("?prefix=reader-"); len(ids) != 2 {
		t.Fatalf("prefix: %v", ids)
	}
	if r := e.call("GET", "/v1/access-tokens", nil); strings.Contains(string(r.body), secrets[0]) {
		t.Fatal("a listing shows a secret")
	}

	// The reader reads; revoked, it is refused at once.
	e.call("GET", "/v1/streams/s/records/tail", nil, append(bearer(secrets[0]), "s2-basin", testBasin)...).expect(t, http.StatusOK)
	e.call("DELETE", "/v1/access-tokens/reader-b", nil).expect(t, http.StatusNoContent)
	e.call("GET", "/v1/streams/s/records/tail", nil, append(bearer(secrets[0]), "s2-basin", testBasin)...).expectError(t, http.StatusUnauthorized, "authn")
	e.call("DELETE", "/v1/access-tokens/reader-b", nil).expectError(t, http.StatusNotFound, "access_token_not_found")
}

// TestScopeEnforcement: operations and resource sets decide, per route.
func TestScopeEnforcement(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	for _, b := range []string{"tenant-a-one", "tenant-b-one"} {
		e.call("POST", "/v1/basins", map[string]any{"basin": b}).expect(t, http.StatusCreated)
		e.call("POST", "/v1/streams", map[string]any{"stream": "logs"}, "s2-basin", b).expect(t, http.StatusCreated)
	}
	// Reads and appends in tenant-a basins, streams under "logs"; lists
	// basins; may not create basins or delete streams.
	tok := e.issue(t, `{"id":"tenant-a","scope":{"basins":{"prefix":"tenant-a"},"streams":{"prefix":"log"},
		"op_groups":{"stream":{"read":true}},"ops":["append","list-basins","list-streams"]}}`)
	in := func(b string) []string { return append(bearer(tok), "s2-basin", b) }
	rec := `{"records":[{"body":"x"}]}`
	for _, c := range []struct {
		method, path string
		body         any
		kv           []string
		want         int
	}{
		{"GET", "/v1/streams/logs/records/tail", nil, in("tenant-a-one"), 200},
		{"GET", "/v1/streams/logs/records/tail", nil, in("tenant-b-one"), 403},
		{"POST", "/v1/streams/logs/records", rec, append(in("tenant-a-one"), "content-type", "application/json"), 200},
		{"POST", "/v1/streams/logs/records", rec, append(in("tenant-b-one"), "content-type", "application/json"), 403},
		{"GET", "/v1/streams/logs/records?seq_num=0", nil, in("tenant-a-one"), 200},
		{"GET", "/v1/streams/other/records?seq_num=0", nil, in("tenant-a-one"), 403},
		{"DELETE", "/v1/streams/logs", nil, in("tenant-a-one"), 403},
		{"POST", "/v1/streams", map[string]any{"stream": "logs2"}, in("tenant-a-one"), 403},
		{"POST", "/v1/basins", map[string]any{"basin": "tenant-a-two"}, bearer(tok), 403},
		{"GET", "/v1/basins/tenant-a-one", nil, bearer(tok), 403},
		{"DELETE", "/v1/basins/tenant-a-one", nil, bearer(tok), 403},
		{"GET", "/v1/access-tokens", nil, bearer(tok), 403},
		{"POST", "/v1/access-tokens", `{"id":"child","scope":{"ops":["read"]}}`, append(bearer(tok), "content-type", "application/json"), 403},
		{"POST", "/v1/streams/logs/records", `{"records":[{"headers":[["","fence"]],"body":"t"}]}`, append(in("tenant-a-one"), "content-type", "application/json"), 403},
		{"POST", "/v1/streams/logs/records", `{"records":[{"headers":[["","dHJpbQ=="]],"body":"AAAAAAAAAAA="}]}`, append(in("tenant-a-one"), "content-type", "application/json", "s2-format", "base64"), 403},
	} {
		r := e.call(c.method, c.path, c.body, c.kv...)
		if r.status != c.want {
			t.Errorf("%s %s (basin %v): %s, want %d", c.method, c.path, c.kv, r, c.want)
		}
		if c.want == 403 && !strings.Contains(string(r.body), `"permission_denied"`) {
			t.Errorf("%s %s: %s", c.method, c.path, r)
		}
	}
	// Listings show only what the scope covers.
	r := e.call("GET", "/v1/basins", nil, bearer(tok)...).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), "tenant-a-one") || strings.Contains(string(r.body), "tenant-b-one") {
		t.Fatalf("basins listed: %s", r.body)
	}
}

// TestAutoPrefixStreams: a token with auto_prefix_streams names streams
// without its prefix, in paths, bodies and listings; the root sees the
// full names.
func TestAutoPrefixStreams(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	e.basinAndStream("", nil)
	e.call("POST", "/v1/streams", map[string]any{"stream": "outside"}, "s2-basin", testBasin).expect(t, http.StatusCreated)
	tok := e.issue(t, `{"id":"tenant","auto_prefix_streams":true,"scope":{"basins":{"exact":"`+testBasin+`"},
		"streams":{"prefix":"tenant/"},"op_groups":{"basin":{"read":true,"write":true},"stream":{"read":true,"write":true}}}}`)
	hb := append(bearer(tok), "s2-basin", testBasin)
	r := e.call("POST", "/v1/streams", map[string]any{"stream": "events"}, hb...).expect(t, http.StatusCreated)
	if !strings.Contains(string(r.body), `"name":"events"`) {
		t.Fatalf("create answer: %s", r.body)
	}
	e.call("POST", "/v1/streams/events/records", `{"records":[{"body":"hi"}]}`, append(hb, "content-type", "application/json")...).expect(t, http.StatusOK)
	r = e.call("GET", "/v1/streams/events/records?seq_num=0", nil, hb...).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"body":"hi"`) {
		t.Fatalf("read: %s", r.body)
	}
	r = e.call("GET", "/v1/streams", nil, hb...).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"name":"events"`) || strings.Contains(string(r.body), "outside") || strings.Contains(string(r.body), "tenant/") {
		t.Fatalf("token's listing: %s", r.body)
	}
	r = e.call("GET", "/v1/streams?prefix=ev", nil, hb...).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"name":"events"`) {
		t.Fatalf("token's listing with a prefix: %s", r.body)
	}
	r = e.call("GET", "/v1/streams?prefix=tenant/", nil, "s2-basin", testBasin).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"name":"tenant/events"`) {
		t.Fatalf("root's listing: %s", r.body)
	}
	e.call("GET", "/v1/streams/tenant%2Fevents/records/tail", nil, "s2-basin", testBasin).expect(t, http.StatusOK)
}

// TestRevocationEndsSessions: a read session opened with a token ends with
// an authn error as soon as the token is revoked.
func TestRevocationEndsSessions(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	e.basinAndStream("s", nil)
	tok := e.issue(t, `{"id":"reader","scope":{"basins":{"prefix":""},"streams":{"prefix":""},"ops":["read"]}}`)
	sse, resp := e.openSSE("/v1/streams/s/records?seq_num=0", append(bearer(tok), "s2-basin", testBasin)...)
	if sse == nil {
		t.Fatalf("open: %s", resp)
	}
	sse.expect("ping")
	start := time.Now()
	e.call("DELETE", "/v1/access-tokens/reader", nil).expect(t, http.StatusNoContent)
	for {
		ev, err := sse.next(5 * time.Second)
		if err != nil {
			t.Fatalf("session did not end with an error event: %v", err)
		}
		if ev.event == "error" {
			if !strings.Contains(ev.data, `"authn"`) {
				t.Fatalf("error event %s", ev.data)
			}
			break
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the session outlived its revocation by %v", d)
	}
}

// TestEveryOperationAllowedAndDenied: for each route, a token holding
// only that route's operation gets past authorization (whatever the
// handler then answers), and a token holding every other operation is
// refused with 403.
func TestEveryOperationAllowedAndDenied(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	e.basinAndStream("s", nil)
	all := []string{"list-basins", "create-basin", "delete-basin", "reconfigure-basin", "get-basin-config",
		"issue-access-token", "revoke-access-token", "list-access-tokens", "list-streams", "create-stream",
		"delete-stream", "get-stream-config", "reconfigure-stream", "check-tail", "append", "read", "trim",
		"fence", "account-metrics", "basin-metrics", "stream-metrics"}
	opsJSON := func(ops []string) string {
		b, _ := json.Marshal(ops)
		return string(b)
	}
	hb := []string{"s2-basin", testBasin}
	for i, c := range []struct {
		op, method, path string
		body             string
	}{
		{"list-basins", "GET", "/v1/basins", ""},
		{"create-basin", "POST", "/v1/basins", `{"basin":"` + testBasin + `-new"}`},
		{"get-basin-config", "GET", "/v1/basins/" + testBasin, ""},
		{"reconfigure-basin", "PATCH", "/v1/basins/" + testBasin, `{}`},
		{"delete-basin", "DELETE", "/v1/basins/" + testBasin + "-none", ""},
		{"list-streams", "GET", "/v1/streams", ""},
		{"create-stream", "POST", "/v1/streams", `{"stream":"new"}`},
		{"get-stream-config", "GET", "/v1/streams/s", ""},
		{"reconfigure-stream", "PATCH", "/v1/streams/s", `{}`},
		{"delete-stream", "DELETE", "/v1/streams/none", ""},
		{"check-tail", "GET", "/v1/streams/s/records/tail", ""},
		{"read", "GET", "/v1/streams/s/records?seq_num=0", ""},
		{"append", "POST", "/v1/streams/s/records", `{"records":[{"body":"x"}]}`},
		{"list-access-tokens", "GET", "/v1/access-tokens", ""},
		{"revoke-access-token", "DELETE", "/v1/access-tokens/none", ""},
		{"account-metrics", "GET", "/v1/metrics?set=account-ops", ""},
		{"basin-metrics", "GET", "/v1/metrics/" + testBasin + "?set=storage", ""},
		{"stream-metrics", "GET", "/v1/metrics/" + testBasin + "/s?set=storage", ""},
	} {
		var others []string
		for _, op := range all {
			if op != c.op {
				others = append(others, op)
			}
		}
		sets := `"basins":{"prefix":""},"streams":{"prefix":""},"access_tokens":{"prefix":""}`
		only := e.issue(t, fmt.Sprintf(`{"id":"only-%d","scope":{%s,"ops":%s}}`, i, sets, opsJSON([]string{c.op})))
		rest := e.issue(t, fmt.Sprintf(`{"id":"rest-%d","scope":{%s,"ops":%s}}`, i, sets, opsJSON(others)))
		var body any
		if c.body != "" {
			body = c.body
		}
		kv := append([]string{"content-type", "application/json"}, hb...)
		if r := e.call(c.method, c.path, body, append(kv, bearer(only)...)...); r.status == 401 || r.status == 403 {
			t.Errorf("%s with only %s: %s", c.path, c.op, r)
		}
		if r := e.call(c.method, c.path, body, append(kv, bearer(rest)...)...); r.status != 403 {
			t.Errorf("%s %s without %s: %s, want 403", c.method, c.path, c.op, r)
		}
	}
}

// TestExpiryEndsSessions: a token's expiry refuses new requests and ends
// the sessions it opened.
func TestExpiryEndsSessions(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	e.basinAndStream("s", nil)
	exp := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	tok := e.issue(t, `{"id":"short","expires_at":"`+exp+`","scope":{"basins":{"prefix":""},"streams":{"prefix":""},"ops":["read"]}}`)
	sse, resp := e.openSSE("/v1/streams/s/records?seq_num=0", append(bearer(tok), "s2-basin", testBasin)...)
	if sse == nil {
		t.Fatalf("open: %s", resp)
	}
	for {
		ev, err := sse.next(5 * time.Second)
		if err != nil {
			t.Fatalf("session did not end with an error event: %v", err)
		}
		if ev.event == "error" {
			if !strings.Contains(ev.data, `"authn"`) {
				t.Fatalf("error event %s", ev.data)
			}
			break
		}
	}
	e.call("GET", "/v1/streams/s/records/tail", nil, append(bearer(tok), "s2-basin", testBasin)...).expectError(t, http.StatusUnauthorized, "authn")
}

// TestFilteredListingsFillPages: a token's listing never answers an empty
// page while visible names follow (an exact set, an auto-prefix namespace
// whose prefix is itself a stream, basins sorting before the visible one).
func TestFilteredListingsFillPages(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	e.basinAndStream("", nil)
	for _, s := range []string{"a", "s", "s2", "t/", "t/x"} {
		e.call("POST", "/v1/streams", map[string]any{"stream": s}, "s2-basin", testBasin).expect(t, http.StatusCreated)
	}
	for _, b := range []string{"aaaa-first", "zzzz-last"} {
		e.call("POST", "/v1/basins", map[string]any{"basin": b}).expect(t, http.StatusCreated)
	}
	names := func(r *response, field string) []string {
		var out map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		var items []struct {
			Name string `json:"name"`
		}
		json.Unmarshal(out[field], &items)
		var n []string
		for _, i := range items {
			n = append(n, i.Name)
		}
		return n
	}
	exact := e.issue(t, `{"id":"exact","scope":{"basins":{"exact":"`+testBasin+`"},"streams":{"exact":"s"},"ops":["list-streams","list-basins"]}}`)
	r := e.call("GET", "/v1/streams?limit=1", nil, append(bearer(exact), "s2-basin", testBasin)...).expect(t, http.StatusOK)
	if got := names(r, "streams"); len(got) != 1 || got[0] != "s" || strings.Contains(string(r.body), `"has_more":true`) {
		t.Fatalf("exact set, limit 1: %s", r.body)
	}
	r = e.call("GET", "/v1/basins?limit=1", nil, bearer(exact)...).expect(t, http.StatusOK)
	if got := names(r, "basins"); len(got) != 1 || got[0] != testBasin {
		t.Fatalf("exact basin, limit 1: %s", r.body)
	}
	prefixed := e.issue(t, `{"id":"ns","auto_prefix_streams":true,"scope":{"basins":{"exact":"`+testBasin+`"},"streams":{"prefix":"t/"},"ops":["list-streams"]}}`)
	r = e.call("GET", "/v1/streams?limit=1", nil, append(bearer(prefixed), "s2-basin", testBasin)...).expect(t, http.StatusOK)
	if got := names(r, "streams"); len(got) != 1 || got[0] != "x" {
		t.Fatalf("auto-prefix, limit 1: %s", r.body)
	}
}

// TestEnsureNeedsWhatItDoes: an ensure that would create needs the create
// operation, one that would change an existing resource the reconfigure
// operation.
func TestEnsureNeedsWhatItDoes(t *testing.T) {
	e := newEnv(t, envOptions{auth: true})
	e.basinAndStream("existing", nil)
	sets := `"basins":{"prefix":""},"streams":{"prefix":""}`
	create := e.issue(t, `{"id":"create","scope":{`+sets+`,"ops":["create-stream","create-basin"]}}`)
	reconf := e.issue(t, `{"id":"reconf","scope":{`+sets+`,"ops":["reconfigure-stream","reconfigure-basin"]}}`)
	hb := func(tok string) []string {
		return append(bearer(tok), "s2-basin", testBasin, "content-type", "application/json")
	}
	cfg := `{"retention_policy":{"age":60}}`
	e.call("PUT", "/v1/streams/existing", cfg, hb(create)...).expectError(t, http.StatusForbidden, "permission_denied")
	e.call("PUT", "/v1/streams/existing", cfg, hb(reconf)...).expect(t, http.StatusOK)
	e.call("PUT", "/v1/streams/new-one", cfg, hb(reconf)...).expectError(t, http.StatusForbidden, "permission_denied")
	e.call("PUT", "/v1/streams/new-one", cfg, hb(create)...).expect(t, http.StatusCreated)
	e.call("PUT", "/v1/basins/"+testBasin, `{}`, hb(create)...).expectError(t, http.StatusForbidden, "permission_denied")
	e.call("PUT", "/v1/basins/"+testBasin+"-new", `{}`, hb(reconf)...).expectError(t, http.StatusForbidden, "permission_denied")
	e.call("PUT", "/v1/basins/"+testBasin+"-new", `{}`, hb(create)...).expect(t, http.StatusCreated)
}
