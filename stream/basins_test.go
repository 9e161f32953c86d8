package stream

import (
	"fmt"
	"reflect"
	"testing"
)

func TestBasinLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx, svc := e.ctx, e.svc
	standard := StorageClassStandard
	cfg := BasinConfig{
		DefaultStreamConfig:  &StreamConfig{StorageClass: &standard, RetentionPolicy: &RetentionPolicy{AgeSecs: 3600}},
		CreateStreamOnAppend: true,
	}

	info, res, err := svc.CreateBasin(ctx, "basin-one", cfg, "token-1")
	if err != nil || res != Created || info.Name != "basin-one" || info.DeletedAt != nil || info.State() != "active" {
		t.Fatalf("create: %+v %s %v", info, res, err)
	}
	if !info.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("created_at %v, want %v", info.CreatedAt, e.clock.Now())
	}

	// Idempotent replay: same token and config.
	e.clock.Advance(1e9)
	again, res, err := svc.CreateBasin(ctx, "basin-one", cfg, "token-1")
	if err != nil || res != Noop || !again.CreatedAt.Equal(info.CreatedAt) {
		t.Fatalf("replay: %+v %s %v", again, res, err)
	}
	for _, tc := range []struct {
		name  string
		cfg   BasinConfig
		token string
	}{
		{"no token", cfg, ""},
		{"other token", cfg, "token-2"},
		{"other config", BasinConfig{}, "token-1"},
	} {
		if _, _, err := svc.CreateBasin(ctx, "basin-one", tc.cfg, tc.token); code(err) != CodeResourceAlreadyExists || err.(*Error).Message != "basin `basin-one` already exists" {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}

	got, err := svc.GetBasinConfig(ctx, "basin-one")
	if err != nil || !reflect.DeepEqual(got, cfg) {
		t.Fatalf("get: %s %v", encodeMeta(got), err)
	}
	_, err = svc.GetBasinConfig(ctx, "basin-two")
	wantCode(t, err, CodeBasinNotFound)
	if msg := err.(*Error).Message; msg != "basin `basin-two` not found" {
		t.Fatalf("message %q", msg)
	}

	// Reconfigure: empty patch is a no-op, partial patch.
	if got, err := svc.ReconfigureBasin(ctx, "basin-one", BasinReconfiguration{}); err != nil || !reflect.DeepEqual(got, cfg) {
		t.Fatalf("noop patch: %s %v", encodeMeta(got), err)
	}
	yes := true
	got, err = svc.ReconfigureBasin(ctx, "basin-one", BasinReconfiguration{
		CreateStreamOnRead:  &yes,
		DefaultStreamConfig: Some(StreamReconfiguration{RetentionPolicy: Some(RetentionPolicy{Infinite: true})}),
	})
	want := BasinConfig{DefaultStreamConfig: &StreamConfig{StorageClass: &standard, RetentionPolicy: &RetentionPolicy{Infinite: true}},
		CreateStreamOnAppend: true, CreateStreamOnRead: true}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("patch: %s %v", encodeMeta(got), err)
	}
	if got, _ := svc.GetBasinConfig(ctx, "basin-one"); !reflect.DeepEqual(got, want) {
		t.Fatalf("patch not stored: %s", encodeMeta(got))
	}
	_, err = svc.ReconfigureBasin(ctx, "basin-two", BasinReconfiguration{})
	wantCode(t, err, CodeBasinNotFound)
	_, err = svc.ReconfigureBasin(ctx, "basin-one", BasinReconfiguration{DefaultStreamConfig: Some(StreamReconfiguration{RetentionPolicy: Some(RetentionPolicy{})})})
	wantCode(t, err, CodeInvalid)

	// Ensure: noop, update, create.
	if _, res, err := svc.EnsureBasin(ctx, "basin-one", want); err != nil || res != Noop {
		t.Fatalf("ensure noop: %s %v", res, err)
	}
	if i, res, err := svc.EnsureBasin(ctx, "basin-one", BasinConfig{}); err != nil || res != Updated || !i.CreatedAt.Equal(info.CreatedAt) {
		t.Fatalf("ensure update: %s %v", res, err)
	}
	if got, _ := svc.GetBasinConfig(ctx, "basin-one"); !reflect.DeepEqual(got, BasinConfig{}) {
		t.Fatalf("ensure replaced config: %s", encodeMeta(got))
	}
	if _, res, err := svc.EnsureBasin(ctx, "basin-two", BasinConfig{}); err != nil || res != Created {
		t.Fatalf("ensure create: %s %v", res, err)
	}
	// The idempotency key survives ensure.
	if _, res, err := svc.CreateBasin(ctx, "basin-one", cfg, "token-1"); err != nil || res != Noop {
		t.Fatalf("replay after ensure: %s %v", res, err)
	}

	// Invalid input.
	_, _, err = svc.CreateBasin(ctx, "Bad", BasinConfig{}, "")
	if _, ok := err.(*InvalidNameError); !ok {
		t.Fatalf("bad name: %v", err)
	}
	_, _, err = svc.CreateBasin(ctx, "basin-three", BasinConfig{DefaultStreamConfig: &StreamConfig{RetentionPolicy: &RetentionPolicy{}}}, "")
	wantCode(t, err, CodeInvalid)
	_, _, err = svc.CreateBasin(ctx, "basin-three", BasinConfig{StreamCipher: str("rot13")}, "")
	wantCode(t, err, CodeInvalid)
	wantCode(t, svc.DeleteBasin(ctx, "basin-nope"), CodeBasinNotFound)
}

