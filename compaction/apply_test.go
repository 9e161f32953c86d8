package compaction

import (
	"errors"
	"slices"
	"testing"

	"github.com/s2lite/s2lite/manifest"
)

// layout renders a manifest's tree as file numbers: L0 first, then runs.
func layout(m *manifest.Manifest) [][]uint64 {
	out := [][]uint64{fileNums(m.L0)}
	for _, run := range m.Levels {
		out = append(out, fileNums(run))
	}
	return out
}

func sameLayout(a, b [][]uint64) bool {
	return slices.EqualFunc(a, b, func(x, y []uint64) bool { return slices.Equal(x, y) })
}

func baseManifest() *manifest.Manifest {
	return &manifest.Manifest{
		Version: 7, WriterEpoch: 3, NextFileNum: 99, LastSeq: 1234, WALReplayFrom: 55, WALEpochFloor: 2,
		L0: []manifest.Table{
			tb(14, "a", "z", 10), tb(13, "a", "z", 10), tb(12, "a", "z", 10), tb(11, "a", "z", 10),
		},
		Levels: [][]manifest.Table{
			{tb(1, "a", "f", 20), tb(2, "g", "m", 20)},
			{tb(3, "a", "z", 50)},
			{tb(4, "a", "z", 1000)},
		},
	}
}

func TestApply(t *testing.T) {
	out := []manifest.Table{tb(20, "a", "h", 30), tb(21, "h", "z", 30)} // touching: allowed
	cases := []struct {
		name   string
		modify func(m *manifest.Manifest) // turns the picked manifest into the one applied to
		plan   func(m *manifest.Manifest) *Plan
		output []manifest.Table
		want   [][]uint64
	}{
		{
			name:   "L0 and runs",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 4, 0, 2) },
			output: out,
			want:   [][]uint64{{}, {20, 21}, {4}},
		},
		{
			name:   "L0 only",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 4, 0, 0) },
			output: out,
			want:   [][]uint64{{}, {20, 21}, {1, 2}, {3}, {4}},
		},
		{
			name:   "oldest L0 tables only",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 2, 0, 0) },
			output: out,
			want:   [][]uint64{{14, 13}, {20, 21}, {1, 2}, {3}, {4}},
		},
		{
			name:   "runs in the middle",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 0, 1, 2) },
			output: out,
			want:   [][]uint64{{14, 13, 12, 11}, {1, 2}, {20, 21}},
		},
		{
			name: "empty output removes the window",
			plan: func(m *manifest.Manifest) *Plan { return newPlan(m, 4, 0, 1) },
			want: [][]uint64{{}, {3}, {4}},
		},
		{
			name: "newer L0 tables added meanwhile",
			modify: func(m *manifest.Manifest) {
				m.Version++
				m.L0 = append([]manifest.Table{tb(16, "a", "z", 10), tb(15, "a", "z", 10)}, m.L0...)
			},
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 4, 0, 1) },
			output: out,
			want:   [][]uint64{{16, 15}, {20, 21}, {3}, {4}},
		},
		{
			name: "newer L0 tables, runs-only window",
			modify: func(m *manifest.Manifest) {
				m.L0 = append([]manifest.Table{tb(15, "a", "z", 10)}, m.L0...)
			},
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 0, 1, 2) },
			output: out,
			want:   [][]uint64{{15, 14, 13, 12, 11}, {1, 2}, {20, 21}},
		},
		{
			name: "drop from L0 and runs, empty run removed",
			plan: func(m *manifest.Manifest) *Plan {
				return &Plan{Drop: []manifest.Table{m.L0[1], m.Levels[0][1], m.Levels[1][0]}}
			},
			want: [][]uint64{{14, 12, 11}, {1}, {4}},
		},
		{
			name: "drop with newer L0 tables",
			modify: func(m *manifest.Manifest) {
				m.L0 = append([]manifest.Table{tb(15, "a", "z", 10)}, m.L0...)
			},
			plan: func(m *manifest.Manifest) *Plan {
				return &Plan{Drop: []manifest.Table{m.L0[2]}}
			},
			want: [][]uint64{{15, 14, 13, 11}, {1, 2}, {3}, {4}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			picked := baseManifest()
			p := tc.plan(picked)
			m := picked.Clone()
			if tc.modify != nil {
				tc.modify(m)
			}
			before := layout(m)
			got, err := Apply(m, p, tc.output)
			if err != nil {
				t.Fatal(err)
			}
			if g := layout(got); !sameLayout(g, tc.want) {
				t.Fatalf("Apply = %v, want %v", g, tc.want)
			}
			if !sameLayout(layout(m), before) {
				t.Fatalf("Apply modified its input: %v, was %v", layout(m), before)
			}
			got.L0, got.Levels, m.L0, m.Levels = nil, nil, nil, nil
			if describeManifest(got) != describeManifest(m) {
				t.Fatalf("Apply changed other fields: %s, want %s", describeManifest(got), describeManifest(m))
			}
		})
	}
}

