package auth

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata expectations with actual output")

// A testdata script is a sequence of cases separated by blank lines, with
// '#' comment lines between them:
//
//	command [arg=value ...]
//	input lines
//	----
//	expected output lines
//
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
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptCase struct {
	comments []string
	line     int
	cmd      string
	input    []string
	expected []string
}

func parseScript(t *testing.T, file string) []scriptCase {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	var (
		cases    []scriptCase
		comments []string
	)
	for i := 0; i < len(lines); {
		if l := strings.TrimSpace(lines[i]); l == "" || strings.HasPrefix(l, "#") {
			if l != "" {
				comments = append(comments, lines[i])
			}
			i++
			continue
		}
		c := scriptCase{comments: comments, line: i + 1, cmd: lines[i]}
		comments = nil
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			c.input = append(c.input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: missing ----", file, c.line)
		}
		for i++; i < len(lines) && lines[i] != ""; i++ {
			c.expected = append(c.expected, lines[i])
		}
		cases = append(cases, c)
	}
	return cases
}

type scriptState struct {
	scope  Scope
	issuer *TokenInfo
	token  *TokenInfo
}

func runScript(t *testing.T, file string) {
	cases := parseScript(t, file)
	st := &scriptState{issuer: Root()}
	var out strings.Builder
	for i := range cases {
		c := &cases[i]
		got := st.run(t, file, c)
		if *rewrite {
			c.expected = got
		} else if strings.Join(got, "\n") != strings.Join(c.expected, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, c.line, c.cmd,
				strings.Join(got, "\n"), strings.Join(c.expected, "\n"))
		}
		for _, l := range c.comments {
			out.WriteString(l + "\n")
		}
		out.WriteString(c.cmd + "\n")
		for _, l := range c.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		for _, l := range c.expected {
			out.WriteString(l + "\n")
		}
		if i < len(cases)-1 {
			out.WriteString("\n")
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (st *scriptState) run(t *testing.T, file string, c *scriptCase) []string {
	fields := strings.Fields(c.cmd)
	args := map[string]string{}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	input := strings.Join(c.input, "\n")
	fail := func(format string, a ...any) []string {
		t.Fatalf("%s:%d: %s", file, c.line, fmt.Sprintf(format, a...))
		return nil
	}
	switch fields[0] {
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
		switch args["type"] {
		case "resource-set":
			v = new(ResourceSet)
		case "scope":
			v = new(Scope)
		case "token-info":
			v = new(TokenInfo)
		default:
			return fail("unknown type %q", args["type"])
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
		for _, l := range c.input {
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
		for _, l := range c.input {
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
		now, err := time.Parse(time.RFC3339, args["now"])
		if err != nil {
			return fail("validate: now: %v", err)
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
		for _, l := range c.input {
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
		key, err := hex.DecodeString(args["key"])
		if err != nil {
			return fail("hash: key: %v", err)
		}
		h, err := NewHasher(key)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		out := []string{"key-id " + h.KeyID()}
		for _, l := range c.input {
			sum := h.Hash(l)
			out = append(out, fmt.Sprintf("%q -> %x", l, sum))
		}
		return out
	}
	return fail("unknown command %q", fields[0])
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
