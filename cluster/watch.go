package cluster

import (
	"context"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// prefixWatch keeps a copy of every key under a prefix (suffix → value),
// current through a watch, and signals changes on a coalescing channel.
type prefixWatch struct {
	cli    *clientv3.Client
	prefix string

	mu   sync.Mutex
	kv   map[string][]byte
	rev  int64
	chng chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

func startPrefixWatch(ctx context.Context, cli *clientv3.Client, prefix string) (*prefixWatch, error) {
	w := &prefixWatch{cli: cli, prefix: prefix, kv: map[string][]byte{}, chng: make(chan struct{}, 1), done: make(chan struct{})}
	if err := w.load(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(wctx)
	return w, nil
}

// load replaces the copy by a fresh listing of the prefix.
func (w *prefixWatch) load(ctx context.Context) error {
	resp, err := w.cli.Get(ctx, w.prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	kv := make(map[string][]byte, len(resp.Kvs))
	for _, e := range resp.Kvs {
		kv[string(e.Key[len(w.prefix):])] = e.Value
	}
	w.mu.Lock()
	w.kv, w.rev = kv, resp.Header.Revision
	w.mu.Unlock()
	w.signal()
	return nil
}

func (w *prefixWatch) signal() {
	select {
	case w.chng <- struct{}{}:
	default:
	}
}

func (w *prefixWatch) run(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		w.mu.Lock()
		rev := w.rev
		w.mu.Unlock()
		wch := w.cli.Watch(clientv3.WithRequireLeader(ctx), w.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if err := resp.Err(); err != nil {
				// Compacted past our revision, lost leader, or the
				// watch was canceled: list again and start over.
				break
			}
			if len(resp.Events) == 0 {
				continue
			}
			w.mu.Lock()
			for _, ev := range resp.Events {
				k := string(ev.Kv.Key[len(w.prefix):])
				switch ev.Type {
				case mvccpb.PUT:
					w.kv[k] = ev.Kv.Value
				case mvccpb.DELETE:
					delete(w.kv, k)
				}
			}
			w.rev = resp.Header.Revision
			w.mu.Unlock()
			w.signal()
		}
		if ctx.Err() != nil {
			return
		}
		// The watch ended (error or closed channel): relist after a short
		// pause so that deletions missed meanwhile are seen.
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = w.load(lctx)
		cancel()
	}
}

func (w *prefixWatch) snapshot() map[string][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]byte, len(w.kv))
	for k, v := range w.kv {
		out[k] = v
	}
	return out
}

func (w *prefixWatch) close() {
	w.cancel()
	<-w.done
}

// View is the live membership of a cluster, kept current by a watch on
// /s2lite/<cluster>/members/.
type View struct{ w *prefixWatch }

// WatchMembers lists the cluster's members and watches them until Close. It
// returns once the first listing is loaded.
func WatchMembers(ctx context.Context, cli *clientv3.Client, cluster string) (*View, error) {
	if err := checkName("cluster name", cluster); err != nil {
		return nil, err
	}
	w, err := startPrefixWatch(ctx, cli, prefix(cluster, "members"))
	if err != nil {
		return nil, err
	}
	return &View{w: w}, nil
}

// Members returns the live members' node IDs, sorted.
func (v *View) Members() []string { return sortedKeys(v.w.snapshot()) }

// URLs returns node ID → advertise URL for the live members.
func (v *View) URLs() map[string]string {
	s := v.w.snapshot()
	out := make(map[string]string, len(s))
	for k, val := range s {
		out[k] = string(val)
	}
	return out
}

// Changed receives a value after the membership changed (or was listed
// again); signals coalesce, so read Members after each one.
func (v *View) Changed() <-chan struct{} { return v.w.chng }

// Close stops the watch.
func (v *View) Close() { v.w.close() }
