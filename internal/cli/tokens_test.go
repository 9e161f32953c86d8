package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/testserver"
)

const cliRoot = "cli-test-root-token-0123456789"

// issue runs issue-access-token and returns the printed token.
func (h *harness) issue(args ...string) string {
	h.t.Helper()
	r := h.ok("", append([]string{"issue-access-token"}, args...)...)
	if !regexp.MustCompile(`^\S+\n$`).MatchString(r.stdout) || r.stderr != "" {
		h.t.Fatalf("issue-access-token %q: %s", args, r)
	}
	return strings.TrimSuffix(r.stdout, "\n")
}

// as runs the rest of the test's command lines with another token.
func (h *harness) as(token string) { h.env["S2_ACCESS_TOKEN"] = token }

func TestAccessTokenCommands(t *testing.T) {
	h := newHarnessWith(t, testserver.Options{RootToken: cliRoot})
	h.ok("", "create-basin", "tok-basin")
	h.ok("", "create-basin", "other-basin")

	// Every scope form, expiries and auto-prefixing.
	writer := h.issue("writer", "--basins-exact", "tok-basin", "--streams-prefix", "s/",
		"--op-group-perms", "stream=rw", "--ops", "create_stream,list_streams", "--expires-in", "1d")
	h.issue("reader", "--basins-prefix", "", "--streams-exact", "events", "--access-tokens-prefix", "reader",
		"--op-group-perms", "account=r, basin=rw", "--ops", "read", "--ops", "check-tail", "--expires-at", "2099-01-02T03:04:05Z")
	tenant := h.issue("auto", "--auto-prefix-streams", "--basins-prefix", "tok-", "--streams-prefix", "tenant-a/",
		"--access-tokens-exact", "auto", "--op-group-perms", "basin=rw,stream=rw")

	// What the server stored, through the client.
	page, err := h.c.ListAccessTokens(context.Background(), client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]client.AccessTokenInfo{}
	for _, info := range page.AccessTokens {
		stored[info.ID] = info
	}
	w := stored["writer"]
	if w.ExpiresAt == nil || time.Until(*w.ExpiresAt) < 23*time.Hour || time.Until(*w.ExpiresAt) > 25*time.Hour {
		t.Fatalf("--expires-in 1d stored expires_at %v", w.ExpiresAt)
	}
	if s := w.Scope; setSummary(s.Basins) != "tok-basin" || s.Basins.Exact == nil || setSummary(s.Streams) != "s/*" ||
		s.AccessTokens != nil || len(s.Ops) != 2 {
		t.Fatalf("writer stored as %+v", w)
	}
	if a := stored["auto"]; !a.AutoPrefixStreams || a.ExpiresAt != nil || a.Scope.AccessTokens == nil || a.Scope.AccessTokens.Exact == nil {
		t.Fatalf("auto stored as %+v", a)
	}

	// The listing: two lines a token, ids padded to the longest.
	writerExpiry := w.ExpiresAt.Format(time.RFC3339Nano)
	want := "auto    expires never\n" +
		"  basins=tok-*  streams=tenant-a/*  tokens=auto  perms=b:rw s:rw  ops=0\n\n" +
		"reader  expires 2099-01-02T03:04:05Z\n" +
		"  basins=*  streams=events  tokens=reader*  perms=a:r b:rw  ops=2\n\n" +
		"writer  expires " + writerExpiry + "\n" +
		"  basins=tok-basin  streams=s/*  tokens=∅  perms=s:rw  ops=2\n"
	if r := h.ok("", "list-access-tokens"); r.stdout != want || r.stderr != "" {
		t.Fatalf("list-access-tokens:\n%s\nwant:\n%s", r, want)
	}
	if r := h.ok("", "list-access-tokens", "-p", "re"); !strings.HasPrefix(r.stdout, "reader  expires") || strings.Count(r.stdout, "expires") != 1 {
		t.Fatalf("list-access-tokens -p: %s", r)
	}
	if r := h.ok("", "list-access-tokens", "--start-after", "reader"); r.stdout != "writer  expires "+writerExpiry+"\n  basins=tok-basin  streams=s/*  tokens=∅  perms=s:rw  ops=2\n" {
		t.Fatalf("list-access-tokens --start-after: %s", r)
	}
	if r := h.ok("", "list-access-tokens", "-n", "1", "--no-auto-paginate"); !strings.HasPrefix(r.stdout, "auto  expires never\n") || strings.Count(r.stdout, "expires") != 1 {
		t.Fatalf("list-access-tokens -n 1 --no-auto-paginate: %s", r)
	}
	if r := h.ok("", "list-access-tokens", "--limit", "2"); strings.Count(r.stdout, "expires") != 2 {
		t.Fatalf("list-access-tokens --limit 2: %s", r)
	}
	if r := h.ok("", "list-access-tokens", "--prefix", "nothing"); r.stdout != "" {
		t.Fatalf("empty listing: %s", r)
	}

	// The issued token works within its scope...
	h.as(writer)
	h.ok("", "create-stream", "s2://tok-basin/s/1")
	if r := h.ok("a\nb\n", "append", "s2://tok-basin/s/1"); !strings.Contains(r.stderr, "✓ [APPENDED] 0..2") {
		t.Fatalf("append with the scoped token: %s", r)
	}
	if r := h.ok("", "read", "s2://tok-basin/s/1", "-s", "0", "-n", "2"); r.stdout != "a\nb\n" {
		t.Fatalf("read with the scoped token: %s", r)
	}
	if r := h.ok("", "list-streams", "tok-basin"); r.stdout != "s2://tok-basin/s/1\n" {
		t.Fatalf("list-streams with the scoped token: %s", r)
	}
	// ...and not outside it.
	h.fails(1, "Error: Failed to list basins: permission_denied: ", "list-basins")
	h.fails(1, "Error: Failed to create stream: permission_denied: ", "create-stream", "s2://tok-basin/t/1")
	h.fails(1, "Error: Failed to check tail: permission_denied: ", "check-tail", "s2://other-basin/s/1")
	h.fails(1, "Error: Failed to issue access token: permission_denied: ", "issue-access-token", "child", "--ops", "read")
	h.fails(1, "Error: Failed to list access tokens: permission_denied: ", "list-access-tokens")
	h.fails(1, "Error: Failed to revoke access token: permission_denied: ", "revoke-access-token", "reader")

	// An auto-prefixing token names its streams inside its prefix.
	h.as(tenant)
	h.ok("", "create-stream", "s2://tok-basin/x")
	if r := h.ok("", "list-streams", "tok-basin"); r.stdout != "s2://tok-basin/x\n" {
		t.Fatalf("list-streams with an auto-prefixing token: %s", r)
	}
	h.as(cliRoot)
	if r := h.ok("", "list-streams", "tok-basin"); r.stdout != "s2://tok-basin/s/1\ns2://tok-basin/tenant-a/x\n" {
		t.Fatalf("list-streams as root: %s", r)
	}

	// Revocation: confirmed on stderr; the token is refused from then on.
	if r := h.ok("", "revoke-access-token", "writer"); r.stdout != "" || r.stderr != "✓ Access token 'writer' revoked\n" {
		t.Fatalf("revoke-access-token: %s", r)
	}
	h.fails(1, "Error: Failed to revoke access token: access_token_not_found: ", "revoke-access-token", "writer")
	if r := h.ok("", "list-access-tokens"); strings.Contains(r.stdout, "writer") {
		t.Fatalf("a revoked token is listed: %s", r)
	}
	h.as(writer)
	h.fails(1, "Error: Failed to check tail: authn: ", "check-tail", "s2://tok-basin/s/1")
	h.as(cliRoot)

	// The server's refusals of an issue.
	h.fails(1, "Error: Failed to issue access token: resource_already_exists: ", "issue-access-token", "reader", "--ops", "read")
	h.fails(1, "Error: Failed to issue access token: invalid: Access token permissions cannot be empty", "issue-access-token", "nothing", "--basins-prefix", "")
	h.fails(1, "Error: Failed to issue access token: invalid: Auto prefixing is only allowed for streams with prefix matching",
		"issue-access-token", "bad-auto", "--auto-prefix-streams", "--streams-exact", "s", "--ops", "read")

	// Bad command lines: exit 2, nothing sent.
	for _, c := range []struct {
		stderr string
		args   []string
	}{
		{"Invalid op_group format: 'stream'. Expected 'key=value'", []string{"t1", "--op-group-perms", "stream"}},
		{"Invalid op_group key: 'tokens'. Expected 'account', 'basin', or 'stream'", []string{"t1", "--op-group-perms", "tokens=r"}},
		{"At least one permission ('r' or 'w') must be specified", []string{"t1", "--op-group-perms", "account="}},
		{"Invalid permission character: x", []string{"t1", "--op-group-perms", "account=rx"}},
		{"invalid value 'nope': possible values: list_basins, ", []string{"t1", "--ops", "read,nope"}},
		{"Invalid expires_at (expected RFC3339 format", []string{"t1", "--ops", "read", "--expires-at", "tomorrow"}},
		{"--expires-in: invalid duration", []string{"t1", "--ops", "read", "--expires-in", "soon"}},
		{"[expires-at expires-in] were all set", []string{"t1", "--ops", "read", "--expires-in", "1d", "--expires-at", "2099-01-01T00:00:00Z"}},
		{"[basins-exact basins-prefix] were all set", []string{"t1", "--ops", "read", "--basins-prefix", "a", "--basins-exact", "b"}},
		{"[streams-exact streams-prefix] were all set", []string{"t1", "--ops", "read", "--streams-prefix", "a", "--streams-exact", "b"}},
		{"[access-tokens-exact access-tokens-prefix] were all set", []string{"t1", "--ops", "read", "--access-tokens-prefix", "a", "--access-tokens-exact", "b"}},
		{"accepts 1 arg(s), received 0", []string{"--ops", "read"}},
		{"unknown flag: --basins", []string{"t1", "--basins", "x"}},
	} {
		h.fails(2, c.stderr, append([]string{"issue-access-token"}, c.args...)...)
	}
	h.fails(2, "accepts 1 arg(s), received 0", "revoke-access-token")
	h.fails(2, "unknown command", "list-access-tokens", "extra")
	if r := h.ok("", "list-access-tokens", "-p", "t1"); r.stdout != "" {
		t.Fatalf("a bad command line issued a token: %s", r)
	}
}

// TestListAccessTokensColours: on a terminal the id is bold, the expiry
// green and "never" dim, as the official CLI prints them.
func TestListAccessTokensColours(t *testing.T) {
	h := newHarnessWith(t, testserver.Options{RootToken: cliRoot})
	h.issue("forever", "--ops", "read")
	h.issue("dated", "--ops", "read", "--expires-at", "2099-01-01T00:00:00Z")
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"list-access-tokens"}, Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, StdoutIsTerminal: true,
		Getenv: func(k string) string { return h.env[k] },
	})
	want := "\x1b[1mdated\x1b[0m    expires \x1b[1;32m2099-01-01T00:00:00Z\x1b[0m\n" +
		"  basins=∅  streams=∅  tokens=∅  perms=none  ops=1\n\n" +
		"\x1b[1mforever\x1b[0m  expires \x1b[2mnever\x1b[0m\n" +
		"  basins=∅  streams=∅  tokens=∅  perms=none  ops=1\n"
	if code != 0 || stdout.String() != want {
		t.Fatalf("exit %d\nstdout %q\nwant   %q\nstderr %s", code, stdout.String(), want, stderr.String())
	}
}
