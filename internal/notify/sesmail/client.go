package sesmail

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// LocalRegion is the region used with a local endpoint when none is given.
const LocalRegion = "us-east-1"

// NewClient returns an SES v2 client.
//
// With an endpoint (the local emulator, scripts/ses-local.sh), the client
// sends there (BaseEndpoint), in region (default LocalRegion), with the AWS
// credentials configured in the environment or shared files if there are
// any, and with the dummy credentials "local"/"local" otherwise; the EC2
// instance metadata service is never asked. Without an endpoint it is the
// default AWS configuration chain (the Lambda's role), in region if given.
func NewClient(ctx context.Context, endpoint, region string) (*sesv2.Client, error) {
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
		return nil, fmt.Errorf("sesmail: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("sesmail: no AWS region: set AWS_REGION or pass a region")
	}
	if local {
		if cfg.Credentials == nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		} else if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
	}
	return sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
		if local {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}
