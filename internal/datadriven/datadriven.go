// Package datadriven runs script tests: files of cases, each a command, its
// input and the output it is expected to print, checked against what a
// package's test makes of them. Only tests import it.
//
// A script is a sequence of cases separated by blank lines, with '#'
// comment lines between them:
//
//	# comment
//	command [key=value ...]
//	input lines
//	----
//	expected output lines
//
// The input runs to the "----" line and the expected output to the next
// empty line or the end of the file, so an output cannot hold an empty line.
// An argument without '=' has an empty value.
//
// With rewrite set, Run records each case's actual output as its expected
// output and writes the file back; everything else in it (comments, blank
// lines, commands, inputs) is kept byte for byte, save that the file ends
// with exactly one newline.
package datadriven

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Script is a parsed script file.
type Script struct {
	File    string
	Cases   []*Case
	Trailer []string // blank and comment lines after the last case, verbatim
}

// A Case is one command of a script with its input and expected output.
type Case struct {
	File     string   // the script's file name, as given to Parse
	Line     int      // line number of the command, from 1
	Before   []string // blank and comment lines before the command, verbatim
	Cmd      string   // the command line, verbatim
	Name     string   // the command: Cmd's first field
	Args     []Arg    // Cmd's other fields, in order
	Input    []string // lines between the command and "----"
	Expected []string // lines after "----"
}

// An Arg is a key=value field of a command line.
type Arg struct {
	Key, Value string
}

// Pos returns "file:line" of the case's command.
func (c *Case) Pos() string { return fmt.Sprintf("%s:%d", c.File, c.Line) }

// Comments returns the '#' comment lines before the case.
func (c *Case) Comments() []string {
	var out []string
	for _, l := range c.Before {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// InputText returns the input lines joined by newlines.
func (c *Case) InputText() string { return strings.Join(c.Input, "\n") }

// HasArg reports whether the command has an argument key.
func (c *Case) HasArg(key string) bool {
	_, ok := c.lookup(key)
	return ok
}

// Arg returns the command's last argument key, or an Arg with that key and
// an empty value if there is none.
func (c *Case) Arg(key string) Arg {
	a, _ := c.lookup(key)
	return a
}

func (c *Case) lookup(key string) (Arg, bool) {
	for i := len(c.Args) - 1; i >= 0; i-- {
		if c.Args[i].Key == key {
			return c.Args[i], true
		}
	}
	return Arg{Key: key}, false
}

// String returns "key=value", or the key alone when the value is empty.
func (a Arg) String() string {
	if a.Value == "" {
		return a.Key
	}
	return a.Key + "=" + a.Value
}

// Int parses the value as a decimal int.
func (a Arg) Int() (int, error) {
	n, err := strconv.Atoi(a.Value)
	if err != nil {
		return 0, a.errorf(err)
	}
	return n, nil
}

// Time parses the value with the layout of time.Parse.
func (a Arg) Time(layout string) (time.Time, error) {
	t, err := time.Parse(layout, a.Value)
	if err != nil {
		return time.Time{}, a.errorf(err)
	}
	return t, nil
}

// Hex decodes the value as hexadecimal; an empty value gives no bytes.
func (a Arg) Hex() ([]byte, error) {
	b, err := hex.DecodeString(a.Value)
	if err != nil {
		return nil, a.errorf(err)
	}
	return b, nil
}

func (a Arg) errorf(err error) error {
	if ne, ok := errors.AsType[*strconv.NumError](err); ok {
		err = ne.Err
	}
	return fmt.Errorf("%s=%s: %w", a.Key, a.Value, err)
}

// ParseFile reads and parses a script file.
func ParseFile(file string) (*Script, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, data)
}

// Parse parses a script; file names it in the cases and in errors.
func Parse(file string, data []byte) (*Script, error) {
	s := &Script{File: file}
	text := strings.TrimRight(string(data), "\n")
	if text == "" {
		return s, nil
	}
	lines := strings.Split(text, "\n")
	var before []string
	for i := 0; i < len(lines); {
		if l := strings.TrimSpace(lines[i]); l == "" || strings.HasPrefix(l, "#") {
			before = append(before, lines[i])
			i++
			continue
		}
		fields := strings.Fields(lines[i])
		c := &Case{File: file, Line: i + 1, Before: before, Cmd: lines[i], Name: fields[0]}
		before = nil
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			c.Args = append(c.Args, Arg{Key: k, Value: v})
		}
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			c.Input = append(c.Input, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s: %s: no ---- line after the input", c.Pos(), c.Cmd)
		}
		for i++; i < len(lines) && lines[i] != ""; i++ {
			c.Expected = append(c.Expected, lines[i])
		}
		s.Cases = append(s.Cases, c)
	}
	s.Trailer = before
	return s, nil
}

// Format returns the script's text, with each case's Expected as its output.
func (s *Script) Format() []byte {
	var lines []string
	for _, c := range s.Cases {
		lines = append(lines, c.Before...)
		lines = append(lines, c.Cmd)
		lines = append(lines, c.Input...)
		lines = append(lines, "----")
		lines = append(lines, c.Expected...)
	}
	lines = append(lines, s.Trailer...)
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// Walk runs f in a subtest named after each file matching pattern (as
// filepath.Glob), and fails if there is none.
func Walk(t *testing.T, pattern string, f func(t *testing.T, file string)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { f(t, file) })
	}
}

// Run parses file and calls f on each case in order; f returns the case's
// actual output (lines joined by newlines; a final newline is ignored).
// Without rewrite, an output that differs from the expected one fails the
// test with the case's position, command and a line diff. With rewrite, the
// outputs replace the expected ones and the file is written back if it
// changed. A case that stops the test (t.Fatal in f) leaves the file as it
// was.
func Run(t testing.TB, file string, rewrite bool, f func(c *Case) string) {
	t.Helper()
	s, err := ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	writable := true
	for _, c := range s.Cases {
		got := outputLines(f(c))
		if !rewrite {
			if msg := mismatch(c, got); msg != "" {
				t.Error(msg)
			}
			continue
		}
		for _, l := range got {
			if l == "" {
				t.Errorf("%s: %s\noutput has an empty line, which a script cannot hold:\n%s",
					c.Pos(), c.Cmd, strings.Join(got, "\n"))
				writable = false
				break
			}
		}
		c.Expected = got
	}
	if !rewrite || !writable {
		return
	}
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if out := s.Format(); string(out) != string(old) {
		if err := os.WriteFile(file, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func outputLines(out string) []string {
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// mismatch returns "" if got is the case's expected output, or else the
// failure message: position, command and a diff of the lines.
func mismatch(c *Case, got []string) string {
	if slices.Equal(c.Expected, got) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\noutput differs (-want +got):\n", c.Pos(), c.Cmd)
	for _, l := range diff(c.Expected, got) {
		b.WriteString(l + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// diff returns a line diff of want and got along a longest common
// subsequence: common lines prefixed "  ", lines only in want "- ", lines
// only in got "+ ".
func diff(want, got []string) []string {
	// lcs[i][j] is the length of the longest common subsequence of want[i:]
	// and got[j:].
	lcs := make([][]int, len(want)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(got)+1)
	}
	for i := len(want) - 1; i >= 0; i-- {
		for j := len(got) - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case i < len(want) && j < len(got) && want[i] == got[j]:
			out = append(out, "  "+want[i])
			i++
			j++
		case j == len(got) || (i < len(want) && lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+want[i])
			i++
		default:
			out = append(out, "+ "+got[j])
			j++
		}
	}
	return out
}
