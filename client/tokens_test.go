package client_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
)

const tokensRoot = "client-tokens-test-root-token-0123456789"

// authClient starts a server with access tokens on and returns a client
// holding its root token.
func authClient(t *testing.T) (*client.Client, *testserver.Server) {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{RootToken: tokensRoot})
	return tokenClient(t, srv.URL, tokensRoot), srv
}

func tokenClient(t *testing.T, url, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{AccountEndpoint: url, AccessToken: token, MinBackoff: 1, MaxBackoff: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func rw(read, write bool) *client.ReadWritePermissions {
	return &client.ReadWritePermissions{Read: read, Write: write}
}

// TestIssueAccessTokenScopes issues tokens with every form of scope and
// reads them back from the listing.
func TestIssueAccessTokenScopes(t *testing.T) {
	c, _ := authClient(t)
	ctx := ctxT(t)
	expires := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	cases := []client.AccessTokenInfo{
		{ID: "scope-exact", ExpiresAt: &expires, Scope: client.AccessTokenScope{
			Basins: client.MatchExact("my-basin"), Streams: client.MatchExact("events"), AccessTokens: client.MatchExact("other-token"),
			Ops: []client.Operation{client.OpRead, client.OpCheckTail, client.OpIssueAccessToken},
		}},
		{ID: "scope-prefix", Scope: client.AccessTokenScope{
			Basins: client.MatchPrefix("tenant-"), Streams: client.MatchPrefix(""), AccessTokens: client.MatchPrefix("scope-"),
			OpGroups: &client.PermittedOperationGroups{Account: rw(true, false), Basin: rw(true, true), Stream: rw(false, true)},
		}},
		{ID: "scope-auto-prefix", AutoPrefixStreams: true, Scope: client.AccessTokenScope{
			Basins: client.MatchPrefix(""), Streams: client.MatchPrefix("tenant-a/"),
			OpGroups: &client.PermittedOperationGroups{Stream: rw(true, true)}, Ops: []client.Operation{client.OpListStreams},
		}},
	}
	secrets := map[string]bool{}
	for _, info := range cases {
		secret, err := c.IssueAccessToken(ctx, info)
		if err != nil {
			t.Fatalf("issue %s: %v", info.ID, err)
		}
		if secret == "" || secrets[secret] {
			t.Fatalf("issue %s: secret %q", info.ID, secret)
		}
		secrets[secret] = true
	}

	page, err := c.ListAccessTokens(ctx, client.ListOptions{Prefix: "scope-"})
	if err != nil {
		t.Fatal(err)
	}
	if page.HasMore || len(page.AccessTokens) != len(cases) {
		t.Fatalf("listing: %+v", page)
	}
	byID := map[string]client.AccessTokenInfo{}
	for _, got := range page.AccessTokens {
		byID[got.ID] = got
	}
	for _, want := range cases {
		got, ok := byID[want.ID]
		if !ok {
			t.Fatalf("%s not listed: %+v", want.ID, page)
		}
		if (got.ExpiresAt == nil) != (want.ExpiresAt == nil) || (want.ExpiresAt != nil && !got.ExpiresAt.Equal(*want.ExpiresAt)) {
			t.Errorf("%s: expires_at %v, want %v", want.ID, got.ExpiresAt, want.ExpiresAt)
		}
		if got.AutoPrefixStreams != want.AutoPrefixStreams {
			t.Errorf("%s: auto_prefix_streams %v", want.ID, got.AutoPrefixStreams)
		}
		for _, s := range []struct {
			name      string
			got, want *client.ResourceSet
		}{{"basins", got.Scope.Basins, want.Scope.Basins}, {"streams", got.Scope.Streams, want.Scope.Streams},
			{"access_tokens", got.Scope.AccessTokens, want.Scope.AccessTokens}} {
			if !reflect.DeepEqual(s.got, s.want) {
				t.Errorf("%s: %s %+v, want %+v", want.ID, s.name, s.got, s.want)
			}
		}
		// Groups not granted are listed as {read: false, write: false}.
		wantGroups := client.PermittedOperationGroups{Account: rw(false, false), Basin: rw(false, false), Stream: rw(false, false)}
		if g := want.Scope.OpGroups; g != nil {
			for _, p := range []struct{ dst, src **client.ReadWritePermissions }{
				{&wantGroups.Account, &g.Account}, {&wantGroups.Basin, &g.Basin}, {&wantGroups.Stream, &g.Stream}} {
				if *p.src != nil {
					*p.dst = *p.src
				}
			}
		}
		if got.Scope.OpGroups == nil || !reflect.DeepEqual(*got.Scope.OpGroups, wantGroups) {
			t.Errorf("%s: op_groups %+v, want %+v", want.ID, got.Scope.OpGroups, wantGroups)
		}
		gotOps, wantOps := slices.Clone(got.Scope.Ops), slices.Clone(want.Scope.Ops)
		slices.Sort(gotOps)
		slices.Sort(wantOps)
		if !slices.Equal(gotOps, wantOps) {
			t.Errorf("%s: ops %v, want %v", want.ID, got.Scope.Ops, want.Scope.Ops)
		}
	}

	// The server's refusals come back as *client.Error.
	_, err = c.IssueAccessToken(ctx, cases[0])
	wantCode(t, err, http.StatusConflict, "resource_already_exists")
	_, err = c.IssueAccessToken(ctx, client.AccessTokenInfo{ID: "no-permissions", Scope: client.AccessTokenScope{Basins: client.MatchPrefix("")}})
	wantCode(t, err, http.StatusUnprocessableEntity, "invalid")
	// A ResourceSet must be one of exact and prefix.
	if _, err := c.IssueAccessToken(ctx, client.AccessTokenInfo{ID: "bad-set", Scope: client.AccessTokenScope{
		Basins: &client.ResourceSet{}, Ops: []client.Operation{client.OpRead}}}); err == nil {
		t.Fatal("an empty ResourceSet was sent")
	}
}

// TestAccessTokenLifecycle: an issued token works within its scope, is
// refused outside it (403 permission_denied), and once revoked is
// refused altogether (401 authn).
func TestAccessTokenLifecycle(t *testing.T) {
	root, srv := authClient(t)
	ctx := ctxT(t)
	for _, b := range []string{"token-basin", "other-basin"} {
		if _, err := root.CreateBasin(ctx, b, client.CreateBasinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := root.IssueAccessToken(ctx, client.AccessTokenInfo{ID: "writer", Scope: client.AccessTokenScope{
		Basins:   client.MatchExact("token-basin"),
		Streams:  client.MatchPrefix("s/"),
		OpGroups: &client.PermittedOperationGroups{Stream: rw(true, true)},
		Ops:      []client.Operation{client.OpCreateStream},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := tokenClient(t, srv.URL, secret)

	// Allowed: create a stream under the prefix, append to it, read it.
	if _, err := w.Basin("token-basin").CreateStream(ctx, "s/1", client.CreateStreamOptions{}); err != nil {
		t.Fatalf("allowed create-stream: %v", err)
	}
	s := w.Basin("token-basin").Stream("s/1")
	if _, err := s.Append(ctx, client.AppendInput{Records: []client.AppendRecord{{Body: []byte("x")}}}); err != nil {
		t.Fatalf("allowed append: %v", err)
	}
	if b, err := s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)}); err != nil || len(b.Records) != 1 {
		t.Fatalf("allowed read: %+v %v", b, err)
	}

	// Denied: an operation not granted, a basin and a stream outside the
	// sets. Not retried: permission_denied is final.
	for name, call := range map[string]func() error{
		"list-basins":  func() error { _, err := w.ListBasins(ctx, client.ListOptions{}); return err },
		"delete-basin": func() error { return w.DeleteBasin(ctx, "token-basin") },
		"issue-access-token": func() error {
			_, err := w.IssueAccessToken(ctx, client.AccessTokenInfo{ID: "child", Scope: client.AccessTokenScope{Ops: []client.Operation{client.OpRead}}})
			return err
		},
		"list-access-tokens": func() error { _, err := w.ListAccessTokens(ctx, client.ListOptions{}); return err },
		"create-stream outside": func() error {
			_, err := w.Basin("token-basin").CreateStream(ctx, "t/1", client.CreateStreamOptions{})
			return err
		},
		"append other basin": func() error {
			_, err := w.Basin("other-basin").Stream("s/1").Append(ctx, client.AppendInput{Records: []client.AppendRecord{{Body: []byte("x")}}})
			return err
		},
	} {
		err := call()
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Code != "permission_denied" || e.Retryable() {
			t.Errorf("%s with the scoped token: %v, want 403 permission_denied", name, err)
		}
	}

	// Revoked: every request is 401 authn, not retried.
	if err := root.RevokeAccessToken(ctx, "writer"); err != nil {
		t.Fatal(err)
	}
	_, err = s.CheckTail(ctx)
	wantCode(t, err, http.StatusUnauthorized, "authn")
	if client.IsRetryable(err) {
		t.Fatal("authn is retryable")
	}
	err = root.RevokeAccessToken(ctx, "writer")
	wantCode(t, err, http.StatusNotFound, "access_token_not_found")
	page, err := root.ListAccessTokens(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range page.AccessTokens {
		if info.ID == "writer" {
			t.Fatalf("a revoked token is listed: %+v", page)
		}
	}
}

// TestListAccessTokensPages: one page at a time with prefix, start_after
// and limit, and AllAccessTokens walking pages the server cuts short.
func TestListAccessTokensPages(t *testing.T) {
	c, srv := authClient(t)
	ctx := ctxT(t)
	ids := []string{"page-0", "page-1", "page-2", "page-3", "page-4"}
	for _, id := range append([]string{"zzz-other"}, ids...) {
		if _, err := c.IssueAccessToken(ctx, client.AccessTokenInfo{ID: id, Scope: client.AccessTokenScope{Ops: []client.Operation{client.OpRead}}}); err != nil {
			t.Fatal(err)
		}
	}
	listed := func(p client.ListAccessTokensPage) []string {
		var out []string
		for _, info := range p.AccessTokens {
			out = append(out, info.ID)
		}
		return out
	}
	for _, tc := range []struct {
		o    client.ListOptions
		want []string
		more bool
	}{
		{client.ListOptions{Prefix: "page-", Limit: 2}, ids[:2], true},
		{client.ListOptions{Prefix: "page-", StartAfter: "page-1", Limit: 2}, ids[2:4], true},
		{client.ListOptions{Prefix: "page-", StartAfter: "page-3", Limit: 2}, ids[4:], false},
		{client.ListOptions{Prefix: "page-"}, ids, false},
		{client.ListOptions{Prefix: "nothing-"}, nil, false},
	} {
		p, err := c.ListAccessTokens(ctx, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if got := listed(p); !slices.Equal(got, tc.want) || p.HasMore != tc.more {
			t.Errorf("ListAccessTokens(%+v) = %v has_more %v, want %v %v", tc.o, got, p.HasMore, tc.want, tc.more)
		}
	}

	// A server whose pages hold two tokens: the iterator follows has_more.
	var pages atomic.Int64
	small := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/access-tokens" {
			pages.Add(1)
			q := r.URL.Query()
			q.Set("limit", "2")
			r.URL.RawQuery = q.Encode()
		}
		srv.Srv.Handler().ServeHTTP(w, r)
	}))
	defer small.Close()
	sc := tokenClient(t, small.URL, tokensRoot)
	var all []string
	for info, err := range sc.AllAccessTokens(ctx, client.ListOptions{Prefix: "page-"}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, info.ID)
	}
	if !slices.Equal(all, ids) || pages.Load() != 3 {
		t.Fatalf("AllAccessTokens: %v in %d pages", all, pages.Load())
	}
	n := 0
	for _, err := range c.AllAccessTokens(ctx, client.ListOptions{Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("AllAccessTokens with Limit 3 gave %d", n)
	}
	// An error ends the iteration with that error.
	bad := tokenClient(t, srv.URL, "not-a-token")
	for _, err := range bad.AllAccessTokens(ctx, client.ListOptions{}) {
		wantCode(t, err, http.StatusUnauthorized, "authn")
	}
}

// TestIssueAccessTokenRetries: an issue is retried only after failures
// that guarantee it took no effect, even with AppendRetryAll; listings
// and revocations are retried like other account operations.
func TestIssueAccessTokenRetries(t *testing.T) {
	_, srv := authClient(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name     string
		code     string
		status   int
		wantErr  bool
		wantHits int64
	}{
		{"transaction_conflict", "transaction_conflict", 409, false, 3},
		{"rate_limited", "rate_limited", 429, false, 3},
		{"unavailable", "unavailable", 503, true, 1},
		{"storage", "storage", 500, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, hits := faultyHandler(srv.Srv.Handler(), 2, tc.code, tc.status)
			hs := httptest.NewServer(h)
			defer hs.Close()
			c, err := client.New(client.Config{AccountEndpoint: hs.URL, AccessToken: tokensRoot, MaxAttempts: 3,
				AppendRetry: client.AppendRetryAll, MinBackoff: 1, MaxBackoff: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.IssueAccessToken(ctx, client.AccessTokenInfo{ID: "retry-" + tc.name, Scope: client.AccessTokenScope{Ops: []client.Operation{client.OpRead}}})
			if (err != nil) != tc.wantErr || hits.Load() != tc.wantHits {
				t.Fatalf("issue: %v after %d requests, want error %v after %d", err, hits.Load(), tc.wantErr, tc.wantHits)
			}
		})
	}

	// A connection cut before an answer: the issue's outcome is unknown,
	// so it is not sent again; a listing is.
	p := startProxy(t, srv.URL[len("http://"):])
	c := tokenClient(t, p.URL(), tokensRoot)
	p.refuseNext(1)
	_, err := c.IssueAccessToken(ctx, client.AccessTokenInfo{ID: "cut", Scope: client.AccessTokenScope{Ops: []client.Operation{client.OpRead}}})
	var te *client.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("issue through a cut connection: %v", err)
	}
	p.refuseNext(1)
	if _, err := c.ListAccessTokens(ctx, client.ListOptions{}); err != nil {
		t.Fatalf("list through a cut connection: %v", err)
	}

}
