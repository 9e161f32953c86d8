package stream

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestStreamLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx, svc := e.ctx, e.svc
	standard := StorageClassStandard
	arrival := TimestampingArrival
	e.basin("my-basin", BasinConfig{DefaultStreamConfig: &StreamConfig{
		StorageClass: &standard, RetentionPolicy: &RetentionPolicy{AgeSecs: 3600},
	}})

	info, res, err := svc.CreateStream(ctx, "my-basin", "日本/語", StreamConfig{Timestamping: &TimestampingConfig{Mode: &arrival}}, "tok")
	if err != nil || res != Created || info.Name != "日本/語" || info.Cipher != nil || info.DeletedAt != nil {
		t.Fatalf("create: %+v %s %v", info, res, err)
	}
	want := ResolvedStreamConfig{StorageClass: standard, RetentionPolicy: RetentionPolicy{AgeSecs: 3600},
		Timestamping: ResolvedTimestamping{Mode: arrival}}
	if got, err := svc.GetStreamConfig(ctx, "my-basin", "日本/語"); err != nil || got != want {
		t.Fatalf("get: %+v %v", got, err)
	}
	if tail := e.tail("my-basin", "日本/語"); tail != (StreamPosition{}) {
		t.Fatalf("new stream tail %+v", tail)
	}

	// Idempotent create and conflicts.
	if _, res, err := svc.CreateStream(ctx, "my-basin", "日本/語", StreamConfig{Timestamping: &TimestampingConfig{Mode: &arrival}}, "tok"); err != nil || res != Noop {
		t.Fatalf("replay: %s %v", res, err)
	}
	_, _, err = svc.CreateStream(ctx, "my-basin", "日本/語", StreamConfig{}, "tok")
	if code(err) != CodeResourceAlreadyExists || err.(*Error).Message != "stream `日本/語` in basin `my-basin` already exists" {
		t.Fatalf("conflict: %v", err)
	}
	wantCode(t, second(svc.CreateStream(ctx, "no-such-basin", "s", StreamConfig{}, "")), CodeBasinNotFound)
	wantCode(t, second(svc.CreateStream(ctx, "my-basin", "s", StreamConfig{RetentionPolicy: &RetentionPolicy{}}, "")), CodeInvalid)
	_, err = svc.GetStreamConfig(ctx, "my-basin", "missing")
	if code(err) != CodeStreamNotFound || err.(*Error).Message != "stream `missing` in basin `my-basin` not found" {
		t.Fatalf("get missing: %v", err)
	}
	wantCode(t, second2(svc.GetStreamConfig(ctx, "no-such-basin", "missing")), CodeStreamNotFound)
	for _, bad := range []string{"", ".", ".."} {
		var ne *InvalidNameError
		if !errors.As(second(svc.CreateStream(ctx, "my-basin", bad, StreamConfig{}, "")), &ne) || ne.Kind != StreamName {
			t.Fatalf("name %q accepted", bad)
		}
	}

	// Reconfigure resolves against the current basin defaults.
	if _, err := svc.ReconfigureBasin(ctx, "my-basin", BasinReconfiguration{DefaultStreamConfig: Null[StreamReconfiguration]()}); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.GetStreamConfig(ctx, "my-basin", "日本/語"); err != nil || got != want {
		t.Fatalf("basin reconfiguration changed the stream: %+v %v", got, err)
	}
	if got, err := svc.ReconfigureStream(ctx, "my-basin", "日本/語", StreamReconfiguration{}); err != nil || got != want {
		t.Fatalf("empty patch: %+v %v", got, err)
	}
	got, err := svc.ReconfigureStream(ctx, "my-basin", "日本/語", StreamReconfiguration{
		RetentionPolicy: Null[RetentionPolicy](),
		DeleteOnEmpty:   Some(DeleteOnEmptyReconfiguration{MinAgeSecs: Some[uint64](60)}),
	})
	want2 := want
	want2.RetentionPolicy = systemDefaults.RetentionPolicy
	want2.DeleteOnEmpty.MinAgeSecs = 60
	if err != nil || got != want2 {
		t.Fatalf("patch: %+v %v", got, err)
	}
	wantCode(t, second2(svc.ReconfigureStream(ctx, "my-basin", "missing", StreamReconfiguration{})), CodeStreamNotFound)
	wantCode(t, second2(svc.ReconfigureStream(ctx, "no-such-basin", "x", StreamReconfiguration{})), CodeBasinNotFound)
	wantCode(t, second2(svc.ReconfigureStream(ctx, "my-basin", "日本/語", StreamReconfiguration{RetentionPolicy: Some(RetentionPolicy{})})), CodeInvalid)

	// Ensure: noop on the same resolved config, update, create.
	if _, res, err := svc.EnsureStream(ctx, "my-basin", "日本/語", StreamConfig{StorageClass: &standard, Timestamping: &TimestampingConfig{Mode: &arrival}, DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 60}}); err != nil || res != Noop {
		t.Fatalf("ensure noop: %s %v", res, err)
	}
	if _, res, err := svc.EnsureStream(ctx, "my-basin", "日本/語", StreamConfig{}); err != nil || res != Updated {
		t.Fatalf("ensure update: %s %v", res, err)
	}
	if got, _ := svc.GetStreamConfig(ctx, "my-basin", "日本/語"); got != systemDefaults {
		t.Fatalf("ensure did not replace: %+v", got)
	}
	if _, res, err := svc.EnsureStream(ctx, "my-basin", "fresh", StreamConfig{}); err != nil || res != Created {
		t.Fatalf("ensure create: %s %v", res, err)
	}
}

