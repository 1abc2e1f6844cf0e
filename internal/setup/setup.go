// Package setup wires the whole of Countersign for the local process
// (functions/local through internal/localrun, and internal/recovery): either
// store, the AWS SDK's full configuration chain (profiles, SSO), the HTTP API
// with the console and sign-in. The Lambda functions do not import it: each
// wires only the adapters it uses from the packages below it (lambdabase,
// awsenv, dynamo, appwire, apiwire, consolewire, notifywire), and
// functions/imports_test.go checks their import lists.
package setup

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/setup/appwire"
	"github.com/countersign/countersign/internal/setup/consolewire"
	"github.com/countersign/countersign/internal/setup/dynamo"
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
		awsCfg, err := AWSConfig(ctx, cfg.DynamoEndpoint)
		if err != nil {
			return nil, nil, err
		}
		s, err := dynamo.Open(ctx, awsCfg, cfg.Table, cfg.DynamoEndpoint)
		if err != nil {
			return nil, nil, err
		}
		return s, func() error { return nil }, nil
	}
	return nil, nil, fmt.Errorf("unknown store %q", cfg.Store)
}

// AWSConfig is the AWS SDK's default configuration (environment, shared
// files, SSO, instance roles). With an endpoint (a local emulator such as
// DynamoDB Local) the region defaults to us-east-1 and, when no
// credentials can be found, dummy ones are used.
func AWSConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if endpoint != "" {
		opts = append(opts, awsconfig.WithRegion("us-east-1"))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return awsCfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if endpoint != "" {
		if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
			awsCfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
	}
	return awsCfg, nil
}

// API builds the application service and, over a store, everything the
// api and console functions serve on AWS in one server: the JSON API, the
// pages for people, and the web console at the paths neither owns
// (Identity then configures how people get in).
func API(store domain.Store, clk clock.Clock, log *slog.Logger) (*app.Service, *httpapi.Server) {
	svc := app.New(store, clk, log)
	return svc, consolewire.Whole(svc, log)
}

// Links gives svc the action link key (appwire.Links).
func Links(cfg config.Config, svc *app.Service, keyFile string) error {
	return appwire.Links(cfg, svc, keyFile)
}

// Identity configures how people get in (consolewire.Identity), with sign-in
// through the OpenID provider the process's environment names
// (COUNTERSIGN_OIDC_*) and, for a client secret in Secrets Manager, the
// AWS SDK's default configuration.
func Identity(ctx context.Context, cfg config.Config, svc *app.Service, api *httpapi.Server, clk clock.Clock, log *slog.Logger, keyFile string) error {
	oc, err := consolewire.OIDCFromEnv(os.Getenv, cfg.BaseURL)
	if err != nil {
		return err
	}
	return consolewire.Identity(ctx, cfg, oc, func() (aws.Config, error) { return AWSConfig(ctx, "") }, svc, api, clk, log, keyFile)
}
