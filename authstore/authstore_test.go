package authstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/auth"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, store objstore.Store, o Options) (*Store, string, func()) {
	t.Helper()
	db, err := engine.Open(context.Background(), engine.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	s, gen, err := Open(context.Background(), db, o)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return s, gen, func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func apiStatus(err error) int {
	var e *auth.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func readAll(t *testing.T) *auth.TokenInfo {
	return &auth.TokenInfo{Scope: auth.Scope{
		Basins:   auth.Prefix(""),
		Streams:  auth.Prefix(""),
		OpGroups: auth.PermittedOperationGroups{Stream: auth.ReadWritePermissions{Read: true}},
	}}
}

// TestRootToken: a root token is generated once and kept (hashed) across
// restarts; a given one replaces it; a short one is refused.
func TestRootToken(t *testing.T) {
	store := objstore.NewMemory()
	s, gen, closeDB := open(t, store, Options{})
	if len(gen) < 32 {
		t.Fatalf("generated root token %q", gen)
	}
	if p, err := s.Authenticate(gen); err != nil || !p.IsRoot() {
		t.Fatalf("root: %v %v", p, err)
	}
	closeDB()

	s, again, closeDB := open(t, store, Options{})
	if again != "" {
		t.Fatal("a second root token was generated")
	}
	if p, err := s.Authenticate(gen); err != nil || !p.IsRoot() {
		t.Fatalf("root after restart: %v", err)
	}
	closeDB()

	const given = "operator-chosen-root-token-1234"
	s, again, closeDB = open(t, store, Options{RootToken: given})
	if again != "" {
		t.Fatal("generated although one was given")
	}
	if _, err := s.Authenticate(gen); apiStatus(err) != 401 {
		t.Fatalf("the replaced root token: %v", err)
	}
	if p, err := s.Authenticate(given); err != nil || !p.IsRoot() {
		t.Fatalf("given root: %v", err)
	}
	closeDB()

	db, err := engine.Open(context.Background(), engine.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := Open(context.Background(), db, Options{RootToken: "short"}); err == nil {
		t.Fatal("a short root token was accepted")
	}
}

// TestIssueListRevoke: tokens are issued once per id, listed in order with
// pagination, survive a restart, expire with the clock, and stop
// authenticating (and close Revoked) when revoked.
func TestIssueListRevoke(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, root, closeDB := open(t, store, Options{Now: clk.now})
	rootP, _ := s.Authenticate(root)

	secrets := map[string]string{}
	for _, id := range []string{"b-2", "a-1", "b-1", "c"} {
		req := readAll(t)
		req.ID = id
		if id == "c" {
			exp := clk.t.Add(time.Hour)
			req.ExpiresAt = &exp
		}
		sec, err := s.Issue(ctx, rootP, req)
		if err != nil {
			t.Fatalf("issue %s: %v", id, err)
		}
		secrets[id] = sec
	}
	dup := readAll(t)
	dup.ID = "a-1"
	if _, err := s.Issue(ctx, rootP, dup); apiStatus(err) != 409 {
		t.Fatalf("duplicate id: %v", err)
	}
	// A limited token cannot issue.
	limited, err := s.Authenticate(secrets["a-1"])
	if err != nil || limited.IsRoot() || limited.Info.ID != "a-1" {
		t.Fatalf("a-1: %+v %v", limited, err)
	}
	esc := readAll(t)
	esc.ID = "escalate"
	if _, err := s.Issue(ctx, limited, esc); apiStatus(err) != 403 {
		t.Fatalf("issue by a token without issue-access-token: %v", err)
	}

	ids := func(infos []auth.TokenInfo) (out []string) {
		for _, i := range infos {
			out = append(out, i.ID)
		}
		return out
	}
	page, more := s.List(rootP, "", "", 2)
	if got := ids(page); len(got) != 2 || got[0] != "a-1" || got[1] != "b-1" || !more {
		t.Fatalf("first page %v %v", got, more)
	}
	page, more = s.List(rootP, "", "b-1", 2)
	if got := ids(page); len(got) != 2 || got[0] != "b-2" || got[1] != "c" || more {
		t.Fatalf("second page %v %v", got, more)
	}
	if page, _ := s.List(rootP, "b-", "", 10); len(page) != 2 {
		t.Fatalf("prefix b-: %v", ids(page))
	}
	closeDB()

	s, _, closeDB = open(t, store, Options{Now: clk.now})
	defer closeDB()
	for id, sec := range secrets {
		if p, err := s.Authenticate(sec); err != nil || p.Info.ID != id {
			t.Fatalf("%s after restart: %v", id, err)
		}
	}
	clk.t = clk.t.Add(2 * time.Hour)
	if _, err := s.Authenticate(secrets["c"]); apiStatus(err) != 401 {
		t.Fatalf("expired token: %v", err)
	}
	p, _ := s.Authenticate(secrets["b-1"])
	if err := s.Revoke(ctx, "b-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Revoked:
	default:
		t.Fatal("Revoked not closed")
	}
	if _, err := s.Authenticate(secrets["b-1"]); apiStatus(err) != 401 {
		t.Fatalf("revoked token: %v", err)
	}
	if err := s.Revoke(ctx, "b-1"); apiStatus(err) != 404 {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := s.Authenticate("nonsense"); apiStatus(err) != 401 {
		t.Fatalf("unknown token: %v", err)
	}
}

// TestSecretsNeverStored: no object of the database holds a secret, while
// the same scan finds the token's id (so it can see what is stored).
func TestSecretsNeverStored(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db, err := engine.Open(ctx, engine.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	s, root, err := Open(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rootP, _ := s.Authenticate(root)
	req := readAll(t)
	req.ID = "findable-token-id-in-storage"
	sec, err := s.Issue(ctx, rootP, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	objs, err := store.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, o := range objs {
		data, _, err := store.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	if !bytes.Contains(all, []byte(req.ID)) {
		t.Fatal("the scan does not see stored token ids")
	}
	for _, secret := range []string{root, sec} {
		if bytes.Contains(all, []byte(secret)) || bytes.Contains(all, []byte(secret[:16])) {
			t.Fatalf("a secret is stored in the clear")
		}
	}
}
