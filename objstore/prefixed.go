package objstore

import (
	"context"
	"strings"
)

// Prefixed is a Store whose keys all live under prefix in inner: a partition
// of a cluster's bucket is an ordinary database under "p/<n>/". Keys passed
// in and returned are relative to the prefix.
type Prefixed struct {
	inner  Store
	prefix string
}

var _ Store = (*Prefixed)(nil)

// WithPrefix returns inner restricted to keys under prefix, which should end
// in "/". An empty prefix returns inner itself.
func WithPrefix(inner Store, prefix string) Store {
	if prefix == "" {
		return inner
	}
	return &Prefixed{inner: inner, prefix: prefix}
}

func (p *Prefixed) Get(ctx context.Context, key string) ([]byte, string, error) {
	return p.inner.Get(ctx, p.prefix+key)
}

func (p *Prefixed) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	return p.inner.GetRange(ctx, p.prefix+key, offset, length)
}

func (p *Prefixed) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	return p.inner.GetRangeInto(ctx, p.prefix+key, offset, bufs)
}

func (p *Prefixed) Put(ctx context.Context, key string, data []byte) (string, error) {
	return p.inner.Put(ctx, p.prefix+key, data)
}

func (p *Prefixed) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	return p.inner.PutIfAbsent(ctx, p.prefix+key, data)
}

func (p *Prefixed) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	return p.inner.PutIfMatch(ctx, p.prefix+key, data, etag)
}

func (p *Prefixed) Delete(ctx context.Context, key string) error {
	return p.inner.Delete(ctx, p.prefix+key)
}

func (p *Prefixed) List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error) {
	if startAfter != "" {
		startAfter = p.prefix + startAfter
	}
	infos, err := p.inner.List(ctx, p.prefix+prefix, startAfter, limit)
	for i := range infos {
		infos[i].Key = strings.TrimPrefix(infos[i].Key, p.prefix)
	}
	return infos, err
}
