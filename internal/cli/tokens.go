package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/humandur"
)

// The official CLI's access-token commands: issue-access-token ID with
// the scope as flags, list-access-tokens as two-line summaries,
// revoke-access-token ID.

// cliOps maps the official CLI's --ops values (snake_case, its Operation
// enum) to the API's operation names. The metrics operations are named
// get_*_metrics in the CLI and *-metrics on the wire.
var cliOps = []struct {
	name string
	op   client.Operation
}{
	{"list_basins", client.OpListBasins},
	{"create_basin", client.OpCreateBasin},
	{"delete_basin", client.OpDeleteBasin},
	{"get_basin_config", client.OpGetBasinConfig},
	{"reconfigure_basin", client.OpReconfigureBasin},
	{"list_access_tokens", client.OpListAccessTokens},
	{"issue_access_token", client.OpIssueAccessToken},
	{"revoke_access_token", client.OpRevokeAccessToken},
	{"get_account_metrics", client.OpAccountMetrics},
	{"get_basin_metrics", client.OpBasinMetrics},
	{"get_stream_metrics", client.OpStreamMetrics},
	{"list_streams", client.OpListStreams},
	{"create_stream", client.OpCreateStream},
	{"delete_stream", client.OpDeleteStream},
	{"get_stream_config", client.OpGetStreamConfig},
	{"reconfigure_stream", client.OpReconfigureStream},
	{"check_tail", client.OpCheckTail},
	{"trim", client.OpTrim},
	{"fence", client.OpFence},
	{"append", client.OpAppend},
	{"read", client.OpRead},
	{"list_locations", "list-locations"},
	{"get_default_location", "get-default-location"},
	{"set_default_location", "set-default-location"},
}

// parseOp accepts the official CLI's name of an operation, or its API
// name (list-basins, account-metrics).
func parseOp(s string) (client.Operation, bool) {
	for _, o := range cliOps {
		if s == o.name || s == string(o.op) {
			return o.op, true
		}
	}
	return "", false
}

// opsFlag is --ops: operations separated by commas, the flag repeatable.
type opsFlag struct{ ops []client.Operation }

func (f *opsFlag) String() string {
	parts := make([]string, len(f.ops))
	for i, o := range f.ops {
		parts[i] = string(o)
	}
	return strings.Join(parts, ",")
}

func (f *opsFlag) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		op, ok := parseOp(part)
		if !ok {
			names := make([]string, len(cliOps))
			for i, o := range cliOps {
				names[i] = o.name
			}
			return fmt.Errorf("invalid value '%s': possible values: %s", part, strings.Join(names, ", "))
		}
		f.ops = append(f.ops, op)
	}
	return nil
}

func (f *opsFlag) Type() string { return "ops" }

// opGroupsFlag is --op-group-perms "account=rw,basin=r,stream=w".
type opGroupsFlag struct {
	set    bool
	groups client.PermittedOperationGroups
}

func (f *opGroupsFlag) String() string {
	if !f.set {
		return ""
	}
	var parts []string
	for _, g := range []struct {
		name string
		p    *client.ReadWritePermissions
	}{{"account", f.groups.Account}, {"basin", f.groups.Basin}, {"stream", f.groups.Stream}} {
		if g.p != nil {
			parts = append(parts, g.name+"="+rwString(*g.p))
		}
	}
	return strings.Join(parts, ",")
}

// Set parses the official CLI's syntax, with its error messages: parts
// separated by commas (blank ones skipped), each key=perms with key
// account, basin or stream and perms made of r and w.
func (f *opGroupsFlag) Set(s string) error {
	var g client.PermittedOperationGroups
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("Invalid op_group format: '%s'. Expected 'key=value'", part) //nolint:staticcheck // the official CLI's message
		}
		var p client.ReadWritePermissions
		for _, c := range value {
			switch c {
			case 'r':
				p.Read = true
			case 'w':
				p.Write = true
			default:
				return fmt.Errorf("Invalid permission character: %c", c) //nolint:staticcheck // the official CLI's message
			}
		}
		if !p.Read && !p.Write {
			return fmt.Errorf("At least one permission ('r' or 'w') must be specified") //nolint:staticcheck // the official CLI's message
		}
		switch key {
		case "account":
			g.Account = &p
		case "basin":
			g.Basin = &p
		case "stream":
			g.Stream = &p
		default:
			return fmt.Errorf("Invalid op_group key: '%s'. Expected 'account', 'basin', or 'stream'", key) //nolint:staticcheck // the official CLI's message
		}
	}
	f.set, f.groups = true, g
	return nil
}

