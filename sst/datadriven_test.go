package sst

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata expectations with actual output")

// A testdata script is a sequence of cases separated by blank lines:
//
//	command [arg=value ...]
//	input lines
//	----
//	expected output lines
//
// Commands:
//
//	build [block-size=N] [restart-interval=N] [compression=on|off]
//	    input: "user.SET.seq:value", "user.DEL.seq", optionally followed by
//	    " exp=N", or "rangedel start end seq". Prints the properties.
//	iter
//	    input: "first", "next" or "seek-ge user"; prints the entry or "."
//	get
//	    input: "user seq"; prints the entry or "not found"
//	rangedels
//	    prints the table's range deletions.
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
	comments []string // comment lines before the case, kept by -rewrite
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

func runScript(t *testing.T, file string) {
	var (
		r   *Reader
		out strings.Builder
	)
	for _, c := range parseScript(t, file) {
		fields := strings.Fields(c.cmd)
		var got []string
		switch fields[0] {
		case "build":
			var err error
			r, got, err = scriptBuild(fields[1:], c.input)
			if err != nil {
				got = []string{"error: " + err.Error()}
			}
		case "iter", "get", "rangedels":
			if r == nil {
				t.Fatalf("%s:%d: %s before build", file, c.line, fields[0])
			}
			got = scriptRead(t, r, fields[0], c.input)
		default:
			t.Fatalf("%s:%d: unknown command %q", file, c.line, fields[0])
		}
		if *rewrite {
			for _, l := range c.comments {
				fmt.Fprintf(&out, "%s\n", l)
			}
			fmt.Fprintf(&out, "%s\n", strings.Join(append([]string{c.cmd}, c.input...), "\n"))
			fmt.Fprintf(&out, "----\n%s\n\n", strings.Join(got, "\n"))
			continue
		}
		if g, w := strings.Join(got, "\n"), strings.Join(c.expected, "\n"); g != w {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, c.line, c.cmd, g, w)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func scriptBuild(args, input []string) (*Reader, []string, error) {
	var opts WriterOptions
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "block-size":
			opts.BlockSize, err = strconv.Atoi(v)
		case "restart-interval":
			opts.RestartInterval, err = strconv.Atoi(v)
		case "compression":
			opts.DisableCompression = v == "off"
		default:
			err = fmt.Errorf("unknown argument %q", a)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	w := NewWriter(opts)
	for _, l := range input {
		if err := scriptAdd(w, l); err != nil {
			return nil, nil, err
		}
	}
	b, _, err := w.Finish()
	if err != nil {
		return nil, nil, err
	}
	r, err := Open(context.Background(), newMemObject(b), ReaderOptions{})
	if err != nil {
		return nil, nil, err
	}
	p := r.Properties()
	return r, []string{
		fmt.Sprintf("keys=[%s,%s] seqs=[%d,%d] entries=%d deletes=%d rangedels=%d blocks=%d",
			p.SmallestKey, p.LargestKey, p.MinSeq, p.MaxSeq, p.NumEntries, p.NumDeletes, p.NumRangeDels, p.NumDataBlocks),
		fmt.Sprintf("expiry=[%d,%d] without-expiry=%d raw-key=%d raw-value=%d",
			p.MinExpiry, p.MaxExpiry, p.NumWithoutExpiry, p.RawKeyBytes, p.RawValueBytes),
	}, nil
}

func scriptAdd(w *Writer, l string) error {
	if rest, ok := strings.CutPrefix(l, "rangedel "); ok {
		f := strings.Fields(rest)
		if len(f) != 3 {
			return fmt.Errorf("bad rangedel %q", l)
		}
		seq, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return err
		}
		return w.AddRangeDel(RangeDel{Start: []byte(f[0]), End: []byte(f[1]), Seq: seq})
	}
	var expiry int64
	if i := strings.LastIndex(l, " exp="); i >= 0 {
		var err error
		if expiry, err = strconv.ParseInt(l[i+len(" exp="):], 10, 64); err != nil {
			return err
		}
		l = l[:i]
	}
	keyPart, value, _ := strings.Cut(l, ":")
	f := strings.Split(keyPart, ".")
	if len(f) != 3 {
		return fmt.Errorf("bad key %q", keyPart)
	}
	seq, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return err
	}
	k := Key{User: []byte(f[0]), Seq: seq}
	switch f[1] {
	case "SET":
		k.Kind = KindSet
	case "DEL":
		k.Kind = KindDelete
	default:
		return fmt.Errorf("bad kind %q", f[1])
	}
	return w.Add(k, expiry, []byte(value))
}

func formatEntry(k Key, expiry int64, value []byte) string {
	s := fmt.Sprintf("%s.%s.%d", k.User, k.Kind, k.Seq)
	if k.Kind == KindSet {
		s += ":" + string(value)
	}
	if expiry != 0 {
		s += fmt.Sprintf(" exp=%d", expiry)
	}
	return s
}

func scriptRead(t *testing.T, r *Reader, cmd string, input []string) []string {
	ctx := context.Background()
	var out []string
	switch cmd {
	case "rangedels":
		for _, rd := range r.RangeDels() {
			out = append(out, fmt.Sprintf("%s-%s.%d", rd.Start, rd.End, rd.Seq))
		}
	case "get":
		for _, l := range input {
			user, seqStr, _ := strings.Cut(l, " ")
			seq, err := strconv.ParseUint(seqStr, 10, 64)
			if err != nil {
				t.Fatalf("bad get %q", l)
			}
			k, exp, v, ok, err := r.Get(ctx, []byte(user), seq)
			switch {
			case err != nil:
				out = append(out, "error: "+err.Error())
			case !ok:
				out = append(out, "not found")
			default:
				out = append(out, formatEntry(k, exp, v))
			}
		}
	case "iter":
		it := r.NewIter(ctx)
		for _, l := range input {
			var ok bool
			switch f := strings.Fields(l); f[0] {
			case "first":
				ok = it.First()
			case "next":
				ok = it.Next()
			case "seek-ge":
				ok = it.SeekGE([]byte(strings.TrimPrefix(l, "seek-ge ")))
			default:
				t.Fatalf("bad iter op %q", l)
			}
			if ok {
				out = append(out, formatEntry(it.Key(), it.Expiry(), it.Value()))
			} else {
				out = append(out, ".")
			}
		}
		if err := it.Close(); err != nil {
			out = append(out, "error: "+err.Error())
		}
	}
	return out
}
