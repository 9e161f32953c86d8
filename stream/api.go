package stream

import (
	"context"
	"log/slog"
	"time"
)

// This file is the exported surface of the package: the types a transport
// (the HTTP server) builds requests from and renders responses of, and the
// methods of Service. The transport owns wire encodings (JSON, protobuf,
// SSE, S2S); this package owns every semantic rule of the S2 API and every
// validation, and reports failures as the typed errors of errors.go.

// Options configure a Service. The zero value is usable.
type Options struct {
	// Now is the wall clock used for record timestamps, retention expiry,
	// created_at/deleted_at and delete-on-empty. Tests inject their own; it
	// should be the clock the engine was opened with, so that retention
	// (engine TTL) and timestamps agree. Default time.Now.
	Now func() time.Time
	// Logger receives background events. Default: discard.
	Logger *slog.Logger

	// AppendInflightBytes is the server-wide budget of metered bytes of
	// appends accepted but not yet durable (--append-inflight-bytes).
	// Appends wait for room. Default 128 MiB; values below 1 MiB are
	// raised to 1 MiB so that a maximal batch always fits.
	AppendInflightBytes int64

	// BackgroundInterval is how often background work (basin deletion,
	// delete-on-empty, trim index cleanup, eviction of idle streams) runs.
	// Events such as a basin deletion also trigger it immediately.
	// Default 60s.
	BackgroundInterval time.Duration
	// HeartbeatMin and HeartbeatMax bound the random interval between
	// heartbeats of a following read session. Defaults 5s and 15s.
	HeartbeatMin, HeartbeatMax time.Duration
	// FollowerBufferBatches bounds how many live batches a following reader
	// may lag behind before it is dropped back to reading from storage.
	// Default 256.
	FollowerBufferBatches int
	// DeleteOnEmptyGrace is added to a stream's delete_on_empty min age
	// before an empty stream is deleted. Zero means the default, 10
	// minutes (like the reference); negative means none.
	DeleteOnEmptyGrace time.Duration
	// IdleStreamTimeout is how long an in-memory stream (its sequencer)
	// stays loaded without appends, readers or followers. Default 60s.
	IdleStreamTimeout time.Duration

	// Usage, when set, receives usage-metrics events (package usage).
	Usage UsageRecorder

	// pauseBackground keeps the background loop from starting, so tests
	// can leave background work half done.
	pauseBackground bool
}

// UsageRecorder receives the events usage metrics are made of. Calls are
// made on the append and read paths and must be cheap.
type UsageRecorder interface {
	// AppendDone reports an acknowledged batch: records [firstSeq,
	// endSeq) of metered size bytes, expiring at expiresAt (zero: never),
	// and the stream's trim point after it.
	AppendDone(basin, stream string, express bool, firstSeq, endSeq, bytes uint64, expiresAt time.Time, trimPoint uint64)
	// StreamDeleted reports a stream deletion.
	StreamDeleted(basin, stream string)
	// Read reports bytes read (metered) and, when op is set, one read
	// operation, unary or streaming.
	Read(basin string, streaming, op bool, bytes uint64)
}

// ProvisionResult is the outcome of a create or ensure, reported to clients
// in the s2-provision-result header.
type ProvisionResult string

const (
	Created ProvisionResult = "created"
	Updated ProvisionResult = "updated"
	Noop    ProvisionResult = "noop"
)

// StorageClass is informational in lite: it has no behavioural effect.
type StorageClass string

const (
	StorageClassStandard StorageClass = "standard"
	StorageClassExpress  StorageClass = "express"
)

// TimestampingMode selects how record timestamps are assigned (API 7.5).
type TimestampingMode string

const (
	TimestampingClientPrefer  TimestampingMode = "client-prefer"
	TimestampingClientRequire TimestampingMode = "client-require"
	TimestampingArrival       TimestampingMode = "arrival"
)