func TestBasinDeletionPending(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.pauseBackground = true })
	ctx, svc := e.ctx, e.svc
	e.basin("doomed-basin", BasinConfig{CreateStreamOnAppend: true, CreateStreamOnRead: true})
	e.stream("doomed-basin", "s1", StreamConfig{})
	e.appendBodies("doomed-basin", "s1", "a")
	if err := svc.DeleteBasin(ctx, "doomed-basin"); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteBasin(ctx, "doomed-basin"); err != nil {
		t.Fatalf("repeated delete: %v", err)
	}
	list, err := svc.ListBasins(ctx, ListRequest{})
	if err != nil || len(list.Basins) != 1 || list.Basins[0].DeletedAt == nil || list.Basins[0].State() != "deleting" {
		t.Fatalf("list while deleting: %+v %v", list, err)
	}
	if _, err := svc.GetBasinConfig(ctx, "doomed-basin"); err != nil {
		t.Fatalf("get config while deleting: %v", err)
	}
	for name, err := range map[string]error{
		"create":      second(svc.CreateBasin(ctx, "doomed-basin", BasinConfig{}, "")),
		"ensure":      second(svc.EnsureBasin(ctx, "doomed-basin", BasinConfig{})),
		"reconfigure": second2(svc.ReconfigureBasin(ctx, "doomed-basin", BasinReconfiguration{})),
		"stream":      second(svc.CreateStream(ctx, "doomed-basin", "s2", StreamConfig{}, "")),
		"auto-create": second2(svc.Append(ctx, "doomed-basin", "s3", AppendInput{Records: records("x")})),
		"auto-read":   second2(svc.CheckTail(ctx, "doomed-basin", "s3")),
	} {
		if code(err) != CodeBasinDeletionPending || err.(*Error).Message != "basin `doomed-basin` is being deleted" {
			t.Fatalf("%s while deleting: %v", name, err)
		}
	}
	// Existing streams keep working until deleted.
	e.appendBodies("doomed-basin", "s1", "b")
}

func second[A, B any](_ A, _ B, err error) error { return err }

func second2[A any](_ A, err error) error { return err }

