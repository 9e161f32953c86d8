package compaction

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/sst"
)

// table is the content of one input table.
type table struct {
	es  []entry
	rds []sst.RangeDel
}

// runResult is a compaction's output read back.
type runResult struct {
	tables []manifest.Table
	es     []entry
	rds    []sst.RangeDel
	stats  Stats
}

// compactL0 builds l0 (newest first) as L0 tables, adds below as an older
// run when given, and compacts all of L0.
func compactL0(t *testing.T, l0 []table, below *table, now int64, opts Options) runResult {
	t.Helper()
	s := newStore()
	m := &manifest.Manifest{}
	for _, tt := range l0 {
		m.L0 = append(m.L0, s.build(t, opts.Table, tt.es, tt.rds))
	}
	if below != nil {
		m.Levels = [][]manifest.Table{{s.build(t, opts.Table, below.es, below.rds)}}
	}
	p := newPlan(m, len(m.L0), 0, 0)
	if p.Bottom != (below == nil) {
		t.Fatalf("Bottom = %t with below %v", p.Bottom, below)
	}
	p.Move = false
	out, st, err := Run(t.Context(), m, p, s.open, s.write, now, opts)
	if err != nil {
		t.Fatal(err)
	}
	res := runResult{tables: out, stats: st}
	for _, tbl := range out {
		es, rds, _ := s.contents(t, tbl)
		res.es = append(res.es, es...)
		res.rds = append(res.rds, rds...)
	}
	return res
}

func fmtEntries(es []entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s;", e)
	}
	return b.String()
}

func fmtRangeDels(rds []sst.RangeDel) string {
	var b strings.Builder
	for _, rd := range rds {
		fmt.Fprintf(&b, "[%s,%s)#%d;", rd.Start, rd.End, rd.Seq)
	}
	return b.String()
}

// counts keeps the Stats fields that describe entries.
func counts(st Stats) Stats {
	return Stats{
		EntriesIn: st.EntriesIn, EntriesOut: st.EntriesOut,
		DroppedShadowed: st.DroppedShadowed, DroppedRangeDeleted: st.DroppedRangeDeleted,
		DroppedExpired: st.DroppedExpired, ExpiredToTombstone: st.ExpiredToTombstone,
		DroppedDeleted: st.DroppedDeleted, RangeDelsOut: st.RangeDelsOut,
	}
}

type outcome struct {
	es    []entry
	rds   []sst.RangeDel
	stats Stats // counts only
}

