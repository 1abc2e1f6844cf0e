// Package localaws builds the AWS clients of the local process
// (functions/local) and of tests: the SDK's whole default configuration
// chain (shared files, profiles, SSO), which a laptop needs and a Lambda
// function does not. The functions configure their clients from the
// environment Lambda gives them (internal/setup/awsenv) and never link this
// package, whose chain adds SSO, STS and their endpoint tables to a cold
// start (functions/imports_test.go keeps it so).
package localaws

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// LocalRegion is the region used with a local endpoint when none is given.
const LocalRegion = "us-east-1"

// Config is the default AWS configuration chain, in region if given.
//
// With an endpoint (a local emulator or a test server) the region defaults
// to LocalRegion, the EC2 instance metadata service is never asked, and the
// credentials are those configured in the environment or shared files if
// they resolve, the dummy "local"/"local" otherwise. The caller points its
// client at the endpoint (BaseEndpoint).
func Config(ctx context.Context, endpoint, region string) (aws.Config, error) {
	local := endpoint != ""
	var opts []func(*awsconfig.LoadOptions) error
	if local {
		if region == "" {
			region = LocalRegion
		}
		// No probe of 169.254.169.254 for credentials a local run never has.
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, errors.New("no AWS region: set AWS_REGION or pass a region")
	}
	if local {
		dummy := credentials.NewStaticCredentialsProvider("local", "local", "")
		if cfg.Credentials == nil {
			cfg.Credentials = dummy
		} else if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			cfg.Credentials = dummy
		}
	}
	return cfg, nil
}

// SES is an SES v2 client configured by Config.
func SES(ctx context.Context, endpoint, region string) (*sesv2.Client, error) {
	cfg, err := Config(ctx, endpoint, region)
	if err != nil {
		return nil, fmt.Errorf("SES: %w", err)
	}
	return sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// EventBridge is an EventBridge client configured by Config.
func EventBridge(ctx context.Context, endpoint, region string) (*eventbridge.Client, error) {
	cfg, err := Config(ctx, endpoint, region)
	if err != nil {
		return nil, fmt.Errorf("EventBridge: %w", err)
	}
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}
