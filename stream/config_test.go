package stream

import (
	"reflect"
	"testing"
)

func TestResolveStreamConfig(t *testing.T) {
	standard, express := StorageClassStandard, StorageClassExpress
	arrival, require := TimestampingArrival, TimestampingClientRequire
	yes, no := true, false
	for _, tc := range []struct {
		name       string
		own, basin *StreamConfig
		want       ResolvedStreamConfig
	}{
		{name: "system defaults", want: ResolvedStreamConfig{
			StorageClass:    StorageClassExpress,
			RetentionPolicy: RetentionPolicy{AgeSecs: 604800},
			Timestamping:    ResolvedTimestamping{Mode: TimestampingClientPrefer},
		}},
		{
			name:  "basin default under system default",
			basin: &StreamConfig{StorageClass: &standard, RetentionPolicy: &RetentionPolicy{AgeSecs: 3600}},
			want: ResolvedStreamConfig{StorageClass: standard, RetentionPolicy: RetentionPolicy{AgeSecs: 3600},
				Timestamping: ResolvedTimestamping{Mode: TimestampingClientPrefer}},
		},
		{
			name:  "stream over basin",
			own:   &StreamConfig{StorageClass: &express, RetentionPolicy: &RetentionPolicy{Infinite: true}},
			basin: &StreamConfig{StorageClass: &standard, RetentionPolicy: &RetentionPolicy{AgeSecs: 3600}},
			want: ResolvedStreamConfig{StorageClass: express, RetentionPolicy: RetentionPolicy{Infinite: true},
				Timestamping: ResolvedTimestamping{Mode: TimestampingClientPrefer}},
		},
		{
			name:  "nested timestamping fields resolve independently",
			own:   &StreamConfig{Timestamping: &TimestampingConfig{Uncapped: &yes}},
			basin: &StreamConfig{Timestamping: &TimestampingConfig{Mode: &arrival, Uncapped: &no}},
			want: ResolvedStreamConfig{StorageClass: express, RetentionPolicy: RetentionPolicy{AgeSecs: 604800},
				Timestamping: ResolvedTimestamping{Mode: arrival, Uncapped: true}},
		},
		{
			name:  "explicit delete_on_empty 0 overrides the basin",
			own:   &StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 0}, Timestamping: &TimestampingConfig{Mode: &require}},
			basin: &StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 60}},
			want: ResolvedStreamConfig{StorageClass: express, RetentionPolicy: RetentionPolicy{AgeSecs: 604800},
				Timestamping: ResolvedTimestamping{Mode: require}},
		},
		{
			name:  "basin delete_on_empty inherited",
			basin: &StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 60}},
			want: ResolvedStreamConfig{StorageClass: express, RetentionPolicy: RetentionPolicy{AgeSecs: 604800},
				Timestamping: ResolvedTimestamping{Mode: TimestampingClientPrefer}, DeleteOnEmpty: DeleteOnEmptyConfig{MinAgeSecs: 60}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveStreamConfig(tc.own, tc.basin); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestApplyStreamReconfiguration(t *testing.T) {
	standard := StorageClassStandard
	arrival := TimestampingArrival
	yes := true
	full := partialOf(systemDefaults)
	for _, tc := range []struct {
		name  string
		base  StreamConfig
		patch StreamReconfiguration
		want  StreamConfig
	}{
		{name: "empty patch is a no-op", base: full, want: full},
		{
			name:  "set a value",
			base:  full,
			patch: StreamReconfiguration{StorageClass: Some(standard)},
			want:  func() StreamConfig { c := partialOf(systemDefaults); c.StorageClass = &standard; return c }(),
		},
		{
			name:  "null clears",
			base:  full,
			patch: StreamReconfiguration{RetentionPolicy: Null[RetentionPolicy](), StorageClass: Null[StorageClass]()},
			want: func() StreamConfig {
				c := partialOf(systemDefaults)
				c.RetentionPolicy, c.StorageClass = nil, nil
				return c
			}(),
		},
		{
			name:  "nested patch touches only mentioned fields",
			base:  full,
			patch: StreamReconfiguration{Timestamping: Some(TimestampingReconfiguration{Uncapped: Some(true)})},
			want: func() StreamConfig {
				c := partialOf(systemDefaults)
				c.Timestamping = &TimestampingConfig{Mode: ptr(TimestampingClientPrefer), Uncapped: &yes}
				return c
			}(),
		},
		{
			name:  "nested null clears the whole object",
			base:  full,
			patch: StreamReconfiguration{Timestamping: Null[TimestampingReconfiguration]()},
			want:  func() StreamConfig { c := partialOf(systemDefaults); c.Timestamping = nil; return c }(),
		},
		{
			name:  "nested object on an unset field starts empty",
			base:  StreamConfig{},
			patch: StreamReconfiguration{Timestamping: Some(TimestampingReconfiguration{Mode: Some(arrival)})},
			want:  StreamConfig{Timestamping: &TimestampingConfig{Mode: &arrival}},
		},
		{
			name:  "empty nested timestamping normalises to unset",
			base:  StreamConfig{},
			patch: StreamReconfiguration{Timestamping: Some(TimestampingReconfiguration{})},
			want:  StreamConfig{},
		},
		{
			name:  "delete_on_empty null min age means 0",
			base:  StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 30}},
			patch: StreamReconfiguration{DeleteOnEmpty: Some(DeleteOnEmptyReconfiguration{MinAgeSecs: Null[uint64]()})},
			want:  StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{}},
		},
		{
			name:  "delete_on_empty empty object keeps the value",
			base:  StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 30}},
			patch: StreamReconfiguration{DeleteOnEmpty: Some(DeleteOnEmptyReconfiguration{})},
			want:  StreamConfig{DeleteOnEmpty: &DeleteOnEmptyConfig{MinAgeSecs: 30}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := applyStreamReconfiguration(tc.base, tc.patch)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %s\nwant %s", encodeMeta(got), encodeMeta(tc.want))
			}
		})
	}
}