func TestRunRules(t *testing.T) {
	const now = 1000
	// below holds an older version of every key, so that what the window
	// hides (or fails to hide) matters.
	below := &table{es: []entry{set("a", 1, 0, "below"), set("b", 2, 0, "below"), set("c", 3, 0, "below")}}
	cases := []struct {
		name string
		l0   []table // newest first
		// want is the output above below; wantBottom with nothing below.
		want, wantBottom outcome
	}{
		{
			name: "newest version wins",
			l0: []table{
				{es: []entry{set("a", 10, 0, "new")}},
				{es: []entry{set("a", 5, 0, "old"), set("b", 4, 0, "b")}},
			},
			want: outcome{
				es:    []entry{set("a", 10, 0, "new"), set("b", 4, 0, "b")},
				stats: Stats{EntriesIn: 3, EntriesOut: 2, DroppedShadowed: 1},
			},
			wantBottom: outcome{
				es:    []entry{set("a", 10, 0, "new"), set("b", 4, 0, "b")},
				stats: Stats{EntriesIn: 3, EntriesOut: 2, DroppedShadowed: 1},
			},
		},
		{
			name: "range deletion drops older entries only",
			l0: []table{
				{es: []entry{set("b", 11, 0, "b2")}, rds: []sst.RangeDel{rdel("a", "c", 10)}},
				{es: []entry{set("a", 5, 0, "a"), set("b", 6, 0, "b"), set("c", 7, 0, "c")}},
			},
			want: outcome{
				es:    []entry{set("b", 11, 0, "b2"), set("c", 7, 0, "c")},
				rds:   []sst.RangeDel{rdel("a", "c", 10)},
				stats: Stats{EntriesIn: 4, EntriesOut: 2, DroppedShadowed: 1, DroppedRangeDeleted: 1, RangeDelsOut: 1},
			},
			wantBottom: outcome{
				es:    []entry{set("b", 11, 0, "b2"), set("c", 7, 0, "c")},
				stats: Stats{EntriesIn: 4, EntriesOut: 2, DroppedShadowed: 1, DroppedRangeDeleted: 1},
			},
		},
		{
			name: "range deletion in an older table",
			l0: []table{
				{es: []entry{set("b", 20, 0, "b")}},
				{rds: []sst.RangeDel{rdel("a", "z", 15)}},
				{es: []entry{set("b", 3, 0, "old"), set("c", 4, 0, "old")}},
			},
			want: outcome{
				es:    []entry{set("b", 20, 0, "b")},
				rds:   []sst.RangeDel{rdel("a", "z", 15)},
				stats: Stats{EntriesIn: 3, EntriesOut: 1, DroppedShadowed: 1, DroppedRangeDeleted: 1, RangeDelsOut: 1},
			},
			wantBottom: outcome{
				es:    []entry{set("b", 20, 0, "b")},
				stats: Stats{EntriesIn: 3, EntriesOut: 1, DroppedShadowed: 1, DroppedRangeDeleted: 1},
			},
		},
		{
			name: "expired sets",
			l0: []table{
				{es: []entry{set("a", 10, 500, "x"), set("b", 11, now, "y"), set("c", 12, now+1, "z")}},
				{es: []entry{set("a", 5, 0, "old")}},
			},
			want: outcome{
				es: []entry{
					{sst.Key{User: []byte("a"), Seq: 10, Kind: sst.KindDelete}, 500, nil},
					{sst.Key{User: []byte("b"), Seq: 11, Kind: sst.KindDelete}, now, nil},
					set("c", 12, now+1, "z"),
				},
				stats: Stats{EntriesIn: 4, EntriesOut: 3, DroppedShadowed: 1, ExpiredToTombstone: 2},
			},
			wantBottom: outcome{
				es:    []entry{set("c", 12, now+1, "z")},
				stats: Stats{EntriesIn: 4, EntriesOut: 1, DroppedShadowed: 1, DroppedExpired: 2},
			},
		},
		{
			name: "deletes",
			l0: []table{
				{es: []entry{del("a", 10)}},
				{es: []entry{set("a", 5, 0, "old"), del("b", 4)}},
			},
			want: outcome{
				es:    []entry{del("a", 10), del("b", 4)},
				stats: Stats{EntriesIn: 3, EntriesOut: 2, DroppedShadowed: 1},
			},
			wantBottom: outcome{
				stats: Stats{EntriesIn: 3, DroppedShadowed: 1, DroppedDeleted: 2},
			},
		},
		{
			name: "overlapping range deletions are fragmented",
			l0: []table{
				{rds: []sst.RangeDel{rdel("c", "f", 20)}},
				{rds: []sst.RangeDel{rdel("a", "e", 10), rdel("b", "d", 12)}},
			},
			want: outcome{
				rds:   []sst.RangeDel{rdel("a", "b", 10), rdel("b", "c", 12), rdel("c", "f", 20)},
				stats: Stats{RangeDelsOut: 3},
			},
			wantBottom: outcome{},
		},
		{
			// A deletion below what the window holds still matters to
			// older sources.
			name: "range deletion older than the entries it spans",
			l0: []table{
				{es: []entry{set("b", 20, 0, "b")}},
				{rds: []sst.RangeDel{rdel("a", "z", 15)}},
			},
			want: outcome{
				es:    []entry{set("b", 20, 0, "b")},
				rds:   []sst.RangeDel{rdel("a", "z", 15)},
				stats: Stats{EntriesIn: 1, EntriesOut: 1, RangeDelsOut: 1},
			},
			wantBottom: outcome{
				es:    []entry{set("b", 20, 0, "b")},
				stats: Stats{EntriesIn: 1, EntriesOut: 1},
			},
		},
	}
	for _, tc := range cases {
		for _, bottom := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bottom=%t", tc.name, bottom), func(t *testing.T) {
				b, want := below, tc.want
				if bottom {
					b, want = nil, tc.wantBottom
				}
				res := compactL0(t, tc.l0, b, now, Options{})
				if g, w := fmtEntries(res.es), fmtEntries(want.es); g != w {
					t.Errorf("entries:\n got %s\nwant %s", g, w)
				}
				if g, w := fmtRangeDels(res.rds), fmtRangeDels(want.rds); g != w {
					t.Errorf("range deletions:\n got %s\nwant %s", g, w)
				}
				if g, w := counts(res.stats), want.stats; g != w {
					t.Errorf("stats:\n got %+v\nwant %+v", g, w)
				}
				if len(want.es) == 0 && len(want.rds) == 0 && len(res.tables) != 0 {
					t.Errorf("%d output tables for no content", len(res.tables))
				}
			})
		}
	}
}

