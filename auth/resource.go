package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MatchKind is the variant of a ResourceSet.
type MatchKind uint8

const (
	MatchExact MatchKind = iota + 1
	MatchPrefix
)

// ResourceSet is the openapi ResourceSet: {"exact": s} or {"prefix": s}.
//
// A nil *ResourceSet (the field absent or null) matches nothing, like the
// cloud's ResourceSet::None; so does {"exact": ""}. {"prefix": ""} matches
// every name. All methods accept a nil receiver.
type ResourceSet struct {
	Kind  MatchKind
	Value string
}

// Exact returns the set of the one name s ("" matches nothing).
func Exact(s string) *ResourceSet { return &ResourceSet{Kind: MatchExact, Value: s} }

// Prefix returns the set of the names starting with s ("" matches all).
func Prefix(s string) *ResourceSet { return &ResourceSet{Kind: MatchPrefix, Value: s} }

// IsNone reports whether the set matches no name at all.
func (r *ResourceSet) IsNone() bool {
	return r == nil || r.Kind == MatchExact && r.Value == ""
}

// IsPrefix reports whether the set is a prefix set.
func (r *ResourceSet) IsPrefix() bool { return r != nil && r.Kind == MatchPrefix }

// Normalize returns nil for a set that matches nothing, else r.
func (r *ResourceSet) Normalize() *ResourceSet {
	if r.IsNone() {
		return nil
	}
	return r
}

// Matches reports whether name is in the set.
func (r *ResourceSet) Matches(name string) bool {
	switch {
	case r.IsNone():
		return false
	case r.Kind == MatchExact:
		return name == r.Value
	default:
		return strings.HasPrefix(name, r.Value)
	}
}

// SubsetOf reports whether every name in r is also in s, names being
// arbitrary strings:
//
//   - the empty set is a subset of anything, and only it is a subset of the
//     empty set;
//   - exact e ⊆ exact f iff e == f; exact e ⊆ prefix p iff p is a prefix of e;
//   - prefix q ⊆ prefix p iff p is a prefix of q; a prefix set is never a
//     subset of an exact set (it holds infinitely many names).
//
// Name-length limits could make a long enough prefix match one name only;
// that is ignored, which can only refuse, never widen.
func (r *ResourceSet) SubsetOf(s *ResourceSet) bool {
	switch {
	case r.IsNone():
		return true
	case s.IsNone():
		return false
	case s.Kind == MatchExact:
		return r.Kind == MatchExact && r.Value == s.Value
	default:
		return strings.HasPrefix(r.Value, s.Value)
	}
}

// Clone returns a copy of r (nil for nil).
func (r *ResourceSet) Clone() *ResourceSet {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

func (r *ResourceSet) String() string {
	switch {
	case r == nil:
		return "none"
	case r.Kind == MatchExact:
		return fmt.Sprintf("exact %q", r.Value)
	default:
		return fmt.Sprintf("prefix %q", r.Value)
	}
}

// MarshalJSON writes {"exact": s} or {"prefix": s}. A nil set is written by
// the enclosing field as null.
func (r ResourceSet) MarshalJSON() ([]byte, error) {
	switch r.Kind {
	case MatchExact:
		return json.Marshal(struct {
			Exact string `json:"exact"`
		}{r.Value})
	case MatchPrefix:
		return json.Marshal(struct {
			Prefix string `json:"prefix"`
		}{r.Value})
	}
	return nil, fmt.Errorf("resource set of unknown kind %d", r.Kind)
}

// UnmarshalJSON reads an object with exactly one key, "exact" or "prefix",
// whose value is a string. Both keys, neither, any other key, or a
// non-string value is an error, as with the cloud's externally tagged enum.
func (r *ResourceSet) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return errors.New(`resource set must be an object with "exact" or "prefix"`)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf(`resource set must be an object with "exact" or "prefix": %w`, err)
	}
	if len(m) != 1 {
		return fmt.Errorf(`resource set must have exactly one of "exact" or "prefix", got %d keys`, len(m))
	}
	for k, v := range m {
		var kind MatchKind
		switch k {
		case "exact":
			kind = MatchExact
		case "prefix":
			kind = MatchPrefix
		default:
			return fmt.Errorf(`resource set has unknown key %q, expected "exact" or "prefix"`, k)
		}
		var s string
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return fmt.Errorf("resource set %q must be a string, not null", k)
		}
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("resource set %q must be a string: %w", k, err)
		}
		*r = ResourceSet{Kind: kind, Value: s}
	}
	return nil
}
