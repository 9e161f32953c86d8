package datadriven

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const script = `# first case
# second comment line
build size=4 fast sorted=no
a
b
----
built 2

get
----
a
b

# a section

#   an indented comment, after a blank line
empty
----

last k=v
x

y
----
done
# trailing comment
`

func TestParse(t *testing.T) {
	s, err := Parse("x.txt", []byte(script))
	if err != nil {
		t.Fatal(err)
	}
	want := []*Case{{
		File:     "x.txt",
		Line:     3,
		Before:   []string{"# first case", "# second comment line"},
		Cmd:      "build size=4 fast sorted=no",
		Name:     "build",
		Args:     []Arg{{"size", "4"}, {"fast", ""}, {"sorted", "no"}},
		Input:    []string{"a", "b"},
		Expected: []string{"built 2"},
	}, {
		File:     "x.txt",
		Line:     9,
		Before:   []string{""},
		Cmd:      "get",
		Name:     "get",
		Expected: []string{"a", "b"},
	}, {
		File:   "x.txt",
		Line:   17,
		Before: []string{"", "# a section", "", "#   an indented comment, after a blank line"},
		Cmd:    "empty",
		Name:   "empty",
	}, {
		File:     "x.txt",
		Line:     20,
		Before:   []string{""},
		Cmd:      "last k=v",
		Name:     "last",
		Args:     []Arg{{"k", "v"}},
		Input:    []string{"x", "", "y"},
		Expected: []string{"done", "# trailing comment"},
	}}
	if !reflect.DeepEqual(s.Cases, want) {
		for i, c := range s.Cases {
			t.Logf("case %d: %+v", i, *c)
		}
		t.Fatal("cases differ")
	}
	if s.Trailer != nil {
		t.Errorf("trailer %q, want none: a comment right after an output is part of it", s.Trailer)
	}
	if got, want := s.Cases[2].Comments(), []string{"# a section", "#   an indented comment, after a blank line"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Comments() = %q, want %q", got, want)
	}
	if got := s.Cases[3].InputText(); got != "x\n\ny" {
		t.Errorf("InputText() = %q", got)
	}
	if got := s.Cases[0].Pos(); got != "x.txt:3" {
		t.Errorf("Pos() = %q", got)
	}

	s, err = Parse("y.txt", []byte("cmd\n----\nout\n\n# the end\n\n# really\n\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "# the end", "", "# really"}; !reflect.DeepEqual(s.Trailer, want) {
		t.Errorf("trailer %q, want %q", s.Trailer, want)
	}

	for _, empty := range []string{"", "\n", "\n\n"} {
		s, err := Parse("e.txt", []byte(empty))
		if err != nil || len(s.Cases) != 0 || len(s.Trailer) != 0 {
			t.Errorf("Parse(%q) = %+v, %v", empty, s, err)
		}
	}
}

func TestParseError(t *testing.T) {
	for _, text := range []string{
		"# c\n\nbuild a=1\ninput\n",
		"# c\n\nbuild a=1\n",
		"# c\n\nbuild a=1\n---\nout\n",
	} {
		_, err := Parse("bad.txt", []byte(text))
		if err == nil || err.Error() != "bad.txt:3: build a=1: no ---- line after the input" {
			t.Errorf("Parse(%q): %v", text, err)
		}
	}
}

func TestArgs(t *testing.T) {
	c := &Case{Args: []Arg{
		{"n", "12"}, {"n", "-3"}, {"bad", "x1"}, {"big", "99999999999999999999"},
		{"now", "2025-01-02T03:04:05Z"}, {"key", "00ff"}, {"flag", ""},
	}}
	if !c.HasArg("flag") || c.HasArg("missing") {
		t.Error("HasArg")
	}
	if a := c.Arg("missing"); a != (Arg{Key: "missing"}) {
		t.Errorf("Arg(missing) = %+v", a)
	}
	if n, err := c.Arg("n").Int(); n != -3 || err != nil {
		t.Errorf("Int() = %d, %v; want the last n", n, err)
	}
	if _, err := c.Arg("bad").Int(); err == nil || err.Error() != "bad=x1: invalid syntax" {
		t.Errorf("Int() of x1: %v", err)
	}
	if _, err := c.Arg("big").Int(); err == nil || err.Error() != "big=99999999999999999999: value out of range" {
		t.Errorf("Int() of big: %v", err)
	}
	if _, err := c.Arg("missing").Int(); err == nil || err.Error() != "missing=: invalid syntax" {
		t.Errorf("Int() of missing: %v", err)
	}
	if tm, err := c.Arg("now").Time(time.RFC3339); err != nil || !tm.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Time() = %v, %v", tm, err)
	}
	if _, err := c.Arg("missing").Time(time.RFC3339); err == nil || !strings.HasPrefix(err.Error(), "missing=: parsing time") {
		t.Errorf("Time() of missing: %v", err)
	}
	if b, err := c.Arg("key").Hex(); err != nil || string(b) != "\x00\xff" {
		t.Errorf("Hex() = %x, %v", b, err)
	}
	if b, err := c.Arg("missing").Hex(); err != nil || len(b) != 0 {
		t.Errorf("Hex() of missing = %x, %v", b, err)
	}
	if _, err := c.Arg("bad").Hex(); err == nil || !strings.HasPrefix(err.Error(), "bad=x1: encoding/hex") {
		t.Errorf("Hex() of x1: %v", err)
	}
	if got := fmt.Sprint(c.Args[0], " ", c.Arg("flag")); got != "n=12 flag" {
		t.Errorf("String() = %q", got)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, text := range []string{
		script,
		"",
		"cmd\n----\n",
		"cmd\n----\n\n\n\ncmd2\n  \n----\n  \n",
		"  # indented\n\t\ncmd   a=1  b\n----\nx\n\n# end\n",
	} {
		s, err := Parse("x.txt", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(s.Format()); got != text {
			t.Errorf("Format() of %q = %q", text, got)
		}
	}
	// Newlines at the end are normalized to one.
	for text, want := range map[string]string{
		"cmd\n----\nout":            "cmd\n----\nout\n",
		"cmd\n----\nout\n\n\n":      "cmd\n----\nout\n",
		"cmd\n----\nout\n\n# c\n\n": "cmd\n----\nout\n\n# c\n",
	} {
		s, err := Parse("x.txt", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(s.Format()); got != want {
			t.Errorf("Format() of %q = %q, want %q", text, got, want)
		}
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		want, got []string
		diff      string
	}{
		{nil, nil, ""},
		{[]string{"a"}, nil, "- a"},
		{nil, []string{"a"}, "+ a"},
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}, "  a|  b|  c"},
		{[]string{"a", "b", "c"}, []string{"a", "x", "c"}, "  a|- b|+ x|  c"},
		{[]string{"a", "b", "c"}, []string{"b", "c", "d"}, "- a|  b|  c|+ d"},
		{[]string{"a", "b"}, []string{"b", "a"}, "- a|  b|+ a"},
	} {
		if got := strings.Join(diff(tc.want, tc.got), "|"); got != tc.diff {
			t.Errorf("diff(%q, %q) = %q, want %q", tc.want, tc.got, got, tc.diff)
		}
	}
}

func TestMismatch(t *testing.T) {
	c := &Case{File: "testdata/x.txt", Line: 7, Cmd: "get k=1", Expected: []string{"a", "b", "c"}}
	if msg := mismatch(c, []string{"a", "b", "c"}); msg != "" {
		t.Errorf("equal outputs: %q", msg)
	}
	want := "testdata/x.txt:7: get k=1\noutput differs (-want +got):\n  a\n- b\n+ B\n  c"
	if msg := mismatch(c, []string{"a", "B", "c"}); msg != want {
		t.Errorf("mismatch:\n%s\nwant:\n%s", msg, want)
	}
}

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()           {}
func (r *recorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(f string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(f, args...))
}

// runner returns the command implementation of the Run tests: "upper" prints its
// input in upper case, "count" the number of cases run so far, "lines" its
// input as lines of a single output.
func runner() func(c *Case) string {
	n := 0
	return func(c *Case) string {
		n++
		switch c.Name {
		case "upper":
			return strings.ToUpper(c.InputText())
		case "count":
			return fmt.Sprintf("%d\n", n) // a final newline is ignored
		case "lines":
			return c.InputText()
		}
		return "unknown " + c.Name
	}
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "s.txt")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const stale = `# upper-cases
upper
ab
cd
----
AB
XX

count
----

# empty input, empty output
upper
----
STALE

# the end
`

const fresh = `# upper-cases
upper
ab
cd
----
AB
CD

count
----
2

# empty input, empty output
upper
----

# the end
`

func TestRunCompare(t *testing.T) {
	file := writeTemp(t, stale)
	r := &recorder{TB: t}
	Run(r, file, false, runner())
	if len(r.errs) != 3 {
		t.Fatalf("errors: %q", r.errs)
	}
	for i, want := range []string{
		file + ":2: upper\noutput differs (-want +got):\n  AB\n- XX\n+ CD",
		file + ":9: count\noutput differs (-want +got):\n+ 2",
		file + ":13: upper\noutput differs (-want +got):\n- STALE",
	} {
		if r.errs[i] != want {
			t.Errorf("error %d:\n%s\nwant:\n%s", i, r.errs[i], want)
		}
	}
	if got := readFile(t, file); got != stale {
		t.Errorf("file changed without rewrite:\n%s", got)
	}

	r = &recorder{TB: t}
	Run(r, writeTemp(t, fresh), false, runner())
	if len(r.errs) != 0 {
		t.Errorf("errors: %q", r.errs)
	}
}

func TestRunRewrite(t *testing.T) {
	file := writeTemp(t, stale)
	r := &recorder{TB: t}
	Run(r, file, true, runner())
	if len(r.errs) != 0 {
		t.Fatalf("errors: %q", r.errs)
	}
	if got := readFile(t, file); got != fresh {
		t.Fatalf("rewritten:\n%s\nwant:\n%s", got, fresh)
	}

	// A second rewrite changes nothing, and a run without it passes.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	Run(r, file, true, runner())
	Run(r, file, false, runner())
	if len(r.errs) != 0 {
		t.Fatalf("errors: %q", r.errs)
	}
	if got := readFile(t, file); got != fresh {
		t.Fatalf("rewritten again:\n%s", got)
	}
	if fi, err := os.Stat(file); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("an unchanged file was written: %v", err)
	}
}

func TestRunRewriteEmptyLine(t *testing.T) {
	text := "upper\nx\n----\nX\n\nlines\na\n\nb\n----\nstale\n"
	file := writeTemp(t, text)
	r := &recorder{TB: t}
	Run(r, file, true, runner())
	want := file + ":6: lines\noutput has an empty line, which a script cannot hold:\na\n\nb"
	if len(r.errs) != 1 || r.errs[0] != want {
		t.Errorf("errors: %q, want %q", r.errs, want)
	}
	if got := readFile(t, file); got != text {
		t.Errorf("file changed:\n%s", got)
	}
}

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt", "c.md"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fresh), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	Walk(t, filepath.Join(dir, "*.txt"), func(t *testing.T, file string) {
		names = append(names, t.Name()[len("TestWalk/"):])
		Run(t, file, false, runner())
	})
	if want := []string{"a.txt", "b.txt"}; !reflect.DeepEqual(names, want) {
		t.Errorf("subtests %q, want %q", names, want)
	}
}
