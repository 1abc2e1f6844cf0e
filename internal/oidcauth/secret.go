package oidcauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// On AWS the client secret stays in Secrets Manager and is read by the API
// function itself, at the first sign-in after a cold start (with the
// discovery, and retried with it), rather than resolved by CloudFormation
// into the function's environment with a {{resolve:secretsmanager:...}}
// dynamic reference: a resolved value is plain text in the function's
// configuration for anyone allowed lambda:GetFunctionConfiguration, and a
// rotated secret would reach the function only at the next deploy. The
// price is one GetSecretValue call per cold start that signs someone in,
// and the IAM permission on that one secret.

// SecretGetter is the part of the Secrets Manager client this needs.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsManagerSecret reads the client secret from the secret arn: its
// SecretString, either the secret itself or a JSON object with a
// "client_secret" field (the shape the console's key/value editor makes).
func SecretsManagerSecret(client SecretGetter, arn string) SecretFunc {
	return func(ctx context.Context) (string, error) {
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return "", fmt.Errorf("secrets manager GetSecretValue %s: %w", arn, err)
		}
		s := strings.TrimSpace(aws.ToString(out.SecretString))
		if strings.HasPrefix(s, "{") {
			var v struct {
				ClientSecret string `json:"client_secret"`
			}
			if err := json.Unmarshal([]byte(s), &v); err != nil || v.ClientSecret == "" {
				return "", fmt.Errorf("secret %s is a JSON object without a client_secret string", arn)
			}
			s = v.ClientSecret
		}
		if s == "" {
			return "", errors.New("secret " + arn + " has no SecretString")
		}
		return s, nil
	}
}
