package stream

// Configuration defaults, resolution and PATCH application (API 4).

// defaultRetentionSecs is the system default retention: 7 days.
const defaultRetentionSecs = 7 * 24 * 60 * 60

// systemDefaults is the bottom layer of stream configuration resolution.
var systemDefaults = ResolvedStreamConfig{
	StorageClass:    StorageClassExpress,
	RetentionPolicy: RetentionPolicy{AgeSecs: defaultRetentionSecs},
	Timestamping:    ResolvedTimestamping{Mode: TimestampingClientPrefer},
}

// resolveStreamConfig layers a stream's own (partial) config over the
// basin's default_stream_config and then the system defaults, field by
// field and nested field by nested field.
func resolveStreamConfig(own, basinDefault *StreamConfig) ResolvedStreamConfig {
	out := systemDefaults
	for _, layer := range []*StreamConfig{basinDefault, own} {
		if layer == nil {
			continue
		}
		if layer.StorageClass != nil {
			out.StorageClass = *layer.StorageClass
		}
		if layer.RetentionPolicy != nil {
			out.RetentionPolicy = *layer.RetentionPolicy
		}
		if ts := layer.Timestamping; ts != nil {
			if ts.Mode != nil {
				out.Timestamping.Mode = *ts.Mode
			}
			if ts.Uncapped != nil {
				out.Timestamping.Uncapped = *ts.Uncapped
			}
		}
		if layer.DeleteOnEmpty != nil {
			out.DeleteOnEmpty = *layer.DeleteOnEmpty
		}
	}
	return out
}

// partialOf turns a resolved config into a fully set partial layer, the
// starting point of a stream PATCH.
func partialOf(r ResolvedStreamConfig) StreamConfig {
	return StreamConfig{
		StorageClass:    ptr(r.StorageClass),
		RetentionPolicy: ptr(r.RetentionPolicy),
		Timestamping:    &TimestampingConfig{Mode: ptr(r.Timestamping.Mode), Uncapped: ptr(r.Timestamping.Uncapped)},
		DeleteOnEmpty:   ptr(r.DeleteOnEmpty),
	}
}

// applyStreamReconfiguration applies a PATCH to a partial config: absent
// fields stay, null clears, values set; nested objects are patched field
// by field, starting from the existing nested object (or an empty one).
func applyStreamReconfiguration(base StreamConfig, r StreamReconfiguration) StreamConfig {
	out := base
	if r.StorageClass.Set {
		out.StorageClass = clonePtr(r.StorageClass.Value)
	}
	if r.RetentionPolicy.Set {
		out.RetentionPolicy = clonePtr(r.RetentionPolicy.Value)
	}
	if r.Timestamping.Set {
		if r.Timestamping.Value == nil {
			out.Timestamping = nil
		} else {
			ts := TimestampingConfig{}
			if base.Timestamping != nil {
				ts = *base.Timestamping
			}
			if p := r.Timestamping.Value.Mode; p.Set {
				ts.Mode = clonePtr(p.Value)
			}
			if p := r.Timestamping.Value.Uncapped; p.Set {
				ts.Uncapped = clonePtr(p.Value)
			}
			out.Timestamping = &ts
		}
	}
	if r.DeleteOnEmpty.Set {
		if r.DeleteOnEmpty.Value == nil {
			out.DeleteOnEmpty = nil
		} else {
			doe := DeleteOnEmptyConfig{}
			if base.DeleteOnEmpty != nil {
				doe = *base.DeleteOnEmpty
			}
			if p := r.DeleteOnEmpty.Value.MinAgeSecs; p.Set {
				doe.MinAgeSecs = 0
				if p.Value != nil {
					doe.MinAgeSecs = *p.Value
				}
			}
			out.DeleteOnEmpty = &doe
		}
	}
	return normalizeStreamConfig(out)
}

