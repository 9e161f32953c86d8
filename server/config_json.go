package server

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/s2lite/s2lite/stream"
)

// JSON request forms of configurations (API 4). Values the schema
// enumerates are checked here: an unknown variant is a body problem (400
// bad_json), not a semantic one.

func decodeStorageClass(path, v string) (stream.StorageClass, error) {
	switch sc := stream.StorageClass(v); sc {
	case stream.StorageClassStandard, stream.StorageClassExpress:
		return sc, nil
	}
	return "", fieldErrorf(path, "unknown variant `%s`, expected `standard` or `express`", v)
}

func decodeTimestampingMode(path, v string) (stream.TimestampingMode, error) {
	switch m := stream.TimestampingMode(v); m {
	case stream.TimestampingClientPrefer, stream.TimestampingClientRequire, stream.TimestampingArrival:
		return m, nil
	}
	return "", fieldErrorf(path, "unknown variant `%s`, expected one of `client-prefer`, `client-require`, `arrival`", v)
}

func decodeCipher(path, v string) (string, error) {
	switch v {
	case "aegis-256", "aes-256-gcm":
		return v, nil
	}
	return "", fieldErrorf(path, "unknown variant `%s`, expected `aegis-256` or `aes-256-gcm`", v)
}

// decodeRetention decodes {"age": N} or {"infinite": {}}.
func decodeRetention(path string, raw json.RawMessage) (stream.RetentionPolicy, error) {
	obj, err := parseObject(path, raw)
	if err != nil {
		return stream.RetentionPolicy{}, err
	}
	if len(obj) != 1 {
		return stream.RetentionPolicy{}, fieldErrorf(path, "expected exactly one of `age` or `infinite`")
	}
	if raw, ok := obj["age"]; ok {
		var age uint64
		if isNull(raw) {
			return stream.RetentionPolicy{}, fieldErrorf(joinPath(path, "age"), "invalid type: null, expected u64")
		}
		if err := decodeValue(joinPath(path, "age"), raw, &age); err != nil {
			return stream.RetentionPolicy{}, err
		}
		return stream.RetentionPolicy{AgeSecs: age}, nil
	}
	if raw, ok := obj["infinite"]; ok {
		if _, err := parseObject(joinPath(path, "infinite"), raw); err != nil {
			return stream.RetentionPolicy{}, err
		}
		return stream.RetentionPolicy{Infinite: true}, nil
	}
	for k := range obj {
		return stream.RetentionPolicy{}, fieldErrorf(path, "unknown variant `%s`, expected `age` or `infinite`", k)
	}
	panic("unreachable")
}

// decodeStreamConfig decodes a partial StreamConfig; null is nil.
func decodeStreamConfig(path string, raw json.RawMessage) (*stream.StreamConfig, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	obj, err := parseObject(path, raw)
	if err != nil {
		return nil, err
	}
	var c stream.StreamConfig
	if v, err := obj.optString(path, "storage_class"); err != nil {
		return nil, err
	} else if v != nil {
		sc, err := decodeStorageClass(joinPath(path, "storage_class"), *v)
		if err != nil {
			return nil, err
		}
		c.StorageClass = &sc
	}
	if raw, ok := obj.get("retention_policy"); ok {
		rp, err := decodeRetention(joinPath(path, "retention_policy"), raw)
		if err != nil {
			return nil, err
		}
		c.RetentionPolicy = &rp
	}
	if raw, ok := obj.get("timestamping"); ok {
		p := joinPath(path, "timestamping")
		ts, err := parseObject(p, raw)
		if err != nil {
			return nil, err
		}
		var tc stream.TimestampingConfig
		if v, err := ts.optString(p, "mode"); err != nil {
			return nil, err
		} else if v != nil {
			m, err := decodeTimestampingMode(joinPath(p, "mode"), *v)
			if err != nil {
				return nil, err
			}
			tc.Mode = &m
		}
		if tc.Uncapped, err = ts.optBool(p, "uncapped"); err != nil {
			return nil, err
		}
		c.Timestamping = &tc
	}
	if raw, ok := obj.get("delete_on_empty"); ok {
		p := joinPath(path, "delete_on_empty")
		doe, err := parseObject(p, raw)
		if err != nil {
			return nil, err
		}
		age, err := doe.optU64(p, "min_age_secs")
		if err != nil {
			return nil, err
		}
		c.DeleteOnEmpty = &stream.DeleteOnEmptyConfig{}
		if age != nil {
			c.DeleteOnEmpty.MinAgeSecs = *age
		}
	}
	return &c, nil
}

// decodeStreamConfigHeader decodes the s2-stream-config header: a
// StreamConfig object like a create-stream config, except that unknown
// keys are rejected. Bodies ignore them as the reference does, but the
// header is written by SDKs from typed configs, so an unknown key is a
// setting this server does not implement, and creating the stream without
// it would silently give it another config than the one asked for.
func decodeStreamConfigHeader(raw json.RawMessage) (stream.StreamConfig, error) {
	if _, err := parseObject("", raw); err != nil {
		return stream.StreamConfig{}, err
	}
	c, err := decodeStreamConfig("", raw)
	if err != nil {
		return stream.StreamConfig{}, err
	}
	if err := checkKeys("", raw, streamConfigKeys); err != nil {
		return stream.StreamConfig{}, err
	}
	return *c, nil
}

// keySet is the shape of a JSON object for checkKeys: its allowed keys,
// each with the keySet of its value, or nil when the value is not an
// object that needs checking.
type keySet map[string]keySet

