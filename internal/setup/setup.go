// Package setup builds the adapters a process needs from its configuration;
// the mains in functions/ call it and stay thin.
package setup

import (
	"context"
	"fmt"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// OpenStore opens the store the configuration names. The returned close
// function releases it.
func OpenStore(ctx context.Context, cfg config.Config) (domain.Store, func() error, error) {
	switch cfg.Store {
	case config.StoreBolt:
		s, err := boltstore.Open(cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case config.StoreDynamoDB:
		return openDynamo(ctx, cfg)
	}
	return nil, nil, fmt.Errorf("unknown store %q", cfg.Store)
}