// TestRunClipsRangeDeletions splits the output of a wide range deletion
// into several tables and checks that each holds exactly the part of the
// deletion within its span, which ends at the next table's first key.
func TestRunClipsRangeDeletions(t *testing.T) {
	var es []entry
	for i := range 200 {
		es = append(es, set(fmt.Sprintf("k%03d", i), uint64(100+i), 0, strings.Repeat("v", 40)))
	}
	l0 := []table{
		{es: es},
		{rds: []sst.RangeDel{rdel("a", "z", 5), rdel("k050", "k150", 7)}},
	}
	below := &table{es: []entry{set("k010", 1, 0, "below")}}
	opts := Options{TargetTableSize: 2 << 10, Table: sst.WriterOptions{BlockSize: 256, DisableCompression: true}}
	res := compactL0(t, l0, below, 0, opts)
	if len(res.tables) < 4 {
		t.Fatalf("%d output tables, want several", len(res.tables))
	}
	out := res.tables
	if g := string(out[0].Smallest); g != "a" {
		t.Errorf("first table starts at %q, want the deletion's start", g)
	}
	if g := string(out[len(out)-1].Largest); g != "z" {
		t.Errorf("last table ends at %q, want the deletion's end", g)
	}
	for i := 0; i+1 < len(out); i++ {
		if !bytes.Equal(out[i].Largest, out[i+1].Smallest) {
			t.Errorf("table %d ends at %q, table %d starts at %q: want the exclusive deletion end at the split",
				i, out[i].Largest, i+1, out[i+1].Smallest)
		}
		if out[i].NumRangeDels == 0 {
			t.Errorf("table %d has no range deletion", i)
		}
	}
	// Reassembled, the fragments are the deletions, fragmented.
	want := []sst.RangeDel{rdel("a", "k050", 5), rdel("k050", "k150", 7), rdel("k150", "z", 5)}
	if g, w := fmtRangeDels(coalesce(res.rds)), fmtRangeDels(want); g != w {
		t.Errorf("range deletions:\n got %s\nwant %s", g, w)
	}
}

// coalesce joins adjacent range deletions with the same Seq.
func coalesce(rds []sst.RangeDel) []sst.RangeDel {
	var out []sst.RangeDel
	for _, rd := range rds {
		if n := len(out); n > 0 && out[n-1].Seq == rd.Seq && bytes.Equal(out[n-1].End, rd.Start) {
			out[n-1].End = rd.End
			continue
		}
		out = append(out, rd)
	}
	return out
}

func TestFragment(t *testing.T) {
	rds := []sst.RangeDel{rdel("a", "e", 10), rdel("c", "g", 5), rdel("c", "d", 20), rdel("x", "y", 1), rdel("a", "b", 3)}
	cases := []struct {
		lo, hi string // "" is unbounded
		want   []sst.RangeDel
	}{
		{"", "", []sst.RangeDel{rdel("a", "c", 10), rdel("c", "d", 20), rdel("d", "e", 10), rdel("e", "g", 5), rdel("x", "y", 1)}},
		{"b", "f", []sst.RangeDel{rdel("b", "c", 10), rdel("c", "d", 20), rdel("d", "e", 10), rdel("e", "f", 5)}},
		{"e", "", []sst.RangeDel{rdel("e", "g", 5), rdel("x", "y", 1)}},
		{"", "a", nil},
		{"g", "x", nil},
	}
	bound := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	for _, tc := range cases {
		if g, w := fmtRangeDels(fragment(rds, bound(tc.lo), bound(tc.hi))), fmtRangeDels(tc.want); g != w {
			t.Errorf("fragment [%q, %q):\n got %s\nwant %s", tc.lo, tc.hi, g, w)
		}
	}
	// Nested deletions sharing a start, as repeated trims of one stream
	// make, collapse to the newest.
	var nested []sst.RangeDel
	for i := range 1000 {
		nested = append(nested, rdel("s/", fmt.Sprintf("s/%04d", i+1), uint64(i+1)))
	}
	if g, w := fmtRangeDels(fragment(nested, nil, nil)), fmtRangeDels([]sst.RangeDel{rdel("s/", "s/1000", 1000)}); g != w {
		t.Errorf("nested: got %s, want %s", g, w)
	}
}

// ---- Randomized model test ----

const modelKeys = 150

func modelKey(i int) string { return fmt.Sprintf("k%03d", i) }

// genOps returns n random operations with the next sequence numbers.
func genOps(rng *rand.Rand, seq *uint64, n int) table {
	var tt table
	for range n {
		*seq++
		k := modelKey(rng.IntN(modelKeys))
		if rng.IntN(4) == 0 {
			k += "a" // between a key and a deletion ending at key+"x"
		}
		switch r := rng.IntN(100); {
		case r < 70:
			var expiry int64
			switch rng.IntN(6) {
			case 0:
				expiry = 500 // expired at 1000
			case 1:
				expiry = 1000 // expires exactly at 1000
			case 2:
				expiry = 1500 // live at 1000, expired at 2000
			}
			v := strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(40))
			tt.es = append(tt.es, set(k, *seq, expiry, fmt.Sprintf("%d:%s", *seq, v)))
		case r < 88:
			tt.es = append(tt.es, del(k, *seq))
		default:
			a := rng.IntN(modelKeys)
			start := modelKey(a)
			if rng.IntN(3) == 0 {
				start += "x" // between keys
			}
			end := modelKey(a + 1 + rng.IntN(15))
			if rng.IntN(3) == 0 {
				end += "x"
			}
			tt.rds = append(tt.rds, rdel(start, end, *seq))
		}
	}
	return tt
}

