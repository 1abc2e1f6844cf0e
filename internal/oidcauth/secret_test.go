package oidcauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// secretsEndpoint stands in for Secrets Manager's endpoint: it records
// every request it gets and answers each with status and body.
type secretsEndpoint struct {
	mu     sync.Mutex
	got    []*http.Request
	bodies []string
	status int
	body   string
}

func (e *secretsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.got = append(e.got, r.Clone(context.Background()))
	e.bodies = append(e.bodies, string(b))
	status, body := e.status, e.body
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if status != http.StatusOK {
		var t struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal([]byte(body), &t)
		w.Header().Set("X-Amzn-Errortype", t.Type)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (e *secretsEndpoint) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.got) == 0 {
		t.Fatal("no request reached the endpoint")
	}
	return e.got[len(e.got)-1], e.bodies[len(e.bodies)-1]
}

func testAWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   http.DefaultClient,
	}
}

const testSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oidc-AbCdEf"

// The GetSecretValue call made here is the one the SDK's Secrets Manager
// client makes: same method, path, target, content type, body, signed
// headers and credential scope. The SDK's client is the oracle; it is
// linked by this test only.
func TestGetSecretValueMatchesTheSDKClient(t *testing.T) {
	ep := &secretsEndpoint{status: http.StatusOK, body: `{"ARN":"` + testSecretARN + `","Name":"oidc","SecretString":"s3cr3t","VersionId":"v1"}`}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	cfg := testAWSConfig(srv.URL)

	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(testSecretARN)})
	if err != nil || aws.ToString(out.SecretString) != "s3cr3t" {
		t.Fatalf("the SDK's client: %v, %v", out, err)
	}
	sdkReq, sdkBody := ep.last(t)

	got, err := SecretsManagerSecret(cfg, testSecretARN)(context.Background())
	if err != nil || got != "s3cr3t" {
		t.Fatalf("SecretsManagerSecret: %q, %v", got, err)
	}
	ours, ourBody := ep.last(t)

	if ours.Method != sdkReq.Method || ours.URL.Path != sdkReq.URL.Path || ours.URL.RawQuery != sdkReq.URL.RawQuery {
		t.Errorf("request line: %s %s, the SDK's %s %s", ours.Method, ours.URL, sdkReq.Method, sdkReq.URL)
	}
	for _, h := range []string{"Content-Type", "X-Amz-Target", "X-Amz-Security-Token"} {
		if ours.Header.Get(h) != sdkReq.Header.Get(h) || ours.Header.Get(h) == "" {
			t.Errorf("%s: %q, the SDK's %q", h, ours.Header.Get(h), sdkReq.Header.Get(h))
		}
	}
	var a, b map[string]any
	if json.Unmarshal([]byte(ourBody), &a) != nil || json.Unmarshal([]byte(sdkBody), &b) != nil || len(a) != 1 || a["SecretId"] != b["SecretId"] {
		t.Errorf("body %s, the SDK's %s", ourBody, sdkBody)
	}
	scope := func(r *http.Request) (string, string) {
		auth := r.Header.Get("Authorization")
		cred := between(auth, "Credential=", ",")
		// AKID/date/region/service/aws4_request: everything but the date
		parts := strings.Split(cred, "/")
		if len(parts) == 5 {
			parts[1] = "DATE"
		}
		return strings.Join(parts, "/"), between(auth, "SignedHeaders=", ",")
	}
	oursScope, oursSigned := scope(ours)
	sdkScope, sdkSigned := scope(sdkReq)
	if oursScope != sdkScope || oursScope != "AKIDEXAMPLE/DATE/eu-west-1/secretsmanager/aws4_request" {
		t.Errorf("credential scope %q, the SDK's %q", oursScope, sdkScope)
	}
	for _, h := range []string{"content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"} {
		if !strings.Contains(";"+oursSigned+";", ";"+h+";") {
			t.Errorf("signed headers %q miss %s (the SDK's: %q)", oursSigned, h, sdkSigned)
		}
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		s = s[:j]
	}
	return s
}

