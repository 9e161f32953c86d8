package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// Basin and stream metadata values. They are JSON so that they stay
// readable with generic tools; they change rarely and are small.

// basinMeta is the value of a basin key.
type basinMeta struct {
	Config    BasinConfig
	CreatedAt time.Time
	DeletedAt *time.Time `json:",omitempty"`
	// CreationKey identifies the creating request (token and requested
	// config) so that a retried create is recognised.
	CreationKey string `json:",omitempty"`
}

func (m *basinMeta) info(name string) BasinInfo {
	return BasinInfo{Name: name, CreatedAt: m.CreatedAt, DeletedAt: m.DeletedAt}
}

// streamMeta is the value of a stream metadata key.
type streamMeta struct {
	// ID names the stream in state, record and index keys. It is never
	// reused, so a re-created stream shares nothing with its predecessor.
	ID     uint64
	Config ResolvedStreamConfig
	// Cipher is the stream's cipher, "" for none: the basin's
	// stream_cipher when the stream was created, never changed (API 7.9).
	Cipher      string `json:",omitempty"`
	CreatedAt   time.Time
	CreationKey string `json:",omitempty"`
	// ConfiguredAt is when the stream was created or last reconfigured,
	// the start of the delete-on-empty age for a stream never appended to.
	ConfiguredAt time.Time
}

func (m *streamMeta) info(name string) StreamInfo {
	info := StreamInfo{Name: name, CreatedAt: m.CreatedAt}
	if m.Cipher != "" {
		info.Cipher = ptr(m.Cipher)
	}
	return info
}

// creationKey is stored with a created resource and compared on a repeated
// create. Without a request token a repeat is never recognised.
func creationKey(token string, config any) string {
	if token == "" {
		return ""
	}
	b, err := json.Marshal(config)
	if err != nil {
		panic(fmt.Sprintf("stream: marshal config: %v", err)) // plain structs always marshal
	}
	return token + "\x00" + string(b)
}

func encodeMeta(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("stream: marshal metadata: %v", err))
	}
	return b
}

// getJSON reads and decodes a metadata key; found is false if it is absent.
func getJSON(ctx context.Context, db *engine.DB, key []byte, v any) (found bool, err error) {
	b, err := db.Get(ctx, key)
	if errors.Is(err, engine.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storageError("get metadata", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, storageError("decode metadata", fmt.Errorf("%w: key %q: %v", errCorrupt, key, err))
	}
	return true, nil
}

func (s *Service) getBasinMeta(ctx context.Context, basin string) (*basinMeta, error) {
	var m basinMeta
	found, err := getJSON(ctx, s.db, basinKey(basin), &m)
	if err != nil || !found {
		return nil, err
	}
	return &m, nil
}

func (s *Service) getStreamMeta(ctx context.Context, basin, stream string) (*streamMeta, error) {
	var m streamMeta
	found, err := getJSON(ctx, s.db, streamMetaKey(basin, stream), &m)
	if err != nil || !found {
		return nil, err
	}
	return &m, nil
}

// configEqual compares configurations by their canonical encoding.
func configEqual(a, b any) bool { return string(encodeMeta(a)) == string(encodeMeta(b)) }

func decodeMetaValue(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return storageError("decode metadata", fmt.Errorf("%w: %v", errCorrupt, err))
	}
	return nil
}