// genRun returns the ops of one source spread over up to maxTables tables
// split at random keys, range deletions clipped at the splits, as a
// compaction would leave them.
func genRun(rng *rand.Rand, seq *uint64, n, maxTables int) []table {
	all := genOps(rng, seq, n)
	var cuts []string
	for range rng.IntN(maxTables) {
		cuts = append(cuts, modelKey(rng.IntN(modelKeys)))
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []table
	for j := 0; j <= len(cuts); j++ {
		lo, hi := "", "\xff"
		if j > 0 {
			lo = cuts[j-1]
		}
		if j < len(cuts) {
			hi = cuts[j]
		}
		var tt table
		for _, e := range all.es {
			if k := string(e.key.User); lo <= k && k < hi {
				tt.es = append(tt.es, e)
			}
		}
		for _, rd := range all.rds {
			s, e := max(string(rd.Start), lo), min(string(rd.End), hi)
			if s < e {
				tt.rds = append(tt.rds, rdel(s, e, rd.Seq))
			}
		}
		if len(tt.es) > 0 || len(tt.rds) > 0 {
			out = append(out, tt)
		}
	}
	return out
}

// reader reads a tree's tables through a store, the way the engine does.
type reader struct {
	t        *testing.T
	s        *store
	rs       map[tableID]*sst.Reader
	contents map[tableID]table
	probes   []string // keys visible looks up; nil: the model's
}

type tableID struct{ epoch, num uint64 }

func idOf(t manifest.Table) tableID { return tableID{t.Epoch, t.FileNum} }

func newReader(t *testing.T, s *store) *reader {
	return &reader{t: t, s: s, rs: map[tableID]*sst.Reader{}, contents: map[tableID]table{}}
}

func (r *reader) read(tbl manifest.Table) table {
	c, ok := r.contents[idOf(tbl)]
	if !ok {
		c.es, c.rds, _ = r.s.contents(r.t, tbl)
		r.contents[idOf(tbl)] = c
	}
	return c
}

func (r *reader) open(tbl manifest.Table) *sst.Reader {
	if rd, ok := r.rs[idOf(tbl)]; ok {
		return rd
	}
	rd, err := r.s.open(r.t.Context(), tbl)
	if err != nil {
		r.t.Fatal(err)
	}
	r.rs[idOf(tbl)] = rd
	return rd
}

func maxSeq(rds []sst.RangeDel, key []byte) uint64 {
	var s uint64
	for _, rd := range rds {
		if bytes.Compare(rd.Start, key) <= 0 && bytes.Compare(key, rd.End) < 0 {
			s = max(s, rd.Seq)
		}
	}
	return s
}

func live(e entry, now int64) bool {
	return e.key.Kind == sst.KindSet && (e.expiry == 0 || e.expiry > now)
}

// scan is the reference for the engine's iterator: the newest version of
// each key over all tables, hidden if it is a tombstone, has expired, or
// is covered by a range deletion with a higher sequence number.
func (r *reader) scan(m *manifest.Manifest, now int64) map[string]string {
	newest := map[string]entry{}
	var rds []sst.RangeDel
	for _, tbl := range m.Tables() {
		c := r.read(tbl)
		rds = append(rds, c.rds...)
		for _, e := range c.es {
			if n, ok := newest[string(e.key.User)]; !ok || e.key.Seq > n.key.Seq {
				newest[string(e.key.User)] = e
			}
		}
	}
	out := map[string]string{}
	for k, e := range newest {
		if maxSeq(rds, e.key.User) < e.key.Seq && live(e, now) {
			out[k] = string(e.value)
		}
	}
	return out
}

// get is the reference for the engine's Get: sources newest first, one
// table per run found by Smallest, the first source that holds the key or
// a deletion covering it decides.
func (r *reader) get(m *manifest.Manifest, key []byte, now int64) (string, bool) {
	check := func(tbl manifest.Table) (done bool, v string, ok bool) {
		if bytes.Compare(key, tbl.Smallest) < 0 || bytes.Compare(key, tbl.Largest) > 0 {
			return false, "", false
		}
		rd := r.open(tbl)
		tomb := maxSeq(rd.RangeDels(), key)
		k, expiry, value, found, err := rd.Get(r.t.Context(), key, sst.MaxSeq)
		if err != nil {
			r.t.Fatal(err)
		}
		switch {
		case found && tomb < k.Seq:
			if !live(entry{k, expiry, value}, now) {
				return true, "", false
			}
			return true, string(value), true
		case found || tomb > 0:
			return true, "", false
		}
		return false, "", false
	}
	for _, tbl := range m.L0 {
		if done, v, ok := check(tbl); done {
			return v, ok
		}
	}
	for _, run := range m.Levels {
		i := sort.Search(len(run), func(i int) bool { return bytes.Compare(run[i].Smallest, key) > 0 }) - 1
		if i < 0 {
			continue
		}
		if done, v, ok := check(run[i]); done {
			return v, ok
		}
	}
	return "", false
}

// visible returns what m holds at now, after checking that a scan and
// lookups of every written key, keys between them and keys beyond them
// agree. The keys looked up are r.probes, or else the model's keys.
func (r *reader) visible(m *manifest.Manifest, now int64) map[string]string {
	want := r.scan(m, now)
	probes := r.probes
	if probes == nil {
		for i := -1; i <= modelKeys+16; i++ {
			k := modelKey(i)
			probes = append(probes, k, k+"a", k+"x")
		}
	}
	for _, k := range probes {
		v, ok := r.get(m, []byte(k), now)
		if w, wok := want[k]; ok != wok || v != w {
			r.t.Fatalf("key %q: Get rule gives %q, %t; scan gives %q, %t", k, v, ok, w, wok)
		}
	}
	return want
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func diffMap(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			out = append(out, fmt.Sprintf("%s: %q vs %q(%t)", k, v, w, ok))
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: missing vs %q", k, w))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// expectedCounts derives the entry counts of Stats from the window's
// content.
func expectedCounts(window []table, bottom bool, now int64) Stats {
	var st Stats
	var rds []sst.RangeDel
	byKey := map[string][]entry{}
	for _, tt := range window {
		rds = append(rds, tt.rds...)
		for _, e := range tt.es {
			byKey[string(e.key.User)] = append(byKey[string(e.key.User)], e)
		}
	}
	for _, es := range byKey {
		st.EntriesIn += int64(len(es))
		st.DroppedShadowed += int64(len(es) - 1)
		n := slices.MaxFunc(es, func(a, b entry) int { return sst.Compare(b.key, a.key) })
		switch {
		case maxSeq(rds, n.key.User) > n.key.Seq:
			st.DroppedRangeDeleted++
		case n.key.Kind == sst.KindSet && n.expiry != 0 && n.expiry <= now:
			if bottom {
				st.DroppedExpired++
			} else {
				st.ExpiredToTombstone++
				st.EntriesOut++
			}
		case n.key.Kind == sst.KindDelete && bottom:
			st.DroppedDeleted++
		default:
			st.EntriesOut++
		}
	}
	return st
}

// checkOutput checks the shape of an output run. passed holds the input
// tables Run passed through.
func checkOutput(t *testing.T, s *store, out []manifest.Table, passed map[tableID]bool, bottom bool, minSeq, maxSeq uint64, opts Options) {
	t.Helper()
	partition := func(k []byte) string {
		if opts.Partition == nil {
			return ""
		}
		return string(opts.Partition(k))
	}
	for i, tbl := range out {
		es, rds, props := s.contents(t, tbl)
		if len(es) == 0 && len(rds) == 0 {
			t.Fatalf("table %d is empty", i)
		}
		if int64(len(s.objs[tbl.ObjectKey()])) != tbl.Size || props.NumEntries != uint64(len(es)) ||
			props.NumRangeDels != uint64(len(rds)) || tbl.NumEntries != props.NumEntries ||
			!bytes.Equal(tbl.Smallest, props.SmallestKey) || !bytes.Equal(tbl.Largest, props.LargestKey) {
			t.Fatalf("table %d: manifest entry %+v does not match its properties %s", i, tbl, props)
		}
		if props.MinSeq < minSeq || props.MaxSeq > maxSeq {
			t.Fatalf("table %d: sequence range [%d, %d] outside the window's [%d, %d]", i, props.MinSeq, props.MaxSeq, minSeq, maxSeq)
		}
		// Fragments are disjoint and sorted.
		for j := 1; j < len(rds); j++ {
			if bytes.Compare(rds[j-1].End, rds[j].Start) > 0 {
				t.Fatalf("table %d: range deletions %v and %v overlap", i, rds[j-1], rds[j])
			}
		}
		if passed[idOf(tbl)] {
			// An input table as it was: only what Run checked for.
			if len(rds) > 0 || (bottom && props.NumDeletes > 0) {
				t.Fatalf("passthrough table %d has %d range deletions and %d deletes", i, len(rds), props.NumDeletes)
			}
		} else {
			// One version per key, of one partition.
			for j := 1; j < len(es); j++ {
				if bytes.Equal(es[j-1].key.User, es[j].key.User) {
					t.Fatalf("table %d: two versions of %q", i, es[j].key.User)
				}
				if p, q := partition(es[0].key.User), partition(es[j].key.User); p != q {
					t.Fatalf("table %d holds partitions %q and %q", i, p, q)
				}
			}
			if bottom && (len(rds) > 0 || props.NumDeletes > 0) {
				t.Fatalf("table %d at the bottom has %d range deletions and %d deletes", i, len(rds), props.NumDeletes)
			}
		}
		for _, e := range es {
			if e.key.Kind == sst.KindSet && e.expiry != 0 && e.expiry <= 1000 {
				t.Fatalf("table %d holds the expired set %s", i, e)
			}
		}
		if i+1 < len(out) {
			// Non-overlapping: everything in this table is below the next
			// table's first key, which is a point key.
			next := out[i+1].Smallest
			nextPassed := passed[idOf(out[i+1])]
			if len(es) == 0 && !nextPassed {
				// Only a passthrough table cuts a table before a point key.
				t.Fatalf("table %d, not the last, has no point entry", i)
			}
			if (len(es) > 0 && bytes.Compare(es[len(es)-1].key.User, next) >= 0) || (len(rds) > 0 && bytes.Compare(rds[len(rds)-1].End, next) > 0) {
				t.Fatalf("table %d [%q, %q] overlaps table %d starting at %q", i, tbl.Smallest, tbl.Largest, i+1, next)
			}
			// Tables are cut at point keys. Only after a passthrough table
			// may the next start with a range deletion: its span begins
			// after the passthrough table's last key.
			nes, _, _ := s.contents(t, out[i+1])
			if !passed[idOf(tbl)] && (len(nes) == 0 || !bytes.Equal(nes[0].key.User, next)) {
				t.Fatalf("table %d does not start with a point key", i+1)
			}
			// Split near the target: not before it, unless at a partition
			// boundary or a passthrough table; not long after.
			early := passed[idOf(tbl)] || nextPassed || len(es) == 0 || partition(es[len(es)-1].key.User) != partition(next)
			if !early && tbl.Size < opts.TargetTableSize/2 {
				t.Fatalf("table %d is %d bytes, split well before the target %d", i, tbl.Size, opts.TargetTableSize)
			}
		}
		if limit := opts.TargetTableSize + 1024 + 64*int64(len(rds)); tbl.Size > limit && !passed[idOf(tbl)] {
			t.Fatalf("table %d is %d bytes, over the target %d", i, tbl.Size, opts.TargetTableSize)
		}
	}
}

// passedThrough returns the output tables that are input tables.
func passedThrough(inputs, out []manifest.Table) map[tableID]bool {
	in := map[tableID]bool{}
	for _, tbl := range inputs {
		in[idOf(tbl)] = true
	}
	passed := map[tableID]bool{}
	for _, tbl := range out {
		if in[idOf(tbl)] {
			passed[idOf(tbl)] = true
		}
	}
	return passed
}

// checkStats checks Run's Stats against the window's content: the merged
// tables' entries follow the merge rules, the passthrough tables' count as
// written.
func checkStats(t *testing.T, st Stats, window []table, inputs, out []manifest.Table, passed map[tableID]bool, bottom bool, now int64) {
	t.Helper()
	var merged []table
	var passedEntries, inBytes, passedBytes, outBytes int64
	for i, tbl := range inputs {
		inBytes += tbl.Size
		if passed[idOf(tbl)] {
			passedEntries += int64(tbl.NumEntries)
			passedBytes += tbl.Size
			continue
		}
		merged = append(merged, window[i])
	}
	for _, tbl := range out {
		if !passed[idOf(tbl)] {
			outBytes += tbl.Size
		}
	}
	w := expectedCounts(merged, bottom, now)
	w.EntriesIn += passedEntries
	w.EntriesOut += passedEntries
	if g := counts(st); g.EntriesIn != w.EntriesIn || g.EntriesOut != w.EntriesOut ||
		g.DroppedShadowed != w.DroppedShadowed || g.DroppedRangeDeleted != w.DroppedRangeDeleted ||
		g.DroppedExpired != w.DroppedExpired || g.ExpiredToTombstone != w.ExpiredToTombstone || g.DroppedDeleted != w.DroppedDeleted {
		t.Fatalf("stats:\n got %+v\nwant %+v", g, w)
	}
	if st.InputTables != len(inputs) || st.BytesRead != inBytes-passedBytes || st.OutputTables != len(out) ||
		st.BytesWritten != outBytes || st.PassthroughTables != len(passed) || st.PassthroughBytes != passedBytes {
		t.Fatalf("stats %+v: want %d input tables of %d bytes, %d output tables of which %d passed through (%d bytes), %d bytes written",
			st, len(inputs), inBytes, len(out), len(passed), passedBytes, outBytes)
	}
}

func TestRunModel(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		for _, bottom := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed=%d/bottom=%t", seed, bottom), func(t *testing.T) {
				testRunModel(t, uint64(seed), bottom)
			})
		}
	}
}

