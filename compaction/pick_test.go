package compaction

import (
	"fmt"
	"slices"
	"testing"

	"github.com/s2lite/s2lite/manifest"
)

// tb describes a table for the policy, which only looks at metadata.
func tb(num uint64, smallest, largest string, size int64) manifest.Table {
	return manifest.Table{
		FileNum: num, Epoch: 1, Size: size,
		Smallest: []byte(smallest), Largest: []byte(largest),
		NumEntries: 1, NumWithoutExpiry: 1,
	}
}

// expiring makes every entry of t expire at maxExpiry.
func expiring(t manifest.Table, maxExpiry int64) manifest.Table {
	t.NumWithoutExpiry, t.MinExpiry, t.MaxExpiry = 0, maxExpiry, maxExpiry
	return t
}

func fileNums(ts []manifest.Table) []uint64 {
	var out []uint64
	for _, t := range ts {
		out = append(out, t.FileNum)
	}
	return out
}

// want describes an expected plan; a nil *want means no plan.
type want struct {
	l0Count, firstRun, numRuns int
	move, bottom               bool
	drop                       []uint64
}

func describe(p *Plan) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("{L0Count:%d FirstRun:%d NumRuns:%d Move:%t Bottom:%t Drop:%v}",
		p.L0Count, p.FirstRun, p.NumRuns, p.Move, p.Bottom, fileNums(p.Drop))
}

