package setup

import (
	"context"
	"errors"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
)

func openDynamo(ctx context.Context, cfg config.Config) (domain.Store, func() error, error) {
	return nil, nil, errors.New("dynamodb store: not wired yet")
}
