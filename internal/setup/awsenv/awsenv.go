// Package awsenv is the AWS SDK configuration of a Lambda function, read
// from the environment Lambda gives every function, without the SDK's
// config package.
//
// Lambda sets the region (AWS_REGION) and the execution role's credentials
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) in every
// function's environment, and they are what the SDK's default chain
// (config.LoadDefaultConfig) finds there first. The rest of that chain
// (shared config and credential files, SSO, web identity, assumed roles,
// the container and instance metadata endpoints) is never reached on
// Lambda, yet linking it adds about 1.9 MB to a stripped arm64 binary and
// its package initialisation to every cold start (docs/benchmarks.md,
// "Lambda binaries and cold start"). The local process (functions/local)
// keeps the whole chain: on a laptop profiles and SSO matter.
package awsenv

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// EmulatorRegion is the region of a client of a local emulator when the
// environment names none.
const EmulatorRegion = "us-east-1"

// For is the configuration of a client of one AWS service.
//
// With endpoint "" the client talks to the service on AWS: the region and
// the credentials must be in the environment (on Lambda they always are),
// or For answers an error naming what is missing. With an endpoint (a local
// emulator: DynamoDB Local, the SES emulator) the region defaults to
// EmulatorRegion and the credentials to "local"/"local" when the
// environment has none; the caller sets the endpoint on the client
// (BaseEndpoint).
func For(getenv func(string) string, endpoint string) (aws.Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	cfg := aws.Config{Region: get("AWS_REGION")}
	if cfg.Region == "" {
		cfg.Region = get("AWS_DEFAULT_REGION")
	}
	id, secret := get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
	if id != "" && secret != "" {
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, get("AWS_SESSION_TOKEN")))
	}
	if endpoint != "" {
		if cfg.Region == "" {
			cfg.Region = EmulatorRegion
		}
		if cfg.Credentials == nil {
			cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("local", "local", ""))
		}
		return cfg, nil
	}
	switch {
	case cfg.Region == "":
		return cfg, errors.New("AWS_REGION is not set: a Lambda function finds its region in the environment (Lambda sets it)")
	case cfg.Credentials == nil:
		return cfg, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: a Lambda function finds its role's credentials in the environment (Lambda sets them)")
	}
	return cfg, nil
}
