package client

import (
	"encoding/json"
	"time"
)

// Position is a position in a stream (API 3, StreamPosition): a sequence
// number and the timestamp (epoch milliseconds) of the record before it.
type Position struct {
	SeqNum    uint64 `json:"seq_num"`
	Timestamp uint64 `json:"timestamp"`
}

// BasinInfo describes a basin (API 3).
type BasinInfo struct {
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// State is "active" or "deleting" (deprecated by the API in favour of
	// DeletedAt, still sent by servers).
	State string `json:"state,omitempty"`
}

// StreamInfo describes a stream (API 3).
type StreamInfo struct {
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// Cipher is "aegis-256" or "aes-256-gcm" for encrypted streams.
	Cipher *string `json:"cipher,omitempty"`
}

// Storage classes (API 4.1).
const (
	StorageClassStandard = "standard"
	StorageClassExpress  = "express"
)

// Timestamping modes (API 7.5).
const (
	TimestampingClientPrefer  = "client-prefer"
	TimestampingClientRequire = "client-require"
	TimestampingArrival       = "arrival"
)

// RetentionPolicy is how long records are kept: an age in seconds, or
// Infinite (until trimmed).
type RetentionPolicy struct {
	AgeSecs  uint64 `json:"age,omitempty"`
	Infinite bool   `json:"-"`
}

// MarshalJSON writes {"age": N} or {"infinite": {}}.
func (r RetentionPolicy) MarshalJSON() ([]byte, error) {
	if r.Infinite {
		return []byte(`{"infinite":{}}`), nil
	}
	return json.Marshal(struct {
		Age uint64 `json:"age"`
	}{r.AgeSecs})
}

// UnmarshalJSON reads {"age": N} or {"infinite": {}}.
func (r *RetentionPolicy) UnmarshalJSON(b []byte) error {
	var v struct {
		Age      *uint64          `json:"age"`
		Infinite *json.RawMessage `json:"infinite"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = RetentionPolicy{Infinite: v.Infinite != nil}
	if v.Age != nil {
		r.AgeSecs = *v.Age
	}
	return nil
}

// Timestamping configures how record timestamps are assigned (API 7.5).
type Timestamping struct {
	Mode     *string `json:"mode,omitempty"`
	Uncapped *bool   `json:"uncapped,omitempty"`
}

// DeleteOnEmpty configures automatic deletion of empty streams (API 6.7);
// 0 disables it.
type DeleteOnEmpty struct {
	MinAgeSecs uint64 `json:"min_age_secs"`
}

// StreamConfig is a stream's configuration (API 4.1). In requests every
// field is optional; in answers for a stream every field is set.
type StreamConfig struct {
	StorageClass    *string          `json:"storage_class,omitempty"`
	RetentionPolicy *RetentionPolicy `json:"retention_policy,omitempty"`
	Timestamping    *Timestamping    `json:"timestamping,omitempty"`
	DeleteOnEmpty   *DeleteOnEmpty   `json:"delete_on_empty,omitempty"`
}

// BasinConfig is a basin's configuration (API 4.2).
type BasinConfig struct {
	DefaultStreamConfig  *StreamConfig `json:"default_stream_config,omitempty"`
	StreamCipher         *string       `json:"stream_cipher,omitempty"`
	CreateStreamOnAppend bool          `json:"create_stream_on_append"`
	CreateStreamOnRead   bool          `json:"create_stream_on_read"`
}

// Patch is one field of a reconfiguration (API 4.4): left out when not
// Set, null when Set with a nil Value (clear), the value otherwise.
type Patch[T any] struct {
	Set   bool
	Value *T
}

// SetTo returns a patch that sets a field to v.
func SetTo[T any](v T) Patch[T] { return Patch[T]{Set: true, Value: &v} }

// Clear returns a patch that clears a field (back to the default).
func Clear[T any]() Patch[T] { return Patch[T]{Set: true} }

// IsZero lets encoding/json leave out fields that are not Set.
func (p Patch[T]) IsZero() bool { return !p.Set }

// MarshalJSON writes the value, or null to clear.
func (p Patch[T]) MarshalJSON() ([]byte, error) {
	if p.Value == nil {
		return []byte("null"), nil
	}
	return json.Marshal(*p.Value)
}

// TimestampingReconfiguration patches Timestamping.
type TimestampingReconfiguration struct {
	Mode     Patch[string] `json:"mode,omitzero"`
	Uncapped Patch[bool]   `json:"uncapped,omitzero"`
}

// DeleteOnEmptyReconfiguration patches DeleteOnEmpty.
type DeleteOnEmptyReconfiguration struct {
	MinAgeSecs Patch[uint64] `json:"min_age_secs,omitzero"`
}

// StreamReconfiguration patches a StreamConfig (API 4.4): fields not Set
// are left as they are.
type StreamReconfiguration struct {
	StorageClass    Patch[string]                       `json:"storage_class,omitzero"`
	RetentionPolicy Patch[RetentionPolicy]              `json:"retention_policy,omitzero"`
	Timestamping    Patch[TimestampingReconfiguration]  `json:"timestamping,omitzero"`
	DeleteOnEmpty   Patch[DeleteOnEmptyReconfiguration] `json:"delete_on_empty,omitzero"`
}

// BasinReconfiguration patches a BasinConfig (API 4.4).
type BasinReconfiguration struct {
	DefaultStreamConfig  Patch[StreamReconfiguration] `json:"default_stream_config,omitzero"`
	StreamCipher         Patch[string]                `json:"stream_cipher,omitzero"`
	CreateStreamOnAppend *bool                        `json:"create_stream_on_append,omitempty"`
	CreateStreamOnRead   *bool                        `json:"create_stream_on_read,omitempty"`
}

// ListOptions selects a page of a listing (API 5.1, 6.1).
type ListOptions struct {
	Prefix     string
	StartAfter string
	// Limit is the page size, 1..1000; 0 means the server's maximum.
	Limit int
}

// ProvisionResult says what a create or ensure did, from the
// s2-provision-result header: "created", "updated" or "noop".
type ProvisionResult string
