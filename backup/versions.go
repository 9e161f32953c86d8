package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// Versioned is a store that keeps every version of its objects (a bucket
// with versioning enabled).
type Versioned interface {
	ListVersions(ctx context.Context, prefix string) ([]objstore.ObjectVersion, error)
	GetVersion(ctx context.Context, key, versionID string) ([]byte, error)
}

// RestoreVersions rebuilds into dst, which must be empty, the database in
// src exactly as it was at asOf: for every key, the newest version written
// at or before asOf, and no key that was created after it or deleted
// before it. That is the bucket as a server crashing at asOf would have
// left it, so it opens like any database after a crash, with everything
// acknowledged before asOf. Restoring in place (copying old versions back
// over the live prefix) would leave keys created after asOf behind, which a
// newer manifest then brings back; a new destination avoids that.
func RestoreVersions(ctx context.Context, src Versioned, dst objstore.Store, asOf time.Time, parallel int) (Stats, error) {
	start := time.Now()
	if parallel <= 0 {
		parallel = 8
	}
	var st Stats
	if _, err := checkDestination(ctx, dst, 0, nil, true); err != nil {
		return st, err
	}
	versions, err := src.ListVersions(ctx, "")
	if err != nil {
		return st, fmt.Errorf("backup: listing versions: %w", err)
	}
	type pick struct {
		v  objstore.ObjectVersion
		ok bool
	}
	chosen := map[string]pick{}
	for _, v := range versions {
		if v.LastModified.After(asOf) {
			continue
		}
		if p, seen := chosen[v.Key]; seen && !p.v.LastModified.Before(v.LastModified) {
			continue
		}
		chosen[v.Key] = pick{v: v, ok: true}
	}
	var todo []object
	for _, p := range chosen {
		if p.ok && !p.v.DeleteMarker {
			todo = append(todo, object{key: p.v.Key, size: p.v.Size, version: p.v.VersionID})
		}
	}
	if len(todo) == 0 {
		return st, fmt.Errorf("backup: the bucket held no object at %s", asOf.UTC().Format(time.RFC3339))
	}
	read := func(ctx context.Context, o object) ([]byte, error) { return src.GetVersion(ctx, o.key, o.version) }
	n, nbytes, err := copyObjects(ctx, read, dst, todo, map[string]int64{}, parallel)
	if err != nil {
		return st, err
	}
	st.Objects, st.BytesCopied = n, nbytes
	st.AckedThrough = asOf
	st.Duration = time.Since(start)
	return st, nil
}
