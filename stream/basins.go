package stream

import (
	"context"

	"github.com/s2lite/s2lite/engine"
)

// Basin metadata operations (API 5).

func (s *Service) createBasin(ctx context.Context, name string, config BasinConfig, token string) (BasinInfo, ProvisionResult, error) {
	if err := s.checkOpen(); err != nil {
		return BasinInfo{}, "", err
	}
	if err := ValidateBasinName(name); err != nil {
		return BasinInfo{}, "", err
	}
	if err := ValidateRequestToken(token); err != nil {
		return BasinInfo{}, "", err
	}
	if err := validateBasinConfig(config); err != nil {
		return BasinInfo{}, "", err
	}
	config = normalizeBasinConfig(config)
	defer s.basinLocks.lock(name)()
	m, err := s.getBasinMeta(ctx, name)
	if err != nil {
		return BasinInfo{}, "", err
	}
	key := creationKey(token, config)
	if m != nil {
		switch {
		case m.DeletedAt != nil:
			return BasinInfo{}, "", basinDeletionPending(name)
		case key != "" && key == m.CreationKey:
			return m.info(name), Noop, nil
		}
		return BasinInfo{}, "", basinExists(name)
	}
	m = &basinMeta{Config: config, CreatedAt: s.now().UTC(), CreationKey: key}
	if err := s.putBasinMeta(ctx, name, m); err != nil {
		return BasinInfo{}, "", err
	}
	return m.info(name), Created, nil
}

func (s *Service) ensureBasin(ctx context.Context, name string, config BasinConfig) (BasinInfo, ProvisionResult, error) {
	if err := s.checkOpen(); err != nil {
		return BasinInfo{}, "", err
	}
	if err := ValidateBasinName(name); err != nil {
		return BasinInfo{}, "", err
	}
	if err := validateBasinConfig(config); err != nil {
		return BasinInfo{}, "", err
	}
	config = normalizeBasinConfig(config)
	defer s.basinLocks.lock(name)()
	m, err := s.getBasinMeta(ctx, name)
	if err != nil {
		return BasinInfo{}, "", err
	}
	result := Created
	switch {
	case m == nil:
		m = &basinMeta{Config: config, CreatedAt: s.now().UTC()}
	case m.DeletedAt != nil:
		return BasinInfo{}, "", basinDeletionPending(name)
	case configEqual(m.Config, config):
		return m.info(name), Noop, nil
	default:
		m.Config = config
		result = Updated
	}
	if err := s.putBasinMeta(ctx, name, m); err != nil {
		return BasinInfo{}, "", err
	}
	return m.info(name), result, nil
}

func (s *Service) getBasinConfig(ctx context.Context, name string) (BasinConfig, error) {
	if err := s.checkOpen(); err != nil {
		return BasinConfig{}, err
	}
	if err := ValidateBasinName(name); err != nil {
		return BasinConfig{}, err
	}
	m, err := s.getBasinMeta(ctx, name)
	if err != nil {
		return BasinConfig{}, err
	}
	if m == nil {
		return BasinConfig{}, basinNotFound(name)
	}
	return m.Config, nil
}

func (s *Service) reconfigureBasin(ctx context.Context, name string, r BasinReconfiguration) (BasinConfig, error) {
	if err := s.checkOpen(); err != nil {
		return BasinConfig{}, err
	}
	if err := ValidateBasinName(name); err != nil {
		return BasinConfig{}, err
	}
	if err := validateBasinReconfiguration(r); err != nil {
		return BasinConfig{}, err
	}
	defer s.basinLocks.lock(name)()
	m, err := s.getBasinMeta(ctx, name)
	if err != nil {
		return BasinConfig{}, err
	}
	if m == nil {
		return BasinConfig{}, basinNotFound(name)
	}
	if m.DeletedAt != nil {
		return BasinConfig{}, basinDeletionPending(name)
	}
	next := applyBasinReconfiguration(m.Config, r)
	if configEqual(next, m.Config) {
		return m.Config, nil
	}
	m.Config = next
	if err := s.putBasinMeta(ctx, name, m); err != nil {
		return BasinConfig{}, err
	}
	return next, nil
}

// deleteBasin marks the basin deleted and records a deletion task in the
// same batch; the background loop does the rest (background.go), also
// after a restart.
func (s *Service) deleteBasin(ctx context.Context, name string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := ValidateBasinName(name); err != nil {
		return err
	}
	unlock := s.basinLocks.lock(name)
	m, err := s.getBasinMeta(ctx, name)
	if err == nil && m == nil {
		err = basinNotFound(name)
	}
	if err != nil || m.DeletedAt != nil {
		unlock()
		return err
	}
	now := s.now().UTC()
	m.DeletedAt = &now
	b := engine.NewBatch()
	b.Set(basinKey(name), encodeMeta(m))
	b.Set(basinDeletionKey(name), nil)
	err = s.db.Write(ctx, b)
	unlock()
	if err != nil {
		return storageError("delete basin", err)
	}
	s.kickBackground()
	return nil
}

func (s *Service) putBasinMeta(ctx context.Context, name string, m *basinMeta) error {
	b := engine.NewBatch()
	b.Set(basinKey(name), encodeMeta(m))
	if err := s.db.Write(ctx, b); err != nil {
		return storageError("write basin", err)
	}
	return nil
}

func (s *Service) listBasins(ctx context.Context, req ListRequest) (ListBasinsResponse, error) {
	if err := s.checkOpen(); err != nil {
		return ListBasinsResponse{}, err
	}
	if err := ValidateBasinPrefix(BasinNamePrefix, req.Prefix); err != nil {
		return ListBasinsResponse{}, err
	}
	if err := ValidateBasinPrefix(BasinStartAfter, req.StartAfter); err != nil {
		return ListBasinsResponse{}, err
	}
	var out ListBasinsResponse
	more, err := s.listKeys(ctx, []byte(basinPrefix), req, func(name string, value []byte) error {
		var m basinMeta
		if err := decodeMetaValue(value, &m); err != nil {
			return err
		}
		out.Basins = append(out.Basins, m.info(name))
		return nil
	})
	out.HasMore = more
	return out, err
}
