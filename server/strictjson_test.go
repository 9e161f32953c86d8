package server

import (
	"net/http"
	"strings"
	"testing"
)

func TestCheckJSONText(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"a":"plain"}`:               true,
		`{"a":"\u00e9 \ud83d\ude00"}`: true,
		`{"a":"\\ud800 is text"}`:     true, // an escaped backslash, then text
		`{"a":"\\\ud800"}`:            false,
		`{"a":"\ud800"}`:              false,
		`{"a":"\udc00"}`:              false,
		`{"a":"\ud800\u0041"}`:        false,
		"{\"a\":\"\xff\"}":            false,
		"{\"a\":\"caf\xc3\xa9\"}":     true,
		`{"a":"\ud83d`:                false,
	} {
		if err := checkJSONText([]byte(in)); (err == nil) != ok {
			t.Errorf("%q: %v, want ok %v", in, err, ok)
		}
	}
}

// TestInvalidUTF8IsRejected: the API answers 400 bad_json instead of
// rewriting the text to U+FFFD.
func TestInvalidUTF8IsRejected(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("utf8", nil)
	for _, body := range []string{
		"{\"records\":[{\"body\":\"a\xffb\"}]}",
		`{"records":[{"body":"\ud800"}]}`,
		`{"records":[{"headers":[["k","\udfff"]],"body":"x"}]}`,
	} {
		r := e.call("POST", "/v1/streams/utf8/records", body, "s2-basin", testBasin, "content-type", "application/json")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "bad_json") {
			t.Fatalf("%q: %s", body, r)
		}
	}
	r := e.call("POST", "/v1/streams", "{\"stream\":\"a\xffb\"}", "s2-basin", testBasin, "content-type", "application/json")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "bad_json") {
		t.Fatalf("stream name with invalid UTF-8: %s", r)
	}
	e.call("POST", "/v1/streams/utf8/records", `{"records":[{"body":"\ud83d\ude00 ok"}]}`, "s2-basin", testBasin, "content-type", "application/json").expect(t, http.StatusOK)
}