func testRunModel(t *testing.T, seed uint64, bottom bool) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const now = 1000
	opts := Options{
		TargetTableSize: []int64{512, 2 << 10, 1 << 20}[rng.IntN(3)],
		Table:           sst.WriterOptions{BlockSize: []int{64, 256, 4096}[rng.IntN(3)]},
		// Ten keys a partition, one, or none.
		Partition: []func([]byte) []byte{nil, FixedPrefix(3), FixedPrefix(4)}[rng.IntN(3)],
	}
	s := newStore()
	m := &manifest.Manifest{}
	var seq uint64
	build := func(ts []table) []manifest.Table {
		var out []manifest.Table
		for _, tt := range ts {
			out = append(out, s.build(t, opts.Table, tt.es, tt.rds))
		}
		return out
	}

	// Oldest first, so sequence numbers grow towards the newest source.
	var belowRun []manifest.Table
	if !bottom {
		belowRun = build(genRun(rng, &seq, 1+rng.IntN(200), 3))
	}
	nRuns, nL0 := rng.IntN(4), rng.IntN(5)
	if nRuns+nL0 == 0 {
		nL0 = 1
	}
	// window holds the content of the tables of p.Inputs(m), in its order:
	// newest source first.
	var window []table
	windowMin := seq + 1
	for range nRuns {
		ts := genRun(rng, &seq, 1+rng.IntN(300), 4)
		window = append(slices.Clone(ts), window...)
		m.Levels = append([][]manifest.Table{build(ts)}, m.Levels...)
	}
	for range nL0 {
		tt := genOps(rng, &seq, 1+rng.IntN(150))
		window = append([]table{tt}, window...)
		m.L0 = append(build([]table{tt}), m.L0...)
	}
	if belowRun != nil {
		m.Levels = append(m.Levels, belowRun)
	}

	p := newPlan(m, nL0, 0, nRuns)
	if p.Bottom != bottom {
		t.Fatalf("Bottom = %t, want %t", p.Bottom, bottom)
	}
	p.Move = false // rewrite even when a move would do, to test the merge
	out, st, err := Run(t.Context(), m, p, s.open, s.write, now, opts)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Apply(m, p, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.L0) != 0 || len(after.Levels) != btoi(len(out) > 0)+btoi(!bottom) {
		t.Fatalf("after Apply: %v", layout(after))
	}

	// What is visible is unchanged, now and later.
	r := newReader(t, s)
	for _, at := range []int64{now, 1499, 1500, 2000} {
		before, got := r.visible(m, at), r.visible(after, at)
		if !sameMap(before, got) {
			t.Fatalf("at %d, visible before vs after compaction:\n%s", at, diffMap(before, got))
		}
	}

	inputs := p.Inputs(m)
	for i, tbl := range inputs {
		if i >= len(window) || int(tbl.NumEntries) != len(window[i].es) {
			t.Fatalf("window content does not follow the inputs' order")
		}
	}
	passed := passedThrough(inputs, out)
	checkOutput(t, s, out, passed, bottom, windowMin, seq, opts)
	checkStats(t, st, window, inputs, out, passed, bottom, now)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRunOpensTables checks that every input table is opened at most once,