// The signature is the one the SDK's signer computes for the request as
// the endpoint received it, so a tampered body or target fails.
func TestGetSecretValueSignature(t *testing.T) {
	ep := &secretsEndpoint{status: http.StatusOK, body: `{"SecretString":"x"}`}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	cfg := testAWSConfig(srv.URL)
	at := time.Unix(1_800_000_000, 0)
	if _, err := getSecretValue(context.Background(), cfg, testSecretARN, at); err != nil {
		t.Fatal(err)
	}
	got, body := ep.last(t)
	resign := func(body, target string) string {
		r, _ := http.NewRequest(got.Method, srv.URL+got.URL.Path, strings.NewReader(body))
		r.Header.Set("Content-Type", got.Header.Get("Content-Type"))
		r.Header.Set("X-Amz-Target", target)
		creds, _ := cfg.Credentials.Retrieve(context.Background())
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, sha256Hex(body), "secretsmanager", "eu-west-1", at); err != nil {
			t.Fatal(err)
		}
		return r.Header.Get("Authorization")
	}
	if want := resign(body, "secretsmanager.GetSecretValue"); got.Header.Get("Authorization") != want {
		t.Errorf("Authorization %q, want %q", got.Header.Get("Authorization"), want)
	}
	if resign(`{"SecretId":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-AbCdEf"}`, "secretsmanager.GetSecretValue") == got.Header.Get("Authorization") ||
		resign(body, "secretsmanager.PutSecretValue") == got.Header.Get("Authorization") {
		t.Error("the signature does not cover the body and the target")
	}
}

// Errors read as the SDK reads them: the AWS error code reaches the
// message, for each kind of refusal, and nothing is taken for a secret.
func TestGetSecretValueErrors(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		code   string
	}{
		{400, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`, "ResourceNotFoundException"},
		{400, `{"__type":"com.amazonaws.secretsmanager#AccessDeniedException","Message":"not allowed"}`, "AccessDeniedException"},
		{500, `{"__type":"InternalServiceError","message":"oops"}`, "InternalServiceError"},
		{503, `not json`, "503"},
	} {
		ep := &secretsEndpoint{status: c.status, body: c.body}
		srv := httptest.NewServer(ep)
		cfg := testAWSConfig(srv.URL)
		cfg.RetryMaxAttempts = 1
		_, sdkErr := secretsmanager.NewFromConfig(cfg).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(testSecretARN)})
		got, err := SecretsManagerSecret(cfg, testSecretARN)(context.Background())
		srv.Close()
		if err == nil || got != "" || !strings.Contains(err.Error(), c.code) || !strings.Contains(err.Error(), testSecretARN) {
			t.Errorf("%d %s: %q, %v", c.status, c.body, got, err)
		}
		if sdkErr == nil {
			t.Errorf("%d %s: the SDK's client took it for an answer", c.status, c.body)
		}
		var nf *smtypes.ResourceNotFoundException
		if c.code == "ResourceNotFoundException" && !errors.As(sdkErr, &nf) {
			t.Errorf("the SDK's client read %v, not the code this test expects", sdkErr)
		}
	}
}

// The secret itself, or a JSON object with a client_secret field.
func TestSecretsManagerSecretShapes(t *testing.T) {
	ep := &secretsEndpoint{status: http.StatusOK}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	cfg := testAWSConfig(srv.URL)
	answer := func(secret string) string {
		b, _ := json.Marshal(map[string]string{"SecretString": secret})
		return string(b)
	}
	for value, want := range map[string]string{"plain-secret": "plain-secret", ` {"client_secret": "from-json"} `: "from-json"} {
		ep.body = answer(value)
		got, err := SecretsManagerSecret(cfg, testSecretARN)(context.Background())
		if err != nil || got != want {
			t.Errorf("%q: %q, %v", value, got, err)
		}
	}
	for _, value := range []string{"", `{"secret": "x"}`, `{not json`} {
		ep.body = answer(value)
		if _, err := SecretsManagerSecret(cfg, testSecretARN)(context.Background()); err == nil {
			t.Errorf("%q: accepted", value)
		}
	}
	ep.body = `{"ARN":"x"}` // a binary secret has no SecretString
	if _, err := SecretsManagerSecret(cfg, testSecretARN)(context.Background()); err == nil {
		t.Error("a secret without SecretString: accepted")
	}
}

// Without an endpoint set, the call goes to the region of the ARN, in its
// partition.
func TestSecretsManagerEndpoint(t *testing.T) {
	for arn, want := range map[string]string{
		testSecretARN: "https://secretsmanager.eu-west-1.amazonaws.com/",
		"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbCdEf":      "https://secretsmanager.cn-north-1.amazonaws.com.cn/",
		"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-Ab12": "https://secretsmanager.us-gov-west-1.amazonaws.com/",
	} {
		if got := secretsManagerEndpoint(aws.Config{Region: "us-east-1"}, regionOf(arn, "us-east-1")); got != want {
			t.Errorf("%s: %s, want %s", arn, got, want)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