func (f *opGroupsFlag) Type() string { return "string" }

func rwString(p client.ReadWritePermissions) string {
	s := ""
	if p.Read {
		s += "r"
	}
	if p.Write {
		s += "w"
	}
	return s
}

// resourceFlags are one resource's --X-prefix and --X-exact.
type resourceFlags struct {
	name          string // "basins", "streams", "access-tokens"
	prefix, exact string
}

func (f *resourceFlags) register(cmd *cobra.Command, what, whats string) {
	fs := cmd.Flags()
	fs.StringVar(&f.prefix, f.name+"-prefix", "", what+" prefix allowed; \"\" matches all "+whats)
	fs.StringVar(&f.exact, f.name+"-exact", "", "exact "+what+" allowed")
	cmd.MarkFlagsMutuallyExclusive(f.name+"-prefix", f.name+"-exact")
}

// set is the resource set the flags give, nil (no access) without them.
func (f *resourceFlags) set(cmd *cobra.Command) *client.ResourceSet {
	switch {
	case cmd.Flags().Changed(f.name + "-exact"):
		return client.MatchExact(f.exact)
	case cmd.Flags().Changed(f.name + "-prefix"):
		return client.MatchPrefix(f.prefix)
	}
	return nil
}

func (a *app) issueAccessTokenCmd() *cobra.Command {
	var expiresIn, expiresAt string
	var autoPrefix bool
	basins := &resourceFlags{name: "basins"}
	streams := &resourceFlags{name: "streams"}
	tokens := &resourceFlags{name: "access-tokens"}
	var groups opGroupsFlag
	var ops opsFlag
	cmd := &cobra.Command{
		Use:   "issue-access-token ID",
		Short: "Issue an access token",
		Long: "Issue an access token and print it (the server shows it only this once).\n\n" +
			"Without a resource's flags the token has no access to resources of that kind; an empty prefix\n" +
			"(--streams-prefix \"\") gives all of them. The token may do the union of --ops and what\n" +
			"--op-group-perms grants.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info := client.AccessTokenInfo{ID: args[0], AutoPrefixStreams: autoPrefix, Scope: client.AccessTokenScope{
				Basins: basins.set(cmd), Streams: streams.set(cmd), AccessTokens: tokens.set(cmd), Ops: ops.ops,
			}}
			if groups.set {
				g := groups.groups
				info.Scope.OpGroups = &g
			}
			switch {
			case cmd.Flags().Changed("expires-in"):
				secs, err := humandur.Parse(expiresIn)
				if err != nil {
					return usagef("--expires-in: %v", err)
				}
				t := time.Now().Add(time.Duration(secs) * time.Second).UTC()
				info.ExpiresAt = &t
			case cmd.Flags().Changed("expires-at"):
				t, err := time.Parse(time.RFC3339, expiresAt)
				if err != nil {
					return usagef("Invalid expires_at (expected RFC3339 format, e.g., '2024-12-31T23:59:59Z'): %v", err)
				}
				info.ExpiresAt = &t
			}
			return a.withClient(func(c *client.Client) error {
				secret, err := c.IssueAccessToken(a.ctx, info)
				if err != nil {
					return op("issue access token", err)
				}
				fmt.Fprintln(a.env.Stdout, secret)
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&expiresIn, "expires-in", "", "token validity duration (e.g. \"30d\", \"1w\", \"24h\"): the token expires this long from now")
	fs.StringVar(&expiresAt, "expires-at", "", "absolute expiration time in RFC3339 format (e.g. \"2024-12-31T23:59:59Z\")")
	cmd.MarkFlagsMutuallyExclusive("expires-in", "expires-at")
	fs.BoolVar(&autoPrefix, "auto-prefix-streams", false, "namespace streams by the stream scope, which must be a prefix: stream names given are prefixed with it, and it is stripped from names listed")
	basins.register(cmd, "basin name", "basins")
	streams.register(cmd, "stream name", "streams")
	tokens.register(cmd, "access token ID", "tokens")
	fs.Var(&groups, "op-group-perms", "access permissions at the operation group level, e.g. \"account=rw,basin=r,stream=w\" (r read, w write)")
	names := make([]string, len(cliOps))
	for i, o := range cliOps {
		names[i] = o.name
	}
	fs.Var(&ops, "ops", "operations allowed for the token, separated by commas: "+strings.Join(names, ", "))
	return cmd
}