// in key order, and that tables passed through are not opened at all but
// at the bottom, where their properties must show no tombstones.
func TestRunOpensTables(t *testing.T) {
	for _, bottom := range []bool{false, true} {
		t.Run(fmt.Sprintf("bottom=%t", bottom), func(t *testing.T) {
			s := newStore()
			var run []manifest.Table
			for i := range 5 {
				run = append(run, s.build(t, sst.WriterOptions{}, []entry{set(modelKey(i), uint64(i+1), 0, "v")}, nil))
			}
			l0 := s.build(t, sst.WriterOptions{}, []entry{set(modelKey(2), 10, 0, "new")}, nil)
			m := &manifest.Manifest{L0: []manifest.Table{l0}, Levels: [][]manifest.Table{run}}
			if !bottom {
				m.Levels = append(m.Levels, []manifest.Table{s.build(t, sst.WriterOptions{}, []entry{set("z", 0, 0, "below")}, nil)})
			}
			p := newPlan(m, 1, 0, 1)
			p.Move = false
			var opened []manifest.Table
			open := func(ctx context.Context, tbl manifest.Table) (*sst.Reader, error) {
				opened = append(opened, tbl)
				return s.open(ctx, tbl)
			}
			out, st, err := Run(t.Context(), m, p, open, s.write, 0, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := []uint64{3, 6} // the two tables holding k002
			if bottom {
				want = []uint64{1, 2, 3, 4, 5, 6}
			}
			if g := fileNums(opened); !slices.Equal(slices.Sorted(slices.Values(g)), want) {
				t.Fatalf("opened %v, want %v once each", g, want)
			}
			if !slices.IsSortedFunc(opened, func(a, b manifest.Table) int { return bytes.Compare(a.Smallest, b.Smallest) }) {
				t.Fatalf("opened %v, not in key order", fileNums(opened))
			}
			if g := fileNums(out); len(g) != 5 || !slices.Equal(g[:2], []uint64{1, 2}) || !slices.Equal(g[3:], []uint64{4, 5}) {
				t.Fatalf("output tables %v, want 1, 2, a new one, 4, 5", g)
			}
			if st.PassthroughTables != 4 || st.OutputTables != 5 || st.BytesRead != l0.Size+run[2].Size {
				t.Fatalf("stats %+v", st)
			}
			es, _, _ := s.contents(t, out[2])
			if g, w := fmtEntries(es), fmtEntries([]entry{set("k002", 10, 0, "new")}); g != w {
				t.Fatalf("got %s, want %s", g, w)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	// Tables of many small blocks, so iterators are reading ahead when the
	// failure strikes; goleak then checks that they were all closed.
	wopts := sst.WriterOptions{BlockSize: 64}
	// Two L0 tables over k000..k299 above a run of three tables.
	setup := func() (*store, *manifest.Manifest, *Plan) {
		s := newStore()
		m := &manifest.Manifest{Levels: [][]manifest.Table{nil}}
		for j := range 3 {
			var es []entry
			for i := 100 * j; i < 100*(j+1); i++ {
				es = append(es, set(modelKey(i), uint64(1+i), 0, strings.Repeat("x", 20)))
			}
			m.Levels[0] = append(m.Levels[0], s.build(t, wopts, es, nil))
		}
		for j := range 2 {
			var es []entry
			for i := range 300 {
				es = append(es, set(modelKey(i), uint64(1000*(2-j)+i), 0, strings.Repeat("x", 20)))
			}
			m.L0 = append(m.L0, s.build(t, wopts, es, nil))
		}
		p := newPlan(m, 2, 0, 1)
		p.Move = false
		return s, m, p
	}
	opts := Options{TargetTableSize: 1 << 10, Table: wopts}

	t.Run("open fails", func(t *testing.T) {
		s, m, p := setup()
		boom := errors.New("boom")
		n := 0
		open := func(ctx context.Context, tbl manifest.Table) (*sst.Reader, error) {
			// The run's second table, opened mid-merge.
			if n++; n == 4 {
				return nil, boom
			}
			return s.open(ctx, tbl)
		}
		if _, _, err := Run(t.Context(), m, p, open, s.write, 0, opts); !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want %v", err, boom)
		}
	})
	t.Run("write fails", func(t *testing.T) {
		s, m, p := setup()
		boom := errors.New("boom")
		n := 0
		write := func(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error) {
			if n++; n == 3 {
				return manifest.Table{}, boom
			}
			return s.write(ctx, data, props)
		}
		if _, _, err := Run(t.Context(), m, p, s.open, write, 0, opts); !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want %v", err, boom)
		}
	})
	t.Run("read fails", func(t *testing.T) {
		s, m, p := setup()
		// Corrupt the middle of one table's data.
		data := s.objs[m.L0[1].ObjectKey()]
		data[len(data)/3] ^= 0xff
		if _, _, err := Run(t.Context(), m, p, s.open, s.write, 0, opts); !errors.Is(err, sst.ErrCorrupt) {
			t.Fatalf("Run = %v, want %v", err, sst.ErrCorrupt)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		s, m, p := setup()
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		write := func(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error) {
			if n++; n == 2 {
				cancel()
			}
			return s.write(ctx, data, props)
		}
		if _, _, err := Run(ctx, m, p, s.open, write, 0, opts); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want %v", err, context.Canceled)
		}
	})
	t.Run("stale manifest", func(t *testing.T) {
		s, m, p := setup()
		m2 := m.Clone()
		m2.L0 = m2.L0[:1]
		if _, _, err := Run(t.Context(), m2, p, s.open, s.write, 0, opts); !errors.Is(err, ErrStale) {
			t.Fatalf("Run = %v, want ErrStale", err)
		}
	})
}

// TestRunReusesTableBuffer: consecutive output tables are built in one
// buffer (the Writer contract says data is valid only during the call), and
// every table written that way still reads back correctly.
func TestRunReusesTableBuffer(t *testing.T) {
	wopts := sst.WriterOptions{BlockSize: 256}
	s := newStore()
	m := &manifest.Manifest{}
	for j := range 2 {
		var es []entry
		for i := range 300 {
			es = append(es, set(modelKey(i), uint64(1000*(2-j)+i), 0, strings.Repeat("x", 20)))
		}
		m.L0 = append(m.L0, s.build(t, wopts, es, nil))
	}
	p := newPlan(m, 2, 0, 0)
	p.Move = false
	var first *byte
	reused := 0
	write := func(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error) {
		if first == nil {
			first = &data[:1][0]
		} else if &data[:1][0] == first {
			reused++
		}
		return s.write(ctx, data, props)
	}
	out, _, err := Run(t.Context(), m, p, s.open, write, 0, Options{TargetTableSize: 2 << 10, Table: wopts})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 3 || reused != len(out)-1 {
		t.Fatalf("%d output tables, %d built in the first table's buffer", len(out), reused)
	}
	for _, tb := range out {
		r, err := s.open(t.Context(), tb)
		if err != nil {
			t.Fatal(err)
		}
		it := r.NewIter(t.Context())
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		if err := it.Close(); err != nil || uint64(n) != tb.NumEntries {
			t.Fatalf("table %s: %d entries read of %d, %v", tb.ObjectKey(), n, tb.NumEntries, err)
		}
	}
}