// RetentionPolicy is either Infinite or an age in seconds (which must be
// greater than zero). JSON: {"age": N} or {"infinite": {}}.
type RetentionPolicy struct {
	Infinite bool
	AgeSecs  uint64
}

// TimestampingConfig is the partial (request) form of timestamping; nil
// fields are unset.
type TimestampingConfig struct {
	Mode     *TimestampingMode
	Uncapped *bool
}

// DeleteOnEmptyConfig is delete_on_empty; a missing min_age_secs key inside
// the JSON object means 0. MinAgeSecs 0 disables the feature.
type DeleteOnEmptyConfig struct {
	MinAgeSecs uint64
}

// StreamConfig is the partial form of a stream configuration: what a
// create/ensure request carries and what a basin's default_stream_config
// holds. nil means unset (JSON absent or null); unset fields fall back to
// the basin defaults and then to the system defaults (API 4.3).
type StreamConfig struct {
	StorageClass    *StorageClass
	RetentionPolicy *RetentionPolicy
	Timestamping    *TimestampingConfig
	DeleteOnEmpty   *DeleteOnEmptyConfig
}

// ResolvedTimestamping is the fully resolved timestamping configuration.
type ResolvedTimestamping struct {
	Mode     TimestampingMode
	Uncapped bool
}

// ResolvedStreamConfig is a fully resolved stream configuration, what a
// stream stores and what GET/PATCH stream config return (every key set).
type ResolvedStreamConfig struct {
	StorageClass    StorageClass
	RetentionPolicy RetentionPolicy
	Timestamping    ResolvedTimestamping
	DeleteOnEmpty   DeleteOnEmptyConfig
}

// BasinConfig is a basin's configuration. DefaultStreamConfig is nil when
// no default is set at all; inside it, unset fields are nil (not resolved)
// and Timestamping is nil unless Mode or Uncapped is set. StreamCipher is
// nil or CipherAegis256 or CipherAES256GCM: the cipher given to streams
// created afterwards (API 7.9); changing it never changes an existing
// stream's.
type BasinConfig struct {
	DefaultStreamConfig  *StreamConfig
	StreamCipher         *string
	CreateStreamOnAppend bool
	CreateStreamOnRead   bool
}

// Maybe is a tri-state PATCH field (API 4.4): the zero value is absent
// (leave unchanged); Set with a nil Value is an explicit null (clear, fall
// back to the next layer); Set with a Value sets it.
type Maybe[T any] struct {
	Set   bool
	Value *T
}

// Some returns a Maybe holding v.
func Some[T any](v T) Maybe[T] { return Maybe[T]{Set: true, Value: &v} }

// Null returns an explicit-null Maybe.
func Null[T any]() Maybe[T] { return Maybe[T]{Set: true} }

// TimestampingReconfiguration patches timestamping field by field.
type TimestampingReconfiguration struct {
	Mode     Maybe[TimestampingMode]
	Uncapped Maybe[bool]
}

// DeleteOnEmptyReconfiguration patches delete_on_empty.
type DeleteOnEmptyReconfiguration struct {
	MinAgeSecs Maybe[uint64]
}

// StreamReconfiguration is a PATCH of a stream configuration (also used
// for a basin's default_stream_config). Nested objects update only the
// fields they mention; a nested null clears the whole nested object.
type StreamReconfiguration struct {
	StorageClass    Maybe[StorageClass]
	RetentionPolicy Maybe[RetentionPolicy]
	Timestamping    Maybe[TimestampingReconfiguration]
	DeleteOnEmpty   Maybe[DeleteOnEmptyReconfiguration]
}

// BasinReconfiguration is a PATCH of a basin configuration. The two
// booleans cannot be null (nil means absent).
type BasinReconfiguration struct {
	DefaultStreamConfig  Maybe[StreamReconfiguration]
	StreamCipher         Maybe[string]
	CreateStreamOnAppend *bool
	CreateStreamOnRead   *bool
}

