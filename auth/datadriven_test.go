package auth

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/datadriven"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata expectations with actual output")

// TestDataDriven runs the scripts in testdata (format in package
// internal/datadriven); -rewrite records the actual outputs in them. A
// file's cases share one scope, issuer (root at the start) and token.
// Commands:
//
//	groups
//	    prints the op-group mapping and each operation's resource kind.
//	decode type=resource-set|scope|token-info
//	    input: JSON; prints it re-encoded, or the decoding error.
//	scope
//	    input: scope JSON; makes it the scope of allows/visible.
//	allows
//	    input: "op basin stream" per line ("" quoted for empty names); prints
//	    allow or the error Check returns.
//	visible
//	    input: "basin|stream|token name" per line; prints yes or no.
//	issuer
//	    input: token info JSON, or "root"; the issuer of validate.
//	validate now=RFC3339
//	    input: request JSON; prints the validated token or the *Error.
//	token
//	    input: token info JSON; the token of in/out.
//	autoprefix
//	    input: "in name" or "out name" per line; prints the mapping.
//	hash key=hex
//	    input: one secret per line; prints the hash in hex.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/*.txt", func(t *testing.T, file string) {
		st := &scriptState{issuer: Root()}
		datadriven.Run(t, file, *rewrite, func(c *datadriven.Case) string {
			return strings.Join(st.run(t, c), "\n")
		})
	})
}

type scriptState struct {
	scope  Scope
	issuer *TokenInfo
	token  *TokenInfo
}

func (st *scriptState) run(t *testing.T, c *datadriven.Case) []string {
	input := c.InputText()
	fail := func(format string, a ...any) []string {
		t.Fatalf("%s: %s", c.Pos(), fmt.Sprintf(format, a...))
		return nil
	}
	switch c.Name {
	case "groups":
		var out []string
		for _, g := range []Group{GroupAccount, GroupBasin, GroupStream} {
			for _, a := range []Access{Read, Write} {
				out = append(out, fmt.Sprintf("%s.%s: %s", g, a, GroupOps(g, a)))
			}
		}
		for _, op := range AllOperations() {
			g, a := op.Group()
			out = append(out, fmt.Sprintf("%s: %s.%s resource=%s", op, g, a, op.Resource()))
		}
		return out

	case "decode":
		var v any
		switch typ := c.Arg("type").Value; typ {
		case "resource-set":
			v = new(ResourceSet)
		case "scope":
			v = new(Scope)
		case "token-info":
			v = new(TokenInfo)
		default:
			return fail("unknown type %q", typ)
		}
		if err := json.Unmarshal([]byte(input), v); err != nil {
			return []string{"error: " + err.Error()}
		}
		return []string{mustJSON(t, v)}

	case "scope":
		if err := json.Unmarshal([]byte(input), &st.scope); err != nil {
			return fail("scope: %v", err)
		}
		return []string{mustJSON(t, st.scope), "ops: " + st.scope.Ops().String()}

	case "allows":
		var out []string
		for _, l := range c.Input {
			f := splitQuoted(t, l)
			for len(f) < 3 {
				f = append(f, "")
			}
			res := "allow"
			if err := st.scope.Check(Operation(f[0]), f[1], f[2]); err != nil {
				res = err.Error()
			}
			if st.scope.Allows(Operation(f[0]), f[1], f[2]) != (res == "allow") {
				fail("Allows and Check disagree on %q", l)
			}
			out = append(out, l+" -> "+res)
		}
		return out

	case "visible":
		var out []string
		for _, l := range c.Input {
			f := splitQuoted(t, l)
			var ok bool
			switch f[0] {
			case "basin":
				ok = st.scope.BasinVisible(f[1])
			case "stream":
				ok = st.scope.StreamVisible(f[1])
			case "token":
				ok = st.scope.TokenVisible(f[1])
			default:
				return fail("visible: unknown kind %q", f[0])
			}
			out = append(out, fmt.Sprintf("%s -> %v", l, ok))
		}
		return out

	case "issuer":
		if input == "root" {
			st.issuer = Root()
			return []string{"ok"}
		}
		ti, err := DecodeTokenInfo([]byte(input))
		if err != nil {
			return fail("issuer: %v", err)
		}
		st.issuer = ti
		return []string{mustJSON(t, ti)}

	case "validate":
		now, err := c.Arg("now").Time(time.RFC3339)
		if err != nil {
			return fail("validate: %v", err)
		}
		req, err := DecodeTokenInfo([]byte(input))
		if err == nil {
			req, err = Validate(st.issuer, req, now)
		}
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				return fail("validate returned a %T: %v", err, err)
			}
			return []string{"error " + ae.Error()}
		}
		return []string{mustJSON(t, req)}

	case "token":
		ti, err := DecodeTokenInfo([]byte(input))
		if err != nil {
			return fail("token: %v", err)
		}
		st.token = ti
		return []string{mustJSON(t, ti)}

	case "autoprefix":
		var out []string
		for _, l := range c.Input {
			f := splitQuoted(t, l)
			switch f[0] {
			case "in":
				out = append(out, fmt.Sprintf("%s -> %q", l, st.token.StreamNameIn(f[1])))
			case "out":
				name, ok := st.token.StreamNameOut(f[1])
				if ok {
					out = append(out, fmt.Sprintf("%s -> %q", l, name))
				} else {
					out = append(out, l+" -> hidden")
				}
			default:
				return fail("autoprefix: unknown direction %q", f[0])
			}
		}
		return out

	case "hash":
		key, err := c.Arg("key").Hex()
		if err != nil {
			return fail("hash: %v", err)
		}
		h, err := NewHasher(key)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		out := []string{"key-id " + h.KeyID()}
		for _, l := range c.Input {
			sum := h.Hash(l)
			out = append(out, fmt.Sprintf("%q -> %x", l, sum))
		}
		return out
	}
	return fail("unknown command %q", c.Name)
}

// splitQuoted splits a line on spaces, unquoting Go-quoted fields.
func splitQuoted(t *testing.T, l string) []string {
	var out []string
	for _, f := range strings.Fields(l) {
		if strings.HasPrefix(f, `"`) {
			u, err := strconv.Unquote(f)
			if err != nil {
				t.Fatalf("bad quoted field %s: %v", f, err)
			}
			f = u
		}
		out = append(out, f)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}
