package sst

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/internal/datadriven"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata expectations with actual output")

// TestDataDriven runs the scripts in testdata (format in package
// internal/datadriven); -rewrite records the actual outputs in them. A
// file's cases share the table of its last build. Commands:
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
	datadriven.Walk(t, "testdata/*.txt", func(t *testing.T, file string) {
		var r *Reader
		datadriven.Run(t, file, *rewrite, func(c *datadriven.Case) string {
			var got []string
			switch c.Name {
			case "build":
				var err error
				r, got, err = scriptBuild(c.Args, c.Input)
				if err != nil {
					got = []string{"error: " + err.Error()}
				}
			case "iter", "get", "rangedels":
				if r == nil {
					t.Fatalf("%s: %s before build", c.Pos(), c.Name)
				}
				got = scriptRead(t, r, c.Name, c.Input)
			default:
				t.Fatalf("%s: unknown command %q", c.Pos(), c.Name)
			}
			return strings.Join(got, "\n")
		})
	})
}

func scriptBuild(args []datadriven.Arg, input []string) (*Reader, []string, error) {
	var opts WriterOptions
	for _, a := range args {
		var err error
		switch a.Key {
		case "block-size":
			opts.BlockSize, err = a.Int()
		case "restart-interval":
			opts.RestartInterval, err = a.Int()
		case "compression":
			opts.DisableCompression = a.Value == "off"
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