// BasinInfo describes a basin in list/create/ensure responses. Location is
// always null in lite; the deprecated state is "deleting" iff DeletedAt is
// set (see State).
type BasinInfo struct {
	Name      string
	CreatedAt time.Time
	DeletedAt *time.Time
}

// State is the deprecated BasinInfo.state: "active" or "deleting".
func (b BasinInfo) State() string {
	if b.DeletedAt != nil {
		return "deleting"
	}
	return "active"
}

// StreamInfo describes a stream in list/create/ensure responses. Cipher is
// the stream's cipher (nil for none), fixed when it was created.
type StreamInfo struct {
	Name      string
	CreatedAt time.Time
	DeletedAt *time.Time
	Cipher    *string
}

// ListRequest selects names that start with Prefix and sort strictly after
// StartAfter, at most Limit of them (0 or more than 1000 means 1000).
type ListRequest struct {
	Prefix     string
	StartAfter string
	Limit      int
}

// ListBasinsResponse is one page of basins; HasMore says another exists.
type ListBasinsResponse struct {
	Basins  []BasinInfo
	HasMore bool
}

// ListStreamsResponse is one page of streams; HasMore says another exists.
type ListStreamsResponse struct {
	Streams []StreamInfo
	HasMore bool
}

// StreamPosition is a position in a stream. As a tail it is the next
// sequence number to be assigned and the timestamp of the last record.
type StreamPosition struct {
	SeqNum    uint64
	Timestamp uint64
}

// Header is one record header. A command record has exactly one header,
// with an empty Name and the command ("fence" or "trim") as Value.
type Header struct {
	Name  []byte
	Value []byte
}

// AppendRecord is a record to append. A nil Timestamp is absent (which
// differs from 0).
type AppendRecord struct {
	Timestamp *uint64
	Headers   []Header
	Body      []byte
}

// AppendInput is one append batch with its optional conditions. The
// package copies what it keeps; the caller may reuse the buffers once
// Submit (or Append) returns.
type AppendInput struct {
	Records      []AppendRecord
	MatchSeqNum  *uint64
	FencingToken *string
}

// AppendAck acknowledges a durable batch: Start is the first record's
// position, End.SeqNum is one past the last record and End.Timestamp the
// last record's timestamp; Tail is the stream's durable tail when the ack
// was released (>= End).
type AppendAck struct {
	Start StreamPosition
	End   StreamPosition
	Tail  StreamPosition
}

// SequencedRecord is a record as read back.
type SequencedRecord struct {
	SeqNum    uint64
	Timestamp uint64
	Headers   []Header
	Body      []byte
}

// ReadBatch is what a read returns: records in seq_num order. Tail is set
// only on live batches (records received while following) and heartbeats.
// In a read session a heartbeat is a ReadBatch with no records and Tail
// set. Records of live batches are shared between readers: treat them as
// read-only.
type ReadBatch struct {
	Records []SequencedRecord
	Tail    *StreamPosition
}

// IsHeartbeat reports whether b is a read-session heartbeat.
func (b ReadBatch) IsHeartbeat() bool { return len(b.Records) == 0 && b.Tail != nil }

// ReadRequest holds the read query parameters (API 8.2). At most one of
// SeqNum, Timestamp and TailOffset may be set; with none the read starts at
// the tail. nil means absent for every pointer.
type ReadRequest struct {
	SeqNum     *uint64
	Timestamp  *uint64
	TailOffset *uint64
	Clamp      bool
	Count      *uint64
	Bytes      *uint64
	// Until is an exclusive timestamp bound.
	Until *uint64
	// Wait is the `wait` parameter (the API carries whole seconds).
	Wait *time.Duration
}

// OpenOption adjusts how a data-plane call (Append, OpenAppendSession,
// Read, OpenReadSession, CheckTail) opens its stream.
type OpenOption func(*openOptions)

// WithAutoCreateConfig gives a stream that the call auto-creates config,
// layered over the basin's default_stream_config exactly like the config
// of CreateStream (API 4.3). It is ignored when the stream exists, but an
// invalid config fails the call (invalid) either way, before any
// auto-create: whether a request is valid should not depend on a race
// with the stream's creation.
func WithAutoCreateConfig(config StreamConfig) OpenOption {
	return func(o *openOptions) { o.createConfig = &config }
}

