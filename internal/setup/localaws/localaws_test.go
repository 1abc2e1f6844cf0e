package localaws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/countersign/countersign/internal/setup/localaws"
)

// clearAWSEnv leaves the SDK's default chain nothing from this machine.
func clearAWSEnv(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestSES(t *testing.T) {
	ctx := context.Background()
	t.Run("local endpoint, no AWS credentials", func(t *testing.T) {
		clearAWSEnv(t)
		c, err := localaws.SES(ctx, "http://127.0.0.1:8005", "")
		if err != nil {
			t.Fatal(err)
		}
		o := c.Options()
		if o.Region != localaws.LocalRegion || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:8005" {
			t.Errorf("region %q, endpoint %q", o.Region, aws.ToString(o.BaseEndpoint))
		}
		creds, err := o.Credentials.Retrieve(ctx)
		if err != nil || creds.AccessKeyID != "local" || creds.SecretAccessKey != "local" {
			t.Errorf("credentials %q/%q, %v: want local/local", creds.AccessKeyID, creds.SecretAccessKey, err)
		}
	})
	t.Run("local endpoint keeps configured credentials and region", func(t *testing.T) {
		clearAWSEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		c, err := localaws.SES(ctx, "http://127.0.0.1:8005", "eu-west-1")
		if err != nil {
			t.Fatal(err)
		}
		o := c.Options()
		creds, err := o.Credentials.Retrieve(ctx)
		if err != nil || creds.AccessKeyID != "AKIDTEST" {
			t.Errorf("credentials %q, %v: want the configured AKIDTEST", creds.AccessKeyID, err)
		}
		if o.Region != "eu-west-1" {
			t.Errorf("region %q, want eu-west-1", o.Region)
		}
	})
	t.Run("AWS", func(t *testing.T) {
		clearAWSEnv(t)
		c, err := localaws.SES(ctx, "", "eu-central-1")
		if err != nil {
			t.Fatal(err)
		}
		if o := c.Options(); o.Region != "eu-central-1" || o.BaseEndpoint != nil {
			t.Errorf("region %q, endpoint %v: want eu-central-1 and SES's own endpoint", o.Region, o.BaseEndpoint)
		}
	})
	t.Run("AWS without a region", func(t *testing.T) {
		clearAWSEnv(t)
		if _, err := localaws.SES(ctx, "", ""); err == nil || !strings.Contains(err.Error(), "region") {
			t.Errorf("err = %v, want a missing-region error", err)
		}
	})
}

func TestEventBridge(t *testing.T) {
	clearAWSEnv(t)
	c, err := localaws.EventBridge(context.Background(), "http://127.0.0.1:9", "")
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if o.Region != localaws.LocalRegion || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:9" {
		t.Errorf("region %q, endpoint %q", o.Region, aws.ToString(o.BaseEndpoint))
	}
	creds, err := o.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "local" {
		t.Errorf("credentials %q, %v: want local", creds.AccessKeyID, err)
	}
}
