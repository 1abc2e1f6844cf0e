package oidcauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// On AWS the client secret stays in Secrets Manager and is read by the
// console function itself, at the first sign-in after a cold start (with the
// discovery, and retried with it), rather than resolved by CloudFormation
// into the function's environment with a {{resolve:secretsmanager:...}}
// dynamic reference: a resolved value is plain text in the function's
// configuration for anyone allowed lambda:GetFunctionConfiguration, and a
// rotated secret would reach the function only at the next deploy. The
// price is one GetSecretValue call per cold start that signs someone in,
// and the IAM permission on that one secret.
//
// The call is made here, signed by the SDK's Signature Version 4 signer
// (which the DynamoDB client links anyway), rather than by the SDK's
// Secrets Manager client: that package's endpoint tables cost every cold
// start of the console function about 700 allocations and half a
// millisecond at package initialisation, and its client 0.9 MB, for one
// call made at most once per cold start (docs/benchmarks.md). What it sends
// and how it reads the answer are checked against the SDK's own client in
// secret_test.go.

// SecretsManagerSecret reads the client secret from the secret arn with
// the credentials, region, HTTP client and endpoint of cfg: its
// SecretString, either the secret itself or a JSON object with a
// "client_secret" field (the shape the AWS console's key/value editor
// makes).
func SecretsManagerSecret(cfg aws.Config, arn string) SecretFunc {
	return func(ctx context.Context) (string, error) {
		raw, err := getSecretValue(ctx, cfg, arn, time.Now())
		if err != nil {
			return "", fmt.Errorf("secrets manager GetSecretValue %s: %w", arn, err)
		}
		return clientSecretOf(arn, raw)
	}
}

// clientSecretOf is the client secret in a secret's SecretString.
func clientSecretOf(arn, raw string) (string, error) {
	s := strings.TrimSpace(raw)
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

// secretsManagerEndpoint is the regional endpoint of Secrets Manager for
// cfg: its BaseEndpoint when set (AWS_ENDPOINT_URL), or the public one of
// the region's partition.
func secretsManagerEndpoint(cfg aws.Config, region string) string {
	if cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != "" {
		return strings.TrimSuffix(*cfg.BaseEndpoint, "/") + "/"
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://secretsmanager." + region + "." + suffix + "/"
}

// regionOf is the region of a Secrets Manager ARN
// (arn:partition:secretsmanager:region:account:secret:name), or fallback.
func regionOf(arn, fallback string) string {
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 && parts[3] != "" {
		return parts[3]
	}
	return fallback
}

// getSecretValue makes the GetSecretValue call of the AWS JSON 1.1
// protocol and returns the SecretString.
func getSecretValue(ctx context.Context, cfg aws.Config, arn string, now time.Time) (string, error) {
	region := regionOf(arn, cfg.Region)
	body, _ := json.Marshal(struct {
		SecretId string `json:"SecretId"`
	}{arn})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, secretsManagerEndpoint(cfg, region), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	if cfg.Credentials == nil {
		return "", errors.New("no AWS credentials")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "secretsmanager", region, now.UTC()); err != nil {
		return "", err
	}
	var client aws.HTTPClient = http.DefaultClient
	if cfg.HTTPClient != nil {
		client = cfg.HTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", awsError(resp, answer)
	}
	var out struct {
		SecretString *string `json:"SecretString"`
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	return aws.ToString(out.SecretString), nil
}

// awsError is an AWS JSON protocol error answer as an error naming its
// code (ResourceNotFoundException, AccessDeniedException, ...) and message.
func awsError(resp *http.Response, body []byte) error {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Upper   string `json:"Message"`
	}
	_ = json.Unmarshal(body, &e)
	code := e.Type
	if code == "" {
		code = resp.Header.Get("X-Amzn-Errortype")
	}
	if i := strings.LastIndex(code, "#"); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.Index(code, ":"); i >= 0 {
		code = code[:i]
	}
	if code == "" {
		code = resp.Status
	}
	msg := e.Message
	if msg == "" {
		msg = e.Upper
	}
	return fmt.Errorf("%s (HTTP %d): %s", code, resp.StatusCode, msg)
}
