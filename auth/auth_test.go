package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The Operation enum of the openapi contract, in its order.
var openapiOperations = []string{
	"list-basins", "create-basin", "delete-basin", "reconfigure-basin", "get-basin-config",
	"issue-access-token", "revoke-access-token", "list-access-tokens", "list-streams",
	"create-stream", "delete-stream", "get-stream-config", "reconfigure-stream", "check-tail",
	"append", "read", "trim", "fence", "account-metrics", "basin-metrics", "stream-metrics",
}

func TestOperationsCoverOpenAPI(t *testing.T) {
	all := AllOperations()
	for i, name := range openapiOperations {
		op, ok := ParseOperation(name)
		if !ok {
			t.Errorf("openapi operation %q unknown", name)
			continue
		}
		if all[i] != op {
			t.Errorf("enum order: position %d is %q, openapi has %q", i, all[i], name)
		}
	}
	if _, ok := ParseOperation("List-Basins"); ok {
		t.Error("operation names are case-sensitive")
	}
}

// Every operation belongs to exactly one half of one group, so that the
// groups together grant everything and the root scope covers every
// operation through its groups alone.
func TestGroupsPartitionOperations(t *testing.T) {
	var union OpSet
	for _, g := range []Group{GroupAccount, GroupBasin, GroupStream} {
		for _, a := range []Access{Read, Write} {
			s := GroupOps(g, a)
			if s == 0 {
				t.Errorf("%s.%s is empty", g, a)
			}
			if union&s != 0 {
				t.Errorf("%s.%s overlaps other groups: %s", g, a, union&s)
			}
			union |= s
			for _, op := range s.Slice() {
				if og, oa := op.Group(); og != g || oa != a {
					t.Errorf("%s is in %s.%s but Group says %s.%s", op, g, a, og, oa)
				}
			}
		}
	}
	if union != AllOps {
		t.Errorf("groups grant %s, not every operation", union)
	}
	full := FullScope()
	full.Operations = nil
	if full.Ops() != AllOps {
		t.Errorf("full groups grant %s", full.Ops())
	}
}

func TestOpSet(t *testing.T) {
	s := OpsOf(OpRead, OpAppend, OpRead, "bogus")
	if s.Len() != 2 || !s.Has(OpRead) || !s.Has(OpAppend) || s.Has(OpTrim) || s.Has("bogus") {
		t.Fatalf("OpsOf: %s", s)
	}
	if got := s.String(); got != "{append,read}" {
		t.Errorf("String: %s", got)
	}
	if !AllOps.Contains(s) || s.Contains(AllOps) || !s.Contains(0) {
		t.Error("Contains")
	}
	var sc Scope
	if sc.Allows("bogus", "", "") || sc.AllowsToken(OpRead, "x") {
		t.Error("unknown or non-token operation allowed")
	}
}

func TestResourceSetNil(t *testing.T) {
	var r *ResourceSet
	if r.Matches("") || r.Matches("x") || !r.IsNone() || r.IsPrefix() || r.String() != "none" || r.Clone() != nil {
		t.Error("nil set")
	}
	if Exact("").Matches("") || !Prefix("").Matches("") || !Prefix("a").Matches("ab") {
		t.Error("empty exact / prefix")
	}
	if Exact("").Normalize() != nil || Prefix("").Normalize() == nil {
		t.Error("Normalize")
	}
	if _, err := json.Marshal(ResourceSet{}); err == nil {
		t.Error("marshal of a zero ResourceSet succeeded")
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 7, 22, 12, 0, 0, 0, time.UTC)
	ti := &TokenInfo{}
	if ti.Expired(now) {
		t.Error("no expiry expired")
	}
	e := now
	ti.ExpiresAt = &e
	if !ti.Expired(now) || ti.Expired(now.Add(-time.Nanosecond)) {
		t.Error("expiry instant")
	}
}

func TestValidateDoesNotModifyRequest(t *testing.T) {
	req, err := DecodeTokenInfo([]byte(`{"id":"t","scope":{"basins":{"exact":""},"streams":{"prefix":"a/"},"ops":["read","read"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	before := mustJSON(t, req)
	exp := time.Now().Add(time.Hour)
	issuer := Root()
	issuer.ExpiresAt = &exp
	issuer.AutoPrefixStreams = true
	issuer.Scope.Streams = Prefix("tenant/")
	out, err := Validate(issuer, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, req); got != before {
		t.Errorf("request modified:\n%s\n%s", before, got)
	}
	if out.Scope.Streams.Value != "tenant/a/" || out.ExpiresAt == issuer.ExpiresAt || len(out.Scope.Operations) != 1 {
		t.Errorf("result %s", mustJSON(t, out))
	}
}

func TestDecodeTokenInfoErrors(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"id":1,"scope":{}}`, `{"id":"x"}`, `{"id":"x","scope":{"ops":["nope"]}}`} {
		_, err := DecodeTokenInfo([]byte(body))
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != CodeBadJSON {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		err    *Error
		status int
		code   string
	}{
		{ErrAuthn("missing access token"), 401, "authn"},
		{ErrPermissionDenied("no"), 403, "permission_denied"},
		{ErrTokenNotFound("x"), 404, "access_token_not_found"},
		{ErrTokenExists("x"), 409, "resource_already_exists"},
		{ErrBadTokenPath(ValidateTokenID("")), 400, "bad_path"},
	} {
		if c.err.Status != c.status || c.err.Code != c.code {
			t.Errorf("%v: want %d %s", c.err, c.status, c.code)
		}
	}
	if got := ErrTokenNotFound("dup-tok").Message; got != "access token `dup-tok` not found" {
		t.Errorf("message %q", got)
	}
}

func TestNewSecret(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(s) {
			t.Fatalf("secret %q", s)
		}
		if seen[s] {
			t.Fatalf("secret %q repeated", s)
		}
		seen[s] = true
		if _, ok := ParseBearer("Bearer " + s); !ok {
			t.Fatalf("secret %q does not survive a bearer header", s)
		}
	}
}

func TestHasher(t *testing.T) {
	if _, err := NewHasher(make([]byte, 31)); err == nil {
		t.Error("31-byte key accepted")
	}
	k1, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewKey()
	h1, _ := NewHasher(k1[:])
	h2, _ := NewHasher(k2[:])
	sum := h1.Hash("secret")
	if !h1.Verify("secret", sum) || h1.Verify("secreT", sum) || h2.Verify("secret", sum) {
		t.Error("Verify")
	}
	if h1.KeyID() == h2.KeyID() || len(h1.KeyID()) != 16 {
		t.Error("KeyID")
	}
	// The key is copied: changing the caller's slice changes nothing.
	k1[0] ^= 1
	if h1.Hash("secret") != sum {
		t.Error("hasher shares the key slice")
	}
}

func TestParseBearer(t *testing.T) {
	for _, c := range []struct {
		header string
		token  string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"abc", "", false},
		{"Bearer a b", "", false},
		{"Bearer a\tb", "", false},
		{"Bearer é", "", false},
		{"Bearer " + strings.Repeat("x", MaxRootTokenLen+1), "", false},
	} {
		tok, ok := ParseBearer(c.header)
		if tok != c.token || ok != c.ok {
			t.Errorf("ParseBearer(%q) = %q, %v", c.header, tok, ok)
		}
	}
}