func TestReconfigureTakesEffectForAppends(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	ack := e.append("my-basin", "s", AppendInput{Records: []AppendRecord{{Timestamp: u64(5)}}})
	if ack.Start.Timestamp != 5 {
		t.Fatalf("client timestamp not kept: %+v", ack)
	}
	if _, err := e.svc.ReconfigureStream(e.ctx, "my-basin", "s", StreamReconfiguration{
		Timestamping: Some(TimestampingReconfiguration{Mode: Some(TimestampingArrival)}),
	}); err != nil {
		t.Fatal(err)
	}
	ack = e.append("my-basin", "s", AppendInput{Records: []AppendRecord{{Timestamp: u64(7)}}})
	if ack.Start.Timestamp != e.clock.Millis() {
		t.Fatalf("arrival mode not applied: %+v", ack)
	}
}

func TestDeleteAndRecreateStream(t *testing.T) {
	e := newEnv(t)
	ctx, svc := e.ctx, e.svc
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	e.appendBodies("my-basin", "s", "a", "b", "c")

	sess, err := svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{SeqNum: u64(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if b, err := sess.Next(ctx); err != nil || bodies(b.Records) != "a,b,c" {
		t.Fatalf("catch-up: %v %v", b, err)
	}
	if b, err := sess.Next(ctx); err != nil || !b.IsHeartbeat() {
		t.Fatalf("heartbeat: %v %v", b, err)
	}

	if err := svc.DeleteStream(ctx, "my-basin", "s"); err != nil {
		t.Fatal(err)
	}
	// The follower ends with unavailable.
	_, err = sess.Next(ctx)
	wantCode(t, err, CodeUnavailable)

	wantCode(t, svc.DeleteStream(ctx, "my-basin", "s"), CodeStreamNotFound)
	wantCode(t, second2(svc.GetStreamConfig(ctx, "my-basin", "s")), CodeStreamNotFound)
	wantCode(t, second2(svc.CheckTail(ctx, "my-basin", "s")), CodeStreamNotFound)
	wantCode(t, second2(svc.Append(ctx, "my-basin", "s", AppendInput{Records: records("x")})), CodeStreamNotFound)
	wantCode(t, svc.DeleteStream(ctx, "no-such-basin", "s"), CodeStreamNotFound)
	if l, _ := svc.ListStreams(ctx, "my-basin", ListRequest{}); len(l.Streams) != 0 {
		t.Fatalf("deleted stream listed: %+v", l)
	}

	e.stream("my-basin", "s", StreamConfig{})
	if tail := e.tail("my-basin", "s"); tail != (StreamPosition{}) {
		t.Fatalf("re-created tail %+v", tail)
	}
	_, err = svc.Read(ctx, "my-basin", "s", ReadRequest{SeqNum: u64(0)})
	var rns *RangeNotSatisfiableError
	if !errors.As(err, &rns) {
		t.Fatalf("read of re-created stream: %v", err)
	}
	if ack := e.appendBodies("my-basin", "s", "new"); ack.Start.SeqNum != 0 {
		t.Fatalf("re-created stream does not start at 0: %+v", ack)
	}
	if got := bodies(e.readAll("my-basin", "s")); got != "new" {
		t.Fatalf("re-created stream holds %q", got)
	}

	// Same after a restart: nothing of the old stream comes back.
	e.reopen()
	if got := bodies(e.readAll("my-basin", "s")); got != "new" {
		t.Fatalf("after restart %q", got)
	}
}

func TestListStreams(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.basin("my-basin-2", BasinConfig{})
	names := []string{"a/1", "a/2", "a/3", "b", "日本"}
	for _, n := range names {
		e.stream("my-basin", n, StreamConfig{})
	}
	e.stream("my-basin-2", "a/x", StreamConfig{})
	for _, tc := range []struct {
		name string
		req  ListRequest
		want []string
		more bool
	}{
		{"all", ListRequest{}, names, false},
		{"limit", ListRequest{Limit: 2}, names[:2], true},
		{"prefix", ListRequest{Prefix: "a/"}, names[:3], false},
		{"start after", ListRequest{StartAfter: "a/3"}, names[3:], false},
		{"page", ListRequest{Prefix: "a/", StartAfter: "a/1", Limit: 1}, names[1:2], true},
		{"start after past prefix", ListRequest{Prefix: "a/", StartAfter: "b"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.svc.ListStreams(e.ctx, "my-basin", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var gotNames []string
			for _, s := range got.Streams {
				gotNames = append(gotNames, s.Name)
				if s.CreatedAt.IsZero() || s.DeletedAt != nil {
					t.Fatalf("bad info %+v", s)
				}
			}
			if !reflect.DeepEqual(gotNames, tc.want) || got.HasMore != tc.more {
				t.Fatalf("got %v more=%v, want %v more=%v", gotNames, got.HasMore, tc.want, tc.more)
			}
		})
	}
	if got, err := e.svc.ListStreams(e.ctx, "unknown-basin", ListRequest{}); err != nil || len(got.Streams) != 0 {
		t.Fatalf("unknown basin: %+v %v", got, err)
	}
}

func TestAutoCreate(t *testing.T) {
	e := newEnv(t)
	ctx, svc := e.ctx, e.svc
	e.basin("plain-basin", BasinConfig{})
	e.basin("auto-append", BasinConfig{CreateStreamOnAppend: true,
		DefaultStreamConfig: &StreamConfig{RetentionPolicy: &RetentionPolicy{AgeSecs: 77}}})
	e.basin("auto-read-1", BasinConfig{CreateStreamOnRead: true})

	wantCode(t, second2(svc.Append(ctx, "plain-basin", "s", AppendInput{Records: records("x")})), CodeStreamNotFound)
	// Batch validation comes first, like request parsing in the reference.
	wantCode(t, second2(svc.Append(ctx, "plain-basin", "s", AppendInput{})), CodeInvalid)
	wantCode(t, second2(svc.Append(ctx, "missing-basin", "s", AppendInput{Records: records("x")})), CodeBasinNotFound)
	wantCode(t, second2(svc.CheckTail(ctx, "plain-basin", "s")), CodeStreamNotFound)
	wantCode(t, second2(svc.Read(ctx, "missing-basin", "s", ReadRequest{})), CodeBasinNotFound)
	// Reading does not auto-create in an append-only auto-create basin.
	wantCode(t, second2(svc.CheckTail(ctx, "auto-append", "s")), CodeStreamNotFound)

	// Concurrent auto-creating appends are race-safe.
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- second2(svc.Append(ctx, "auto-append", "s", AppendInput{Records: records("x")})) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if tail := e.tail("auto-append", "s"); tail.SeqNum != 8 {
		t.Fatalf("tail %+v", tail)
	}
	if cfg, _ := svc.GetStreamConfig(ctx, "auto-append", "s"); cfg.RetentionPolicy.AgeSecs != 77 {
		t.Fatalf("auto-created stream did not inherit defaults: %+v", cfg)
	}

	// Read auto-create: an empty stream from seq 0 is 416, and it exists.
	_, err := svc.Read(ctx, "auto-read-1", "r", ReadRequest{SeqNum: u64(0)})
	var rns *RangeNotSatisfiableError
	if !errors.As(err, &rns) || rns.Tail != (StreamPosition{}) {
		t.Fatalf("read auto-create: %v", err)
	}
	if _, err := svc.GetStreamConfig(ctx, "auto-read-1", "r"); err != nil {
		t.Fatalf("not created by read: %v", err)
	}
	if p, err := svc.CheckTail(ctx, "auto-read-1", "t"); err != nil || p != (StreamPosition{}) {
		t.Fatalf("check tail auto-create: %v %v", p, err)
	}
	// A start timestamp >= until is rejected before any auto-create.
	wantCode(t, second2(svc.Read(ctx, "auto-read-1", "u", ReadRequest{Timestamp: u64(5), Until: u64(5)})), CodeInvalid)
	wantCode(t, second2(svc.GetStreamConfig(ctx, "auto-read-1", "u")), CodeStreamNotFound)
}

func TestDeleteOnEmpty(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DeleteOnEmptyGrace = -1 })
	ctx, svc := e.ctx, e.svc
	e.basin("my-basin", BasinConfig{})
	doe := func(secs uint64) StreamConfig {
		return StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: secs}, RetentionPolicy: &RetentionPolicy{AgeSecs: 10}}
	}
	e.stream("my-basin", "expires", doe(5))
	e.stream("my-basin", "trimmed", doe(5))
	e.stream("my-basin", "young", doe(3600))
	e.stream("my-basin", "disabled", StreamConfig{RetentionPolicy: &RetentionPolicy{AgeSecs: 10}})
	e.stream("my-basin", "busy", StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 5}, RetentionPolicy: &RetentionPolicy{Infinite: true}})
	for _, s := range []string{"expires", "young", "disabled", "busy"} {
		e.appendBodies("my-basin", s, "x")
	}
	e.append("my-basin", "trimmed", AppendInput{Records: []AppendRecord{{Body: []byte("x")}, trimRecord(100)}})

	exists := func(name string) bool {
		_, err := svc.GetStreamConfig(ctx, "my-basin", name)
		return err == nil
	}
	// Not old enough yet.
	e.clock.Advance(2 * time.Second)
	e.svc.runBackground(ctx)
	for _, s := range []string{"expires", "trimmed", "young", "disabled", "busy"} {
		if !exists(s) {
			t.Fatalf("%s deleted too early", s)
		}
	}
	e.clock.Advance(20 * time.Second) // records expired, min age passed
	e.svc.runBackground(ctx)
	for s, want := range map[string]bool{"expires": false, "trimmed": false, "young": true, "disabled": true, "busy": true} {
		if exists(s) != want {
			t.Fatalf("%s exists = %v, want %v", s, !want, want)
		}
	}
	// Disabling by reconfiguration removes it from the checks.
	if _, err := svc.ReconfigureStream(ctx, "my-basin", "young", StreamReconfiguration{DeleteOnEmpty: Null[DeleteOnEmptyReconfiguration]()}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	e.svc.runBackground(ctx)
	if !exists("young") || !exists("busy") {
		t.Fatal("stream deleted although not eligible")
	}
}

