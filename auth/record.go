package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RecordVersion is the version EncodeRecord writes.
const RecordVersion = 1

// Record is the durable form of an issued token, kept by the server as
// metadata. It holds the hash of the secret, never the secret.
type Record struct {
	// Info is the token as Validate returned it (absolute stream names,
	// defaulted expiry); Info.ID is the record's key.
	Info TokenInfo
	// Hash is Hasher.Hash of the secret, and KeyID the Hasher.KeyID of the
	// key it was made with.
	Hash  [32]byte
	KeyID string
	// CreatedAt is when the token was issued, IssuedBy the id of the
	// issuing token ("" for the root token).
	CreatedAt time.Time
	IssuedBy  string
	// RevokedAt is set on a revoked token kept as a tombstone. A server
	// that deletes records on revocation never sets it; either way a
	// revoked token authenticates nobody and revoking it again is a 404.
	RevokedAt *time.Time
}

// Revoked reports whether the record is a tombstone.
func (r *Record) Revoked() bool { return r.RevokedAt != nil }

// recordJSON is the encoding: a JSON object with a version number "v".
// Decoders reject versions they do not know; a later version that only
// adds fields may keep v=1, as unknown fields are ignored.
type recordJSON struct {
	V         int        `json:"v"`
	Info      *TokenInfo `json:"info"`
	Hash      []byte     `json:"hash"`
	KeyID     string     `json:"key_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	IssuedBy  string     `json:"issued_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// EncodeRecord returns the stored form of r: versioned JSON (the hash in
// base64), times in UTC.
func EncodeRecord(r *Record) ([]byte, error) {
	if err := ValidateTokenID(r.Info.ID); err != nil {
		return nil, fmt.Errorf("auth: encoding record: %w", err)
	}
	w := recordJSON{
		V:         RecordVersion,
		Info:      &r.Info,
		Hash:      r.Hash[:],
		KeyID:     r.KeyID,
		CreatedAt: r.CreatedAt.UTC(),
		IssuedBy:  r.IssuedBy,
	}
	if r.RevokedAt != nil {
		t := r.RevokedAt.UTC()
		w.RevokedAt = &t
	}
	return json.Marshal(w)
}

// DecodeRecord parses what EncodeRecord wrote.
func DecodeRecord(b []byte) (*Record, error) {
	var w recordJSON
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&w); err != nil {
		return nil, fmt.Errorf("auth: decoding record: %w", err)
	}
	if d.More() {
		return nil, errors.New("auth: decoding record: trailing data")
	}
	switch {
	case w.V != RecordVersion:
		return nil, fmt.Errorf("auth: decoding record: unknown version %d", w.V)
	case w.Info == nil:
		return nil, errors.New("auth: decoding record: missing info")
	case len(w.Hash) != 32:
		return nil, fmt.Errorf("auth: decoding record: hash of %d bytes", len(w.Hash))
	}
	if err := ValidateTokenID(w.Info.ID); err != nil {
		return nil, fmt.Errorf("auth: decoding record: %w", err)
	}
	r := &Record{Info: *w.Info, KeyID: w.KeyID, CreatedAt: w.CreatedAt, IssuedBy: w.IssuedBy, RevokedAt: w.RevokedAt}
	copy(r.Hash[:], w.Hash)
	return r, nil
}