func TestValidateRootToken(t *testing.T) {
	for _, c := range []struct {
		token string
		ok    bool
	}{
		{"", false},
		{"ignored", false},
		{"fifteen-bytes!!", false},
		{"sixteen-bytes!!!", true},
		{"with space in it, long enough", false},
		{strings.Repeat("a", MaxRootTokenLen), true},
		{strings.Repeat("a", MaxRootTokenLen+1), false},
		{"non-ascii-é-token-long", false},
	} {
		if err := ValidateRootToken(c.token); (err == nil) != c.ok {
			t.Errorf("ValidateRootToken(%q) = %v", c.token, err)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	h, _ := NewHasher(bytes.Repeat([]byte{7}, KeySize))
	secret, _ := NewSecret()
	info, err := DecodeTokenInfo([]byte(`{"id":"tenant/1","expires_at":"2027-01-01T00:00:00.25+01:00","auto_prefix_streams":true,"scope":{"basins":{"exact":"my-basin-1"},"streams":{"prefix":"tenant/"},"op_groups":{"stream":{"read":true}},"ops":["append"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	revoked := time.Date(2026, 8, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	for _, rec := range []*Record{
		{Info: *info, Hash: h.Hash(secret), KeyID: h.KeyID(), CreatedAt: time.Date(2026, 7, 22, 12, 0, 0, 123, time.UTC), IssuedBy: "admin"},
		{Info: *info, Hash: h.Hash(secret), CreatedAt: time.Date(2026, 7, 22, 12, 0, 0, 0, time.UTC), RevokedAt: &revoked},
	} {
		b, err := EncodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Fatal("record contains the secret")
		}
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if mustJSON(t, got.Info) != mustJSON(t, rec.Info) || got.Hash != rec.Hash || got.KeyID != rec.KeyID ||
			!got.CreatedAt.Equal(rec.CreatedAt) || got.IssuedBy != rec.IssuedBy || got.Revoked() != rec.Revoked() ||
			got.Revoked() && !got.RevokedAt.Equal(*rec.RevokedAt) {
			t.Errorf("round trip:\n%+v\n%+v", rec, got)
		}
		if !h.Verify(secret, got.Hash) {
			t.Error("stored hash does not verify")
		}
		again, _ := EncodeRecord(got)
		if !bytes.Equal(again, b) {
			t.Errorf("encoding not stable:\n%s\n%s", b, again)
		}
	}
}

// The stored form is a contract with existing data: this literal must keep
// decoding.
func TestRecordFormat(t *testing.T) {
	const v1 = `{"v":1,"info":{"id":"tok","expires_at":null,"auto_prefix_streams":false,"scope":{"basins":{"prefix":""},"streams":null,"access_tokens":null,"op_groups":{"account":{"read":true,"write":false},"basin":{"read":false,"write":false},"stream":{"read":false,"write":false}},"ops":["list-basins"]}},"hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","key_id":"2bc356a512edc3a2","created_at":"2026-07-22T12:00:00Z"}`
	rec, err := DecodeRecord([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Info.ID != "tok" || rec.Hash[31] != 31 || rec.KeyID != "2bc356a512edc3a2" || rec.Revoked() ||
		!rec.Info.Scope.Allows(OpListBasins, "", "") || !rec.Info.Scope.BasinVisible("any-basin") {
		t.Errorf("decoded %+v", rec)
	}
	b, err := EncodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != v1 {
		t.Errorf("re-encoded differently:\n%s\n%s", v1, b)
	}
	for _, bad := range []string{
		``,
		`{"v":2,"info":{"id":"tok","scope":{}},"hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}`,
		`{"v":1,"hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}`,
		`{"v":1,"info":{"id":"tok","scope":{}},"hash":"AAEC"}`,
		`{"v":1,"info":{"id":"","scope":{}},"hash":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}`,
		v1 + `{}`,
	} {
		if _, err := DecodeRecord([]byte(bad)); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
	if _, err := EncodeRecord(&Record{}); err == nil {
		t.Error("encoded a record without id")
	}
}