func TestApplyStale(t *testing.T) {
	cases := []struct {
		name   string
		plan   func(m *manifest.Manifest) *Plan
		modify func(m *manifest.Manifest)
	}{
		{
			name:   "L0 input gone",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 4, 0, 1) },
			modify: func(m *manifest.Manifest) { m.L0 = m.L0[:3] },
		},
		{
			name:   "L0 input no longer the oldest",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 2, 0, 0) },
			modify: func(m *manifest.Manifest) { m.L0 = append(m.L0, tb(10, "a", "z", 1)) },
		},
		{
			name:   "run input gone",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 4, 0, 2) },
			modify: func(m *manifest.Manifest) { m.Levels = slices.Delete(m.Levels, 1, 2) },
		},
		{
			name:   "run changed",
			plan:   func(m *manifest.Manifest) *Plan { return newPlan(m, 0, 0, 2) },
			modify: func(m *manifest.Manifest) { m.Levels[0] = m.Levels[0][:1] },
		},
		{
			name: "runs no longer follow L0",
			plan: func(m *manifest.Manifest) *Plan { return newPlan(m, 4, 0, 1) },
			modify: func(m *manifest.Manifest) {
				m.Levels = append([][]manifest.Table{{tb(30, "a", "b", 1)}}, m.Levels...)
			},
		},
		{
			name: "runs-only window replaced by another compaction",
			plan: func(m *manifest.Manifest) *Plan { return newPlan(m, 0, 1, 2) },
			modify: func(m *manifest.Manifest) {
				m.Levels = [][]manifest.Table{m.Levels[0], {tb(30, "a", "z", 1)}}
			},
		},
		{
			name:   "dropped table gone",
			plan:   func(m *manifest.Manifest) *Plan { return &Plan{Drop: []manifest.Table{m.Levels[2][0]}} },
			modify: func(m *manifest.Manifest) { m.Levels = m.Levels[:2] },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			picked := baseManifest()
			p := tc.plan(picked)
			m := picked.Clone()
			tc.modify(m)
			if _, err := Apply(m, p, nil); !errors.Is(err, ErrStale) {
				t.Fatalf("Apply = %v, want ErrStale", err)
			}
			// The same plan still applies to the manifest it was made from.
			if _, err := Apply(picked, p, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestApplyRejectsBadOutput(t *testing.T) {
	m := baseManifest()
	if _, err := Apply(m, newPlan(m, 4, 0, 0), []manifest.Table{tb(20, "a", "m", 1), tb(21, "l", "z", 1)}); err == nil {
		t.Fatal("Apply accepted overlapping output tables")
	}
	if _, err := Apply(m, &Plan{}, []manifest.Table{tb(20, "a", "m", 1)}); err == nil {
		t.Fatal("Apply accepted output for a plan with no window")
	}
}

func TestMoveOutput(t *testing.T) {
	in := []manifest.Table{tb(4, "s/400", "s/499", 1), tb(3, "s/300", "s/399", 1), tb(1, "s/000", "s/199", 1), tb(2, "s/200", "s/299", 1)}
	m := &manifest.Manifest{L0: in[:2], Levels: [][]manifest.Table{in[2:]}}
	p := Pick(m, 0, Options{L0Trigger: 2, L0MaxTables: 2})
	if p == nil || !p.Move || p.L0Count != 2 || p.NumRuns != 1 {
		t.Fatalf("Pick = %s, want a move of everything", describe(p))
	}
	out := MoveOutput(p.Inputs(m))
	if g, w := fileNums(out), []uint64{1, 2, 3, 4}; !slices.Equal(g, w) {
		t.Fatalf("MoveOutput = %v, want %v", g, w)
	}
	if g, w := fileNums(in), []uint64{4, 3, 1, 2}; !slices.Equal(g, w) {
		t.Fatalf("MoveOutput reordered its input: %v", g)
	}
	got, err := Apply(m, p, out)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := layout(got), [][]uint64{{}, {1, 2, 3, 4}}; !sameLayout(g, w) {
		t.Fatalf("Apply = %v, want %v", g, w)
	}
	if _, _, err := Run(t.Context(), m, p, newStore().open, newStore().write, 0, Options{}); err == nil {
		t.Fatal("Run accepted a move plan")
	}
}