func TestPick(t *testing.T) {
	const now = 1000
	// overlapping L0 tables of 10 bytes each.
	l0 := func(n int) []manifest.Table {
		var out []manifest.Table
		for i := range n {
			out = append(out, tb(uint64(100+i), "a", "z", 10))
		}
		return out
	}
	// run returns a one-table run covering [a, z].
	run := func(num uint64, size int64) []manifest.Table {
		return []manifest.Table{tb(num, "a", "z", size)}
	}
	cases := []struct {
		name string
		m    manifest.Manifest
		opts Options
		want *want
	}{
		{
			name: "empty",
			want: nil,
		},
		{
			name: "below trigger",
			m:    manifest.Manifest{L0: l0(3), Levels: [][]manifest.Table{run(1, 100)}},
			want: nil,
		},
		{
			name: "trigger, nothing below",
			m:    manifest.Manifest{L0: l0(4)},
			want: &want{l0Count: 4, bottom: true},
		},
		{
			name: "custom trigger",
			m:    manifest.Manifest{L0: l0(2)},
			opts: Options{L0Trigger: 2},
			want: &want{l0Count: 2, bottom: true},
		},
		{
			// 40 bytes of L0; 80 <= 80 joins (120), 240 <= 240 joins
			// (360), 1000 > 720 stops.
			name: "size ratio extension",
			m: manifest.Manifest{L0: l0(4), Levels: [][]manifest.Table{
				run(1, 80), run(2, 240), run(3, 1000),
			}},
			want: &want{l0Count: 4, numRuns: 2},
		},
		{
			name: "size ratio extension to the bottom",
			m: manifest.Manifest{L0: l0(4), Levels: [][]manifest.Table{
				run(1, 50), run(2, 100),
			}},
			want: &want{l0Count: 4, numRuns: 2, bottom: true},
		},
		{
			name: "first run too large",
			m: manifest.Manifest{L0: l0(4), Levels: [][]manifest.Table{
				run(1, 81), run(2, 10),
			}},
			want: &want{l0Count: 4},
		},
		{
			name: "larger size ratio",
			m: manifest.Manifest{L0: l0(4), Levels: [][]manifest.Table{
				run(1, 81), run(2, 1000),
			}},
			opts: Options{SizeRatio: 3},
			want: &want{l0Count: 4, numRuns: 1},
		},
		{
			// Smallest adjacent pair: runs 2 and 3 (110). Run 4 (900)
			// exceeds 2*110.
			name: "max runs",
			m: manifest.Manifest{L0: l0(1), Levels: [][]manifest.Table{
				run(1, 100), run(2, 300), run(3, 50), run(4, 60), run(5, 900), run(6, 2000), run(7, 5000),
			}},
			want: &want{firstRun: 2, numRuns: 2},
		},
		{
			name: "max runs extends and reaches the bottom",
			m: manifest.Manifest{Levels: [][]manifest.Table{
				run(1, 100), run(2, 300), run(3, 1000), run(4, 3000), run(5, 9000), run(6, 20), run(7, 30), run(8, 90),
			}},
			want: &want{firstRun: 5, numRuns: 3, bottom: true},
		},
		{
			name: "max runs not exceeded",
			m: manifest.Manifest{Levels: [][]manifest.Table{
				run(1, 100), run(2, 300), run(3, 50), run(4, 60), run(5, 900), run(6, 2000),
			}},
			want: nil,
		},
		{
			name: "L0 trigger before max runs",
			m: manifest.Manifest{L0: l0(4), Levels: [][]manifest.Table{
				run(1, 1000), run(2, 300), run(3, 50), run(4, 60), run(5, 900), run(6, 2000), run(7, 5000),
			}},
			want: &want{l0Count: 4},
		},
		{
			// Successive flushes of an appending stream are key-disjoint:
			// depth 1, and 4 tables are far below the table cap.
			name: "shallow L0 below the table cap",
			m: manifest.Manifest{L0: []manifest.Table{
				tb(4, "s/400", "s/499", 10), tb(3, "s/300", "s/399", 10),
				tb(2, "s/200", "s/299", 10), tb(1, "s/100", "s/199", 10),
			}},
			want: nil,
		},
		{
			// Four flushes cut per partition, each rewriting the same keys
			// of partitions a and b: 8 tables, depth 4.
			name: "depth trigger with per-partition flush tables",
			m: manifest.Manifest{L0: []manifest.Table{
				tb(8, "a/0", "a/9", 10), tb(7, "b/0", "b/9", 10),
				tb(6, "a/0", "a/9", 10), tb(5, "b/0", "b/9", 10),
				tb(4, "a/0", "a/9", 10), tb(3, "b/0", "b/9", 10),
				tb(2, "a/0", "a/9", 10), tb(1, "b/0", "b/9", 10),
			}},
			want: &want{l0Count: 8, bottom: true},
		},
		{
			name: "depth 3 does not trigger",
			m: manifest.Manifest{L0: []manifest.Table{
				tb(6, "a/0", "a/9", 10), tb(5, "b/0", "b/9", 10),
				tb(4, "a/0", "a/9", 10), tb(3, "b/0", "b/9", 10),
				tb(2, "a/0", "a/9", 10), tb(1, "b/0", "b/9", 10),
			}},
			want: nil,
		},
		{
			name: "table cap triggers a shallow L0",
			m: manifest.Manifest{L0: []manifest.Table{
				tb(3, "s/300", "s/399", 10), tb(2, "s/200", "s/299", 10), tb(1, "s/100", "s/199", 10),
			}},
			opts: Options{L0MaxTables: 3},
			want: &want{l0Count: 3, move: true, bottom: true},
		},
		{
			// Successive flushes of an appending stream.
			name: "move: disjoint append-only L0",
			m: manifest.Manifest{L0: []manifest.Table{
				tb(4, "s/400", "s/499", 10), tb(3, "s/300", "s/399", 10),
				tb(2, "s/200", "s/299", 10), tb(1, "s/100", "s/199", 10),
			}},
			opts: Options{L0MaxTables: 4}, // disjoint tables: a shallow L0
			want: &want{l0Count: 4, move: true, bottom: true},
		},
		{
			name: "move: disjoint L0 and run",
			m: manifest.Manifest{
				L0: []manifest.Table{
					tb(14, "s/700", "s/799", 10), tb(13, "s/600", "s/699", 10),
					tb(12, "s/500", "s/599", 10), tb(11, "s/400", "s/499", 10),
				},
				Levels: [][]manifest.Table{
					{tb(1, "s/000", "s/199", 30), tb(2, "s/200", "s/399", 30)},
					run(3, 1000),
				},
			},
			opts: Options{L0MaxTables: 4}, // disjoint tables: a shallow L0
			want: &want{l0Count: 4, numRuns: 1, move: true},
		},
		{
			// Tables of one run may touch (an exclusive range-deletion
			// end); that does not prevent a move.
			name: "move: run tables touching",
			m: manifest.Manifest{
				L0: []manifest.Table{
					tb(14, "s/700", "s/799", 10), tb(13, "s/600", "s/699", 10),
					tb(12, "s/500", "s/599", 10), tb(11, "s/400", "s/499", 10),
				},
				Levels: [][]manifest.Table{{tb(1, "s/000", "s/200", 30), tb(2, "s/200", "s/399", 30)}},
			},
			opts: Options{L0MaxTables: 4}, // disjoint tables: a shallow L0
			want: &want{l0Count: 4, numRuns: 1, move: true, bottom: true},
		},
		{
			name: "no move: one pair overlaps",
			m: manifest.Manifest{L0: []manifest.Table{
				tb(4, "s/400", "s/499", 10), tb(3, "s/300", "s/399", 10),
				tb(2, "s/200", "s/300", 10), tb(1, "s/100", "s/199", 10),
			}},
			opts: Options{L0MaxTables: 4}, // disjoint tables: a shallow L0
			want: &want{l0Count: 4, bottom: true},
		},
		{
			name: "no move: L0 overlaps the run it joins",
			m: manifest.Manifest{
				L0: []manifest.Table{
					tb(14, "s/700", "s/799", 10), tb(13, "s/600", "s/699", 10),
					tb(12, "s/500", "s/599", 10), tb(11, "s/400", "s/499", 10),
				},
				Levels: [][]manifest.Table{{tb(1, "s/000", "s/199", 30), tb(2, "s/200", "s/450", 30)}},
			},
			opts: Options{L0MaxTables: 4}, // disjoint tables: a shallow L0
			want: &want{l0Count: 4, numRuns: 1, bottom: true},
		},
		{
			name: "drop: expired L0 table with nothing older beneath",
			m: manifest.Manifest{
				L0:     []manifest.Table{tb(3, "a", "c", 10), expiring(tb(2, "d", "f", 10), now), tb(1, "a", "c", 10)},
				Levels: [][]manifest.Table{{tb(4, "a", "b", 10), tb(5, "g", "h", 10)}},
			},
			want: &want{drop: []uint64{2}},
		},
		{
			name: "no drop: an older table overlaps",
			m: manifest.Manifest{
				L0:     []manifest.Table{expiring(tb(2, "d", "f", 10), now), tb(1, "f", "g", 10)},
				Levels: [][]manifest.Table{{tb(4, "a", "b", 10)}},
			},
			want: nil,
		},
		{
			name: "no drop: an older run overlaps",
			m: manifest.Manifest{
				L0:     []manifest.Table{expiring(tb(2, "d", "f", 10), now)},
				Levels: [][]manifest.Table{{tb(4, "a", "b", 10), tb(5, "c", "d", 10)}},
			},
			want: nil,
		},
		{
			name: "no drop: not yet expired",
			m: manifest.Manifest{
				L0: []manifest.Table{expiring(tb(2, "d", "f", 10), now+1)},
			},
			want: nil,
		},
		{
			name: "no drop: some entries never expire",
			m: manifest.Manifest{
				L0: []manifest.Table{func() manifest.Table {
					t := expiring(tb(2, "d", "f", 10), now)
					t.NumWithoutExpiry = 1
					return t
				}()},
			},
			want: nil,
		},
		{
			name: "no drop: entries without expiry metadata",
			m: manifest.Manifest{
				L0: []manifest.Table{func() manifest.Table {
					t := tb(2, "d", "f", 10)
					t.NumWithoutExpiry = 0
					return t
				}()},
			},
			want: nil,
		},
		{
			name: "drop: empty table",
			m: manifest.Manifest{
				L0: []manifest.Table{{FileNum: 2, Epoch: 1}},
			},
			want: &want{drop: []uint64{2}},
		},
		{
			// A newer table overlapping is no obstacle; an expired table
			// overlapping only expired older ones goes with them.
			name: "drop: a stack of expired tables in one plan",
			m: manifest.Manifest{
				L0: []manifest.Table{tb(9, "a", "z", 10), expiring(tb(8, "c", "e", 10), now), expiring(tb(7, "d", "k", 10), 5)},
				Levels: [][]manifest.Table{
					{tb(1, "a", "b", 10), expiring(tb(2, "c", "j", 10), 7), tb(3, "x", "z", 10)},
					{expiring(tb(4, "e", "f", 10), 1), tb(5, "m", "n", 10)},
				},
			},
			want: &want{drop: []uint64{4, 2, 7, 8}},
		},
		{
			name: "drop preferred over an L0 compaction",
			m: manifest.Manifest{
				L0:     append(l0(5), expiring(tb(50, "zz", "zz", 10), now)),
				Levels: [][]manifest.Table{run(1, 100)},
			},
			want: &want{drop: []uint64{50}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := describeManifest(&tc.m)
			got := Pick(&tc.m, now, tc.opts)
			if describeManifest(&tc.m) != before {
				t.Fatalf("Pick modified the manifest")
			}
			var w string
			if tc.want != nil {
				w = fmt.Sprintf("{L0Count:%d FirstRun:%d NumRuns:%d Move:%t Bottom:%t Drop:%v}",
					tc.want.l0Count, tc.want.firstRun, tc.want.numRuns, tc.want.move, tc.want.bottom, tc.want.drop)
			} else {
				w = "nil"
			}
			if g := describe(got); g != w {
				t.Fatalf("Pick = %s, want %s", g, w)
			}
			if got == nil {
				return
			}
			// Inputs are exactly the window, newest source first.
			var wantIn []manifest.Table
			wantIn = append(wantIn, tc.m.L0[len(tc.m.L0)-got.L0Count:]...)
			for _, run := range tc.m.Levels[got.FirstRun : got.FirstRun+got.NumRuns] {
				wantIn = append(wantIn, run...)
			}
			if g, w := fileNums(got.Inputs(&tc.m)), fileNums(wantIn); !slices.Equal(g, w) {
				t.Fatalf("Inputs = %v, want %v", g, w)
			}
			for _, d := range got.Drop {
				if slices.Contains(fileNums(wantIn), d.FileNum) {
					t.Fatalf("table %d both dropped and in the window", d.FileNum)
				}
			}
		})
	}
}

