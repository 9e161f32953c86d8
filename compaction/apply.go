package compaction

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/s2lite/s2lite/manifest"
)

// ErrStale is wrapped by Apply and Run when the manifest no longer holds a
// plan's inputs where the plan expects them: something other than a flush
// changed the tree since Pick. The plan must be discarded (its output, if
// any, is garbage) and a new one picked.
var ErrStale = errors.New("compaction: plan inputs changed")

// Apply returns a copy of m with the plan's window replaced by output (the
// window is simply removed when output is empty) and its Drop tables
// removed; runs left empty disappear. Version and the other fields of m are
// untouched, and m itself is not modified.
//
// m may be newer than the manifest Pick saw, as long as it differs only by
// L0 tables added at the front, which is what flushes do while a compaction
// runs: the window is found by table identity, and an error wrapping
// ErrStale is returned if any input is gone or has moved.
func Apply(m *manifest.Manifest, p *Plan, output []manifest.Table) (*manifest.Manifest, error) {
	l0Start, firstRun, err := p.locate(m)
	if err != nil {
		return nil, err
	}
	if len(p.l0) == 0 && len(p.runs) == 0 && len(output) > 0 {
		return nil, fmt.Errorf("compaction: apply: %d output tables for a plan with no window", len(output))
	}
	for i := 1; i < len(output); i++ {
		if bytes.Compare(output[i-1].Largest, output[i].Smallest) > 0 {
			return nil, fmt.Errorf("compaction: apply: output tables %s and %s overlap or are out of order",
				output[i-1].ObjectKey(), output[i].ObjectKey())
		}
	}

	c := m.Clone()
	if len(p.l0) > 0 || len(p.runs) > 0 {
		c.L0 = c.L0[:l0Start]
		levels := slices.Clone(c.Levels[:firstRun])
		if len(output) > 0 {
			levels = append(levels, slices.Clone(output))
		}
		c.Levels = append(levels, c.Levels[firstRun+len(p.runs):]...)
	}
	for _, d := range p.Drop {
		if !removeTable(c, d) {
			return nil, fmt.Errorf("%w: table %s to drop is not in manifest version %d", ErrStale, d.ObjectKey(), m.Version)
		}
	}
	c.Levels = slices.DeleteFunc(c.Levels, func(run []manifest.Table) bool { return len(run) == 0 })
	if len(c.Levels) == 0 {
		c.Levels = nil
	}
	return c, nil
}

// MoveOutput is the output run of a Move plan: the input tables sorted by
// key. Their key ranges are disjoint, so the run needs no rewrite.
func MoveOutput(inputs []manifest.Table) []manifest.Table {
	out := slices.Clone(inputs)
	slices.SortStableFunc(out, func(a, b manifest.Table) int { return bytes.Compare(a.Smallest, b.Smallest) })
	return out
}

func sameTable(a, b manifest.Table) bool {
	return a.Epoch == b.Epoch && a.FileNum == b.FileNum
}

func sameTables(a, b []manifest.Table) bool {
	return slices.EqualFunc(a, b, sameTable)
}

// locate finds the window in m by table identity: its L0 tables must still
// be the oldest of L0, and its runs must still be whole and adjacent, right
// after them when there are any. It returns where the window's L0 tables
// start in m.L0 and the index of its first run (where the output run goes).
func (p *Plan) locate(m *manifest.Manifest) (l0Start, firstRun int, err error) {
	l0Start = len(m.L0) - len(p.l0)
	if l0Start < 0 || !sameTables(m.L0[l0Start:], p.l0) {
		return 0, 0, fmt.Errorf("%w: the window's %d L0 tables are not the oldest of L0 in manifest version %d",
			ErrStale, len(p.l0), m.Version)
	}
	if len(p.l0) == 0 && len(p.runs) > 0 {
		for firstRun = 0; firstRun+len(p.runs) <= len(m.Levels); firstRun++ {
			if runsAt(m, firstRun, p.runs) {
				return l0Start, firstRun, nil
			}
		}
		return 0, 0, fmt.Errorf("%w: the window's %d runs are not in manifest version %d", ErrStale, len(p.runs), m.Version)
	}
	if !runsAt(m, 0, p.runs) {
		return 0, 0, fmt.Errorf("%w: the window's %d runs do not follow L0 in manifest version %d", ErrStale, len(p.runs), m.Version)
	}
	return l0Start, 0, nil
}

// runsAt reports whether runs are m's runs from index i on.
func runsAt(m *manifest.Manifest, i int, runs [][]manifest.Table) bool {
	if i+len(runs) > len(m.Levels) {
		return false
	}
	for j, run := range runs {
		if !sameTables(m.Levels[i+j], run) {
			return false
		}
	}
	return true
}

// removeTable deletes t from c's L0 or runs, reporting whether it was there.
func removeTable(c *manifest.Manifest, t manifest.Table) bool {
	if i := slices.IndexFunc(c.L0, func(u manifest.Table) bool { return sameTable(u, t) }); i >= 0 {
		c.L0 = slices.Delete(c.L0, i, i+1)
		return true
	}
	for r, run := range c.Levels {
		if i := slices.IndexFunc(run, func(u manifest.Table) bool { return sameTable(u, t) }); i >= 0 {
			c.Levels[r] = slices.Delete(run, i, i+1)
			return true
		}
	}
	return false
}
