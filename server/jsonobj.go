package server

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// jsonObject decodes request bodies field by field. encoding/json alone
// cannot tell an absent key from a null one (PATCH needs three states,
// API 4.4) and matches keys case-insensitively, which the reference does
// not; a map of raw values does both right. Unknown keys are ignored, as
// in the reference.
type jsonObject map[string]json.RawMessage

// fieldError is a body problem; every one of them is a 400 bad_json.
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

func fieldErrorf(path, format string, args ...any) *fieldError {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// parseObject decodes data, which must be a JSON object (not null).
func parseObject(path string, data json.RawMessage) (jsonObject, error) {
	var obj jsonObject
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fieldErrorf(path, "%v", cleanJSONError(err))
	}
	if obj == nil {
		return nil, fieldErrorf(path, "invalid type: null, expected an object")
	}
	return obj, nil
}

// cleanJSONError drops the Go type names encoding/json puts in its
// messages, which mean nothing to an API client.
func cleanJSONError(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("invalid type: %s", e.Value)
	case *json.SyntaxError:
		return fmt.Sprintf("invalid JSON at offset %d: %v", e.Offset, e)
	}
	return err.Error()
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// get returns the raw value of key; ok is false when the key is absent or
// null (null and absent are the same for optional fields).
func (o jsonObject) get(key string) (json.RawMessage, bool) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

// maybe returns the raw value of key for a tri-state field: set is false
// when absent; raw is nil when the value is null.
func (o jsonObject) maybe(key string) (raw json.RawMessage, set bool) {
	raw, set = o[key]
	if set && isNull(raw) {
		raw = nil
	}
	return raw, set
}

// decodeValue decodes a non-null raw value into v.
func decodeValue(path string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fieldErrorf(path, "%s", cleanJSONError(err))
	}
	return nil
}

// optU64 decodes an optional u64 (absent or null: nil).
func (o jsonObject) optU64(path, key string) (*uint64, error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, nil
	}
	var v uint64
	if err := decodeValue(joinPath(path, key), raw, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// optString decodes an optional string (absent or null: nil).
func (o jsonObject) optString(path, key string) (*string, error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, nil
	}
	var v string
	if err := decodeValue(joinPath(path, key), raw, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// optBool decodes an optional bool (absent or null: nil).
func (o jsonObject) optBool(path, key string) (*bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, nil
	}
	var v bool
	if err := decodeValue(joinPath(path, key), raw, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// strictBool decodes a bool that may be absent (nil) but not null.
func (o jsonObject) strictBool(path, key string) (*bool, error) {
	raw, ok := o[key]
	if !ok {
		return nil, nil
	}
	if isNull(raw) {
		return nil, fieldErrorf(joinPath(path, key), "invalid type: null, expected a boolean")
	}
	var v bool
	if err := decodeValue(joinPath(path, key), raw, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// requiredString decodes a string that must be present and not null.
func (o jsonObject) requiredString(path, key string) (string, error) {
	raw, ok := o[key]
	if !ok {
		return "", fieldErrorf(path, "missing field `%s`", key)
	}
	var v string
	if isNull(raw) {
		return "", fieldErrorf(joinPath(path, key), "invalid type: null, expected a string")
	}
	if err := decodeValue(joinPath(path, key), raw, &v); err != nil {
		return "", err
	}
	return v, nil
}