func describeManifest(m *manifest.Manifest) string {
	s := fmt.Sprintf("v%d e%d n%d s%d w%d f%d L0%v", m.Version, m.WriterEpoch, m.NextFileNum, m.LastSeq,
		m.WALReplayFrom, m.WALEpochFloor, fileNums(m.L0))
	for _, run := range m.Levels {
		s += fmt.Sprint(fileNums(run))
	}
	return s
}

func TestL0Depth(t *testing.T) {
	cases := []struct {
		name string
		l0   []manifest.Table
		want int
	}{
		{"empty", nil, 0},
		{"one", []manifest.Table{tb(1, "a", "z", 1)}, 1},
		{"disjoint", []manifest.Table{tb(2, "a", "b", 1), tb(1, "c", "d", 1)}, 1},
		// Ranges are inclusive: a table ending where the next starts
		// shares that key with it.
		{"touching", []manifest.Table{tb(2, "a", "b", 1), tb(1, "b", "d", 1)}, 2},
		{"nested", []manifest.Table{tb(3, "a", "z", 1), tb(2, "c", "d", 1), tb(1, "e", "f", 1)}, 2},
		{"staircase", []manifest.Table{tb(3, "a", "c", 1), tb(2, "b", "d", 1), tb(1, "c", "e", 1)}, 3},
		{"point tables", []manifest.Table{tb(3, "k", "k", 1), tb(2, "k", "k", 1), tb(1, "j", "j", 1)}, 2},
	}
	for _, tc := range cases {
		if got := L0Depth(tc.l0); got != tc.want {
			t.Errorf("%s: L0Depth = %d, want %d", tc.name, got, tc.want)
		}
	}
}