func TestBasinDeletionResumesAfterRestart(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.pauseBackground = true })
	ctx := e.ctx
	e.basin("doomed-basin", BasinConfig{})
	e.basin("other-basin", BasinConfig{})
	for i := range 250 { // more than one deletion page
		e.stream("doomed-basin", fmt.Sprintf("s%03d", i), StreamConfig{})
	}
	e.appendBodies("doomed-basin", "s000", "a", "b")
	e.stream("other-basin", "keep", StreamConfig{})
	if err := e.svc.DeleteBasin(ctx, "doomed-basin"); err != nil {
		t.Fatal(err)
	}
	// Partial progress before the "crash".
	if _, err := e.svc.deleteStreamIf(ctx, "doomed-basin", "s001", nil); err != nil {
		t.Fatal(err)
	}
	e.reopen(func(o *Options) { o.pauseBackground = false })
	eventually(t, "basin deletion", func() bool {
		_, err := e.svc.GetBasinConfig(ctx, "doomed-basin")
		return code(err) == CodeBasinNotFound
	})
	list, err := e.svc.ListStreams(ctx, "doomed-basin", ListRequest{})
	if err != nil || len(list.Streams) != 0 {
		t.Fatalf("streams left: %d %v", len(list.Streams), err)
	}
	// The name is free again and starts empty.
	if _, res, err := e.svc.CreateBasin(ctx, "doomed-basin", BasinConfig{}, ""); err != nil || res != Created {
		t.Fatalf("re-create: %s %v", res, err)
	}
	e.stream("doomed-basin", "s000", StreamConfig{})
	if tail := e.tail("doomed-basin", "s000"); tail != (StreamPosition{}) {
		t.Fatalf("re-created stream tail %+v", tail)
	}
	if tail := e.tail("other-basin", "keep"); tail != (StreamPosition{}) {
		t.Fatalf("other basin touched: %+v", tail)
	}
	if _, err := e.svc.GetStreamConfig(ctx, "other-basin", "keep"); err != nil {
		t.Fatalf("other basin stream: %v", err)
	}
}

func TestListBasins(t *testing.T) {
	e := newEnv(t)
	names := []string{"alpha-001", "alpha-002", "alpha-003", "beta-0001", "beta-0002"}
	for _, n := range names {
		e.basin(n, BasinConfig{})
	}
	for _, tc := range []struct {
		name string
		req  ListRequest
		want []string
		more bool
	}{
		{"all", ListRequest{}, names, false},
		{"limit 0 means 1000", ListRequest{Limit: 0}, names, false},
		{"limit over 1000", ListRequest{Limit: 1500}, names, false},
		{"limit", ListRequest{Limit: 2}, names[:2], true},
		{"limit exact", ListRequest{Limit: 5}, names, false},
		{"prefix", ListRequest{Prefix: "beta-"}, names[3:], false},
		{"prefix with limit", ListRequest{Prefix: "alpha-", Limit: 3}, names[:3], false},
		{"start after", ListRequest{StartAfter: "alpha-002"}, names[2:], false},
		{"page", ListRequest{StartAfter: "alpha-002", Limit: 2}, names[2:4], true},
		{"start after before prefix", ListRequest{Prefix: "beta-", StartAfter: "alpha-009"}, names[3:], false},
		{"start after past prefix", ListRequest{Prefix: "alpha-", StartAfter: "alpha-999"}, nil, false},
		{"no match", ListRequest{Prefix: "gamma"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.svc.ListBasins(e.ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var gotNames []string
			for _, b := range got.Basins {
				gotNames = append(gotNames, b.Name)
			}
			if !reflect.DeepEqual(gotNames, tc.want) || got.HasMore != tc.more {
				t.Fatalf("got %v more=%v, want %v more=%v", gotNames, got.HasMore, tc.want, tc.more)
			}
		})
	}
	// Paginating with has_more and the last name visits everything once.
	var all []string
	req := ListRequest{Limit: 2}
	for {
		page, err := e.svc.ListBasins(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Basins {
			all = append(all, b.Name)
		}
		if !page.HasMore {
			break
		}
		req.StartAfter = all[len(all)-1]
	}
	if !reflect.DeepEqual(all, names) {
		t.Fatalf("paginated %v", all)
	}
	_, err := e.svc.ListBasins(e.ctx, ListRequest{Prefix: "-x"})
	if ne, ok := err.(*InvalidNameError); !ok || ne.Kind != BasinNamePrefix {
		t.Fatalf("bad prefix: %v", err)
	}
}
