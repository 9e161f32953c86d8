package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

// dumpLog describes every WAL object and the newest manifest, for failure
// messages.
func dumpLog(s objstore.Store) string {
	ctx := context.Background()
	var b strings.Builder
	objs, _ := s.List(ctx, walPrefix, "", 0)
	for _, o := range objs {
		data, _, err := s.Get(ctx, o.Key)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", o.Key, err)
			continue
		}
		w, err := decodeWAL(data)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", o.Key, err)
			continue
		}
		fmt.Fprintf(&b, "wal %d epoch %d seq %d+%d\n", w.id, w.epoch, w.firstSeq, len(w.ops))
	}
	if m, err := manifest.NewStore(s, nil).Latest(ctx); err == nil && m != nil {
		fmt.Fprintf(&b, "manifest v%d epoch %d last_seq %d replay_from %d floor %d\n", m.Version, m.WriterEpoch, m.LastSeq, m.WALReplayFrom, m.WALEpochFloor)
	}
	return b.String()
}
