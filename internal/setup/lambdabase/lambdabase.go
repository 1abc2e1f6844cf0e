// Package lambdabase is what every Lambda function starts from: its
// configuration (from the environment, DynamoDB by default), its logger and
// the DynamoDB store. It links nothing else, so that each function adds
// only the adapters it uses (functions/<name>/main.go; the import lists are
// checked by functions/imports_test.go).
package lambdabase

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/setup/awsenv"
	"github.com/countersign/countersign/internal/setup/dynamo"
)

// Base is a Lambda function's configuration, logger and store.
type Base struct {
	Config config.Config
	Log    *slog.Logger
	Store  domain.Store
	getenv func(string) string
}

// Load reads the configuration from getenv (os.Getenv on Lambda), logs to
// stdout, and opens the DynamoDB store. It makes no AWS call (only with
// COUNTERSIGN_DYNAMODB_ENDPOINT does it ask DynamoDB Local for the table).
func Load(ctx context.Context, getenv func(string) string) (*Base, error) {
	cfg, err := config.FromEnv(getenv, config.StoreDynamoDB)
	if err != nil {
		return nil, err
	}
	if cfg.Store != config.StoreDynamoDB {
		return nil, fmt.Errorf("COUNTERSIGN_STORE is %q: a Lambda function keeps its data in DynamoDB (the embedded store is for the local process)", cfg.Store)
	}
	b := &Base{Config: cfg, Log: cfg.Logger(os.Stdout), getenv: getenv}
	awsCfg, err := b.AWS(cfg.DynamoEndpoint)
	if err != nil {
		return nil, err
	}
	if b.Store, err = dynamo.Open(ctx, awsCfg, cfg.Table, cfg.DynamoEndpoint); err != nil {
		return nil, err
	}
	return b, nil
}

// AWS is the SDK configuration of a client of one service, at endpoint
// ("": the service on AWS; else a local emulator), from the function's
// environment (internal/setup/awsenv).
func (b *Base) AWS(endpoint string) (aws.Config, error) {
	return awsenv.For(b.getenv, endpoint)
}