// New returns a Service storing everything in db, and resumes background
// work (basin deletions) left unfinished by a previous process. The caller
// keeps ownership of db and closes it after Service.Close.
//
// func New(ctx context.Context, db *engine.DB, opts Options) (*Service, error)
// is defined in service.go.

// CreateBasin creates a basin (POST /v1/basins). requestToken is the
// optional s2-request-token ("" for none): repeating a create with the same
// token and config is a Noop returning the original BasinInfo.
func (s *Service) CreateBasin(ctx context.Context, name string, config BasinConfig, requestToken string) (BasinInfo, ProvisionResult, error) {
	return s.createBasin(ctx, name, config, requestToken)
}

// EnsureBasin makes the basin exist with exactly config (PUT): Created,
// Updated or Noop.
func (s *Service) EnsureBasin(ctx context.Context, name string, config BasinConfig) (BasinInfo, ProvisionResult, error) {
	return s.ensureBasin(ctx, name, config)
}

// GetBasinConfig returns a basin's configuration (also while it is being
// deleted).
func (s *Service) GetBasinConfig(ctx context.Context, name string) (BasinConfig, error) {
	return s.getBasinConfig(ctx, name)
}

// ReconfigureBasin applies a PATCH and returns the new configuration.
func (s *Service) ReconfigureBasin(ctx context.Context, name string, r BasinReconfiguration) (BasinConfig, error) {
	return s.reconfigureBasin(ctx, name, r)
}

// DeleteBasin marks the basin deleted; a background task deletes its
// streams and then the basin. Repeating it while pending succeeds.
func (s *Service) DeleteBasin(ctx context.Context, name string) error {
	return s.deleteBasin(ctx, name)
}

// ListBasins lists basins, including those being deleted.
func (s *Service) ListBasins(ctx context.Context, req ListRequest) (ListBasinsResponse, error) {
	return s.listBasins(ctx, req)
}

// CreateStream creates a stream (POST /v1/streams); see CreateBasin for
// requestToken.
func (s *Service) CreateStream(ctx context.Context, basin, name string, config StreamConfig, requestToken string) (StreamInfo, ProvisionResult, error) {
	return s.createStream(ctx, basin, name, config, requestToken)
}

// EnsureStream makes the stream exist with config resolved against the
// current basin defaults (PUT).
func (s *Service) EnsureStream(ctx context.Context, basin, name string, config StreamConfig) (StreamInfo, ProvisionResult, error) {
	return s.ensureStream(ctx, basin, name, config)
}

// GetStreamConfig returns a stream's resolved configuration.
func (s *Service) GetStreamConfig(ctx context.Context, basin, name string) (ResolvedStreamConfig, error) {
	return s.getStreamConfig(ctx, basin, name)
}

// ReconfigureStream applies a PATCH and returns the resolved configuration.
func (s *Service) ReconfigureStream(ctx context.Context, basin, name string, r StreamReconfiguration) (ResolvedStreamConfig, error) {
	return s.reconfigureStream(ctx, basin, name, r)
}

// DeleteStream deletes a stream: its records, state and name. Appends
// accepted before it are durable first; readers following it end with an
// unavailable error. Afterwards the name is free.
func (s *Service) DeleteStream(ctx context.Context, basin, name string) error {
	return s.deleteStream(ctx, basin, name)
}

// ListStreams lists the streams of a basin (an unknown basin has none).
func (s *Service) ListStreams(ctx context.Context, basin string, req ListRequest) (ListStreamsResponse, error) {
	return s.listStreams(ctx, basin, req)
}

// CheckTail returns the durable tail, auto-creating the stream if the basin
// has create_stream_on_read.
func (s *Service) CheckTail(ctx context.Context, basin, name string, opts ...OpenOption) (StreamPosition, error) {
	return s.checkTail(ctx, basin, name, opts)
}