// applyBasinReconfiguration applies a basin PATCH. The default stream
// config is patched as a partial config, without resolving.
func applyBasinReconfiguration(base BasinConfig, r BasinReconfiguration) BasinConfig {
	out := base
	if r.DefaultStreamConfig.Set {
		if r.DefaultStreamConfig.Value == nil {
			out.DefaultStreamConfig = nil
		} else {
			var cur StreamConfig
			if base.DefaultStreamConfig != nil {
				cur = *base.DefaultStreamConfig
			}
			next := applyStreamReconfiguration(cur, *r.DefaultStreamConfig.Value)
			out.DefaultStreamConfig = &next
		}
	}
	if r.StreamCipher.Set {
		out.StreamCipher = clonePtr(r.StreamCipher.Value)
	}
	if r.CreateStreamOnAppend != nil {
		out.CreateStreamOnAppend = *r.CreateStreamOnAppend
	}
	if r.CreateStreamOnRead != nil {
		out.CreateStreamOnRead = *r.CreateStreamOnRead
	}
	return normalizeBasinConfig(out)
}

// normalizeStreamConfig drops a timestamping object with nothing set, so
// that it reads back as null (API 4.2).
func normalizeStreamConfig(c StreamConfig) StreamConfig {
	if c.Timestamping != nil && c.Timestamping.Mode == nil && c.Timestamping.Uncapped == nil {
		c.Timestamping = nil
	}
	return c
}

// normalizeBasinConfig makes an all-unset default stream config nil.
func normalizeBasinConfig(c BasinConfig) BasinConfig {
	if d := c.DefaultStreamConfig; d != nil {
		n := normalizeStreamConfig(*d)
		if n == (StreamConfig{}) {
			c.DefaultStreamConfig = nil
		} else {
			c.DefaultStreamConfig = &n
		}
	}
	return c
}

// validateStreamConfig rejects values the API calls invalid (422).
func validateStreamConfig(c *StreamConfig) error {
	if c == nil {
		return nil
	}
	if c.StorageClass != nil {
		if err := validateStorageClass(*c.StorageClass); err != nil {
			return err
		}
	}
	if c.RetentionPolicy != nil {
		if err := validateRetention(*c.RetentionPolicy); err != nil {
			return err
		}
	}
	if c.Timestamping != nil && c.Timestamping.Mode != nil {
		if err := validateTimestampingMode(*c.Timestamping.Mode); err != nil {
			return err
		}
	}
	return nil
}

func validateStreamReconfiguration(r StreamReconfiguration) error {
	if v := r.StorageClass.Value; v != nil {
		if err := validateStorageClass(*v); err != nil {
			return err
		}
	}
	if v := r.RetentionPolicy.Value; v != nil {
		if err := validateRetention(*v); err != nil {
			return err
		}
	}
	if ts := r.Timestamping.Value; ts != nil && ts.Mode.Value != nil {
		if err := validateTimestampingMode(*ts.Mode.Value); err != nil {
			return err
		}
	}
	return nil
}

func validateBasinConfig(c BasinConfig) error {
	if err := validateCipher(c.StreamCipher); err != nil {
		return err
	}
	return validateStreamConfig(c.DefaultStreamConfig)
}

func validateBasinReconfiguration(r BasinReconfiguration) error {
	if err := validateCipher(r.StreamCipher.Value); err != nil {
		return err
	}
	if v := r.DefaultStreamConfig.Value; v != nil {
		return validateStreamReconfiguration(*v)
	}
	return nil
}

func validateStorageClass(c StorageClass) error {
	switch c {
	case StorageClassStandard, StorageClassExpress:
		return nil
	}
	return invalidf("unknown storage class %q", string(c))
}

func validateRetention(p RetentionPolicy) error {
	if !p.Infinite && p.AgeSecs == 0 {
		return invalidf("age must be greater than 0 seconds")
	}
	return nil
}

func validateTimestampingMode(m TimestampingMode) error {
	switch m {
	case TimestampingClientPrefer, TimestampingClientRequire, TimestampingArrival:
		return nil
	}
	return invalidf("unknown timestamping mode %q", string(m))
}

// validateCipher accepts the stream ciphers of API 7.9 (or none).
func validateCipher(c *string) error {
	if c != nil && !validCipher(*c) {
		return invalidf("unknown stream cipher %q: expected `%s` or `%s`", *c, CipherAegis256, CipherAES256GCM)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
