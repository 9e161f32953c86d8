package compaction

import (
	"fmt"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/sst"
)

func TestClipRangeDels(t *testing.T) {
	rds := []sst.RangeDel{{Start: []byte("a"), End: []byte("m"), Seq: 1}, {Start: []byte("k"), End: []byte("z"), Seq: 2}}
	show := func(rds []sst.RangeDel) string {
		var out []string
		for _, rd := range rds {
			out = append(out, fmt.Sprintf("[%s,%s)@%d", rd.Start, rd.End, rd.Seq))
		}
		return strings.Join(out, " ")
	}
	cases := []struct{ lo, hi, want string }{
		{"", "", "[a,m)@1 [k,z)@2"},
		{"", "c", "[a,c)@1"},
		{"c", "l", "[c,l)@1 [k,l)@2"},
		{"m", "", "[m,z)@2"},
		{"z", "", ""},
	}
	for _, tc := range cases {
		var lo, hi []byte
		if tc.lo != "" {
			lo = []byte(tc.lo)
		}
		if tc.hi != "" {
			hi = []byte(tc.hi)
		}
		if got := show(ClipRangeDels(rds, lo, hi)); got != tc.want {
			t.Errorf("clip to [%q,%q): got %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}