// Append appends one batch and returns once it is durable (unary append).
// The batch is validated before the stream is looked up, so an invalid
// batch is 422 even for a missing stream (as in the reference, where
// validation is part of request parsing). Cancelling ctx abandons the
// wait, not necessarily the append.
func (s *Service) Append(ctx context.Context, basin, name string, in AppendInput, opts ...OpenOption) (AppendAck, error) {
	v, err := validateAppendInput(in)
	if err != nil {
		return AppendAck{}, err
	}
	sess, err := s.OpenAppendSession(ctx, basin, name, opts...)
	if err != nil {
		return AppendAck{}, err
	}
	defer sess.Close()
	f, err := sess.submitValidated(ctx, v)
	if err != nil {
		return AppendAck{}, err
	}
	return f.Wait(ctx)
}

// OpenAppendSession opens a pipelined append session on one stream (S2S
// append). The stream is auto-created here if the basin allows it.
func (s *Service) OpenAppendSession(ctx context.Context, basin, name string, opts ...OpenOption) (*AppendSession, error) {
	return s.openAppendSession(ctx, basin, name, opts)
}

// Read performs a unary read (API 8.6): Count and Bytes are clamped to
// 1000 records and 1 MiB, Wait to 60 s.
func (s *Service) Read(ctx context.Context, basin, name string, req ReadRequest, opts ...OpenOption) (ReadBatch, error) {
	return s.readUnary(ctx, basin, name, req, opts)
}

// OpenReadSession starts a read session (SSE or S2S, API 8.5). Failures
// that happen before the session starts (not found, deletion pending, 416,
// invalid request) are returned here.
func (s *Service) OpenReadSession(ctx context.Context, basin, name string, req ReadRequest, opts ...OpenOption) (*ReadSession, error) {
	return s.openReadSession(ctx, basin, name, req, opts)
}

// Submit validates and sequences one batch and returns a future for its
// ack without waiting for durability, so a client can pipeline. Futures
// of one session resolve in submission order, each once its batch and
// every earlier one are durable; a 412 condition failure (fencing token or
// match_seq_num, checked against the state after every earlier accepted
// batch) is delivered through the future, also only after the earlier
// batches are durable.
//
// After an input fails (validation, a condition failure, a storage
// failure), the session accepts nothing more: Submit returns that first
// error. An error returned by Submit itself means nothing was queued; a
// transport should still deliver the acks of earlier futures before
// reporting it (API 10.4). Submit waits (bounded by ctx) for room in the
// server-wide in-flight budget.
func (a *AppendSession) Submit(ctx context.Context, in AppendInput) (*AppendFuture, error) {
	return a.submit(ctx, in)
}

// Close ends the session. Outstanding futures still resolve.
func (a *AppendSession) Close() { a.close() }

// Done is closed once the outcome of the append is known.
func (f *AppendFuture) Done() <-chan struct{} { return f.done }

// Result is the outcome; it blocks until Done is closed.
func (f *AppendFuture) Result() (AppendAck, error) {
	<-f.done
	return f.ack, f.err
}

// Wait waits for the outcome, or for ctx to end (which says nothing about
// the append).
func (f *AppendFuture) Wait(ctx context.Context) (AppendAck, error) {
	select {
	case <-f.done:
		return f.ack, f.err
	case <-ctx.Done():
		return AppendAck{}, ctx.Err()
	}
}

// Next returns the next batch or heartbeat of the session. It returns
// io.EOF when the session ends normally (a limit or until was reached, wait
// expired, or the read may not follow), and any other error when it ends
// abnormally (an *Error such as unavailable when the stream is deleted).
// Catch-up batches have no Tail; live batches and heartbeats do.
func (r *ReadSession) Next(ctx context.Context) (ReadBatch, error) { return r.next(ctx) }

// Close releases the session. It must be called.
func (r *ReadSession) Close() { r.close() }
