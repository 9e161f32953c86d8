package stream

import (
	"context"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// Stream metadata operations (API 6) and stream lookup with auto-create.

func validateStreamAddress(basin, name string) error {
	if err := ValidateBasinName(basin); err != nil {
		return err
	}
	return ValidateStreamName(name)
}

func (s *Service) createStream(ctx context.Context, basin, name string, config StreamConfig, token string) (StreamInfo, ProvisionResult, error) {
	if err := s.checkOpen(); err != nil {
		return StreamInfo{}, "", err
	}
	if err := validateStreamAddress(basin, name); err != nil {
		return StreamInfo{}, "", err
	}
	if err := ValidateRequestToken(token); err != nil {
		return StreamInfo{}, "", err
	}
	if err := validateStreamConfig(&config); err != nil {
		return StreamInfo{}, "", err
	}
	config = normalizeStreamConfig(config)
	defer s.basinLocks.rlock(basin)()
	defer s.streamLocks.lock(streamMapKey(basin, name))()
	bm, err := s.activeBasin(ctx, basin)
	if err != nil {
		return StreamInfo{}, "", err
	}
	key := creationKey(token, config)
	m, err := s.getStreamMeta(ctx, basin, name)
	if err != nil {
		return StreamInfo{}, "", err
	}
	if m != nil {
		if key != "" && key == m.CreationKey {
			return m.info(name), Noop, nil
		}
		return StreamInfo{}, "", streamExists(basin, name)
	}
	m, err = s.putNewStream(ctx, basin, name, resolveStreamConfig(&config, bm.Config.DefaultStreamConfig), bm.Config.StreamCipher, key)
	if err != nil {
		return StreamInfo{}, "", err
	}
	return m.info(name), Created, nil
}

func (s *Service) ensureStream(ctx context.Context, basin, name string, config StreamConfig) (StreamInfo, ProvisionResult, error) {
	if err := s.checkOpen(); err != nil {
		return StreamInfo{}, "", err
	}
	if err := validateStreamAddress(basin, name); err != nil {
		return StreamInfo{}, "", err
	}
	if err := validateStreamConfig(&config); err != nil {
		return StreamInfo{}, "", err
	}
	defer s.basinLocks.rlock(basin)()
	defer s.streamLocks.lock(streamMapKey(basin, name))()
	bm, err := s.activeBasin(ctx, basin)
	if err != nil {
		return StreamInfo{}, "", err
	}
	resolved := resolveStreamConfig(&config, bm.Config.DefaultStreamConfig)
	m, err := s.getStreamMeta(ctx, basin, name)
	if err != nil {
		return StreamInfo{}, "", err
	}
	if m == nil {
		m, err = s.putNewStream(ctx, basin, name, resolved, bm.Config.StreamCipher, "")
		if err != nil {
			return StreamInfo{}, "", err
		}
		return m.info(name), Created, nil
	}
	if configEqual(m.Config, resolved) {
		return m.info(name), Noop, nil
	}
	if err := s.putStreamConfig(ctx, basin, name, m, resolved); err != nil {
		return StreamInfo{}, "", err
	}
	return m.info(name), Updated, nil
}

func (s *Service) getStreamConfig(ctx context.Context, basin, name string) (ResolvedStreamConfig, error) {
	if err := s.checkOpen(); err != nil {
		return ResolvedStreamConfig{}, err
	}
	if err := validateStreamAddress(basin, name); err != nil {
		return ResolvedStreamConfig{}, err
	}
	m, err := s.getStreamMeta(ctx, basin, name)
	if err != nil {
		return ResolvedStreamConfig{}, err
	}
	if m == nil {
		return ResolvedStreamConfig{}, streamNotFound(basin, name)
	}
	if h := s.lookupStream(streamMapKey(basin, name)); h != nil {
		_, err := h.tail() // deletion pending?
		h.release()
		if err != nil {
			return ResolvedStreamConfig{}, err
		}
	}
	return m.Config, nil
}

func (s *Service) reconfigureStream(ctx context.Context, basin, name string, r StreamReconfiguration) (ResolvedStreamConfig, error) {
	if err := s.checkOpen(); err != nil {
		return ResolvedStreamConfig{}, err
	}
	if err := validateStreamAddress(basin, name); err != nil {
		return ResolvedStreamConfig{}, err
	}
	if err := validateStreamReconfiguration(r); err != nil {
		return ResolvedStreamConfig{}, err
	}
	defer s.basinLocks.rlock(basin)()
	defer s.streamLocks.lock(streamMapKey(basin, name))()
	bm, err := s.activeBasin(ctx, basin)
	if err != nil {
		return ResolvedStreamConfig{}, err
	}
	m, err := s.getStreamMeta(ctx, basin, name)
	if err != nil {
		return ResolvedStreamConfig{}, err
	}
	if m == nil {
		return ResolvedStreamConfig{}, streamNotFound(basin, name)
	}
	patched := applyStreamReconfiguration(partialOf(m.Config), r)
	resolved := resolveStreamConfig(&patched, bm.Config.DefaultStreamConfig)
	if configEqual(resolved, m.Config) {
		return m.Config, nil
	}
	if err := s.putStreamConfig(ctx, basin, name, m, resolved); err != nil {
		return ResolvedStreamConfig{}, err
	}
	return resolved, nil
}

func (s *Service) deleteStream(ctx context.Context, basin, name string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := validateStreamAddress(basin, name); err != nil {
		return err
	}
	_, err := s.deleteStreamIf(ctx, basin, name, nil)
	return err
}

// deleteStreamIf deletes a stream if cond holds once its appends are
// quiesced (nil: unconditionally); see streamHandle.deleteIf.
func (s *Service) deleteStreamIf(ctx context.Context, basin, name string, cond func(*streamHandle) (bool, error)) (bool, error) {
	defer s.streamLocks.lock(streamMapKey(basin, name))()
	h, err := s.loadStreamLocked(ctx, basin, name)
	if err != nil {
		return false, err
	}
	if h == nil {
		return false, streamNotFound(basin, name)
	}
	defer h.release()
	return h.deleteIf(ctx, cond)
}

func (s *Service) listStreams(ctx context.Context, basin string, req ListRequest) (ListStreamsResponse, error) {
	if err := s.checkOpen(); err != nil {
		return ListStreamsResponse{}, err
	}
	if err := ValidateBasinName(basin); err != nil {
		return ListStreamsResponse{}, err
	}
	if err := ValidateStreamPrefix(StreamNamePrefix, req.Prefix); err != nil {
		return ListStreamsResponse{}, err
	}
	if err := ValidateStreamPrefix(StreamStartAfter, req.StartAfter); err != nil {
		return ListStreamsResponse{}, err
	}
	var out ListStreamsResponse
	more, err := s.listKeys(ctx, streamsOfBasinPrefix(basin), req, func(name string, value []byte) error {
		var m streamMeta
		if err := decodeMetaValue(value, &m); err != nil {
			return err
		}
		out.Streams = append(out.Streams, m.info(name))
		return nil
	})
	out.HasMore = more
	return out, err
}

func (s *Service) checkTail(ctx context.Context, basin, name string, opts []OpenOption) (StreamPosition, error) {
	if err := s.checkOpen(); err != nil {
		return StreamPosition{}, err
	}
	if err := validateStreamAddress(basin, name); err != nil {
		return StreamPosition{}, err
	}
	// No key: the tail of a stream with a cipher is no secret.
	h, _, err := s.openStream(ctx, basin, name, true, opts)
	if err != nil {
		return StreamPosition{}, err
	}
	defer h.release()
	return h.tail()
}

// openOptions are the collected OpenOptions of a call.
type openOptions struct {
	// createConfig is the stream's own config layer if the call
	// auto-creates it; nil means the basin defaults alone.
	createConfig *StreamConfig
	// key is the request's encryption key, nil if it carried none.
	key *EncryptionKey
}

// collectOpenOptions applies opts and validates the result.
func collectOpenOptions(opts []OpenOption) (openOptions, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := validateStreamConfig(o.createConfig); err != nil {
		return openOptions{}, err
	}
	return o, nil
}

// openStream returns a referenced handle of an existing stream, creating
// the stream first if it is missing and the basin says so
// (create_stream_on_read when forRead, else create_stream_on_append), and
// the call's options.
func (s *Service) openStream(ctx context.Context, basin, name string, forRead bool, opts []OpenOption) (*streamHandle, openOptions, error) {
	if err := validateStreamAddress(basin, name); err != nil {
		return nil, openOptions{}, err
	}
	o, err := collectOpenOptions(opts)
	if err != nil {
		return nil, openOptions{}, err
	}
	h, err := s.acquireStream(ctx, basin, name)
	if err != nil || h != nil {
		return h, o, err
	}
	bm, err := s.getBasinMeta(ctx, basin)
	if err != nil {
		return nil, o, err
	}
	if bm == nil {
		return nil, o, basinNotFound(basin)
	}
	auto := bm.Config.CreateStreamOnAppend
	if forRead {
		auto = bm.Config.CreateStreamOnRead
	}
	if !auto {
		return nil, o, streamNotFound(basin, name)
	}
	if err := s.autoCreateStream(ctx, basin, name, o.createConfig); err != nil {
		return nil, o, err
	}
	h, err = s.acquireStream(ctx, basin, name)
	if err == nil && h == nil {
		err = streamNotFound(basin, name) // deleted again meanwhile
	}
	return h, o, err
}

// openStreamWithKey is openStream for an append or a read: it also builds
// the stream's record cipher from the call's key (nil for a stream without
// a cipher), after any auto-create, as the reference does.
func (s *Service) openStreamWithKey(ctx context.Context, basin, name string, forRead bool, opts []OpenOption) (*streamHandle, *recordCipher, error) {
	h, o, err := s.openStream(ctx, basin, name, forRead, opts)
	if err != nil {
		return nil, nil, err
	}
	c, err := resolveCipher(h.cipher, o.key)
	if err != nil {
		h.release()
		return nil, nil, err
	}
	return h, c, nil
}

// autoCreateStream creates a missing stream with config (nil: none) over
// the basin defaults; racing auto-creates are harmless (the loser finds it
// exists, and its config is ignored like that of any call on an existing
// stream).
func (s *Service) autoCreateStream(ctx context.Context, basin, name string, config *StreamConfig) error {
	defer s.basinLocks.rlock(basin)()
	defer s.streamLocks.lock(streamMapKey(basin, name))()
	bm, err := s.activeBasin(ctx, basin)
	if err != nil {
		return err
	}
	m, err := s.getStreamMeta(ctx, basin, name)
	if err != nil || m != nil {
		return err
	}
	_, err = s.putNewStream(ctx, basin, name, resolveStreamConfig(config, bm.Config.DefaultStreamConfig), bm.Config.StreamCipher, "")
	return err
}

// activeBasin returns the metadata of a basin that exists and is not being
// deleted.
func (s *Service) activeBasin(ctx context.Context, basin string) (*basinMeta, error) {
	bm, err := s.getBasinMeta(ctx, basin)
	switch {
	case err != nil:
		return nil, err
	case bm == nil:
		return nil, basinNotFound(basin)
	case bm.DeletedAt != nil:
		return nil, basinDeletionPending(basin)
	}
	return bm, nil
}

// putNewStream writes a new stream's metadata, initial state and, if
// enabled, its delete-on-empty marker in one batch. cipher is the basin's
// stream_cipher (nil for none), which the stream keeps for good.
func (s *Service) putNewStream(ctx context.Context, basin, name string, cfg ResolvedStreamConfig, cipher *string, key string) (*streamMeta, error) {
	id, err := s.ids.allocate(ctx, s.db)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	m := &streamMeta{ID: id, Config: cfg, CreatedAt: now, CreationKey: key, ConfiguredAt: now}
	if cipher != nil {
		m.Cipher = *cipher
	}
	b := engine.NewBatch()
	b.Set(streamMetaKey(basin, name), encodeMeta(m))
	b.Set(stateKey(id), encodeState(streamState{}))
	if cfg.DeleteOnEmpty.MinAgeSecs > 0 {
		b.Set(deleteOnEmptyKey(basin, name), nil)
	}
	if err := s.db.Write(ctx, b); err != nil {
		return nil, storageError("create stream", err)
	}
	return m, nil
}

// putStreamConfig stores a new resolved configuration and installs it in
// the loaded handle, if any. The caller holds the stream's exclusive lock,
// so no handle can be loaded concurrently with stale metadata.
func (s *Service) putStreamConfig(ctx context.Context, basin, name string, m *streamMeta, cfg ResolvedStreamConfig) error {
	now := s.now().UTC()
	m.Config = cfg
	m.ConfiguredAt = now
	b := engine.NewBatch()
	b.Set(streamMetaKey(basin, name), encodeMeta(m))
	if cfg.DeleteOnEmpty.MinAgeSecs > 0 {
		b.Set(deleteOnEmptyKey(basin, name), nil)
	} else {
		b.Delete(deleteOnEmptyKey(basin, name))
	}
	if err := s.db.Write(ctx, b); err != nil {
		return storageError("reconfigure stream", err)
	}
	if h := s.lookupStream(streamMapKey(basin, name)); h != nil {
		h.setConfig(cfg, now)
		h.release()
	}
	return nil
}

// lastActivity is when the stream last changed: its last append, or its
// creation or reconfiguration if later.
func (h *streamHandle) lastActivityLocked() time.Time {
	t := time.UnixMilli(int64(h.durable.lastAppendMillis))
	if h.configuredAt.After(t) {
		return h.configuredAt
	}
	return t
}