func TestApplyBasinReconfiguration(t *testing.T) {
	standard := StorageClassStandard
	yes := true
	base := BasinConfig{DefaultStreamConfig: &StreamConfig{StorageClass: &standard}, CreateStreamOnAppend: true}
	for _, tc := range []struct {
		name  string
		patch BasinReconfiguration
		want  BasinConfig
	}{
		{name: "no-op", want: base},
		{name: "toggle", patch: BasinReconfiguration{CreateStreamOnAppend: new(bool), CreateStreamOnRead: &yes},
			want: BasinConfig{DefaultStreamConfig: &StreamConfig{StorageClass: &standard}, CreateStreamOnRead: true}},
		{name: "null removes defaults", patch: BasinReconfiguration{DefaultStreamConfig: Null[StreamReconfiguration]()},
			want: BasinConfig{CreateStreamOnAppend: true}},
		{name: "patch defaults without resolving",
			patch: BasinReconfiguration{DefaultStreamConfig: Some(StreamReconfiguration{RetentionPolicy: Some(RetentionPolicy{AgeSecs: 60})})},
			want:  BasinConfig{DefaultStreamConfig: &StreamConfig{StorageClass: &standard, RetentionPolicy: &RetentionPolicy{AgeSecs: 60}}, CreateStreamOnAppend: true}},
		{name: "clearing the last default leaves null",
			patch: BasinReconfiguration{DefaultStreamConfig: Some(StreamReconfiguration{StorageClass: Null[StorageClass]()})},
			want:  BasinConfig{CreateStreamOnAppend: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := applyBasinReconfiguration(base, tc.patch)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %s\nwant %s", encodeMeta(got), encodeMeta(tc.want))
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	bad := StorageClass("cold")
	for _, tc := range []struct {
		name string
		err  error
		want string // message, "" for valid
	}{
		{"valid", validateStreamConfig(&StreamConfig{RetentionPolicy: &RetentionPolicy{AgeSecs: 1}}), ""},
		{"infinite", validateStreamConfig(&StreamConfig{RetentionPolicy: &RetentionPolicy{Infinite: true}}), ""},
		{"age 0", validateStreamConfig(&StreamConfig{RetentionPolicy: &RetentionPolicy{}}), "age must be greater than 0 seconds"},
		{"age 0 in basin defaults", validateBasinConfig(BasinConfig{DefaultStreamConfig: &StreamConfig{RetentionPolicy: &RetentionPolicy{}}}), "age must be greater than 0 seconds"},
		{"age 0 in stream patch", validateStreamReconfiguration(StreamReconfiguration{RetentionPolicy: Some(RetentionPolicy{})}), "age must be greater than 0 seconds"},
		{"age 0 in basin patch", validateBasinReconfiguration(BasinReconfiguration{DefaultStreamConfig: Some(StreamReconfiguration{RetentionPolicy: Some(RetentionPolicy{})})}), "age must be greater than 0 seconds"},
		{"unknown storage class", validateStreamConfig(&StreamConfig{StorageClass: &bad}), `unknown storage class "cold"`},
		{"cipher", validateBasinConfig(BasinConfig{StreamCipher: str("aegis-256")}), ""},
		{"cipher patch", validateBasinReconfiguration(BasinReconfiguration{StreamCipher: Some("aes-256-gcm")}), ""},
		{"unknown cipher", validateBasinConfig(BasinConfig{StreamCipher: str("rot13")}), "unknown stream cipher \"rot13\": expected `aegis-256` or `aes-256-gcm`"},
		{"unknown cipher patch", validateBasinReconfiguration(BasinReconfiguration{StreamCipher: Some("des")}), "unknown stream cipher \"des\": expected `aegis-256` or `aes-256-gcm`"},
		{"cipher null patch", validateBasinReconfiguration(BasinReconfiguration{StreamCipher: Null[string]()}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if tc.err != nil {
					t.Fatalf("unexpected error %v", tc.err)
				}
				return
			}
			wantCode(t, tc.err, CodeInvalid)
			if e := tc.err.(*Error); e.Message != tc.want || e.Status != 422 {
				t.Fatalf("got %d %q, want 422 %q", e.Status, e.Message, tc.want)
			}
		})
	}
}