var streamConfigKeys = keySet{
	"storage_class":    nil,
	"retention_policy": {"age": nil, "infinite": {}},
	"timestamping":     {"mode": nil, "uncapped": nil},
	"delete_on_empty":  {"min_age_secs": nil},
}

// checkKeys rejects keys of raw, and of its nested objects, that keys
// does not allow. raw has been decoded already, so every value keys
// describes as an object is one (or null).
func checkKeys(path string, raw json.RawMessage, keys keySet) error {
	if isNull(raw) {
		return nil
	}
	obj, err := parseObject(path, raw)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) { // the same error every time
		nested, ok := keys[k]
		if !ok {
			return fieldErrorf(path, "unknown field `%s`", k)
		}
		if nested != nil {
			if err := checkKeys(joinPath(path, k), obj[k], nested); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeBasinConfig decodes a BasinConfig; null is the default config.
func decodeBasinConfig(path string, raw json.RawMessage) (stream.BasinConfig, error) {
	var c stream.BasinConfig
	if raw == nil || isNull(raw) {
		return c, nil
	}
	obj, err := parseObject(path, raw)
	if err != nil {
		return c, err
	}
	dsc, _ := obj.get("default_stream_config")
	if c.DefaultStreamConfig, err = decodeStreamConfig(joinPath(path, "default_stream_config"), dsc); err != nil {
		return c, err
	}
	if v, err := obj.optString(path, "stream_cipher"); err != nil {
		return c, err
	} else if v != nil {
		cipher, err := decodeCipher(joinPath(path, "stream_cipher"), *v)
		if err != nil {
			return c, err
		}
		c.StreamCipher = &cipher
	}
	onAppend, err := obj.strictBool(path, "create_stream_on_append")
	if err != nil {
		return c, err
	}
	onRead, err := obj.strictBool(path, "create_stream_on_read")
	if err != nil {
		return c, err
	}
	c.CreateStreamOnAppend = onAppend != nil && *onAppend
	c.CreateStreamOnRead = onRead != nil && *onRead
	return c, nil
}

// maybeOf decodes a tri-state field with dec.
func maybeOf[T any](obj jsonObject, path, key string, dec func(path string, raw json.RawMessage) (T, error)) (stream.Maybe[T], error) {
	raw, set := obj.maybe(key)
	switch {
	case !set:
		return stream.Maybe[T]{}, nil
	case raw == nil:
		return stream.Null[T](), nil
	}
	v, err := dec(joinPath(path, key), raw)
	if err != nil {
		return stream.Maybe[T]{}, err
	}
	return stream.Some(v), nil
}

func decodeStringWith[T any](check func(path, v string) (T, error)) func(string, json.RawMessage) (T, error) {
	return func(path string, raw json.RawMessage) (T, error) {
		var s string
		if err := decodeValue(path, raw, &s); err != nil {
			var zero T
			return zero, err
		}
		return check(path, s)
	}
}

func decodeJSONValue[T any](path string, raw json.RawMessage) (T, error) {
	var v T
	err := decodeValue(path, raw, &v)
	return v, err
}

// decodeStreamReconfiguration decodes a StreamReconfiguration (API 4.4).
func decodeStreamReconfiguration(path string, raw json.RawMessage) (stream.StreamReconfiguration, error) {
	var r stream.StreamReconfiguration
	obj, err := parseObject(path, raw)
	if err != nil {
		return r, err
	}
	if r.StorageClass, err = maybeOf(obj, path, "storage_class", decodeStringWith(decodeStorageClass)); err != nil {
		return r, err
	}
	if r.RetentionPolicy, err = maybeOf(obj, path, "retention_policy", decodeRetention); err != nil {
		return r, err
	}
	if r.Timestamping, err = maybeOf(obj, path, "timestamping", func(p string, raw json.RawMessage) (stream.TimestampingReconfiguration, error) {
		var t stream.TimestampingReconfiguration
		ts, err := parseObject(p, raw)
		if err != nil {
			return t, err
		}
		if t.Mode, err = maybeOf(ts, p, "mode", decodeStringWith(decodeTimestampingMode)); err != nil {
			return t, err
		}
		t.Uncapped, err = maybeOf(ts, p, "uncapped", decodeJSONValue[bool])
		return t, err
	}); err != nil {
		return r, err
	}
	r.DeleteOnEmpty, err = maybeOf(obj, path, "delete_on_empty", func(p string, raw json.RawMessage) (stream.DeleteOnEmptyReconfiguration, error) {
		var d stream.DeleteOnEmptyReconfiguration
		doe, err := parseObject(p, raw)
		if err != nil {
			return d, err
		}
		d.MinAgeSecs, err = maybeOf(doe, p, "min_age_secs", decodeJSONValue[uint64])
		return d, err
	})
	return r, err
}

// decodeBasinReconfiguration decodes a BasinReconfiguration (API 4.4).
func decodeBasinReconfiguration(raw json.RawMessage) (stream.BasinReconfiguration, error) {
	var r stream.BasinReconfiguration
	obj, err := parseObject("", raw)
	if err != nil {
		return r, err
	}
	if r.DefaultStreamConfig, err = maybeOf(obj, "", "default_stream_config", decodeStreamReconfiguration); err != nil {
		return r, err
	}
	if r.StreamCipher, err = maybeOf(obj, "", "stream_cipher", decodeStringWith(decodeCipher)); err != nil {
		return r, err
	}
	if r.CreateStreamOnAppend, err = obj.strictBool("", "create_stream_on_append"); err != nil {
		return r, err
	}
	r.CreateStreamOnRead, err = obj.strictBool("", "create_stream_on_read")
	return r, err
}