func (a *app) listAccessTokensCmd() *cobra.Command {
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list-access-tokens",
		Short: "List access tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := lf.options()
			if err != nil {
				return err
			}
			return a.withClient(func(c *client.Client) error {
				var tokens []client.AccessTokenInfo
				if lf.noAutoPaginate {
					page, err := c.ListAccessTokens(a.ctx, o)
					if err != nil {
						return op("list access tokens", err)
					}
					tokens = page.AccessTokens
				} else {
					for t, err := range c.AllAccessTokens(a.ctx, o) {
						if err != nil {
							return op("list access tokens", err)
						}
						tokens = append(tokens, t)
					}
				}
				a.printTokens(tokens)
				return nil
			})
		},
	}
	lf.register(cmd, "access token")
	fs := cmd.Flags()
	fs.Lookup("prefix").Usage = "list access tokens that begin with this prefix"
	fs.Lookup("start-after").Usage = "only return access tokens that lexicographically start after this token ID"
	fs.Lookup("limit").Usage = "limit the number of access tokens to return; the page size (max 1000) with --no-auto-paginate"
	fs.Lookup("no-auto-paginate").Usage = "return only a single page of access tokens instead of auto-paginating"
	return cmd
}

// printTokens writes the official CLI's summary of each token, blocks
// separated by a blank line:
//
//	reader  expires 2030-01-01T00:00:00Z
//	  basins=my-basin  streams=logs/*  tokens=∅  perms=a:r s:rw  ops=2
//
// ids padded to the longest; "never" for no expiry; a resource set as its
// exact name, "prefix*" ("*" for all) or "∅" (none); the groups granted as
// a:, b:, s: (account, basin, stream); the number of operations listed.
func (a *app) printTokens(tokens []client.AccessTokenInfo) {
	width := 0
	for _, t := range tokens {
		width = max(width, len(t.ID))
	}
	blocks := make([]string, len(tokens))
	for i, t := range tokens {
		expires := a.paintOut(dim, "never")
		if t.ExpiresAt != nil {
			expires = a.paintOut(green, t.ExpiresAt.Format(time.RFC3339Nano))
		}
		header := a.paintOut(bold, t.ID) + strings.Repeat(" ", width-len(t.ID)) + "  expires " + expires
		s := t.Scope
		blocks[i] = header + "\n" + fmt.Sprintf("  basins=%s  streams=%s  tokens=%s  perms=%s  ops=%d",
			setSummary(s.Basins), setSummary(s.Streams), setSummary(s.AccessTokens), groupsSummary(s.OpGroups), len(s.Ops))
	}
	if len(blocks) > 0 {
		fmt.Fprintln(a.env.Stdout, strings.Join(blocks, "\n\n"))
	}
}

func setSummary(r *client.ResourceSet) string {
	switch {
	case r == nil || (r.Exact != nil && *r.Exact == ""):
		// No access. (The official CLI shows an empty exact set, which
		// the cloud does not list, as "*".)
		return "∅"
	case r.Exact != nil:
		return *r.Exact
	case r.Prefix != nil:
		return *r.Prefix + "*"
	}
	return "∅"
}

func groupsSummary(g *client.PermittedOperationGroups) string {
	if g == nil {
		return "none"
	}
	var parts []string
	for _, e := range []struct {
		label string
		p     *client.ReadWritePermissions
	}{{"a", g.Account}, {"b", g.Basin}, {"s", g.Stream}} {
		if e.p != nil && (e.p.Read || e.p.Write) {
			parts = append(parts, e.label+":"+rwString(*e.p))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func (a *app) revokeAccessTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-access-token ID",
		Short: "Revoke an access token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(func(c *client.Client) error {
				if err := c.RevokeAccessToken(a.ctx, args[0]); err != nil {
					return op("revoke access token", err)
				}
				a.status(green, "✓ Access token '%s' revoked", args[0])
				return nil
			})
		},
	}
}