func TestAutoCreateConfig(t *testing.T) {
	e := newEnv(t)
	ctx, svc := e.ctx, e.svc
	e.basin("auto-config", BasinConfig{CreateStreamOnAppend: true, CreateStreamOnRead: true,
		DefaultStreamConfig: &StreamConfig{RetentionPolicy: &RetentionPolicy{AgeSecs: 3600}}})
	e.basin("plain-basin", BasinConfig{})
	config := func(name string) ResolvedStreamConfig {
		t.Helper()
		c, err := svc.GetStreamConfig(ctx, "auto-config", name)
		if err != nil {
			t.Fatalf("config of %s: %v", name, err)
		}
		return c
	}
	standard, arrival := StorageClassStandard, TimestampingArrival
	own := WithAutoCreateConfig(StreamConfig{StorageClass: &standard, RetentionPolicy: &RetentionPolicy{AgeSecs: 120}})
	want := ResolvedStreamConfig{StorageClass: StorageClassStandard, RetentionPolicy: RetentionPolicy{AgeSecs: 120},
		Timestamping: ResolvedTimestamping{Mode: TimestampingClientPrefer}}

	// Every call that can auto-create applies the config, layered over the
	// basin default and the system defaults like a CreateStream config.
	if _, err := svc.Append(ctx, "auto-config", "append", AppendInput{Records: records("x")}, own); err != nil {
		t.Fatal(err)
	}
	sess, err := svc.OpenAppendSession(ctx, "auto-config", "append-session", own)
	if err != nil {
		t.Fatal(err)
	}
	sess.Close()
	if _, err := svc.CheckTail(ctx, "auto-config", "tail", own); err != nil {
		t.Fatal(err)
	}
	var rns *RangeNotSatisfiableError
	if _, err := svc.Read(ctx, "auto-config", "read", ReadRequest{SeqNum: u64(0)}, own); !errors.As(err, &rns) {
		t.Fatalf("read auto-create: %v", err)
	}
	rs, err := svc.OpenReadSession(ctx, "auto-config", "read-session", ReadRequest{}, own)
	if err != nil {
		t.Fatal(err)
	}
	rs.Close()
	for _, name := range []string{"append", "append-session", "tail", "read", "read-session"} {
		if got := config(name); got != want {
			t.Fatalf("%s: config %+v, want %+v", name, got, want)
		}
	}
	partial := WithAutoCreateConfig(StreamConfig{Timestamping: &TimestampingConfig{Mode: &arrival},
		DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 60}})
	if _, err := svc.CheckTail(ctx, "auto-config", "partial", partial); err != nil {
		t.Fatal(err)
	}
	if got, want := config("partial"), (ResolvedStreamConfig{StorageClass: StorageClassExpress, RetentionPolicy: RetentionPolicy{AgeSecs: 3600},
		Timestamping: ResolvedTimestamping{Mode: TimestampingArrival}, DeleteOnEmpty: DeleteOnEmptyConfig{MinAgeSecs: 60}}); got != want {
		t.Fatalf("partial: config %+v, want %+v", got, want)
	}
	// Without the option, the basin defaults alone.
	if _, err := svc.CheckTail(ctx, "auto-config", "defaults"); err != nil {
		t.Fatal(err)
	}
	if got := config("defaults"); got.StorageClass != StorageClassExpress || got.RetentionPolicy.AgeSecs != 3600 {
		t.Fatalf("defaults: config %+v", got)
	}

	// An existing stream keeps its config.
	arrivalOnly := WithAutoCreateConfig(StreamConfig{Timestamping: &TimestampingConfig{Mode: &arrival}})
	if _, err := svc.Append(ctx, "auto-config", "append", AppendInput{Records: records("y")}, arrivalOnly); err != nil {
		t.Fatal(err)
	}
	if got := config("append"); got != want {
		t.Fatalf("existing stream reconfigured: %+v", got)
	}
	// Nor does the option create anything where auto-create is off.
	wantCode(t, second2(svc.Append(ctx, "plain-basin", "s", AppendInput{Records: records("x")}, own)), CodeStreamNotFound)

	// An invalid config is rejected before any auto-create, and also when
	// the stream exists.
	bad := WithAutoCreateConfig(StreamConfig{RetentionPolicy: &RetentionPolicy{}})
	wantCode(t, second2(svc.Append(ctx, "auto-config", "bad", AppendInput{Records: records("x")}, bad)), CodeInvalid)
	wantCode(t, second2(svc.OpenAppendSession(ctx, "auto-config", "bad", bad)), CodeInvalid)
	wantCode(t, second2(svc.Read(ctx, "auto-config", "bad", ReadRequest{}, bad)), CodeInvalid)
	wantCode(t, second2(svc.OpenReadSession(ctx, "auto-config", "bad", ReadRequest{}, bad)), CodeInvalid)
	wantCode(t, second2(svc.CheckTail(ctx, "auto-config", "bad", bad)), CodeInvalid)
	wantCode(t, second2(svc.GetStreamConfig(ctx, "auto-config", "bad")), CodeStreamNotFound)
	wantCode(t, second2(svc.CheckTail(ctx, "auto-config", "append", bad)), CodeInvalid)
}
